/*
 * files.c - file delivery: /media/{id}/v{version}/{filename}.
 *
 * Versioned URLs are immutable: cached for a year, strong ETag (the content
 * hash), Range and conditional requests, sent zero-copy from the blob's fd
 * (file system store) or streamed as the remote store sends the range
 * (S3: only the bytes asked for are fetched, through a bounded buffer; HEAD,
 * 304 and 416 fetch none). With MEDIALIB_S3_DELIVERY=redirect the store
 * hands out presigned URLs instead, and the answer is a 302 to one.
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
#include "http/query.h"
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

static void add_file_headers(struct ml_req *r, const char *mime, const char *filename,
                             const char *etag, const char *lastmod) {
  struct ml_buf b;
  ml_req_add_header(r, "Cache-Control", "public, max-age=31536000, immutable");
  ml_req_add_header(r, "ETag", etag);
  ml_req_add_header(r, "Last-Modified", lastmod);
  ml_req_add_header(r, "Accept-Ranges", "bytes");
  ml_req_add_header(r, "X-Content-Type-Options", "nosniff");
  ml_req_add_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
  ml_buf_init(&b, 4096);
  if(!ml_filename_disposition(&b, ml_media_inline_ok(mime), filename))
    ml_req_add_header(r, "Content-Disposition", b.data);
  ml_buf_free(&b);
}

/* What is sent: the original or a variant. */
struct sendable {
  int64_t media_id;
  const char *key;      /* for logs */
  const char *mime;     /* Content-Type */
  const char *filename; /* for Content-Disposition */
  const char *sha256;   /* the strong ETag is its first 128 bits */
};

/* A remote blob's stream as a response body (server.h ml_req_stream). */
static long blob_stream_read(void *ctx, char *buf, size_t max, void *w) {
  ssize_t n = ml_blob_stream_read(ctx, buf, max, ml_req_wake, w);
  if(n == ML_BLOB_WAIT)
    return ML_REQ_STREAM_WAIT;
  return n < 0 ? ML_REQ_STREAM_FAILED : (long)n;
}

static void blob_stream_free(void *ctx) {
  struct ml_blob_stream *st = ctx;
  ml_blob_stream_close(&st);
}

/* The body: zero-copy from the fd, or the stream of the range. Takes the
 * blob's fd or stream. */
static void send_body(struct ml_req *r, unsigned status, struct ml_blob *blob, uint64_t start,
                      uint64_t len) {
  if(blob->stream) {
    struct ml_blob_stream *st = blob->stream;
    blob->stream = NULL;
    ml_blob_stream_range(st, start, len);
    ml_req_stream(r, status, len, blob_stream_read, st, blob_stream_free);
    return;
  }
  ml_req_fd(r, status, blob->fd, start, len);
  blob->fd = -1;
}

/* Answers with blob (taking its fd or stream): 200, 206, 304 or 416, by the
 * request's conditional and Range headers. */
static void send_blob(struct ml_req *r, const struct sendable *f, struct ml_blob *blob) {
  char etag[40], lastmod[30], crange[80];
  const char *range_h, *if_range;
  uint64_t start = 0, len;
  enum ml_range_result rr = ML_RANGE_NONE;
  snprintf(etag, sizeof(etag), "\"%.32s\"", f->sha256);
  ml_time_http(blob->mtime, lastmod);
  len = (uint64_t)blob->size;
  if(ml_cond_not_modified(ml_req_header(r, "If-None-Match"), ml_req_header(r, "If-Modified-Since"),
                          etag, blob->mtime)) {
    ml_blob_close(blob);
    ml_req_empty(r, 304);
    add_file_headers(r, f->mime, f->filename, etag, lastmod);
    return;
  }
  range_h = ml_req_header(r, "Range");
  if_range = ml_req_header(r, "If-Range");
  if(range_h && ml_cond_if_range(if_range, etag, blob->mtime))
    rr = ml_range_parse(range_h, (uint64_t)blob->size, &start, &len);
  if(rr != ML_RANGE_OK) {
    start = 0;
    len = (uint64_t)blob->size;
  }
  if(rr == ML_RANGE_UNSATISFIABLE) {
    ml_blob_close(blob);
    snprintf(crange, sizeof(crange), "bytes */%lld", (long long)blob->size);
    ml_req_error(r, ML_ERR_RANGE_NOT_SATISFIABLE, "the range is past the end of the file", NULL);
    ml_req_add_header(r, "Content-Range", crange);
    return;
  }
  if(rr == ML_RANGE_OK) {
    send_body(r, 206, blob, start, len);
    snprintf(crange, sizeof(crange), "bytes %llu-%llu/%lld", (unsigned long long)start,
             (unsigned long long)(start + len - 1), (long long)blob->size);
    ml_req_add_header(r, "Content-Range", crange);
  } else {
    send_body(r, 200, blob, 0, len);
  }
  ml_req_add_header(r, "Content-Type", f->mime);
  add_file_headers(r, f->mime, f->filename, etag, lastmod);
}

