/* fuzz_cond.c - conditional request headers (If-None-Match,
 * If-Modified-Since, If-Range). The input is split at newlines into the
 * headers and the server's own tag. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/cond.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy, *field[4] = {NULL, NULL, NULL, NULL}, *p;
  const time_t lm = 1795374000; /* Sun, 22 Nov 2026 19:00:00 GMT */
  int nm, a;
  copy = ml_malloc(size + 1);
  if(!copy)
    return 0;
  memcpy(copy, data, size);
  copy[size] = '\0';
  p = copy;
  for(int i = 0; i < 4 && p; i++) {
    char *nl = strchr(p, '\n');
    field[i] = p;
    if(nl)
      *nl++ = '\0';
    p = nl;
  }
  /* field 0: If-None-Match, 1: If-Modified-Since, 2: our ETag, 3: If-Range */
  nm = ml_cond_none_match(field[0], field[2]);
  if(nm != 0 && nm != 1)
    abort();
  /* If-None-Match, when sent, alone decides */
  if(field[0] && ml_cond_not_modified(field[0], field[1], field[2], lm) != nm)
    abort();
  ml_cond_not_modified(NULL, field[1], field[2], lm);
  a = ml_cond_if_range(field[3], field[2], lm);
  /* a weak validator never allows a range */
  if(a && field[3] && !strncmp(field[3] + strspn(field[3], " \t"), "W/", 2))
    abort();
  if(!ml_cond_if_range(NULL, field[2], lm))
    abort();
  /* a tag always matches itself under If-None-Match when it is valid for
   * If-Range (strong and well formed) */
  if(field[2] && field[2][0] == '"' && ml_cond_if_range(field[2], field[2], lm) &&
     !ml_cond_none_match(field[2], field[2]))
    abort();
  ml_free(copy);
  return 0;
}
