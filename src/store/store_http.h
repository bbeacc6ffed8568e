/*
 * store_http.h - what the remote blob stores (S3, Cloudinary) share: a
 * pool of curl easy handles, the retry policy's pieces, and the local
 * spool directory.
 */
#ifndef ML_STORE_STORE_HTTP_H
#define ML_STORE_STORE_HTTP_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

#define ML_STORE_HTTP_POOL_MAX 16

/* Idle easy handles: each keeps its connections alive between calls. A
 * handle is used by one thread at a time. */
struct ml_store_http_pool {
  pthread_mutex_t mu;
  CURL *h[ML_STORE_HTTP_POOL_MAX];
  int n;
};

void ml_store_http_pool_init(struct ml_store_http_pool *p);
void ml_store_http_pool_destroy(struct ml_store_http_pool *p);
/* An idle handle, or a new one; NULL when out of memory. */
CURL *ml_store_http_pool_get(struct ml_store_http_pool *p);
/* Gives h back (NULL is fine); cleans it up when the pool is full. */
void ml_store_http_pool_put(struct ml_store_http_pool *p, CURL *h);

/* Is a transfer that failed with cc worth another attempt (connection
 * refused or reset, timeouts, DNS, TLS set-up, a cut answer)? */
int ml_store_http_retriable(CURLcode cc);

/* Sleeps before attempt attempt_no + 1: 100 ms, 200 ms, 400 ms ... (at
 * most 5 s) plus up to 100 ms of jitter. */
void ml_store_http_backoff(int attempt_no);

/* The error for a local errno: no space, no memory, or I/O. */
ml_err ml_store_errno_err(int e);

/* ---- request and answer bodies ---- */

/* A request body: len bytes of fd from off, read with pread as curl sends
 * them (CURLOPT_READFUNCTION and SEEKFUNCTION with the source as data, or
 * a mime part's callbacks), so memory stays flat whatever the size. */
struct ml_store_http_src {
  int fd;
  int64_t off, len;
  int64_t pos;     /* how far curl has read: 0 before each attempt */
  int local_errno; /* why a read failed (EIO: the file shrank under us) */
};

size_t ml_store_http_src_read(char *buf, size_t size, size_t nitems, void *arg);
int ml_store_http_src_seek(void *arg, curl_off_t offset, int origin);

/* Where an answer's body goes (CURLOPT_WRITEFUNCTION with the sink as
 * data): a 2xx body into out_fd (>= 0), else into out (bounded by its max;
 * NULL: dropped); an error body's first errbody.max bytes into errbody, for
 * its message. h is the handle the answer comes on; the caller sets up and
 * frees errbody. */
struct ml_store_http_sink {
  CURL *h;
  int out_fd;
  struct ml_buf *out;
  struct ml_buf errbody;
  int local_errno; /* why a 2xx body was not kept (EFBIG: over out's max) */
};

size_t ml_store_http_sink_write(char *data, size_t size, size_t nmemb, void *arg);
/* Empties k before an attempt (out_fd truncated and rewound): 0, or the
 * errno of a failed truncate. */
int ml_store_http_sink_reset(struct ml_store_http_sink *k);

/* ---- downloads for the renderer ---- */

/* What a download writes into fd (a fresh temp file); the answer's
 * Last-Modified into *mtime. */
typedef ml_err (*ml_store_download_fn)(void *arg, int fd, time_t *mtime, struct ml_errbuf *eb);

/* ml_store_get for a remote store: download (arg) into an unlinked temp
 * file in spool_dir (nothing to clean after a crash), and out gets it,
 * rewound, with its size. what ("S3 GET") and key name the failures. */
ml_err ml_store_spool_download(const char *spool_dir, const char *what, const char *key,
                               ml_store_download_fn download, void *arg, struct ml_blob *out,
                               struct ml_errbuf *eb);

/* ---- delivery streams ----
 *
 * A stream (struct ml_blob_stream, store.h) that fetches a range of a URL
 * with GET and Range, through a 256 KiB buffer, pausing the transfer while
 * the reader is slow and resuming a broken one from where it stopped (up
 * to max_tries transfers; connection failures, 5xx, 420 and 429). Every
 * stream of a store is driven by the store's streamer: one thread and one
 * curl multi handle, so no request thread waits on the remote store. */
struct ml_store_streamer;

ml_err ml_store_streamer_start(struct ml_store_streamer **out, struct ml_errbuf *eb);
/* Stops the thread and frees the streams still open. */
void ml_store_streamer_stop(struct ml_store_streamer **s);

/* Called on the streamer thread before each transfer, on a reset handle:
 * sets the store's own options (authentication, timeouts) and the request
 * headers, which must include "Range: <range>" (range is "bytes=a-b");
 * *hdrs is freed by the stream. Returns 0, or -1 to fail the stream. */
typedef int (*ml_store_stream_setup)(void *arg, CURL *h, const char *range,
                                     struct curl_slist **hdrs);

/* A stream of url's size bytes (a 206 answer is required for each range).
 * ML_ERR_NOMEM. */
ml_err ml_store_stream_new(struct ml_store_streamer *sr, const char *url, uint64_t size,
                           int max_tries, long timeout_s, ml_store_stream_setup setup, void *arg,
                           struct ml_blob_stream **out);

/* mkdir -p with mode 0700. */
ml_err ml_store_mkdir_p(const char *dir, struct ml_errbuf *eb);

#endif
