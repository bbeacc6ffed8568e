/*
 * cors.h - Cross-Origin Resource Sharing for browsers on other origins.
 *
 * Only origins listed in MEDIALIB_CORS_ORIGINS get CORS headers, and they
 * get their own origin back (never "*"), so a browser page elsewhere can
 * neither read the API nor send it a token. Nothing is allowed by default.
 * The module decides which headers an answer gets; server.c adds them, so
 * this file knows nothing of libmicrohttpd and is tested on its own.
 */
#ifndef ML_HTTP_CORS_H
#define ML_HTTP_CORS_H

#include <stddef.h>

#include "core/err.h"

struct ml_cors;

/* At most this many origins, each at most ML_CORS_ORIGIN_MAX bytes. */
#define ML_CORS_MAX_ORIGINS 32
#define ML_CORS_ORIGIN_MAX 255
/* Preflight answers may be cached this long (seconds). */
#define ML_CORS_MAX_AGE "3600"

/* Parses a comma-separated list of origins ("https://a.example,
 * http://localhost:3000"; spaces around commas are ignored). Each must be
 * scheme://host[:port] with scheme http or https and nothing after: no
 * path, no trailing slash, no "*". "" (or NULL) is an empty list.
 * ML_ERR_CONFIG naming the bad entry; ML_ERR_NOMEM. */
ml_err ml_cors_create(const char *origins, struct ml_cors **out, struct ml_errbuf *eb);
/* Sets *c NULL; NULL is a no-op. */
void ml_cors_destroy(struct ml_cors **c);

/* Is any origin configured? (Then answers carry Vary: Origin.) */
int ml_cors_enabled(const struct ml_cors *c);
/* Is origin (the request's Origin header) on the list? Scheme and host
 * compare case-insensitively. NULL c or origin: no. */
int ml_cors_allowed(const struct ml_cors *c, const char *origin);
/* Is this request a CORS preflight: OPTIONS with Origin and
 * Access-Control-Request-Method? method is the request's method name. */
int ml_cors_is_preflight(const char *method, const char *origin, const char *request_method);

struct ml_cors_header {
  const char *name;
  const char *value; /* a constant or the origin passed in */
};

#define ML_CORS_HEADERS_MAX 6

/* The headers of a 204 answer to a preflight from an allowed origin (the
 * caller checked ml_cors_allowed). Returns how many were written to out. */
size_t ml_cors_preflight_headers(const char *origin,
                                 struct ml_cors_header out[ML_CORS_HEADERS_MAX]);
/* The headers any other answer gets: for an allowed origin, the origin,
 * the exposed headers and Vary: Origin; for a request without Origin or
 * from another origin, only Vary: Origin when CORS is enabled (a cache must
 * not hand one origin's answer to another); nothing when it is not. */
size_t ml_cors_response_headers(const struct ml_cors *c, const char *origin,
                                struct ml_cors_header out[ML_CORS_HEADERS_MAX]);

#endif
