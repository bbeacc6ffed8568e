/*
 * httpc.h - one outgoing HTTP request (libcurl): cache purges and webhooks.
 *
 * One easy handle per call (no shared state between threads), a connect
 * timeout and a total timeout, redirects never followed (a 3xx is an
 * answer like any other), no signals (CURLOPT_NOSIGNAL: safe in threads).
 * The answer's body is read and dropped. curl_global_init must have run
 * before the first call (main, or the test): ml_httpc_global_init.
 */
#ifndef ML_JOBS_HTTPC_H
#define ML_JOBS_HTTPC_H

#include <stddef.h>

#include "core/err.h"

struct ml_httpc_req {
  const char *method;         /* "POST", "PURGE", "BAN" */
  const char *url;            /* absolute http:// or https:// URL */
  const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
  const char *body;           /* may be NULL */
  size_t body_len;
  long connect_timeout_ms; /* 0: 2000 */
  long timeout_ms;         /* whole request; 0: 10000 */
};

/* Calls curl_global_init once; ML_ERR_INTERNAL when it fails. Call before
 * any thread uses ml_httpc_do. */
ml_err ml_httpc_global_init(void);
void ml_httpc_global_cleanup(void);

/* Sends the request and sets *status to the answer's HTTP status (any
 * status: the caller decides what counts as done). Errors, with the reason
 * in eb (never the headers or the body, which may carry a signature):
 * ML_ERR_TIMEOUT (connect or total timeout), ML_ERR_IO (no connection,
 * DNS, TLS, a broken answer), ML_ERR_NOMEM. */
ml_err ml_httpc_do(const struct ml_httpc_req *rq, long *status, struct ml_errbuf *eb);

#endif
