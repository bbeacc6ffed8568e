/*
 * server.h - the HTTP server on GNU libmicrohttpd, and the request handle
 * handlers use.
 *
 * The server owns the event loop threads, the limits (header deadline,
 * minimum body rate, connection caps, header size), the request id, the
 * access log line and the JSON error shape. Routes (router.h) see a
 * struct ml_req and answer through the ml_req_* functions below. Slow work
 * (fsync, commits, deletes) is handed to the worker pool with ml_req_defer:
 * the connection is suspended meanwhile, so the event loop never blocks.
 */
#ifndef ML_HTTP_SERVER_H
#define ML_HTTP_SERVER_H

#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/workers.h"
#include "http/router.h"

struct ml_http;
struct ml_metrics;
struct ml_cors;

struct ml_http_opts {
  const char *listen; /* "127.0.0.1:8080", "[::1]:0", ":8080" */
  int threads;        /* event-loop threads, >= 1 */
  int max_connections;
  int max_connections_per_ip; /* 0: no cap */
  int idle_timeout;           /* seconds */
  int header_timeout;         /* seconds */
  int64_t min_body_rate;      /* bytes per second; 0: off */
  int64_t connection_memory;  /* bytes; bounds request line + headers */
  const struct ml_log *log;
  struct ml_workers *workers; /* for ml_req_defer */
  const struct ml_router *router;
  struct ml_metrics *metrics; /* may be NULL */
  const struct ml_cors *cors; /* allowed origins (http/cors.h); NULL: no CORS */
};

/* One request, from the request line to the access log line. Handlers read
 * these fields; only the server writes them. */
struct ml_req {
  struct ml_http *http;
  const struct ml_route *route;
  struct ml_arena *arena; /* request lifetime */
  const struct ml_log *log;
  unsigned method; /* enum ml_method */
  const char *method_str;
  const char *path;  /* percent-decoded path */
  const char *query; /* raw query string without '?' ("" if none) */
  struct ml_route_params params;
  char request_id[65];
  int64_t content_length; /* -1: not given (chunked or none) */
  int64_t body_bytes;     /* received so far */
  void *state;            /* the route's per-request state */
  /* private to the server */
  struct ml_req_priv *priv;
};

ml_err ml_http_start(const struct ml_http_opts *o, struct ml_http **out, struct ml_errbuf *eb);
/* The port actually bound (useful with port 0). */
int ml_http_port(const struct ml_http *h);
/* Stops accepting new connections; in-flight requests go on. */
void ml_http_quiesce(struct ml_http *h);
/* Requests started and not yet finished. */
int ml_http_inflight(struct ml_http *h);
/* Stops the server, closing every connection. Sets *h NULL. */
void ml_http_stop(struct ml_http **h);

/* A request header (case-insensitive name), NULL when absent. */
const char *ml_req_header(struct ml_req *r, const char *name);
/* A captured path parameter, NULL when absent. */
const char *ml_req_param(struct ml_req *r, const char *name);
/* The client's address as text ("127.0.0.1"). */
const char *ml_req_client_addr(struct ml_req *r);
/* "http://host" for building absolute URLs (from the Host header). */
const char *ml_req_base_url(struct ml_req *r);

/*
 * Answers. Each request answers once; a second answer replaces the first
 * (the last error wins). Every answer carries X-Request-Id.
 */
/* JSON body taken from b (the buffer is emptied); adds Content-Type and
 * Cache-Control: no-store. */
void ml_req_json(struct ml_req *r, unsigned status, struct ml_buf *b);
/* The same with another Content-Type (e.g. Prometheus text). */
void ml_req_body(struct ml_req *r, unsigned status, struct ml_buf *b, const char *content_type);
/* The API error shape: {"error":{"code","message","request_id"[,"fields"]}}.
 * message NULL: the error's default message. fields may be NULL. */
void ml_req_error(struct ml_req *r, ml_err e, const char *message,
                  const struct ml_field_errors *fields);
/* len bytes of fd from offset, zero-copy (sendfile). Takes fd (closes it). */
void ml_req_fd(struct ml_req *r, unsigned status, int fd, uint64_t offset, uint64_t len);
/* A body that outlives the server (a const table, e.g. the embedded admin
 * UI): sent without a copy. Adds Content-Type only (no Cache-Control). */
void ml_req_static(struct ml_req *r, unsigned status, const void *data, size_t len,
                   const char *content_type);
/* A streamed body of len bytes, for bytes that are not in a local file (a
 * remote blob store). read(ctx, buf, max, w) returns a count (> 0), 0 at
 * the end, ML_REQ_STREAM_FAILED (the connection is closed: the length was
 * promised), or ML_REQ_STREAM_WAIT: no bytes yet; the source then calls
 * ml_req_wake(w) once, from any thread, when a read can progress, and the
 * connection is suspended meanwhile (its event loop serves others). read
 * is not called for HEAD. free_ctx(ctx) runs when the answer is done or
 * dropped; after it returns, the source must not call ml_req_wake. */
#define ML_REQ_STREAM_FAILED (-1)
#define ML_REQ_STREAM_WAIT (-2)
typedef long (*ml_req_read_fn)(void *ctx, char *buf, size_t max, void *w);
void ml_req_stream(struct ml_req *r, unsigned status, uint64_t len, ml_req_read_fn read, void *ctx,
                   void (*free_ctx)(void *ctx));
/* See ml_req_stream: the source has bytes (or an end) for the reader. */
void ml_req_wake(void *w);
/* No body (302, 304, 204). */
void ml_req_empty(struct ml_req *r, unsigned status);
/* Adds a header to the answer made last. */
void ml_req_add_header(struct ml_req *r, const char *name, const char *value);
/* Sets a header of the answer made last, replacing any of that name (e.g.
 * the plain "WWW-Authenticate: Bearer" every 401 gets). */
void ml_req_set_header(struct ml_req *r, const char *name, const char *value);
/* Records why a request failed, for the access log (copies msg). */
void ml_req_note_error(struct ml_req *r, ml_err e, const char *msg);

/* From on_complete only: run work(r) on a worker thread; work must answer.
 * If the worker queue is full the request is answered 503 busy. */
void ml_req_defer(struct ml_req *r, void (*work)(struct ml_req *r));
/* The same on another pool (image rendering has its own, so that renders
 * never hold up uploads and deletes); a full pool answers 503 busy with
 * Retry-After. */
void ml_req_defer_on(struct ml_req *r, struct ml_workers *pool, void (*work)(struct ml_req *r));

#endif
