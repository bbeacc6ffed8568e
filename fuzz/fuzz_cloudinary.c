/* fuzz_cloudinary.c - the Cloudinary store's readers (store_cloudinary.h):
 * upload, destroy, list and error answers, and its storage URL. The first
 * byte picks the reader. Whatever is read is NUL-terminated, fits its
 * buffer, and a listed public_id never holds a NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/store_cloudinary.h"

static int item(void *arg, const struct ml_store_cld_asset *a) {
  int *n = arg;
  if(strlen(a->public_id) >= sizeof(a->public_id) ||
     strlen(a->resource_type) >= sizeof(a->resource_type) || a->bytes < -1 || a->created_ms < -1)
    abort();
  return ++*n > 5000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ml_errbuf eb = {{0}};
  struct ml_store_cld_asset a;
  struct ml_store_cld_url u;
  char out[128], cursor[64], *s;
  int n = 0, stopped = 0, partial = 0, found = 0;
  const char *json;
  if(size < 1)
    return 0;
  json = (const char *)data + 1;
  size--;
  switch(data[0] % 5) {
  case 0:
    memset(&a, 0, sizeof(a));
    if(ml_store_cld_parse_upload(json, size, &a, &partial, &eb) == ML_OK && !partial)
      item(&n, &a);
    break;
  case 1:
    if(ml_store_cld_parse_destroy(json, size, &found, &eb) == ML_OK && found != 0 && found != 1)
      abort();
    break;
  case 2:
    if(ml_store_cld_parse_list(json, size, item, &n, cursor, sizeof(cursor), &stopped, &eb) ==
           ML_OK &&
       strlen(cursor) >= sizeof(cursor))
      abort();
    break;
  case 3:
    if(ml_store_cld_parse_error(json, size, out, sizeof(out)) && strlen(out) >= sizeof(out))
      abort();
    for(const char *p = out; *p; p++)
      if((unsigned char)*p < 0x20)
        abort(); /* one line */
    break;
  default:
    s = ml_malloc(size + 1);
    if(!s)
      return 0;
    memcpy(s, json, size);
    s[size] = '\0';
    if(ml_store_cld_url_parse(s, data[0] & 0x80, &u, &eb) == ML_OK &&
       (!u.cloud[0] || !u.api_key[0] || !u.api_secret[0] || u.tries < 1 || u.list_page < 1 ||
        u.chunk_size < 1))
      abort();
    ml_free(s);
    break;
  }
  return 0;
}
