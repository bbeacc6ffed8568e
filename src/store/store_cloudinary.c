/*
 * store_cloudinary.c - blob store on Cloudinary (the seed system's own
 * backend), through its REST APIs with libcurl and Jansson.
 *
 * Calls. put is the Upload API (signed: store_cloudinary.h), one request
 * up to chunk_size, else Cloudinary's chunked upload: every chunk a signed
 * request with X-Unique-Upload-Id and Content-Range, read from the spool
 * file as curl sends it (memory stays flat). remove is destroy with
 * invalidate=true, so the CDN forgets the bytes too. list is the Admin API
 * (HTTP Basic), for fsck. get and stat read the delivery URL (GET, HEAD):
 * the Admin API is rate limited per hour, delivery is not. Every call has
 * a connect timeout and either a total timeout (metadata) or a minimum
 * speed (data); connection failures, timeouts, 5xx, 420 (Cloudinary's rate
 * limit) and 429 are retried up to `tries` attempts with backoff; the
 * same public_id is used every time, so a retried upload overwrites
 * itself.
 *
 * Resource types. The type of a blob follows from its key and content
 * type (ml_store_cld_resource_type), but get, stat and remove know only
 * the key. For a variant (a key with an extension) that is raw, always.
 * For an original, the store asks image, then video, then raw: reads take
 * the first that has it; remove destroys the first that answers "ok", and
 * counts the blob as removed only when every type answered "not found" -
 * Cloudinary says "not found" for the wrong type as for a missing asset,
 * and trusting a guessed type's answer is how the seed system orphaned
 * files.
 *
 * Delivery. With delivery=redirect (the default) file URLs answer 302 to
 * Cloudinary's versioned URL (…/upload/v<version>/<public_id>; version is
 * the media version, unique per key) and transforms to a Cloudinary
 * transformation on the same asset, so Cloudinary's CDN does the work.
 * With delivery=proxy, medialib sends the bytes itself: a HEAD of the
 * delivery URL for size and mtime, then a stream (store_http.h) that
 * fetches only the range asked for; it renders variants itself (get
 * downloads the original into an unlinked spool file for the renderer),
 * stored as raw assets.
 *
 * Instances keep no state but temp files: everything is in Cloudinary.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "store/store_cloudinary.h"
#include "store/store_http.h"
#include "store/store_int.h"

#define ERRBODY_MAX (16 * 1024)
#define JSON_MAX (8 * 1024 * 1024) /* a list page of 500 assets is ~400 KiB */

struct cld_store {
  struct ml_store base;
  struct ml_store_cld_url u;
  struct ml_store_http_pool pool;
  struct ml_store_streamer *streamer; /* proxy delivery's streams */
};

static const char *const all_types[] = {"image", "video", "raw"};

/* The types a key may have been stored under, in the order to ask. */
static size_t candidate_types(const char *key, const char *const **out) {
  static const char *const raw_only[] = {"raw"};
  if(!strcmp(ml_store_cld_resource_type(key, "image/jpeg"), "raw")) {
    *out = raw_only;
    return 1;
  }
  *out = all_types;
  return 3;
}

/* ------------------------------------------------------------ transfers */

struct call {
  /* in */
  const char *what;   /* "upload m/42/v1-ab/original": for messages */
  const char *method; /* GET HEAD POST */
  const char *url;
  int basic_auth;
  int metadata;                      /* a short call: total timeout */
  const char *form;                  /* POST application/x-www-form-urlencoded */
  struct ml_store_cld_param *fields; /* POST multipart: these fields, then the file part */
  size_t nfields;
  struct ml_store_http_src *file;
  struct curl_slist *headers;
  struct ml_store_http_sink sink; /* sink.out_fd or sink.out: where a 2xx body goes */
  /* out */
  long status;
  int64_t length;
  time_t mtime;
  char msg[300]; /* Cloudinary's error message, or "HTTP n" */
};

/* The multipart body: the fields, then the file part (named "blob": the
 * public_id says where it goes). */
