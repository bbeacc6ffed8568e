/*
 * router.h - maps (method, decoded path) to a route.
 *
 * Patterns are literal segments and ":name" captures of one segment:
 * "/api/media/:id/file". A trailing slash in the request is ignored
 * ("/api/media/42/" = "/api/media/42"). GET routes also answer HEAD.
 */
#ifndef ML_HTTP_ROUTER_H
#define ML_HTTP_ROUTER_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"

enum ml_method {
  ML_M_GET = 1 << 0,
  ML_M_HEAD = 1 << 1,
  ML_M_POST = 1 << 2,
  ML_M_PUT = 1 << 3,
  ML_M_PATCH = 1 << 4,
  ML_M_DELETE = 1 << 5,
  ML_M_OPTIONS = 1 << 6,
  ML_M_OTHER = 1 << 7
};

#define ML_ROUTE_MAX_PARAMS 8
#define ML_ROUTE_MAX 64

struct ml_req;

/* What a route does with a request. Only on_complete is required.
 * - on_headers: headers are in; may refuse at once (return an error: it is
 *   answered before the body is read) or prepare to take the body.
 * - on_body: a piece of the body (arbitrary size); an error stops the
 *   request and is answered.
 * - on_complete: the whole body is in: answer (ml_req_* in server.h) or
 *   hand slow work to a worker (ml_req_defer).
 * - on_cleanup: always called once at the end, also when the client went
 *   away: remove temp files, free state. */
struct ml_route {
  unsigned methods;
  const char *pattern;
  const char *name; /* for logs and metrics: "media.list" */
  ml_err (*on_headers)(struct ml_req *r);
  ml_err (*on_body)(struct ml_req *r, const char *data, size_t len);
  void (*on_complete)(struct ml_req *r);
  void (*on_cleanup)(struct ml_req *r);
  void *ctx;
};

struct ml_route_params {
  int n;
  const char *name[ML_ROUTE_MAX_PARAMS];
  const char *value[ML_ROUTE_MAX_PARAMS];
};

struct ml_router {
  size_t n;
  struct ml_route routes[ML_ROUTE_MAX];
};

void ml_router_init(struct ml_router *rt);
/* Copies the route. ML_ERR_INTERNAL when the table is full. */
ml_err ml_router_add(struct ml_router *rt, const struct ml_route *route);
/* Parses a method name into enum ml_method (ML_M_OTHER when unknown). */
unsigned ml_router_method(const char *method);
/* Finds the route for method and path. Captured values are copied into the
 * arena. Returns NULL when nothing matches; then *allowed has the methods
 * the path would accept (0: the path is unknown: 404; else 405). */
const struct ml_route *ml_router_match(const struct ml_router *rt, unsigned method,
                                       const char *path, struct ml_arena *a,
                                       struct ml_route_params *params, unsigned *allowed);
/* Value of a captured parameter, NULL when absent. */
const char *ml_route_param(const struct ml_route_params *p, const char *name);
/* Writes "GET, HEAD, POST" for a method mask into out. */
void ml_router_allow_header(unsigned methods, char *out, size_t outlen);

#endif
