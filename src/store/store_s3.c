/*
 * store_s3.c - blob store on S3 or an S3-compatible service (MinIO, s3rver).
 *
 * libcurl does the HTTP and signs each request with its built-in SigV4
 * (CURLOPT_AWS_SIGV4). Debian 12's curl 7.88 does not add
 * x-amz-content-sha256 itself, so every request sends "UNSIGNED-PAYLOAD"
 * (which curl then signs as the payload hash); bodies are protected by TLS.
 *
 * Calls. Every call has a connect timeout; metadata calls (HEAD, DELETE,
 * list, multipart create/complete/abort) a total timeout; data transfers
 * fail when slower than 1 KiB/s for `timeout` seconds (a 1 GiB upload
 * must not have a total deadline). Connection failures, timeouts, 5xx and
 * 429 are retried up to `tries` attempts with exponential backoff and
 * jitter, with the same key (PUT is idempotent). 403 and other 4xx are not
 * retried. Errors carry S3's <Code> and <Message> in one line.
 *
 * Threads. A curl easy handle is used by one thread at a time: calls take
 * one from a small pool (which keeps its connections alive between calls)
 * and give it back. Streams (delivery) are driven by one thread per store
 * running a curl multi handle, so no request thread ever waits on S3 while
 * holding a connection of its event loop.
 *
 * put streams the spool file from disk: one PUT up to
 * multipart_threshold, else a multipart upload whose parts are read from
 * the file (pread) as curl sends them; memory stays flat whatever the size.
 * Any failure aborts the multipart upload. A crash mid-upload leaves an
 * incomplete multipart upload that S3 keeps (and bills) until aborted:
 * configure the bucket's lifecycle rule AbortIncompleteMultipartUpload
 * (e.g. after 1 day); the outbox intent removes the key itself.
 *
 * get (for the renderer) downloads into an unlinked temp file in the spool
 * dir and returns its fd. Delivery uses open_read: a HEAD for size and
 * mtime, then a stream that fetches only the range asked, through a
 * bounded buffer (256 KiB), pausing the transfer while the client is slow.
 * With MEDIALIB_S3_DELIVERY=redirect, delivery_url presigns a GET instead.
 *
 * Instances keep no state but temp files: everything is in the bucket.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "store/store_http.h"
#include "store/store_int.h"
#include "store/store_s3.h"

#define ERRBODY_MAX (16 * 1024)
#define XMLBODY_MAX (8 * 1024 * 1024) /* a list page of 1000 keys is ~300 KiB */
#define MAX_PARTS 10000

struct s3_store {
  struct ml_store base;
  struct ml_store_s3_url u;
  char *access_key;
  char *secret_key;
  char sigv4[128]; /* "aws:amz:REGION:s3" */
  int redirect;
  int64_t presign_ttl;
  struct ml_store_http_pool pool; /* idle easy handles (keep-alive connections) */
  /* the streamer: one thread driving every stream's transfer */
  struct ml_store_streamer *streamer; /* delivery streams */
};

/* ------------------------------------------------------------ transfers */

struct xfer {
  /* in */
  const char *method; /* GET PUT POST DELETE HEAD */
  const char *key;    /* "" for the bucket */
  const char *query;  /* encoded, sorted by name (SigV4); "" for none */
  const char *content_type;
  const char *range;           /* "bytes=a-b" or NULL */
  struct ml_store_http_src in; /* in.fd >= 0: upload in.len bytes of it from in.off */
  const char *in_mem;          /* POST body (may be "") */
  size_t in_mem_len;
  struct ml_store_http_sink sink; /* sink.out_fd or sink.out: where a 2xx body goes */
  int metadata;                   /* a short call: total timeout */
  /* out */
  long status;
  char etag[128];
  int64_t length;
  time_t mtime;
  char s3err[200]; /* "Code: Message" of an error answer */
};

