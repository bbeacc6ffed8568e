/*
 * files.c - file delivery: /media/{id}/v{version}/{filename}.
 *
 * Versioned URLs are immutable: cached for a year, strong ETag (the content
 * hash), Range and conditional requests, sent zero-copy from the blob's fd.
 * Unversioned and old-version URLs redirect to the current one and are never
 * cached, so a replaced file shows at once. Deleted media answer 404 and
 * are never cached either.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/timeutil.h"
#include "http/cond.h"
#include "http/range.h"
#include "media/filename.h"

static struct ml_api *api_of(struct ml_req *r) { return r->route->ctx; }

static void redirect_current(struct ml_req *r, const struct ml_media *m) {
  struct ml_api *api = api_of(r);
  struct ml_buf b;
  ml_buf_init(&b, 8192);
  if(ml_buf_adds(&b, ml_api_base_url(api, r)) || ml_api_media_path(&b, m)) {
    ml_buf_free(&b);
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  ml_req_empty(r, 302);
  ml_req_add_header(r, "Location", b.data);
  ml_req_add_header(r, "Cache-Control", "no-cache");
  ml_buf_free(&b);
}

/* Loads the media named by the path, or answers 404. */
static int load(struct ml_req *r, struct ml_media *m) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  int64_t id;
  ml_err rc = ml_api_parse_id(ml_req_param(r, "id"), &id);
  if(rc) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such media", NULL);
    return 0;
  }
  rc = ml_media_get_for_delivery(api->media, id, r->arena, m, &eb);
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return 0;
  }
  return 1;
}

static void redirect_complete(struct ml_req *r) {
  struct ml_media m;
  if(load(r, &m))
    redirect_current(r, &m);
}

/* "v12" -> 12; 0 when not a version segment. */
static int64_t parse_version(const char *s) {
  int64_t v = 0;
  if(!s || s[0] != 'v' || !s[1] || strlen(s) > 12)
    return 0;
  for(s++; *s; s++) {
    if(*s < '0' || *s > '9')
      return 0;
    v = v * 10 + (*s - '0');
  }
  return v;
}

static void add_file_headers(struct ml_req *r, const struct ml_media *m, const char *etag,
                             const char *lastmod) {
  struct ml_buf b;
  ml_req_add_header(r, "Cache-Control", "public, max-age=31536000, immutable");
  ml_req_add_header(r, "ETag", etag);
  ml_req_add_header(r, "Last-Modified", lastmod);
  ml_req_add_header(r, "Accept-Ranges", "bytes");
  ml_req_add_header(r, "X-Content-Type-Options", "nosniff");
  ml_req_add_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
  ml_buf_init(&b, 4096);
  if(!ml_filename_disposition(&b, ml_media_inline_ok(m->mime_type), m->filename))
    ml_req_add_header(r, "Content-Disposition", b.data);
  ml_buf_free(&b);
}

static void serve(struct ml_req *r, const struct ml_media *m) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  struct ml_blob blob;
  char etag[40], lastmod[30], crange[80];
  const char *range_h, *if_range;
  uint64_t start = 0, len;
  enum ml_range_result rr = ML_RANGE_NONE;
  ml_err rc = ml_media_open_blob(api->media, m, &blob, &eb);
  if(rc) {
    if(rc == ML_ERR_NOT_FOUND)
      rc = ML_ERR_STORAGE_UNAVAILABLE; /* the row says it exists: storage lost it */
    ml_log(api->log, ML_LOG_ERROR, r->request_id, "file.open_failed", ML_LI("media_id", m->id),
           ML_LS("key", m->storage_key), ML_LERR(rc), ML_LS("detail", eb.msg));
    ml_req_error(r, rc, "the file cannot be read from storage", NULL);
    return;
  }
  snprintf(etag, sizeof(etag), "\"%.32s\"", m->sha256);
  ml_time_http(blob.mtime, lastmod);
  len = (uint64_t)blob.size;
  if(ml_cond_not_modified(ml_req_header(r, "If-None-Match"), ml_req_header(r, "If-Modified-Since"),
                          etag, blob.mtime)) {
    close(blob.fd);
    ml_req_empty(r, 304);
    add_file_headers(r, m, etag, lastmod);
    return;
  }
  range_h = ml_req_header(r, "Range");
  if_range = ml_req_header(r, "If-Range");
  if(range_h && ml_cond_if_range(if_range, etag, blob.mtime))
    rr = ml_range_parse(range_h, (uint64_t)blob.size, &start, &len);
  if(rr != ML_RANGE_OK) {
    start = 0;
    len = (uint64_t)blob.size;
  }
  if(rr == ML_RANGE_UNSATISFIABLE) {
    close(blob.fd);
    snprintf(crange, sizeof(crange), "bytes */%lld", (long long)blob.size);
    ml_req_error(r, ML_ERR_RANGE_NOT_SATISFIABLE, "the range is past the end of the file", NULL);
    ml_req_add_header(r, "Content-Range", crange);
    return;
  }
  if(rr == ML_RANGE_OK) {
    ml_req_fd(r, 206, blob.fd, start, len);
    snprintf(crange, sizeof(crange), "bytes %llu-%llu/%lld", (unsigned long long)start,
             (unsigned long long)(start + len - 1), (long long)blob.size);
    ml_req_add_header(r, "Content-Range", crange);
  } else {
    ml_req_fd(r, 200, blob.fd, 0, len);
  }
  ml_req_add_header(r, "Content-Type", m->mime_type);
  add_file_headers(r, m, etag, lastmod);
}

static void versioned_complete(struct ml_req *r) {
  struct ml_media m;
  int64_t v;
  if(!load(r, &m))
    return;
  v = parse_version(ml_req_param(r, "version"));
  if(v != m.version || strcmp(ml_req_param(r, "name"), m.filename)) {
    redirect_current(r, &m);
    return;
  }
  serve(r, &m);
}

static void transform_complete(struct ml_req *r) {
  struct ml_media m;
  if(!load(r, &m))
    return;
  if(!ml_media_is_raster_image(m.mime_type)) {
    ml_req_error(r, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "only images can be transformed", NULL);
    return;
  }
  ml_req_error(r, ML_ERR_NOT_IMPLEMENTED, "image transforms are not available in this build", NULL);
}

ml_err ml_api_files_register(struct ml_router *rt, struct ml_api *api) {
  const struct ml_route routes[] = {
      {ML_M_GET, "/media/:id", "file.redirect", NULL, NULL, redirect_complete, NULL, api},
      {ML_M_GET, "/media/:id/:name", "file.redirect", NULL, NULL, redirect_complete, NULL, api},
      {ML_M_GET, "/media/:id/:version/:name", "file.get", NULL, NULL, versioned_complete, NULL,
       api},
      {ML_M_GET, "/media/:id/:version/:transform/:name", "file.transform", NULL, NULL,
       transform_complete, NULL, api},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
