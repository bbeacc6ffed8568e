/* store.c - blob store front: picks the backend by URL and dispatches. */
#include "store/store.h"

#include <string.h>
#include <unistd.h>

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

ml_err ml_store_open_opts(const struct ml_store_opts *o, struct ml_store **out,
                          struct ml_errbuf *eb) {
  struct ml_store *s = NULL;
  const char *url = o->url, *faults = o->faults;
  ml_err rc;
  *out = NULL;
  if(!strncmp(url, "file://", 7))
    rc = ml_store_fs_open(url + 7, &s, eb);
  else if(!strncmp(url, "s3://", 5))
    rc = ml_store_s3_open(o, &s, eb);
  else if(!strncmp(url, "cloudinary://", 13))
    rc = ml_store_cloudinary_open(o, &s, eb);
  else
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_STORAGE_URL: unsupported scheme (use file://DIR, "
                   "s3://BUCKET?endpoint=... or cloudinary://KEY:SECRET@CLOUD)");
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

ml_err ml_store_open(const char *url, const char *faults, struct ml_store **out,
                     struct ml_errbuf *eb) {
  struct ml_store_opts o = {.url = url, .faults = faults};
  return ml_store_open_opts(&o, out, eb);
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
  out->fd = -1;
  out->stream = NULL;
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "invalid blob key");
  return s->ops->get(s, key, out, eb);
}

ml_err ml_store_open_read(struct ml_store *s, const char *key, struct ml_blob *out,
                          struct ml_errbuf *eb) {
  out->fd = -1;
  out->stream = NULL;
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "invalid blob key");
  return s->ops->open_read ? s->ops->open_read(s, key, out, eb) : s->ops->get(s, key, out, eb);
}

ml_err ml_store_stat(struct ml_store *s, const char *key, struct ml_blob *out,
                     struct ml_errbuf *eb) {
  out->fd = -1;
  out->stream = NULL;
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "invalid blob key");
  return s->ops->stat(s, key, out, eb);
}

ml_err ml_store_delivery_url(struct ml_store *s, const char *key, const char *content_type,
                             const char *disposition, struct ml_buf *out, int64_t *max_age,
                             struct ml_errbuf *eb) {
  if(!s->ops->delivery_url)
    return ML_ERR_NOT_IMPLEMENTED;
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "invalid blob key");
  return s->ops->delivery_url(s, key, content_type, disposition, out, max_age, eb);
}

ml_err ml_store_transform_url(struct ml_store *s, const char *key, const char *content_type,
                              const char *transformation, struct ml_buf *out, int64_t *max_age,
                              struct ml_errbuf *eb) {
  if(!s->ops->transform_url)
    return ML_ERR_NOT_IMPLEMENTED;
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "invalid blob key");
  return s->ops->transform_url(s, key, content_type, transformation, out, max_age, eb);
}

int ml_store_delivery_origin(struct ml_store *s, char *out, size_t cap) {
  /* Presigning or making a Cloudinary URL is computation: ask for one of a
   * sample key and keep its scheme://host[:port]. */
  struct ml_buf url;
  int64_t max_age = 0;
  const char *host;
  size_t n;
  int ok = 0;
  if(!s->ops->delivery_url || !cap)
    return 0;
  ml_buf_init(&url, 16384);
  if(s->ops->delivery_url(s, "m/1/v1-0/original", "image/jpeg", NULL, &url, &max_age, NULL) ==
         ML_OK &&
     url.data && (host = strstr(url.data, "://"))) {
    n = (size_t)(host + 3 - url.data) + strcspn(host + 3, "/?#");
    if(n < cap) {
      memcpy(out, url.data, n);
      out[n] = '\0';
      ok = 1;
    }
  }
  ml_buf_free(&url);
  return ok;
}

int ml_store_transforms(struct ml_store *s) {
  /* Making a transform URL is computation, no network call: ask for one of
   * a sample key. */
  struct ml_buf url;
  int64_t max_age = 0;
  ml_err rc;
  if(!s->ops->transform_url)
    return 0;
  ml_buf_init(&url, 4096);
  rc = s->ops->transform_url(s, "m/1/v1-0/original", "image/jpeg", "w_1", &url, &max_age, NULL);
  ml_buf_free(&url);
  return rc == ML_OK;
}

void ml_blob_close(struct ml_blob *b) {
  if(b->fd >= 0)
    close(b->fd);
  b->fd = -1;
  ml_blob_stream_close(&b->stream);
}

void ml_blob_stream_range(struct ml_blob_stream *st, uint64_t start, uint64_t len) {
  st->ops->range(st, start, len);
}

ssize_t ml_blob_stream_read(struct ml_blob_stream *st, char *buf, size_t max,
                            void (*wake)(void *arg), void *arg) {
  return st->ops->read(st, buf, max, wake, arg);
}

void ml_blob_stream_close(struct ml_blob_stream **st) {
  if(!st || !*st)
    return;
  (*st)->ops->close(*st);
  *st = NULL;
}

ml_err ml_store_remove_as(struct ml_store *s, const char *key, const char *content_type,
                          struct ml_errbuf *eb) {
  if(!ml_store_key_valid(key))
    return ml_fail(eb, ML_ERR_INTERNAL, "invalid blob key '%s'", key);
  return s->ops->remove(s, key, content_type && *content_type ? content_type : NULL, eb);
}

ml_err ml_store_remove(struct ml_store *s, const char *key, struct ml_errbuf *eb) {
  return ml_store_remove_as(s, key, NULL, eb);
}

ml_err ml_store_list(struct ml_store *s, const char *prefix,
                     int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                     void *ctx, struct ml_errbuf *eb) {
  return s->ops->list(s, prefix ? prefix : "", cb, ctx, eb);
}

ml_err ml_store_ping(struct ml_store *s, struct ml_errbuf *eb) { return s->ops->ping(s, eb); }