static size_t on_header(char *line, size_t size, size_t nitems, void *arg) {
  struct xfer *x = arg;
  size_t n = size * nitems;
  if(n > 5 && !strncasecmp(line, "ETag:", 5)) {
    size_t i = 5, j = n;
    while(i < n && (line[i] == ' ' || line[i] == '\t'))
      i++;
    while(j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' '))
      j--;
    if(j - i < sizeof(x->etag)) {
      memcpy(x->etag, line + i, j - i);
      x->etag[j - i] = '\0';
    }
  }
  return n;
}

/* The full URL of key (or the bucket) with an encoded query. */
static ml_err make_url(const struct s3_store *s, const char *key, const char *query,
                       struct ml_buf *url) {
  struct ml_buf host, path;
  ml_err rc;
  ml_buf_init(&host, 1024);
  ml_buf_init(&path, 4096);
  rc = ml_store_s3_target(&s->u, key, &host, &path);
  if(!rc)
    rc = ml_buf_addf(url, "%s://%s%s%s%s", s->u.scheme, host.data, path.data ? path.data : "",
                     query && *query ? "?" : "", query ? query : "");
  ml_buf_free(&host);
  ml_buf_free(&path);
  return rc;
}

/* Options every request of the store has: signing, timeouts, protocols. */
static void common_opts(const struct s3_store *s, CURL *h) {
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
  curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
  curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, s->u.connect_timeout_s);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
}

static struct curl_slist *common_headers(const char *content_type, const char *range) {
  struct curl_slist *l = NULL, *t;
  char line[512];
  l = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if(l && (t = curl_slist_append(l, "Expect:")))
    l = t;
  if(l && content_type) {
    snprintf(line, sizeof(line), "Content-Type: %s", content_type);
    if((t = curl_slist_append(l, line)))
      l = t;
  }
  if(l && range) {
    snprintf(line, sizeof(line), "Range: %s", range);
    if((t = curl_slist_append(l, line)))
      l = t;
  }
  return l;
}

/* One attempt. Returns the curl result; x->status etc. filled. */
static CURLcode attempt(struct s3_store *s, struct xfer *x, const char *url) {
  struct curl_slist *hdrs = common_headers(x->content_type, x->range);
  CURLcode cc;
  CURL *h = x->sink.h;
  curl_off_t len = -1, ft = -1;
  if(!hdrs)
    return CURLE_OUT_OF_MEMORY;
  curl_easy_reset(h);
  common_opts(s, h);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ml_store_http_sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x->sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
  if(x->metadata) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT, s->u.timeout_s);
  } else {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->u.timeout_s);
  }
  if(!strcmp(x->method, "HEAD")) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if(!strcmp(x->method, "PUT")) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, ml_store_http_src_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &x->in);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, ml_store_http_src_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &x->in);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->in.len);
  } else if(!strcmp(x->method, "POST")) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->in_mem_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->in_mem ? x->in_mem : "");
  } else if(!strcmp(x->method, "DELETE")) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  cc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
  if(curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK)
    x->length = len;
  if(curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft) == CURLE_OK && ft >= 0)
    x->mtime = (time_t)ft;
  curl_slist_free_all(hdrs);
  return cc;
}

/* Runs x with retries. ML_OK for 2xx; ML_ERR_NOT_FOUND for 404 (no
 * message: the caller decides what a missing key means); otherwise the
 * error, with "what: detail" in eb. */