static curl_mime *make_mime(struct call *c) {
  curl_mime *m = curl_mime_init(c->sink.h);
  curl_mimepart *p;
  if(!m)
    return NULL;
  for(size_t i = 0; i < c->nfields; i++) {
    if(!c->fields[i].value || !c->fields[i].value[0])
      continue;
    p = curl_mime_addpart(m);
    if(!p || curl_mime_name(p, c->fields[i].name) ||
       curl_mime_data(p, c->fields[i].value, CURL_ZERO_TERMINATED))
      goto fail;
  }
  if(c->file) {
    p = curl_mime_addpart(m);
    if(!p || curl_mime_name(p, "file") || curl_mime_filename(p, "blob") ||
       curl_mime_type(p, "application/octet-stream") ||
       curl_mime_data_cb(p, (curl_off_t)c->file->len, ml_store_http_src_read,
                         ml_store_http_src_seek, NULL, c->file))
      goto fail;
  }
  return m;
fail:
  curl_mime_free(m);
  return NULL;
}

static CURLcode attempt(struct cld_store *s, struct call *c, curl_mime *mime) {
  CURL *h = c->sink.h;
  CURLcode cc;
  curl_off_t len = -1, ft = -1;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_URL, c->url);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, s->u.connect_timeout_s);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ml_store_http_sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->sink);
  if(c->headers)
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
  if(c->basic_auth) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->u.api_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->u.api_secret);
  }
  if(c->metadata) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT, s->u.timeout_s);
  } else {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->u.timeout_s);
  }
  if(!strcmp(c->method, "HEAD"))
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  else if(mime)
    curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
  else if(c->form)
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->form);
  cc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
  if(curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK)
    c->length = len;
  if(curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft) == CURLE_OK && ft >= 0)
    c->mtime = (time_t)ft;
  return cc;
}

/* Runs c with retries. ML_OK for 2xx; ML_ERR_NOT_FOUND for 404 (no
 * message: the caller decides what it means); otherwise the error with
 * "Cloudinary <what>: detail" in eb. */
static ml_err cld_call(struct cld_store *s, struct call *c, struct ml_errbuf *eb) {
  curl_mime *mime = NULL;
  ml_err rc = ML_OK;
  ml_buf_init(&c->sink.errbody, ERRBODY_MAX);
  c->sink.h = ml_store_http_pool_get(&s->pool);
  if(!c->sink.h) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "Cloudinary: cannot make a curl handle");
    goto out;
  }
  for(int n = 1;; n++) {
    CURLcode cc;
    int retry, e;
    c->status = 0;
    c->length = -1;
    c->mtime = 0;
    c->msg[0] = '\0';
    if(c->file) {
      c->file->pos = 0;
      c->file->local_errno = 0;
    }
    if((e = ml_store_http_sink_reset(&c->sink))) {
      rc = ml_fail(eb, ml_store_errno_err(e), "Cloudinary %s: temp file: %s", c->what, strerror(e));
      goto out;
    }
    /* A fresh body each attempt: curl 7.88 does not rewind a multipart
     * body whose parts come from a callback when the handle is reused
     * (the retry sent headers and waited for a body that never came). */
    curl_mime_free(mime);
    mime = NULL;
    if(c->fields && !(mime = make_mime(c))) {
      rc = ml_fail(eb, ML_ERR_NOMEM, "Cloudinary %s: cannot build the request", c->what);
      goto out;
    }
    cc = attempt(s, c, mime);
    if(cc == CURLE_OK && c->status >= 200 && c->status < 300)
      goto out;
    if(c->file && c->file->local_errno) {
      rc = ml_fail(eb, ml_store_errno_err(c->file->local_errno),
                   "Cloudinary %s: reading the file: %s", c->what, strerror(c->file->local_errno));
      goto out;
    }
    if(cc == CURLE_OK) {
      if(!ml_store_cld_parse_error(c->sink.errbody.data ? c->sink.errbody.data : "",
                                   c->sink.errbody.len, c->msg, sizeof(c->msg)))
        snprintf(c->msg, sizeof(c->msg), "HTTP %ld", c->status);
      if(c->status == 404) {
        rc = ML_ERR_NOT_FOUND;
        goto out;
      }
      retry = c->status >= 500 || c->status == 420 || c->status == 429;
      if(!retry || n >= s->u.tries) {
        /* 401/403: refused (credentials, a stale timestamp): the store is
         * unavailable to us; other 4xx: this request is wrong. */
        rc = ml_fail(
            eb,
            retry || c->status == 401 || c->status == 403 ? ML_ERR_STORAGE_UNAVAILABLE : ML_ERR_IO,
            "Cloudinary %s: %ld %s%s", c->what, c->status, c->msg, retry ? " (after retries)" : "");
        goto out;
      }
    } else if((e = c->sink.local_errno)) {
      rc = ml_fail(eb, e == EFBIG ? ML_ERR_IO : ml_store_errno_err(e), "Cloudinary %s: %s", c->what,
                   e == EFBIG ? "answer too large" : strerror(e));
      goto out;
    } else {
      retry = ml_store_http_retriable(cc);
      if(!retry || n >= s->u.tries) {
        rc = ml_fail(eb, cc == CURLE_OUT_OF_MEMORY ? ML_ERR_NOMEM : ML_ERR_STORAGE_UNAVAILABLE,
                     "Cloudinary %s: %s%s", c->what, curl_easy_strerror(cc),
                     retry ? " (after retries)" : "");
        goto out;
      }
    }
    ml_store_http_backoff(n);
  }
