/* httpc.c - one outgoing HTTP request with libcurl. */
#include "jobs/httpc.h"

#include <curl/curl.h>
#include <string.h>

ml_err ml_httpc_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? ML_OK : ML_ERR_INTERNAL;
}

void ml_httpc_global_cleanup(void) { curl_global_cleanup(); }

/* The answer's body is not needed: read it (so the connection ends cleanly)
 * and drop it. */
static size_t drop_body(char *data, size_t size, size_t n, void *ctx) {
  (void)data;
  (void)ctx;
  return size * n;
}

ml_err ml_httpc_do(const struct ml_httpc_req *rq, long *status, struct ml_errbuf *eb) {
  CURL *h = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  char cerr[CURL_ERROR_SIZE] = "";
  ml_err rc = ML_OK;
  CURLcode cc;
  *status = 0;
  if(!h)
    return ml_fail(eb, ML_ERR_NOMEM, "cannot make a curl handle");
  for(size_t i = 0; rq->headers && rq->headers[i]; i++) {
    struct curl_slist *more = curl_slist_append(hdrs, rq->headers[i]);
    if(!more) {
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
      goto out;
    }
    hdrs = more;
  }
  /* curl adds "Expect: 100-continue" to larger POSTs: a receiver that never
   * answers it costs a second; send the body at once. */
  if(rq->body) {
    struct curl_slist *more = curl_slist_append(hdrs, "Expect:");
    if(!more) {
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
      goto out;
    }
    hdrs = more;
  }
  curl_easy_setopt(h, CURLOPT_URL, rq->url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : 2000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 10000L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, drop_body);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "medialib/" ML_VERSION);
  if(hdrs)
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  if(rq->body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
  }
  cc = curl_easy_perform(h);
  if(cc == CURLE_OPERATION_TIMEDOUT) {
    rc = ml_fail(eb, ML_ERR_TIMEOUT, "%s: %s", rq->method, cerr[0] ? cerr : curl_easy_strerror(cc));
  } else if(cc != CURLE_OK) {
    rc = ml_fail(eb, cc == CURLE_OUT_OF_MEMORY ? ML_ERR_NOMEM : ML_ERR_IO, "%s: %s", rq->method,
                 cerr[0] ? cerr : curl_easy_strerror(cc));
  } else {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  }
out:
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return rc;
}
