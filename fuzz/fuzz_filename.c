/* fuzz_filename.c - client filename cleaning and Content-Disposition
 * (ml_filename_clean, ml_filename_disposition). The cleaned name must be
 * safe to show and to put in a path segment; the header value must be
 * printable ASCII whatever the name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "http/multipart.h"
#include "media/filename.h"

static void check_clean(const char *out, size_t outsz) {
  const unsigned char *s = (const unsigned char *)out;
  size_t n = strlen(out);
  if(n > ML_FILENAME_MAX || n >= outsz || (outsz > 4 && n == 0))
    abort();
  if(n && (s[0] == '.' || s[0] == ' ' || s[n - 1] == '.' || s[n - 1] == ' '))
    abort();
  for(size_t i = 0; i < n;) {
    size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC2 ? 2 : 0;
    if(!len || i + len > n)
      abort();
    if(s[i] < 0x20 || s[i] == 0x7F || s[i] == '/' || s[i] == '\\' || s[i] == '"')
      abort();
    for(size_t k = 1; k < len; k++)
      if((s[i + k] & 0xC0) != 0x80)
        abort();
    if(len == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0) /* C1 controls */
      abort();
    i += len;
  }
}

/* What we send, a client sends back (PUT /api/media/{id}/file): the header
 * made for a cleaned name parses back to that name. */
static void check_round_trip(const char *cleaned) {
  struct ml_buf b;
  char back[4 * ML_FILENAME_MAX + 1];
  ml_buf_init(&b, 1 << 16);
  if(ml_filename_disposition(&b, 0, cleaned) == ML_OK) {
    if(ml_multipart_disposition_filename(b.data, back, sizeof(back)) || strcmp(back, cleaned))
      abort();
  }
  ml_buf_free(&b);
}

static void check_disposition(int is_inline, const char *name) {
  struct ml_buf b;
  int quotes = 0;
  ml_buf_init(&b, 1 << 16);
  if(ml_filename_disposition(&b, is_inline, name) == ML_OK) {
    for(size_t i = 0; i < b.len; i++) {
      unsigned char c = (unsigned char)b.data[i];
      if(c < 0x20 || c > 0x7E)
        abort();
      quotes += c == '"';
    }
    if(quotes != 2)
      abort();
  }
  ml_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char out[ML_FILENAME_MAX + 1], small[24];
  size_t smallsz;
  char *raw;
  ml_filename_clean((const char *)data, size, out, sizeof(out));
  check_clean(out, sizeof(out));
  smallsz = size ? data[0] % sizeof(small) : 0;
  if(smallsz) {
    ml_filename_clean((const char *)data, size, small, smallsz);
    check_clean(small, smallsz);
  }
  /* cleaning is idempotent */
  {
    char again[ML_FILENAME_MAX + 1];
    ml_filename_clean(out, strlen(out), again, sizeof(again));
    if(strcmp(out, again))
      abort();
  }
  check_disposition(size && (data[0] & 1), out);
  raw = ml_malloc(size + 1);
  if(!raw)
    return 0;
  memcpy(raw, data, size);
  raw[size] = '\0';
  check_disposition(0, raw);
  if(*out)
    check_round_trip(out);
  {
    /* An arbitrary header value: any answer, no crash; a result fits. */
    char parsed[64];
    if(!ml_multipart_disposition_filename(raw, parsed, sizeof(parsed)) && strlen(parsed) >= 64)
      abort();
  }
  ml_free(raw);
  return 0;
}