static ml_err s3_call(struct s3_store *s, struct xfer *x, struct ml_errbuf *eb) {
  struct ml_buf url;
  ml_err rc = ML_OK;
  ml_buf_init(&url, 8192);
  ml_buf_init(&x->sink.errbody, ERRBODY_MAX);
  x->sink.h = ml_store_http_pool_get(&s->pool);
  if(!x->sink.h) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "S3: cannot make a curl handle");
    goto out;
  }
  rc = make_url(s, x->key, x->query, &url);
  if(rc)
    goto out;
  for(int n = 1;; n++) {
    CURLcode cc;
    int retry = 0, e;
    x->status = 0;
    x->etag[0] = '\0';
    x->s3err[0] = '\0';
    x->length = -1;
    x->mtime = 0;
    x->in.pos = 0;
    x->in.local_errno = 0;
    if((e = ml_store_http_sink_reset(&x->sink))) {
      rc = ml_fail(eb, ml_store_errno_err(e), "S3 %s %s: temp file: %s", x->method, x->key,
                   strerror(e));
      goto out;
    }
    cc = attempt(s, x, url.data);
    if(cc == CURLE_OK && x->status >= 200 && x->status < 300) {
      rc = ML_OK;
      goto out;
    }
    if(cc == CURLE_OK) {
      if(!ml_store_s3_parse_error(x->sink.errbody.data ? x->sink.errbody.data : "",
                                  x->sink.errbody.len, x->s3err, sizeof(x->s3err)))
        snprintf(x->s3err, sizeof(x->s3err), "HTTP %ld", x->status);
      if(x->status == 404 && strncmp(x->s3err, "NoSuchBucket", 12)) {
        rc = ML_ERR_NOT_FOUND;
        goto out;
      }
      retry = x->status >= 500 || x->status == 429;
      if(!retry || n >= s->u.tries) {
        rc = ml_fail(eb,
                     x->status >= 500 || x->status == 429 || x->status == 403 || x->status == 401 ||
                             x->status == 404
                         ? ML_ERR_STORAGE_UNAVAILABLE
                         : ML_ERR_IO,
                     "S3 %s %s: %ld %s%s", x->method, *x->key ? x->key : "(bucket)", x->status,
                     x->s3err, retry ? " (after retries)" : "");
        goto out;
      }
    } else if((e = x->in.local_errno ? x->in.local_errno : x->sink.local_errno)) {
      rc = ml_fail(eb, e == EFBIG ? ML_ERR_IO : ml_store_errno_err(e), "S3 %s %s: %s", x->method,
                   *x->key ? x->key : "(bucket)", e == EFBIG ? "answer too large" : strerror(e));
      goto out;
    } else {
      retry = ml_store_http_retriable(cc);
      if(!retry || n >= s->u.tries) {
        rc = ml_fail(eb, cc == CURLE_OUT_OF_MEMORY ? ML_ERR_NOMEM : ML_ERR_STORAGE_UNAVAILABLE,
                     "S3 %s %s: %s%s", x->method, *x->key ? x->key : "(bucket)",
                     curl_easy_strerror(cc), retry ? " (after retries)" : "");
        goto out;
      }
    }
    ml_store_http_backoff(n);
  }
out:
  ml_store_http_pool_put(&s->pool, x->sink.h);
  x->sink.h = NULL;
  ml_buf_free(&x->sink.errbody);
  ml_buf_free(&url);
  return rc;
}

static void xfer_init(struct xfer *x, const char *method, const char *key, const char *query) {
  memset(x, 0, sizeof(*x));
  x->method = method;
  x->key = key;
  x->query = query ? query : "";
  x->in.fd = -1;
  x->sink.out_fd = -1;
}

/* ------------------------------------------------------------------ put */

static ml_err put_single(struct s3_store *s, const char *key, int fd, int64_t size,
                         const char *content_type, struct ml_errbuf *eb) {
  struct xfer x;
  xfer_init(&x, "PUT", key, NULL);
  x.content_type = content_type;
  x.in.fd = fd;
  x.in.len = size;
  return s3_call(s, &x, eb);
}

static void abort_multipart(struct s3_store *s, const char *key, const char *upload_id) {
  struct ml_errbuf ignored = {{0}};
  struct ml_buf q;
  struct xfer x;
  ml_buf_init(&q, 2048);
  if(!ml_buf_adds(&q, "uploadId=") && !ml_store_s3_uri_encode(&q, upload_id, 0)) {
    xfer_init(&x, "DELETE", key, q.data);
    x.metadata = 1;
    s3_call(s, &x, &ignored); /* best effort: the lifecycle rule is the backstop */
  }
  ml_buf_free(&q);
}