out:
  curl_mime_free(mime);
  ml_store_http_pool_put(&s->pool, c->sink.h);
  c->sink.h = NULL;
  ml_buf_free(&c->sink.errbody);
  return rc;
}

static void call_init(struct call *c, const char *method, const char *url, const char *what) {
  memset(c, 0, sizeof(*c));
  c->method = method;
  c->url = url;
  c->what = what;
  c->sink.out_fd = -1;
}

/* PREFIX/v1_1/CLOUD/<path> */
static ml_err api_url(const struct cld_store *s, struct ml_buf *out, const char *path) {
  return ml_buf_addf(out, "%s/v1_1/%s/%s", s->u.upload_prefix, s->u.cloud, path);
}

static ml_err public_id_of(const struct cld_store *s, const char *key, char *out, size_t cap) {
  if((size_t)snprintf(out, cap, "%s%s", s->u.prefix, key) >= cap)
    return ML_ERR_INTERNAL;
  return ML_OK;
}

/* Fills timestamp and signature of a signed call's fields (the last two
 * slots of f, which the caller leaves for them). */
static ml_err sign_fields(const struct cld_store *s, struct ml_store_cld_param *f, size_t n,
                          char ts[24], char sig[65], struct ml_errbuf *eb) {
  snprintf(ts, 24, "%lld", (long long)time(NULL));
  f[n - 2].name = "timestamp";
  f[n - 2].value = ts;
  f[n - 1].name = "signature";
  f[n - 1].value = "";
  ml_err rc = ml_store_cld_sign(f, n, s->u.api_secret, s->u.sha256, sig, eb);
  f[n - 1].value = sig;
  return rc;
}

/* ------------------------------------------------------------------ put */

/* One upload request: the whole file, or one chunk of a chunked upload
 * (upload_id != NULL). *partial is 1 when Cloudinary waits for more
 * chunks. */