/* A blob the row says exists but storage cannot give: 503, logged. */
static void open_failed(struct ml_req *r, const struct sendable *f, ml_err rc,
                        const struct ml_errbuf *eb) {
  struct ml_api *api = api_of(r);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ML_ERR_STORAGE_UNAVAILABLE; /* the row says it exists: storage lost it */
  ml_log(api->log, ML_LOG_ERROR, r->request_id, "file.open_failed", ML_LI("media_id", f->media_id),
         ML_LS("key", f->key), ML_LERR(rc), ML_LS("detail", eb->msg));
  ml_req_error(r, rc, "the file cannot be read from storage", NULL);
}

/* The answer to a store's URL for the bytes (rc from asking for it): a
 * 302 to it, cacheable for max_age seconds by the client only; an error;
 * or nothing when the store hands out no URL (ML_ERR_NOT_IMPLEMENTED).
 * Returns 1 when answered. */
static int answer_store_url(struct ml_req *r, ml_err rc, const struct ml_buf *url, int64_t max_age,
                            struct ml_errbuf *eb) {
  char cc[64];
  if(rc == ML_OK) {
    ml_req_empty(r, 302);
    ml_req_add_header(r, "Location", url->data);
    snprintf(cc, sizeof(cc), "private, max-age=%lld", (long long)max_age);
    ml_req_add_header(r, "Cache-Control", cc);
  } else if(rc != ML_ERR_NOT_IMPLEMENTED) {
    ml_api_fail(r, rc, eb);
  }
  return rc != ML_ERR_NOT_IMPLEMENTED;
}

/* Redirect delivery (a store that hands out URLs): a 302 to a presigned
 * URL that answers with the same Content-Type and Content-Disposition. The
 * redirect may be cached for less time than the URL lives. Returns 1 when
 * answered, 0 when the bytes are ours to send. */
static int redirect_to_store(struct ml_req *r, const struct sendable *f) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  struct ml_buf url, disp;
  int64_t max_age = 0;
  int answered;
  ml_err rc;
  ml_buf_init(&url, 16384);
  ml_buf_init(&disp, 4096);
  if(ml_filename_disposition(&disp, ml_media_inline_ok(f->mime), f->filename))
    ml_buf_reset(&disp);
  rc = ml_media_blob_url(api->media, f->key, f->mime, disp.data, &url, &max_age, &eb);
  answered = answer_store_url(r, rc, &url, max_age, &eb);
  ml_buf_free(&url);
  ml_buf_free(&disp);
  return answered;
}

static void serve(struct ml_req *r, const struct ml_media *m) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  struct ml_blob blob;
  struct sendable f = {m->id, m->storage_key, m->mime_type, m->filename, m->sha256};
  ml_err rc;
  if(redirect_to_store(r, &f))
    return;
  rc = ml_media_open_blob(api->media, m, &blob, &eb);
  if(rc) {
    open_failed(r, &f, rc, &eb);
    return;
  }
  send_blob(r, &f, &blob);
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