static ml_err put_multipart(struct s3_store *s, const char *key, int fd, int64_t size,
                            const char *content_type, struct ml_errbuf *eb) {
  struct ml_buf body, q, done;
  struct xfer x;
  char upload_id[1024] = "";
  int64_t part = s->u.part_size, nparts;
  ml_err rc;
  if((size + part - 1) / part > MAX_PARTS)
    part = (size + MAX_PARTS - 1) / MAX_PARTS;
  nparts = (size + part - 1) / part;
  ml_buf_init(&body, 64 * 1024);
  ml_buf_init(&q, 4096);
  ml_buf_init(&done, (size_t)nparts * 160 + 256);
  /* 1. Create. */
  xfer_init(&x, "POST", key, "uploads=");
  x.content_type = content_type;
  x.metadata = 1;
  x.in_mem = "";
  x.sink.out = &body;
  rc = s3_call(s, &x, eb);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 create multipart upload %s: 404", key);
  if(rc)
    goto out;
  if(ml_store_s3_xml_text(body.data ? body.data : "", body.len, "UploadId", upload_id,
                          sizeof(upload_id)) ||
     !upload_id[0]) {
    rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 create multipart upload %s: no UploadId", key);
    goto out;
  }
  rc = ml_buf_adds(&done, "<CompleteMultipartUpload>");
  /* 2. Parts, read from the file as they are sent. */
  for(int64_t i = 0; !rc && i < nparts; i++) {
    int64_t off = i * part, len = size - off < part ? size - off : part;
    ml_buf_reset(&q);
    rc = ml_buf_addf(&q, "partNumber=%lld&uploadId=", (long long)(i + 1));
    if(!rc)
      rc = ml_store_s3_uri_encode(&q, upload_id, 0);
    if(rc)
      break;
    xfer_init(&x, "PUT", key, q.data);
    x.in.fd = fd;
    x.in.off = off;
    x.in.len = len;
    rc = s3_call(s, &x, eb);
    if(rc == ML_ERR_NOT_FOUND)
      rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 upload part %lld of %s: 404 NoSuchUpload",
                   (long long)(i + 1), key);
    if(!rc && !x.etag[0])
      rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 upload part %lld of %s: no ETag",
                   (long long)(i + 1), key);
    if(!rc) /* the ETag is quoted text: no '<' or '&' in it to escape */
      rc = ml_buf_addf(&done, "<Part><PartNumber>%lld</PartNumber><ETag>%s</ETag></Part>",
                       (long long)(i + 1), x.etag);
  }
  if(!rc)
    rc = ml_buf_adds(&done, "</CompleteMultipartUpload>");
  if(rc)
    goto out;
  /* 3. Complete. S3 may answer 200 and still fail, in the body. */
  ml_buf_reset(&q);
  rc = ml_buf_adds(&q, "uploadId=");
  if(!rc)
    rc = ml_store_s3_uri_encode(&q, upload_id, 0);
  if(rc)
    goto out;
  xfer_init(&x, "POST", key, q.data);
  x.in_mem = done.data;
  x.in_mem_len = done.len;
  x.content_type = "application/xml";
  x.sink.out = &body;
  x.metadata = 1;
  rc = s3_call(s, &x, eb);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 complete multipart upload %s: 404", key);
  if(!rc) {
    char err[200];
    if(ml_store_s3_parse_error(body.data ? body.data : "", body.len, err, sizeof(err)))
      rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 complete multipart upload %s: %s", key, err);
  }
out:
  if(rc && upload_id[0])
    abort_multipart(s, key, upload_id);
  ml_buf_free(&body);
  ml_buf_free(&q);
  ml_buf_free(&done);
  return rc;
}