static ml_err upload_one(struct cld_store *s, const char *key, const char *rtype,
                         const char *public_id, struct ml_store_http_src *file, int64_t total,
                         const char *upload_id, struct ml_store_cld_asset *a, int *partial,
                         struct ml_errbuf *eb) {
  struct ml_store_cld_param f[5] = {{"api_key", s->u.api_key}, {"public_id", public_id}};
  struct ml_buf url, body, what;
  struct curl_slist *hdrs = NULL, *t;
  char ts[24], sig[65], line[160];
  struct call c;
  ml_err rc;
  ml_buf_init(&url, 4096);
  ml_buf_init(&body, JSON_MAX);
  ml_buf_init(&what, 2048);
  rc = sign_fields(s, f, 4, ts, sig, eb);
  if(rc)
    goto out;
  if(api_url(s, &url, rtype) || ml_buf_adds(&url, "/upload") ||
     ml_buf_addf(&what, "upload %s (%s)", key, rtype)) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  hdrs = curl_slist_append(NULL, "Expect:");
  if(hdrs && upload_id) {
    snprintf(line, sizeof(line), "X-Unique-Upload-Id: %s", upload_id);
    if((t = curl_slist_append(hdrs, line)))
      hdrs = t;
    snprintf(line, sizeof(line), "Content-Range: bytes %lld-%lld/%lld", (long long)file->off,
             (long long)(file->off + file->len - 1), (long long)total);
    if(!t || !(t = curl_slist_append(hdrs, line))) {
      rc = ML_ERR_NOMEM;
      goto out;
    }
  }
  if(!hdrs) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  call_init(&c, "POST", url.data, what.data);
  c.fields = f;
  c.nfields = 4;
  c.file = file;
  c.headers = hdrs;
  c.sink.out = &body;
  rc = cld_call(s, &c, eb);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "Cloudinary %s: 404 %s (is the cloud name right?)",
                 what.data, c.msg);
  if(!rc)
    rc = ml_store_cld_parse_upload(body.data ? body.data : "", body.len, a, partial, eb);
out:
  curl_slist_free_all(hdrs);
  ml_buf_free(&url);
  ml_buf_free(&body);
  ml_buf_free(&what);
  return rc;
}

static ml_err cld_put(struct ml_store *st, const char *key, const char *src_path,
                      const char *content_type, struct ml_errbuf *eb) {
  struct cld_store *s = (struct cld_store *)st;
  const char *rtype = ml_store_cld_resource_type(key, content_type);
  char public_id[ML_CLD_PUBLIC_ID_MAX], upload_id[33];
  unsigned char rnd[16];
  struct ml_store_cld_asset a;
  struct stat sb;
  struct ml_store_http_src file = {0};
  int partial = 0;
  ml_err rc;
  if(public_id_of(s, key, public_id, sizeof(public_id)))
    return ml_fail(eb, ML_ERR_INTERNAL, "Cloudinary: the public_id of %s is too long", key);
  file.fd = open(src_path, O_RDONLY | O_CLOEXEC);
  if(file.fd < 0)
    return ml_fail(eb, ml_store_errno_err(errno), "Cloudinary upload %s: open %s: %s", key,
                   src_path, strerror(errno));
  if(fstat(file.fd, &sb)) {
    rc = ml_fail(eb, ml_store_errno_err(errno), "Cloudinary upload %s: %s", key, strerror(errno));
    goto out;
  }
  memset(&a, 0, sizeof(a));
  if(sb.st_size <= s->u.chunk_size) {
    file.len = sb.st_size;
    rc = upload_one(s, key, rtype, public_id, &file, sb.st_size, NULL, &a, &partial, eb);
  } else {
    if(RAND_bytes(rnd, sizeof(rnd)) != 1) {
      rc = ml_fail(eb, ML_ERR_INTERNAL, "Cloudinary upload %s: no random upload id", key);
      goto out;
    }
    ml_hex_encode(rnd, sizeof(rnd), upload_id);
    rc = ML_OK;
    for(int64_t off = 0; off < sb.st_size && !rc; off += s->u.chunk_size) {
      file.off = off;
      file.len = sb.st_size - off < s->u.chunk_size ? sb.st_size - off : s->u.chunk_size;
      rc = upload_one(s, key, rtype, public_id, &file, sb.st_size, upload_id, &a, &partial, eb);
      if(!rc && partial != (off + file.len < sb.st_size))
        rc = ml_fail(eb, ML_ERR_IO,
                     partial ? "Cloudinary upload %s: still waiting for chunks after the last"
                             : "Cloudinary upload %s: finished before the last chunk",
                     key);
    }
  }
  if(rc)
    goto out;
  if(partial || strcmp(a.public_id, public_id) || strcmp(a.resource_type, rtype) ||
     (a.bytes >= 0 && a.bytes != sb.st_size)) {
    rc = ml_fail(eb, ML_ERR_IO,
                 "Cloudinary upload %s: stored as %s/%s, %lld bytes (asked %s/%s, %lld bytes)", key,
                 a.resource_type, a.public_id, (long long)a.bytes, rtype, public_id,
                 (long long)sb.st_size);
    goto out;
  }
  unlink(src_path); /* consumed: the store has it */
out:
  close(file.fd);
  return rc;
}