/* ----------------------------------------------------------- variants */

/* A variant request between the event loop and the render pool. */
struct vstate {
  struct ml_media m;
  struct ml_variant_plan p;
  int varies;
};

/* "photo.jpg" rendered as WebP is offered as "photo.webp". */
static const char *variant_filename(struct ml_req *r, const struct ml_media *m, const char *ext) {
  const char *dot = strrchr(m->filename, '.');
  size_t stem = dot && dot != m->filename ? (size_t)(dot - m->filename) : strlen(m->filename);
  const char *name = ml_arena_printf(r->arena, "%.*s.%s", (int)stem, m->filename, ext);
  return name ? name : m->filename;
}

static void serve_variant(struct ml_req *r, const struct vstate *st, const struct ml_variant *v) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  struct ml_blob blob;
  struct sendable f = {st->m.id, v->storage_key, v->mime_type,
                       variant_filename(r, &st->m, st->p.ext), v->sha256};
  ml_err rc;
  if(redirect_to_store(r, &f)) {
    if(st->varies)
      ml_req_add_header(r, "Vary", "Accept");
    return;
  }
  rc = ml_media_open_variant(api->media, v, &blob, &eb);
  if(rc) {
    open_failed(r, &f, rc, &eb);
    return;
  }
  send_blob(r, &f, &blob);
  if(st->varies)
    ml_req_add_header(r, "Vary", "Accept");
}

/* On the render pool: renders (or waits for the render of) the variant. */
static void variant_work(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct vstate *st = r->state;
  struct ml_errbuf eb = {{0}};
  struct ml_variant v;
  ml_err rc = ml_media_variant_get(api->media, &st->m, &st->p, r->request_id, r->arena, &v, &eb);
  if(rc == ML_ERR_NOT_FOUND) { /* replaced or deleted while rendering: start over */
    ml_req_error(r, ML_ERR_NOT_FOUND, "the media changed while its variant was made; retry", NULL);
    ml_req_add_header(r, "Cache-Control", "no-store");
    return;
  }
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  serve_variant(r, st, &v);
}

/* May this transform be rendered? Presets always; free-form ones when the
 * server allows any, or when the URL carries a valid signature over the
 * canonical transform and the requested file path. Answers 403 otherwise. */
static int transform_allowed(struct ml_req *r, const struct ml_transform *t, const char *sig,
                             int64_t id, const char *version, const char *name) {
  struct ml_api *api = api_of(r);
  const char *key = api->cfg->url_signing_key;
  struct ml_errbuf eb = {{0}};
  unsigned char raw[ML_TRANSFORM_SIG_BYTES];
  char canonical[ML_TRANSFORM_CANONICAL_MAX];
  struct ml_buf path;
  ml_err rc;
  if(!sig) {
    if(t->is_preset || !strcmp(api->cfg->transforms, "any"))
      return 1;
    ml_req_error(r, ML_ERR_FORBIDDEN,
                 "free-form transforms need a signed URL (medialib sign); presets need none", NULL);
    return 0;
  }
  if(!*key) {
    ml_req_error(r, ML_ERR_FORBIDDEN, "this server does not accept signed URLs", NULL);
    return 0;
  }
  rc = ml_transform_signature_parse(sig, strlen(sig), raw, &eb);
  if(rc) {
    ml_req_error(r, ML_ERR_FORBIDDEN, "the URL signature is malformed", NULL);
    return 0;
  }
  /* The path as the signer saw it: the URL's own version and name. */
  ml_transform_format(t, canonical);
  ml_buf_init(&path, 8192);
  rc = ml_buf_add(&path, "/media/", 7);
  if(!rc)
    rc = ml_buf_addi(&path, id);
  if(!rc)
    rc = ml_buf_addc(&path, '/');
  if(!rc)
    rc = ml_buf_adds(&path, version);
  if(!rc)
    rc = ml_buf_addc(&path, '/');
  if(!rc)
    rc = ml_buf_url_encode(&path, name);
  if(!rc)
    rc = ml_transform_verify((const unsigned char *)key, strlen(key), canonical, path.data, raw,
                             &eb);
  ml_buf_free(&path);
  if(rc) {
    ml_req_error(r, ML_ERR_FORBIDDEN, "the URL signature does not match", NULL);
    return 0;
  }
  return 1;
}