static ml_err s3_put(struct ml_store *st, const char *key, const char *src_path,
                     const char *content_type, struct ml_errbuf *eb) {
  struct s3_store *s = (struct s3_store *)st;
  struct stat sb;
  ml_err rc;
  int fd = open(src_path, O_RDONLY | O_CLOEXEC);
  if(fd < 0)
    return ml_fail(eb, ML_ERR_IO, "open %s: %s", src_path, strerror(errno));
  if(fstat(fd, &sb)) {
    rc = ml_fail(eb, ML_ERR_IO, "stat %s: %s", src_path, strerror(errno));
  } else if(sb.st_size > s->u.multipart_threshold) {
    rc = put_multipart(s, key, fd, sb.st_size, content_type, eb);
  } else {
    rc = put_single(s, key, fd, sb.st_size, content_type, eb);
    if(rc == ML_ERR_NOT_FOUND)
      rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 PUT %s: 404", key);
  }
  close(fd);
  if(!rc)
    unlink(src_path); /* consumed, as the contract says */
  return rc;
}

/* ------------------------------------------------------ get, stat, remove */

struct get_ctx {
  struct s3_store *s;
  const char *key;
};

static ml_err download(void *arg, int fd, time_t *mtime, struct ml_errbuf *eb) {
  struct get_ctx *g = arg;
  struct xfer x;
  ml_err rc;
  xfer_init(&x, "GET", g->key, NULL);
  x.sink.out_fd = fd;
  rc = s3_call(g->s, &x, eb);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "S3 GET %s: no such key", g->key);
  *mtime = x.mtime;
  return rc;
}

static ml_err s3_get(struct ml_store *st, const char *key, struct ml_blob *out,
                     struct ml_errbuf *eb) {
  struct get_ctx g = {(struct s3_store *)st, key};
  return ml_store_spool_download(st->spool_dir, "S3 GET", key, download, &g, out, eb);
}

static ml_err s3_stat(struct ml_store *st, const char *key, struct ml_blob *out,
                      struct ml_errbuf *eb) {
  struct s3_store *s = (struct s3_store *)st;
  struct xfer x;
  ml_err rc;
  xfer_init(&x, "HEAD", key, NULL);
  x.metadata = 1;
  rc = s3_call(s, &x, eb);
  if(rc == ML_ERR_NOT_FOUND)
    return ml_fail(eb, ML_ERR_NOT_FOUND, "S3 HEAD %s: no such key", key);
  if(rc)
    return rc;
  if(x.length < 0)
    return ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 HEAD %s: no Content-Length", key);
  out->fd = -1;
  out->stream = NULL;
  out->size = x.length;
  out->mtime = x.mtime;
  return ML_OK;
}

static ml_err s3_remove(struct ml_store *st, const char *key, const char *content_type,
                        struct ml_errbuf *eb) {
  struct s3_store *s = (struct s3_store *)st;
  (void)content_type; /* one kind of blob here */
  struct xfer x;
  ml_err rc;
  xfer_init(&x, "DELETE", key, NULL);
  x.metadata = 1;
  rc = s3_call(s, &x, eb);
  return rc == ML_ERR_NOT_FOUND ? ML_OK : rc; /* missing counts as removed */
}

/* ----------------------------------------------------------------- list */

struct list_walk {
  const struct s3_store *s;
  int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms);
  void *ctx;
};

/* Keys come back with the store's prefix; ours are valid keys under it,
 * anything else in the bucket is not ours to report. */
static int list_item(void *ctx, const char *key, int64_t size, int64_t mtime_ms) {
  struct list_walk *w = ctx;
  size_t plen = strlen(w->s->u.prefix);
  if(strncmp(key, w->s->u.prefix, plen) || !ml_store_key_valid(key + plen))
    return 0;
  return w->cb(w->ctx, key + plen, size, mtime_ms);
}