/* ------------------------------------------------------- get, stat, rm */

/* GET or HEAD of key's delivery URL under each type it may have; the URL
 * that answered goes to found (may be NULL). */
static ml_err fetch(struct cld_store *s, const char *method, const char *key, int out_fd,
                    struct call *c, struct ml_buf *found, struct ml_errbuf *eb) {
  const char *const *types;
  size_t ntypes = candidate_types(key, &types);
  char public_id[ML_CLD_PUBLIC_ID_MAX], what[700];
  struct ml_buf url;
  ml_err rc = ML_ERR_NOT_FOUND;
  if(public_id_of(s, key, public_id, sizeof(public_id)))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "Cloudinary: the public_id of %s is too long", key);
  ml_buf_init(&url, 4096);
  for(size_t i = 0; i < ntypes && rc == ML_ERR_NOT_FOUND; i++) {
    ml_buf_reset(&url);
    if(ml_store_cld_delivery_url(&s->u, types[i], NULL, ml_store_cld_key_version(key), public_id,
                                 &url)) {
      rc = ML_ERR_NOMEM;
      break;
    }
    snprintf(what, sizeof(what), "%s %s (%s)", method, key, types[i]);
    call_init(c, method, url.data, what);
    c->metadata = out_fd < 0;
    c->sink.out_fd = out_fd;
    rc = cld_call(s, c, eb);
  }
  if(!rc && found && ml_buf_add(found, url.data, url.len))
    rc = ML_ERR_NOMEM;
  ml_buf_free(&url);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "Cloudinary %s %s: no such asset", method, key);
  return rc;
}

struct get_ctx {
  struct cld_store *s;
  const char *key;
};

static ml_err download(void *arg, int fd, time_t *mtime, struct ml_errbuf *eb) {
  struct get_ctx *g = arg;
  struct call c;
  ml_err rc;
  memset(&c, 0, sizeof(c));
  rc = fetch(g->s, "GET", g->key, fd, &c, NULL, eb);
  *mtime = c.mtime;
  return rc;
}

static ml_err cld_get(struct ml_store *st, const char *key, struct ml_blob *out,
                      struct ml_errbuf *eb) {
  struct get_ctx g = {(struct cld_store *)st, key};
  return ml_store_spool_download(st->spool_dir, "Cloudinary GET", key, download, &g, out, eb);
}

/* stat, and the delivery URL that has the blob into url (may be NULL). */
static ml_err stat_at(struct cld_store *s, const char *key, struct ml_blob *out, struct ml_buf *url,
                      struct ml_errbuf *eb) {
  struct call c;
  ml_err rc = fetch(s, "HEAD", key, -1, &c, url, eb);
  if(rc)
    return rc;
  if(c.length < 0)
    return ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "Cloudinary HEAD %s: no Content-Length", key);
  out->fd = -1;
  out->stream = NULL;
  out->size = c.length;
  out->mtime = c.mtime;
  return ML_OK;
}

static ml_err cld_stat(struct ml_store *st, const char *key, struct ml_blob *out,
                       struct ml_errbuf *eb) {
  return stat_at((struct cld_store *)st, key, out, NULL, eb);
}

