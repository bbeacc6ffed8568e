/* store_http.c - the remote stores' shared pieces (store_http.h). */
#include "store/store_http.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/timeutil.h"

void ml_store_http_pool_init(struct ml_store_http_pool *p) {
  memset(p, 0, sizeof(*p));
  pthread_mutex_init(&p->mu, NULL);
}

void ml_store_http_pool_destroy(struct ml_store_http_pool *p) {
  for(int i = 0; i < p->n; i++)
    curl_easy_cleanup(p->h[i]);
  p->n = 0;
  pthread_mutex_destroy(&p->mu);
}

CURL *ml_store_http_pool_get(struct ml_store_http_pool *p) {
  CURL *h = NULL;
  pthread_mutex_lock(&p->mu);
  if(p->n > 0)
    h = p->h[--p->n];
  pthread_mutex_unlock(&p->mu);
  return h ? h : curl_easy_init();
}

void ml_store_http_pool_put(struct ml_store_http_pool *p, CURL *h) {
  if(!h)
    return;
  pthread_mutex_lock(&p->mu);
  if(p->n < ML_STORE_HTTP_POOL_MAX) {
    p->h[p->n++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  if(h)
    curl_easy_cleanup(h);
}

int ml_store_http_retriable(CURLcode cc) {
  switch(cc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return 1;
  default: return 0;
  }
}

void ml_store_http_backoff(int attempt_no) {
  int64_t ms = 100LL << (attempt_no - 1 < 6 ? attempt_no - 1 : 6);
  struct timespec ts;
  if(ms > 5000)
    ms = 5000;
  ms += (int64_t)((ml_mono_ns() >> 10) % 100);
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

ml_err ml_store_errno_err(int e) {
  if(e == ENOSPC || e == EDQUOT)
    return ML_ERR_INSUFFICIENT_STORAGE;
  if(e == ENOMEM)
    return ML_ERR_NOMEM;
  return ML_ERR_IO;
}

ml_err ml_store_mkdir_p(const char *dir, struct ml_errbuf *eb) {
  char path[4096];
  size_t n = strlen(dir);
  if(n == 0 || n >= sizeof(path))
    return ml_fail(eb, ML_ERR_CONFIG, "bad spool dir");
  memcpy(path, dir, n + 1);
  for(char *p = path + 1;; p++) {
    if(*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if(mkdir(path, 0700) && errno != EEXIST)
        return ml_fail(eb, ml_store_errno_err(errno), "mkdir %s: %s", path, strerror(errno));
      *p = c;
      if(!c)
        break;
    }
  }
  return ML_OK;
}