static ml_err list_pages(struct s3_store *s, const char *prefix, int max_pages,
                         int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                         void *ctx, struct ml_errbuf *eb) {
  struct list_walk w = {s, cb, ctx};
  struct ml_buf body, q, full;
  char token[2048] = "";
  int truncated = 1, stopped = 0, pages = 0;
  ml_err rc = ML_OK;
  ml_buf_init(&body, XMLBODY_MAX);
  ml_buf_init(&q, 8192);
  ml_buf_init(&full, 1024);
  rc = ml_buf_addf(&full, "%s%s", s->u.prefix, prefix);
  while(!rc && truncated && !stopped && (max_pages <= 0 || pages < max_pages)) {
    struct xfer x;
    ml_buf_reset(&q);
    /* parameters in SigV4 order: sorted by name */
    if(token[0]) {
      rc = ml_buf_adds(&q, "continuation-token=");
      if(!rc)
        rc = ml_store_s3_uri_encode(&q, token, 0);
      if(!rc)
        rc = ml_buf_addc(&q, '&');
    }
    if(!rc)
      rc = ml_buf_addf(
          &q, "list-type=2&max-keys=%d&prefix=", max_pages == 1 && pages == 0 ? 1 : s->u.list_page);
    if(!rc)
      rc = ml_store_s3_uri_encode(&q, full.data ? full.data : "", 0);
    if(rc)
      break;
    xfer_init(&x, "GET", "", q.data);
    x.sink.out = &body;
    x.metadata = 1;
    rc = s3_call(s, &x, eb);
    if(rc == ML_ERR_NOT_FOUND)
      rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "S3 list: 404");
    if(!rc)
      rc = ml_store_s3_parse_list(body.data ? body.data : "", body.len, list_item, &w, &truncated,
                                  token, sizeof(token), &stopped, eb);
    pages++;
  }
  ml_buf_free(&body);
  ml_buf_free(&q);
  ml_buf_free(&full);
  return rc;
}

static ml_err s3_list(struct ml_store *st, const char *prefix,
                      int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                      void *ctx, struct ml_errbuf *eb) {
  return list_pages((struct s3_store *)st, prefix, 0, cb, ctx, eb);
}

static int count_none(void *ctx, const char *key, int64_t size, int64_t mtime_ms) {
  (void)ctx;
  (void)key;
  (void)size;
  (void)mtime_ms;
  return 0;
}

/* One list call of one key: the bucket exists, and we may read it. */
static ml_err s3_ping(struct ml_store *st, struct ml_errbuf *eb) {
  return list_pages((struct s3_store *)st, "", 1, count_none, NULL, eb);
}

/* ----------------------------------------------------------- redirects */

static ml_err s3_delivery_url(struct ml_store *st, const char *key, const char *content_type,
                              const char *disposition, struct ml_buf *out, int64_t *max_age,
                              struct ml_errbuf *eb) {
  struct s3_store *s = (struct s3_store *)st;
  struct ml_store_s3_param p[2];
  struct ml_buf host, path;
  size_t n = 0;
  ml_err rc;
  if(!s->redirect)
    return ML_ERR_NOT_IMPLEMENTED;
  if(disposition)
    p[n++] = (struct ml_store_s3_param){"response-content-disposition", disposition};
  if(content_type)
    p[n++] = (struct ml_store_s3_param){"response-content-type", content_type};
  ml_buf_init(&host, 1024);
  ml_buf_init(&path, 4096);
  rc = ml_store_s3_target(&s->u, key, &host, &path);
  if(!rc)
    rc = ml_store_s3_presign(s->access_key, s->secret_key, s->u.region, "GET", s->u.scheme,
                             host.data, path.data, p, n, time(NULL), s->presign_ttl, out, eb);
  /* Cached redirects must expire well before the URL they point to. */
  *max_age = s->presign_ttl / 2;
  ml_buf_free(&host);
  ml_buf_free(&path);
  return rc;
}

/* -------------------------------------------------------------- streams */

/* A delivery stream's request (store_http.h): signed like every call, with
 * the Range of what is left to fetch. */