/* A delivery stream's request: the delivery URL is public, so only the
 * connection options and the Range. */
static int stream_setup(void *arg, CURL *h, const char *range, struct curl_slist **hdrs) {
  struct cld_store *s = arg;
  char line[96];
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, s->u.connect_timeout_s);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  snprintf(line, sizeof(line), "Range: %s", range);
  *hdrs = curl_slist_append(NULL, line);
  return *hdrs ? 0 : -1;
}

/* Proxy delivery: a HEAD finds the asset (and its type), then a stream
 * fetches only the range asked for, when it is first read. */
static ml_err cld_open_read(struct ml_store *st, const char *key, struct ml_blob *out,
                            struct ml_errbuf *eb) {
  struct cld_store *s = (struct cld_store *)st;
  struct ml_buf url;
  ml_err rc;
  ml_buf_init(&url, 4096);
  rc = stat_at(s, key, out, &url, eb);
  if(!rc) {
    rc = ml_store_stream_new(s->streamer, url.data, (uint64_t)out->size, s->u.tries, s->u.timeout_s,
                             stream_setup, s, &out->stream);
    if(rc)
      rc = ml_fail(eb, rc, "Cloudinary: out of memory for a stream");
  }
  ml_buf_free(&url);
  return rc;
}

/* destroy of public_id as rtype: *found from Cloudinary's answer. */
static ml_err destroy(struct cld_store *s, const char *key, const char *rtype,
                      const char *public_id, int *found, struct ml_errbuf *eb) {
  struct ml_store_cld_param f[6] = {{"api_key", s->u.api_key},
                                    {"invalidate", "true"},
                                    {"public_id", public_id},
                                    {"type", "upload"}};
  struct ml_buf url, form, body;
  char ts[24], sig[65], what[700];
  struct call c;
  ml_err rc;
  ml_buf_init(&url, 4096);
  ml_buf_init(&form, 8192);
  ml_buf_init(&body, 64 * 1024);
  rc = sign_fields(s, f, 6, ts, sig, eb);
  if(rc)
    goto out;
  if(api_url(s, &url, rtype) || ml_buf_adds(&url, "/destroy")) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  for(size_t i = 0; i < 6 && !rc; i++) {
    rc = ml_buf_addf(&form, "%s%s=", i ? "&" : "", f[i].name);
    if(!rc)
      rc = ml_buf_url_encode(&form, f[i].value);
  }
  if(rc)
    goto out;
  snprintf(what, sizeof(what), "destroy %s (%s)", key, rtype);
  call_init(&c, "POST", url.data, what);
  c.metadata = 1;
  c.form = form.data;
  c.sink.out = &body;
  rc = cld_call(s, &c, eb);
  if(rc == ML_ERR_NOT_FOUND) /* the endpoint, not the asset: that is a 200 */
    rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "Cloudinary %s: 404 %s", what, c.msg);
  if(!rc)
    rc = ml_store_cld_parse_destroy(body.data ? body.data : "", body.len, found, eb);
out:
  ml_buf_free(&url);
  ml_buf_free(&form);
  ml_buf_free(&body);
  return rc;
}

/* With the content type it was put with, the blob's resource type is
 * known: destroy there, and "not found" there means removed. Without it
 * (fsck's orphans, jobs queued before types were recorded), ask image,
 * video, then raw, and count the blob removed only when every type said
 * "not found": Cloudinary says that for a wrong type too. */
static ml_err cld_remove(struct ml_store *st, const char *key, const char *content_type,
                         struct ml_errbuf *eb) {
  struct cld_store *s = (struct cld_store *)st;
  const char *const *types, *known[1];
  size_t ntypes = candidate_types(key, &types);
  char public_id[ML_CLD_PUBLIC_ID_MAX];
  if(public_id_of(s, key, public_id, sizeof(public_id)))
    return ml_fail(eb, ML_ERR_INTERNAL, "Cloudinary: the public_id of %s is too long", key);
  if(content_type) {
    known[0] = ml_store_cld_resource_type(key, content_type);
    types = known;
    ntypes = 1;
  }
  for(size_t i = 0; i < ntypes; i++) {
    int found = 0;
    ml_err rc = destroy(s, key, types[i], public_id, &found, eb);
    if(rc)
      return rc;
    if(found)
      return ML_OK;
  }
  return ML_OK; /* not found where it could be: there is nothing left to remove */
}

