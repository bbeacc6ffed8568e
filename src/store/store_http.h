/*
 * store_http.h - what the remote blob stores (S3, Cloudinary) share: a
 * pool of curl easy handles, the retry policy's pieces, and the local
 * spool directory.
 */
#ifndef ML_STORE_STORE_HTTP_H
#define ML_STORE_STORE_HTTP_H

#include <curl/curl.h>
#include <pthread.h>

#include "core/err.h"

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

/* mkdir -p with mode 0700. */
ml_err ml_store_mkdir_p(const char *dir, struct ml_errbuf *eb);

#endif