/* 302 to the current version's URL of the same transform (signed anew when
 * it was signed). */
static void redirect_variant(struct ml_req *r, const struct ml_media *m,
                             const struct ml_transform *t, const char *seg, const char *sig) {
  struct ml_api *api = api_of(r);
  const char *key = api->cfg->url_signing_key;
  struct ml_errbuf eb = {{0}};
  char canonical[ML_TRANSFORM_CANONICAL_MAX], fresh[ML_TRANSFORM_SIG_CHARS + 3] = "s_";
  struct ml_buf path, b;
  ml_err rc = ML_OK;
  ml_buf_init(&path, 8192);
  ml_buf_init(&b, 8192);
  if(sig) {
    ml_transform_format(t, canonical);
    rc = ml_api_media_path(&path, m);
    if(!rc)
      rc = ml_transform_sign((const unsigned char *)key, strlen(key), canonical, path.data,
                             fresh + 2, &eb);
  }
  if(!rc)
    rc = ml_buf_adds(&b, ml_api_base_url(api, r));
  if(!rc)
    rc = ml_api_file_path(&b, m, sig ? fresh : NULL, seg);
  if(rc) {
    ml_api_fail(r, rc, &eb);
  } else {
    ml_req_empty(r, 302);
    ml_req_add_header(r, "Location", b.data);
    ml_req_add_header(r, "Cache-Control", "no-cache");
  }
  ml_buf_free(&path);
  ml_buf_free(&b);
}

/* A store that transforms images itself (Cloudinary): a 302 to its
 * transformation URL. Returns 1 when answered, 0 when the variant is ours
 * to render. */
static int redirect_to_transform(struct ml_req *r, const struct ml_media *m,
                                 const struct ml_transform *t) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  struct ml_buf url;
  int64_t max_age = 0;
  int answered;
  ml_err rc;
  ml_buf_init(&url, 16384);
  rc = ml_media_transform_url(api->media, m, t, &url, &max_age, &eb);
  answered = answer_store_url(r, rc, &url, max_age, &eb);
  ml_buf_free(&url);
  return answered;
}

static void variant_complete(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  const char *seg = ml_req_param(r, "transform"), *sig = ml_req_param(r, "sig");
  const char *version = ml_req_param(r, "version"), *name = ml_req_param(r, "name");
  struct ml_transform t;
  struct ml_variant v;
  struct vstate *st = ml_arena_alloc(r->arena, sizeof(*st));
  ml_err rc;
  if(!st) {
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  memset(st, 0, sizeof(*st));
  if(!load(r, &st->m))
    return;
  if(sig && !ml_transform_is_signature(sig, strlen(sig))) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such file", NULL);
    return;
  }
  rc = ml_transform_parse(seg, strlen(seg), api->presets, &t, &eb);
  if(rc) {
    ml_req_error(r, ML_ERR_BAD_REQUEST, eb.msg[0] ? eb.msg : "malformed transform", NULL);
    return;
  }
  if(!transform_allowed(r, &t, sig, st->m.id, version, name))
    return;
  if(!ml_media_renderable(st->m.mime_type)) {
    ml_req_error(r, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "only images can be transformed", NULL);
    return;
  }
  if(parse_version(version) != st->m.version || strcmp(name, st->m.filename)) {
    redirect_variant(r, &st->m, &t, seg, sig);
    return;
  }
  if(redirect_to_transform(r, &st->m, &t))
    return;
  rc = ml_media_variant_plan(&st->m, &t, ml_req_header(r, "Accept"), &st->p, &st->varies, &eb);
  if(!rc)
    rc = ml_media_variant_find(api->media, &st->m, &st->p, r->arena, &v, &eb);
  if(rc == ML_ERR_NOT_FOUND) { /* not rendered yet: on the render pool */
    r->state = st;
    ml_req_defer_on(r, api->render_pool, variant_work);
    return;
  }
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  serve_variant(r, st, &v);
}

