/* fuzz_multipart.c - the streaming multipart/form-data parser. The first
 * byte picks the boundary and a feed size; the body is parsed whole and in
 * feeds of that size, and both runs must report the same parts, data and
 * result. The body's start is also tried as a Content-Type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/multipart.h"

struct trace {
  uint64_t hash; /* FNV-1a over the events, data joined */
  int in_part;
  int parts;
  size_t data_bytes;
};

static void mix(struct trace *t, const void *p, size_t n) {
  const unsigned char *s = p;
  for(size_t i = 0; i < n; i++) {
    t->hash ^= s[i];
    t->hash *= 1099511628211u;
  }
}

static ml_err on_begin(void *ctx, const char *name, const char *filename,
                       const char *content_type) {
  struct trace *t = ctx;
  if(t->in_part || !name || ++t->parts > 64)
    abort();
  if(strlen(name) > 8192 || (filename && strlen(filename) > 8192) ||
     (content_type && strlen(content_type) > 8192))
    abort();
  t->in_part = 1;
  mix(t, "B", 1);
  mix(t, name, strlen(name) + 1);
  mix(t, filename ? filename : "\x01", filename ? strlen(filename) + 1 : 1);
  mix(t, content_type ? content_type : "\x01", content_type ? strlen(content_type) + 1 : 1);
  return ML_OK;
}

static ml_err on_data(void *ctx, const char *data, size_t len) {
  struct trace *t = ctx;
  if(!t->in_part || !len)
    abort();
  t->data_bytes += len;
  mix(t, data, len);
  return ML_OK;
}

static ml_err on_end(void *ctx) {
  struct trace *t = ctx;
  if(!t->in_part)
    abort();
  t->in_part = 0;
  mix(t, "E", 1);
  return ML_OK;
}

static const struct ml_multipart_cb cbs = {on_begin, on_data, on_end};

static ml_err run(const char *boundary, const char *body, size_t len, size_t feed,
                  struct trace *t) {
  struct ml_multipart *mp;
  struct ml_errbuf eb = {{0}};
  size_t pos = 0;
  ml_err rc;
  memset(t, 0, sizeof(*t));
  t->hash = 14695981039346656037u;
  if(ml_multipart_create(boundary, &cbs, t, &mp))
    abort();
  if(!feed)
    feed = len ? len : 1;
  do {
    size_t n = len - pos < feed ? len - pos : feed;
    rc = ml_multipart_feed(mp, body + pos, n, &eb);
    pos += n;
  } while(!rc && pos < len);
  if(!rc)
    rc = ml_multipart_finish(mp, &eb);
  if(rc && !eb.msg[0])
    abort(); /* every refusal says why */
  if(!rc && t->in_part)
    abort();
  if(t->data_bytes > len)
    abort();
  ml_multipart_destroy(&mp);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const boundaries[4] = {"bnd", "bnd", "-", "x y'()+_,-./:=?"};
  const char *boundary, *body;
  struct trace whole, split;
  size_t feed, len;
  ml_err a, b;
  if(size < 1)
    return 0;
  boundary = boundaries[data[0] >> 6];
  feed = data[0] & 0x3f;
  body = (const char *)data + 1;
  len = size - 1;
  a = run(boundary, body, len, 0, &whole);
  b = run(boundary, body, len, feed ? feed : 1, &split);
  if(a != b || whole.hash != split.hash || whole.parts != split.parts)
    abort();

  /* the body's start as a Content-Type: an accepted boundary is creatable */
  {
    char ct[256], out[71];
    size_t n = len < sizeof(ct) - 1 ? len : sizeof(ct) - 1;
    memcpy(ct, body, n);
    ct[n] = '\0';
    if(ml_multipart_boundary(ct, out, sizeof(out)) == ML_OK) {
      struct ml_multipart *mp;
      size_t bl = strlen(out);
      if(bl < 1 || bl > 70 || ml_multipart_create(out, &cbs, NULL, &mp))
        abort();
      ml_multipart_destroy(&mp);
    }
  }
  return 0;
}
