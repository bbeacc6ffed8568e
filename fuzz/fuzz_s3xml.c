/* fuzz_s3xml.c - the S3 store's XML readers (store_s3.h): ListObjectsV2
 * pages, error bodies, single elements. The first byte picks the reader.
 * A listed key is NUL-terminated and never longer than the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "store/store_s3.h"

struct ctx {
  size_t max;
  int n;
};

static int item(void *arg, const char *key, int64_t size, int64_t mtime_ms) {
  struct ctx *c = arg;
  if(strlen(key) > c->max || size < 0 || mtime_ms < -1)
    abort();
  return ++c->n > 5000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ml_errbuf eb = {{0}};
  char out[256], token[64];
  struct ctx c = {size, 0};
  int truncated = 0, stopped = 0;
  const char *xml;
  if(size < 1)
    return 0;
  xml = (const char *)data + 1;
  size--;
  switch(data[0] % 3) {
  case 0:
    if(ml_store_s3_parse_list(xml, size, item, &c, &truncated, token, sizeof(token), &stopped,
                              &eb) == ML_OK &&
       truncated && (!token[0] || strlen(token) >= sizeof(token)))
      abort(); /* truncated pages always carry a token */
    break;
  case 1:
    if(ml_store_s3_parse_error(xml, size, out, sizeof(out)) && strlen(out) >= sizeof(out))
      abort();
    for(const char *p = out; *p; p++)
      if((unsigned char)*p < 0x20)
        abort(); /* one line */
    break;
  default:
    if(ml_store_s3_xml_text(xml, size, "UploadId", out, sizeof(out)) == ML_OK &&
       strlen(out) >= sizeof(out))
      abort();
    break;
  }
  return 0;
}
