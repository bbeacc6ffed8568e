/* store.c - blob store front: picks the backend by URL and dispatches. */
#include "store/store.h"

#include <string.h>

#include "core/alloc.h"
#include "store/store_int.h"

int ml_store_key_valid(const char *key) {
  size_t len = strlen(key), seg = 0;
  const char *p;
  if(len == 0 || len > 512)
    return 0;
  for(p = key;; p++) {
    if(*p == '/' || *p == '\0') {
      if(seg == 0)
        return 0;
      if((seg == 1 && p[-1] == '.') || (seg == 2 && p[-1] == '.' && p[-2] == '.'))
        return 0;
      if(*p == '\0')
        return 1;
      seg = 0;
      continue;
    }
    if(!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
         *p == '.' || *p == '_' || *p == '-'))
      return 0;
    seg++;
  }
}

ml_err ml_store_open(const char *url, const char *faults, struct ml_store **out,
                     struct ml_errbuf *eb) {
  struct ml_store *s = NULL;
  ml_err rc;
  *out = NULL;
  if(!strncmp(url, "file://", 7))
    rc = ml_store_fs_open(url + 7, &s, eb);
  else
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_STORAGE_URL: unsupported scheme in '%s' "
                   "(use file://DIR)",
                   url);
  if(rc)
    return rc;
  if(faults && *faults) {
    struct ml_store *wrapped = NULL;
    rc = ml_store_faults_wrap(s, faults, &wrapped, eb);
    if(rc) {
      ml_store_close(&s);
      return rc;
    }
    s = wrapped;
  }
  *out = s;
  return ML_OK;
}

void ml_store_close(struct ml_store **s) {
  if(!s || !*s)
    return;
  (*s)->ops->close(*s);
  *s = NULL;
}

const char *ml_store_spool_dir(const struct ml_store *s) { return s->spool_dir; }

ml_err ml_store_put(struct ml_store *s, const char *key, const char *src_path,
                    const char *content_type, struct ml_errbuf *eb) {
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_INTERNAL, "invalid blob key '%s'", key);
  return s->ops->put(s, key, src_path, content_type, eb);
}

ml_err ml_store_get(struct ml_store *s, const char *key, struct ml_blob *out,
                    struct ml_errbuf *eb) {
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "invalid blob key");
  return s->ops->get(s, key, out, eb);
}

ml_err ml_store_remove(struct ml_store *s, const char *key, struct ml_errbuf *eb) {
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_INTERNAL, "invalid blob key '%s'", key);
  return s->ops->remove(s, key, eb);
}

ml_err ml_store_list(struct ml_store *s, const char *prefix,
                     int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                     void *ctx, struct ml_errbuf *eb) {
  return s->ops->list(s, prefix ? prefix : "", cb, ctx, eb);
}

ml_err ml_store_ping(struct ml_store *s, struct ml_errbuf *eb) { return s->ops->ping(s, eb); }