/* ----------------------------------------------------------------- list */

struct list_walk {
  const struct cld_store *s;
  int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms);
  void *ctx;
};

/* public_ids come back with the store's prefix; ours are valid keys under
 * it, anything else in the account is not ours to report. */
static int list_item(void *ctx, const struct ml_store_cld_asset *a) {
  struct list_walk *w = ctx;
  size_t plen = strlen(w->s->u.prefix);
  if(strncmp(a->public_id, w->s->u.prefix, plen) || !ml_store_key_valid(a->public_id + plen))
    return 0;
  return w->cb(w->ctx, a->public_id + plen, a->bytes, a->created_ms);
}

static ml_err cld_list(struct ml_store *st, const char *prefix,
                       int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                       void *ctx, struct ml_errbuf *eb) {
  struct cld_store *s = (struct cld_store *)st;
  struct list_walk w = {s, cb, ctx};
  struct ml_buf url, body, full;
  char cursor[1024], what[64];
  int stopped = 0;
  ml_err rc = ML_OK;
  ml_buf_init(&url, 8192);
  ml_buf_init(&body, JSON_MAX);
  ml_buf_init(&full, 2048);
  if(ml_buf_addf(&full, "%s%s", s->u.prefix, prefix)) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  for(size_t t = 0; t < 3 && !rc && !stopped; t++) {
    cursor[0] = '\0';
    snprintf(what, sizeof(what), "list (%s)", all_types[t]);
    do {
      struct call c;
      char path[64];
      snprintf(path, sizeof(path), "resources/%s/upload", all_types[t]);
      ml_buf_reset(&url);
      rc = api_url(s, &url, path);
      if(!rc)
        rc = ml_buf_addf(&url, "?max_results=%d&prefix=", s->u.list_page);
      if(!rc)
        rc = ml_buf_url_encode(&url, full.data);
      if(!rc && cursor[0]) {
        rc = ml_buf_adds(&url, "&next_cursor=");
        if(!rc)
          rc = ml_buf_url_encode(&url, cursor);
      }
      if(rc)
        break;
      call_init(&c, "GET", url.data, what);
      c.metadata = 1;
      c.basic_auth = 1;
      c.sink.out = &body;
      rc = cld_call(s, &c, eb);
      if(rc == ML_ERR_NOT_FOUND)
        rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "Cloudinary %s: 404 %s", what, c.msg);
      if(!rc)
        rc = ml_store_cld_parse_list(body.data ? body.data : "", body.len, list_item, &w, cursor,
                                     sizeof(cursor), &stopped, eb);
    } while(!rc && !stopped && cursor[0]);
  }
out:
  ml_buf_free(&url);
  ml_buf_free(&body);
  ml_buf_free(&full);
  return rc;
}

/* The Admin API's ping: are the cloud name and the credentials good? */
static ml_err cld_ping(struct ml_store *st, struct ml_errbuf *eb) {
  struct cld_store *s = (struct cld_store *)st;
  struct ml_buf url, body;
  struct call c;
  ml_err rc;
  ml_buf_init(&url, 4096);
  ml_buf_init(&body, 64 * 1024);
  rc = api_url(s, &url, "ping");
  if(!rc) {
    call_init(&c, "GET", url.data, "ping");
    c.metadata = 1;
    c.basic_auth = 1;
    c.sink.out = &body;
    rc = cld_call(s, &c, eb);
    if(rc == ML_ERR_NOT_FOUND)
      rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "Cloudinary ping: 404 %s", c.msg);
  }
  ml_buf_free(&url);
  ml_buf_free(&body);
  return rc;
}

