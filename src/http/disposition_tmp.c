/* disposition_tmp.c - TEMPORARY until multipart.c exposes its parser. */
#include <stdio.h>
#include <string.h>

#include "http/multipart.h"

int ml_multipart_disposition_filename(const char *value, char *out, size_t outlen) {
  const char *p = strstr(value, "filename=\"");
  const char *e;
  if(!p)
    return -1;
  p += 10;
  e = strchr(p, '"');
  if(!e)
    return -1;
  snprintf(out, outlen, "%.*s", (int)(e - p), p);
  return 0;
}
