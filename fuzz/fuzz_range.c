/* fuzz_range.c - the Range header parser (ml_range_parse). The first byte
 * picks the representation size (small sizes mostly, and the edges); the
 * rest is the header. A 206 range must lie inside the representation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/range.h"

static uint64_t pick_size(uint8_t b) {
  static const uint64_t edges[] = {0,
                                   1,
                                   2,
                                   499,
                                   500,
                                   1000,
                                   UINT64_MAX,
                                   UINT64_MAX - 1,
                                   (uint64_t)1 << 32,
                                   (uint64_t)1 << 63,
                                   4096,
                                   10,
                                   100,
                                   65535,
                                   1u << 20,
                                   7};
  if(b >= 0xF0)
    return edges[b - 0xF0];
  return (uint64_t)b * 37;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t rep, start = 1, len = 1;
  enum ml_range_result r;
  char *h;
  if(size < 1)
    return 0;
  rep = pick_size(data[0]);
  h = ml_malloc(size);
  if(!h)
    return 0;
  memcpy(h, data + 1, size - 1);
  h[size - 1] = '\0';
  r = ml_range_parse(h, rep, &start, &len);
  switch(r) {
  case ML_RANGE_OK:
    if(len == 0 || start >= rep || len > rep - start)
      abort();
    break;
  case ML_RANGE_NONE:
  case ML_RANGE_UNSATISFIABLE:
    if(start || len)
      abort();
    break;
  default: abort();
  }
  /* a representation of size 0 never has a satisfiable range */
  if(ml_range_parse(h, 0, &start, &len) == ML_RANGE_OK)
    abort();
  ml_free(h);
  return 0;
}