/* ------------------------------------------------------------- delivery */

static ml_err redirect_url(struct cld_store *s, const char *key, const char *content_type,
                           const char *transformation, struct ml_buf *out, int64_t *max_age,
                           struct ml_errbuf *eb) {
  const char *rtype = ml_store_cld_resource_type(key, content_type);
  char public_id[ML_CLD_PUBLIC_ID_MAX];
  if(!s->u.redirect)
    return ML_ERR_NOT_IMPLEMENTED;
  if(public_id_of(s, key, public_id, sizeof(public_id)))
    return ml_fail(eb, ML_ERR_INTERNAL, "Cloudinary: the public_id of %s is too long", key);
  if(ml_store_cld_delivery_url(&s->u, rtype, transformation, ml_store_cld_key_version(key),
                               public_id, out))
    return ML_ERR_NOMEM;
  *max_age = s->u.redirect_ttl;
  return ML_OK;
}

static ml_err cld_delivery_url(struct ml_store *st, const char *key, const char *content_type,
                               const char *disposition, struct ml_buf *out, int64_t *max_age,
                               struct ml_errbuf *eb) {
  /* Cloudinary picks Content-Type itself; fl_attachment is how its
   * delivery asks for a download. */
  int attach = disposition && !strncasecmp(disposition, "attachment", 10);
  return redirect_url((struct cld_store *)st, key, content_type, attach ? "fl_attachment" : NULL,
                      out, max_age, eb);
}

static ml_err cld_transform_url(struct ml_store *st, const char *key, const char *content_type,
                                const char *transformation, struct ml_buf *out, int64_t *max_age,
                                struct ml_errbuf *eb) {
  if(strcmp(ml_store_cld_resource_type(key, content_type), "image"))
    return ML_ERR_NOT_IMPLEMENTED; /* Cloudinary transforms image assets only */
  return redirect_url((struct cld_store *)st, key, content_type, transformation, out, max_age, eb);
}

/* ---------------------------------------------------------- open, close */

static void cld_close(struct ml_store *st) {
  struct cld_store *s = (struct cld_store *)st;
  ml_store_streamer_stop(&s->streamer);
  ml_store_http_pool_destroy(&s->pool);
  memset(s->u.api_secret, 0, sizeof(s->u.api_secret));
  ml_free(s->base.spool_dir);
  ml_free(s);
}

static const struct ml_store_ops cld_ops = {
    .name = "cloudinary",
    .close = cld_close,
    .put = cld_put,
    .get = cld_get,
    .remove = cld_remove,
    .list = cld_list,
    .ping = cld_ping,
    .stat = cld_stat,
    .open_read = cld_open_read,
    .delivery_url = cld_delivery_url,
    .transform_url = cld_transform_url,
};

ml_err ml_store_cloudinary_open(const struct ml_store_opts *o, struct ml_store **out,
                                struct ml_errbuf *eb) {
  struct cld_store *s;
  ml_err rc;
#ifdef ML_TEST_HOOKS
  const int small_chunks = 1; /* the tests' stand-in takes chunks of any size */
#else
  const int small_chunks = 0;
#endif
  if(!o->spool_dir || !*o->spool_dir)
    return ml_fail(eb, ML_ERR_CONFIG, "Cloudinary storage needs a local spool dir");
  s = ml_calloc(1, sizeof(*s));
  if(!s)
    return ML_ERR_NOMEM;
  ml_store_http_pool_init(&s->pool);
  s->base.ops = &cld_ops;
  rc = ml_store_cld_url_parse(o->url, small_chunks, &s->u, eb);
  if(rc)
    goto out;
  s->base.spool_dir = ml_strdup(o->spool_dir);
  if(!s->base.spool_dir) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  rc = ml_store_mkdir_p(s->base.spool_dir, eb);
  if(!rc)
    rc = ml_store_streamer_start(&s->streamer, eb);
  if(rc)
    goto out;
  *out = &s->base;
out:
  if(rc)
    cld_close(&s->base);
  return rc;
}