ml_err ml_api_sign_url(const char *url, const unsigned char *key, size_t keylen,
                       const struct ml_transform_presets *presets, struct ml_buf *out,
                       struct ml_errbuf *eb) {
  const char *path = strstr(url, "/media/"), *seg[5], *end;
  size_t len[5];
  int n = 0;
  char name[4096], canonical[ML_TRANSFORM_CANONICAL_MAX], sig[ML_TRANSFORM_SIG_CHARS + 1];
  struct ml_transform t;
  struct ml_buf plain;
  long nlen;
  ml_err rc;
  if(!path)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "not a file URL: no /media/ in %s", url);
  end = path + strcspn(path, "?#");
  for(const char *p = path + 1; p < end && n < 5;) { /* media, id, vN, transform, name */
    const char *q = memchr(p, '/', (size_t)(end - p));
    if(!q)
      q = end;
    seg[n] = p;
    len[n++] = (size_t)(q - p);
    p = q + 1;
  }
  if(n == 5 && len[3] > 2 && ml_transform_is_signature(seg[3], len[3]))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "the URL is signed already");
  if(n != 5 || seg[4] + len[4] != end || len[2] < 2 || seg[2][0] != 'v' || len[4] >= sizeof(name))
    return ml_fail(eb, ML_ERR_BAD_REQUEST,
                   "expected a transform URL: /media/{id}/v{version}/{transform}/{filename}");
  rc = ml_transform_parse(seg[3], len[3], presets, &t, eb);
  if(rc)
    return rc;
  ml_transform_format(&t, canonical);
  /* The filename as the server re-encodes it after decoding. */
  memcpy(name, seg[4], len[4]);
  name[len[4]] = '\0';
  nlen = ml_url_decode(name, len[4], 0);
  if(nlen < 0)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "the filename is not validly percent-encoded");
  name[nlen] = '\0';
  ml_buf_init(&plain, 16384);
  rc = ml_buf_add(&plain, path, (size_t)(seg[3] - path)); /* "/media/42/v3/" */
  if(!rc)
    rc = ml_buf_url_encode(&plain, name);
  if(!rc)
    rc = ml_transform_sign(key, keylen, canonical, plain.data, sig, eb);
  if(!rc)
    rc = ml_buf_add(out, url, (size_t)(seg[3] - url)); /* scheme, host, "/media/42/v3/" */
  if(!rc)
    rc = ml_buf_add(out, "s_", 2);
  if(!rc)
    rc = ml_buf_adds(out, sig);
  if(!rc)
    rc = ml_buf_addc(out, '/');
  if(!rc)
    rc = ml_buf_adds(out, canonical);
  if(!rc)
    rc = ml_buf_addc(out, '/');
  if(!rc)
    rc = ml_buf_url_encode(out, name);
  if(!rc)
    rc = ml_buf_adds(out, end);
  ml_buf_free(&plain);
  return rc;
}

ml_err ml_api_files_register(struct ml_router *rt, struct ml_api *api) {
  const struct ml_route routes[] = {
      {ML_M_GET, "/media/:id", "file.redirect", NULL, NULL, redirect_complete, NULL, api},
      {ML_M_GET, "/media/:id/:name", "file.redirect", NULL, NULL, redirect_complete, NULL, api},
      {ML_M_GET, "/media/:id/:version/:name", "file.get", NULL, NULL, versioned_complete, NULL,
       api},
      {ML_M_GET, "/media/:id/:version/:transform/:name", "file.variant", NULL, NULL,
       variant_complete, NULL, api},
      {ML_M_GET, "/media/:id/:version/:sig/:transform/:name", "file.variant", NULL, NULL,
       variant_complete, NULL, api},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
