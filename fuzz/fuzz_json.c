/* fuzz_json.c - the JSON body of PATCH /api/media/{id}/ (ml_api_meta_from_json). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_meta meta;
  struct ml_field_errors fe;
  char msg[200];
  ml_err rc;
  if(!a)
    return 0;
  memset(&meta, 0, sizeof(meta));
  memset(&fe, 0, sizeof(fe));
  rc = ml_api_meta_from_json((const char *)data, size, a, &meta, &fe, msg, sizeof(msg));
  /* invariants: validation errors name fields; accepted text is bounded */
  if(rc == ML_ERR_VALIDATION && fe.n == 0)
    abort();
  if(rc == ML_OK && meta.title && strlen(meta.title) > 255 * 4)
    abort();
  ml_arena_destroy(&a);
  return 0;
}
