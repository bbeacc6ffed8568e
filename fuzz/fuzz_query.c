/* fuzz_query.c - percent-decoding, query strings and strict integers
 * (ml_url_decode, ml_query_parse, ml_query_int). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/query.h"

struct seen {
  size_t size;
  int pairs;
};

static ml_err on_pair(void *ctx, const char *key, const char *val) {
  struct seen *s = ctx;
  /* decoding never grows, and nothing can hide behind a NUL */
  if(strlen(key) + strlen(val) > s->size || ++s->pairs > 64)
    abort();
  return ML_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct seen s = {size, 0};
  char *copy;
  long n;
  int64_t v;
  ml_query_parse((const char *)data, size, on_pair, &s);

  copy = ml_malloc(size + 1);
  if(!copy)
    return 0;
  memcpy(copy, data, size);
  copy[size] = '\0';
  n = ml_url_decode(copy, size, size && (data[0] & 1));
  if(n >= 0 && ((size_t)n > size || strlen(copy) != (size_t)n))
    abort();

  memcpy(copy, data, size);
  copy[size] = '\0';
  if(ml_query_int(copy, INT64_MIN, INT64_MAX, &v) == ML_OK) {
    /* whatever is accepted is a number strtoll reads the same way */
    char *end;
    long long w;
    errno = 0;
    w = strtoll(copy, &end, 10);
    if(errno || *end || w != v)
      abort();
  }
  if(ml_query_int(copy, -100, 100, &v) == ML_OK && (v < -100 || v > 100))
    abort();
  ml_free(copy);
  return 0;
}