static int stream_setup(void *arg, CURL *h, const char *range, struct curl_slist **hdrs) {
  struct s3_store *s = arg;
  common_opts(s, h);
  *hdrs = common_headers(NULL, range);
  return *hdrs ? 0 : -1;
}

static ml_err s3_open_read(struct ml_store *st, const char *key, struct ml_blob *out,
                           struct ml_errbuf *eb) {
  struct s3_store *s = (struct s3_store *)st;
  struct ml_buf url;
  ml_err rc = s3_stat(st, key, out, eb);
  if(rc)
    return rc;
  ml_buf_init(&url, 8192);
  rc = make_url(s, key, NULL, &url);
  if(!rc)
    rc = ml_store_stream_new(s->streamer, url.data, (uint64_t)out->size, s->u.tries, s->u.timeout_s,
                             stream_setup, s, &out->stream);
  ml_buf_free(&url);
  if(rc)
    return ml_fail(eb, rc, "S3: out of memory for a stream");
  return ML_OK;
}

/* ---------------------------------------------------------- open, close */

static void s3_close(struct ml_store *st) {
  struct s3_store *s = (struct s3_store *)st;
  ml_store_streamer_stop(&s->streamer);
  ml_store_http_pool_destroy(&s->pool);
  if(s->secret_key)
    memset(s->secret_key, 0, strlen(s->secret_key));
  ml_free(s->secret_key);
  ml_free(s->access_key);
  ml_free(s->base.spool_dir);
  ml_free(s);
}

static const struct ml_store_ops s3_ops = {"s3",         s3_close,        s3_put,  s3_get,
                                           s3_remove,    s3_list,         s3_ping, s3_stat,
                                           s3_open_read, s3_delivery_url, NULL};

ml_err ml_store_s3_open(const struct ml_store_opts *o, struct ml_store **out,
                        struct ml_errbuf *eb) {
  struct s3_store *s;
  ml_err rc;
  const char *delivery = o->s3_delivery && *o->s3_delivery ? o->s3_delivery : "proxy";
  if(!o->s3_access_key || !*o->s3_access_key || !o->s3_secret_key || !*o->s3_secret_key)
    return ml_fail(eb, ML_ERR_CONFIG,
                   "S3 storage needs credentials: MEDIALIB_S3_ACCESS_KEY and "
                   "MEDIALIB_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  if(strcmp(delivery, "proxy") && strcmp(delivery, "redirect"))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_S3_DELIVERY: '%s' is not proxy or redirect",
                   delivery);
  if(!o->spool_dir || !*o->spool_dir)
    return ml_fail(eb, ML_ERR_CONFIG, "S3 storage needs a local spool dir");
  s = ml_calloc(1, sizeof(*s));
  if(!s)
    return ML_ERR_NOMEM;
  ml_store_http_pool_init(&s->pool);
  s->base.ops = &s3_ops;
  rc = ml_store_s3_url_parse(o->url, &s->u, eb);
  if(rc)
    goto out;
  snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->u.region);
  s->redirect = !strcmp(delivery, "redirect");
  s->presign_ttl = o->s3_presign_ttl > 0 ? o->s3_presign_ttl : 3600;
  if(s->presign_ttl > 7 * 86400) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_S3_PRESIGN_TTL: at most 7 days");
    goto out;
  }
  s->access_key = ml_strdup(o->s3_access_key);
  s->secret_key = ml_strdup(o->s3_secret_key);
  s->base.spool_dir = ml_strdup(o->spool_dir);
  if(!s->access_key || !s->secret_key || !s->base.spool_dir) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  rc = ml_store_mkdir_p(s->base.spool_dir, eb);
  if(rc)
    goto out;
  rc = ml_store_streamer_start(&s->streamer, eb);
  if(rc)
    goto out;
  *out = &s->base;
out:
  if(rc)
    s3_close(&s->base);
  return rc;
}
