/*
 * server.c - libmicrohttpd glue: request lifecycle, limits, answers, logs.
 *
 * Lifecycle of a request (DESIGN.md, "HTTP layer"):
 *  1. The URI log callback (request line parsed) creates the ml_req and
 *     stamps its start, so the header deadline counts from the first line.
 *  2. First access call (headers in): deadline check, request id, route,
 *     on_headers. Only refusals are answered here: answering a request on
 *     its first call closes keep-alive in 0.9.75.
 *  3. Data calls: on_body for each piece, minimum body rate enforced.
 *  4. Final call: on_complete answers, or defers to a worker with the
 *     connection suspended; the worker resumes it and the next call queues
 *     the answer.
 *  5. Completed callback (also when the client went away): on_cleanup, the
 *     access log line, metrics, memory.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "http/cors.h"
#include "http/metrics.h"

#if MHD_VERSION < 0x00097002
#error "libmicrohttpd 0.9.70 or newer is needed"
#endif

/* The watchdog's view of one connection. libmicrohttpd's own timeout counts
 * idle time only, so a client dripping a byte every few seconds would hold a
 * connection forever; the watchdog bounds the phases that no handler call
 * can see: waiting for a request line, and receiving headers. */
enum conn_phase {
  PHASE_NEW,       /* accepted, no request yet: the header deadline runs from accept */
  PHASE_WAIT_LINE, /* keep-alive, waiting for the next request: the idle timeout */
  PHASE_HEADERS,   /* request line in, headers arriving: the header deadline */
  PHASE_BODY,      /* headers in, body arriving: body rate and idle timeout apply */
  PHASE_ACTIVE,    /* the body is in: the handler answers */
  PHASE_DRAIN,     /* refused, reading the body to drop: the header deadline, or shutdown */
  PHASE_CLOSING
};

struct conn_rec {
  struct conn_rec *prev, *next;
  MHD_socket fd;
  atomic_int phase;
  _Atomic uint64_t since; /* monotonic ns when the phase began */
};

struct ml_http {
  struct MHD_Daemon *daemon;
  struct ml_http_opts o;
  atomic_int inflight;
  char id_prefix[17]; /* random per process: request ids are prefix + counter */
  atomic_ullong id_counter;
  int port;
  pthread_mutex_t mu; /* guards conns */
  pthread_cond_t cv;
  struct conn_rec conns; /* list head */
  pthread_t watchdog;
  int watchdog_running;
  int stopping;
  int quiescing; /* under mu: no new connections; refused bodies are not waited for */
};

struct ml_req_priv {
  struct MHD_Connection *conn;
  struct conn_rec *rec;
  struct MHD_Response *response;
  unsigned status;
  uint64_t t_start;
  uint64_t t_body_start;
  int64_t bytes_out;
  int started;
  int suspended;
  int failed;    /* an error answer is pending: drain the body */
  int preflight; /* a CORS preflight, answered by the server itself */
  int64_t drained;
  void (*work)(struct ml_req *r);
  struct ml_workers *work_pool; /* NULL: the server's pool */
  atomic_int work_done;
  ml_err err; /* for the access log */
  char err_msg[160];
  char client[64];
  char *base_url;
};

/* libmicrohttpd 0.9.75 refuses to queue an answer while a body is still
 * arriving (MHD_queue_response returns MHD_NO), so after an error in the
 * middle of a body (too large, malformed) the rest is read and dropped, up
 * to this much, and the error answered at the end; past it the connection
 * is closed: an endless chunked body cannot keep us reading. */
#define DRAIN_MAX (4 * 1024 * 1024)

static void set_phase(struct conn_rec *rec, enum conn_phase phase) {
  if(!rec)
    return;
  atomic_store(&rec->since, ml_mono_ns());
  atomic_store(&rec->phase, (int)phase);
}

static struct conn_rec *conn_rec_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  struct ml_http *h = cls;
  struct conn_rec *rec = *socket_context;
  if(code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    rec = ml_calloc(1, sizeof(*rec));
    if(!rec || !ci)
      return; /* no watchdog for this one; libmicrohttpd's timeout still applies */
    rec->fd = ci->connect_fd;
    atomic_init(&rec->phase, PHASE_NEW);
    atomic_init(&rec->since, ml_mono_ns());
    pthread_mutex_lock(&h->mu);
    rec->next = h->conns.next;
    rec->prev = &h->conns;
    h->conns.next->prev = rec;
    h->conns.next = rec;
    pthread_mutex_unlock(&h->mu);
    *socket_context = rec;
  } else if(rec) {
    /* Unlinked under the lock before libmicrohttpd closes the fd, so the
     * watchdog never shuts down a descriptor number that was reused. */
    pthread_mutex_lock(&h->mu);
    rec->prev->next = rec->next;
    rec->next->prev = rec->prev;
    pthread_mutex_unlock(&h->mu);
    ml_free(rec);
    *socket_context = NULL;
  }
}

/* Has the client closed its side with nothing left unread? libmicrohttpd
 * 0.9.75 (edge-triggered epoll) can miss the end of stream of a client
 * that gives up in the middle of a body it has sent part of (an aborted
 * upload): the connection sits in CLOSE-WAIT, its request counted in flight,
 * until the idle timeout. A body cannot complete after that, so the
 * watchdog ends such a connection. */
static int peer_gone(MHD_socket fd) {
  struct pollfd pfd = {fd, POLLIN | POLLRDHUP, 0};
  char c;
  if(poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
    return 0;
  return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

static void *watchdog_main(void *arg) {
  struct ml_http *h = arg;
  uint64_t idle = (uint64_t)h->o.idle_timeout * 1000000000u;
  uint64_t headers = (uint64_t)h->o.header_timeout * 1000000000u;
  pthread_mutex_lock(&h->mu);
  while(!h->stopping) {
    struct timespec ts;
    uint64_t now = ml_mono_ns();
    for(struct conn_rec *c = h->conns.next; c != &h->conns; c = c->next) {
      int phase = atomic_load(&c->phase);
      uint64_t age = now - atomic_load(&c->since);
      if((phase == PHASE_WAIT_LINE && age > idle) ||
         ((phase == PHASE_NEW || phase == PHASE_HEADERS) && age > headers) ||
         (phase == PHASE_DRAIN && (age > headers || h->quiescing)) ||
         ((phase == PHASE_BODY || phase == PHASE_DRAIN) && peer_gone(c->fd))) {
        /* shutdown, not close: libmicrohttpd sees end of stream and closes
         * the connection itself, through its normal path. */
        shutdown(c->fd, SHUT_RDWR);
        atomic_store(&c->phase, PHASE_CLOSING);
        ml_log(h->o.log, ML_LOG_INFO, NULL, "connection.closed_slow",
               ML_LS("phase", phase == PHASE_WAIT_LINE ? "idle"
                              : phase == PHASE_DRAIN   ? "refused body"
                              : phase == PHASE_BODY    ? "client gone mid-body"
                                                       : "headers"),
               ML_LD("seconds", (double)age / 1e9));
      }
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000 * 1000;
    if(ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

static void req_free(struct ml_req *r) {
  if(!r)
    return;
  if(r->priv && r->priv->response)
    MHD_destroy_response(r->priv->response);
  ml_arena_destroy(&r->arena);
  ml_free(r);
}

static struct ml_req *req_new(struct ml_http *h) {
  struct ml_req *r = ml_calloc(1, sizeof(*r));
  if(!r)
    return NULL;
  r->arena = ml_arena_create(0);
  if(!r->arena) {
    ml_free(r);
    return NULL;
  }
  r->priv = ml_arena_alloc(r->arena, sizeof(*r->priv));
  if(!r->priv) {
    req_free(r);
    return NULL;
  }
  memset(r->priv, 0, sizeof(*r->priv));
  r->http = h;
  r->log = h->o.log;
  r->content_length = -1;
  r->query = "";
  r->priv->t_start = ml_mono_ns();
  return r;
}

/* ------------------------------------------------------------------ answers */

static void set_response(struct ml_req *r, unsigned status, struct MHD_Response *resp,
                         int64_t bytes) {
  struct ml_req_priv *p = r->priv;
  if(p->response)
    MHD_destroy_response(p->response);
  p->response = resp;
  p->status = status;
  p->bytes_out = bytes;
  if(resp)
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
}

static void free_cb(void *p) { ml_free(p); }

void ml_req_json(struct ml_req *r, unsigned status, struct ml_buf *b) {
  ml_req_body(r, status, b, "application/json");
}

void ml_req_body(struct ml_req *r, unsigned status, struct ml_buf *b, const char *content_type) {
  size_t len;
  char *data;
  struct MHD_Response *resp;
  if(!b->data && ml_buf_add(b, "", 0)) {
    set_response(r, 503, NULL, 0);
    return;
  }
  data = ml_buf_take(b, &len);
  resp = MHD_create_response_from_buffer_with_free_callback(len, data, free_cb);
  if(!resp) {
    ml_free(data);
    set_response(r, 503, NULL, 0);
    return;
  }
  MHD_add_response_header(resp, "Content-Type", content_type);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  set_response(r, status, resp, (int64_t)len);
}

void ml_req_note_error(struct ml_req *r, ml_err e, const char *msg) {
  struct ml_req_priv *p = r->priv;
  p->err = e;
  snprintf(p->err_msg, sizeof(p->err_msg), "%s", msg ? msg : "");
}

void ml_req_error(struct ml_req *r, ml_err e, const char *message,
                  const struct ml_field_errors *fields) {
  struct ml_buf b;
  ml_err rc;
  const char *msg = message && *message ? message : ml_err_message(e);
  ml_buf_init(&b, 64 * 1024);
  rc = ml_buf_adds(&b, "{\"error\":{\"code\":");
  if(!rc)
    rc = ml_buf_json_str(&b, ml_err_code(e));
  if(!rc)
    rc = ml_buf_adds(&b, ",\"message\":");
  if(!rc)
    rc = ml_buf_json_str(&b, msg);
  if(!rc)
    rc = ml_buf_adds(&b, ",\"request_id\":");
  if(!rc)
    rc = ml_buf_json_str(&b, r->request_id);
  if(!rc && fields && fields->n) {
    rc = ml_buf_adds(&b, ",\"fields\":{");
    for(int i = 0; !rc && i < fields->n; i++) {
      if(i)
        rc = ml_buf_addc(&b, ',');
      if(!rc)
        rc = ml_buf_json_str(&b, fields->f[i].name);
      if(!rc)
        rc = ml_buf_addc(&b, ':');
      if(!rc)
        rc = ml_buf_json_str(&b, fields->f[i].msg);
    }
    if(!rc)
      rc = ml_buf_addc(&b, '}');
  }
  if(!rc)
    rc = ml_buf_adds(&b, "}}");
  ml_req_note_error(r, e, msg);
  if(rc) {
    ml_buf_free(&b);
    set_response(r, 503, NULL, 0);
    return;
  }
  ml_req_json(r, (unsigned)ml_err_status(e), &b);
  if(e == ML_ERR_UNAUTHORIZED)
    ml_req_add_header(r, "WWW-Authenticate", "Bearer");
}

/* Bodies up to this size are read into memory and sent with their headers
 * in one write; larger ones go out by sendfile after the headers. A small
 * file by sendfile costs a second system call and a second TCP segment per
 * answer: at thumbnail sizes, a quarter of the requests a second. */
#define SMALL_BODY (16 * 1024)

/* The len bytes of fd at offset as a memory answer; NULL when they cannot
 * be read whole (the caller falls back to sendfile). Closes fd on success. */
static struct MHD_Response *small_body(int fd, uint64_t offset, uint64_t len) {
  char *data = ml_malloc(len ? len : 1);
  size_t got = 0;
  struct MHD_Response *resp;
  if(!data)
    return NULL;
  while(got < len) {
    ssize_t n = pread(fd, data + got, len - got, (off_t)(offset + got));
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0) {
      ml_free(data);
      return NULL;
    }
    got += (size_t)n;
  }
  resp = MHD_create_response_from_buffer_with_free_callback(len, data, free_cb);
  if(!resp) {
    ml_free(data);
    return NULL;
  }
  close(fd);
  return resp;
}

void ml_req_fd(struct ml_req *r, unsigned status, int fd, uint64_t offset, uint64_t len) {
  struct MHD_Response *resp = len <= SMALL_BODY ? small_body(fd, offset, len) : NULL;
  if(!resp)
    resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
  if(!resp) {
    close(fd);
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  set_response(r, status, resp, (int64_t)len);
}

void ml_req_static(struct ml_req *r, unsigned status, const void *data, size_t len,
                   const char *content_type) {
  /* MHD_RESPMEM_PERSISTENT: libmicrohttpd neither copies nor frees it. */
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);
  if(!resp) {
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  MHD_add_response_header(resp, "Content-Type", content_type);
  set_response(r, status, resp, (int64_t)len);
}

/* A streamed answer: its source, and the suspend/resume handshake with it.
 * The lock orders the reader's "nothing yet, suspend" against the source's
 * "bytes arrived, resume": a wake that comes before the suspend is kept
 * (pending) and the read retried instead of suspending. */
struct stream_ctx {
  pthread_mutex_t mu;
  struct MHD_Connection *conn;
  int alive;     /* the response exists: wakes may resume the connection */
  int suspended; /* we suspended the connection and wait for a wake */
  int pending;   /* a wake came while not suspended */
  ml_req_read_fn read;
  void *ctx;
  void (*free_ctx)(void *ctx);
};

void ml_req_wake(void *w) {
  struct stream_ctx *sc = w;
  pthread_mutex_lock(&sc->mu);
  if(sc->alive) {
    if(sc->suspended) {
      sc->suspended = 0;
      MHD_resume_connection(sc->conn);
    } else {
      sc->pending = 1;
    }
  }
  pthread_mutex_unlock(&sc->mu);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  struct stream_ctx *sc = cls;
  (void)pos; /* sequential: libmicrohttpd asks for the bytes in order */
  for(;;) {
    long n = sc->read(sc->ctx, buf, max, sc);
    if(n > 0)
      return (ssize_t)n;
    if(n == 0)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if(n != ML_REQ_STREAM_WAIT)
      return MHD_CONTENT_READER_END_WITH_ERROR;
    pthread_mutex_lock(&sc->mu);
    if(sc->pending) {
      sc->pending = 0;
      pthread_mutex_unlock(&sc->mu);
      continue;
    }
    sc->suspended = 1;
    MHD_suspend_connection(sc->conn);
    pthread_mutex_unlock(&sc->mu);
    return 0; /* called again after the resume */
  }
}

static void stream_free(void *cls) {
  struct stream_ctx *sc = cls;
  pthread_mutex_lock(&sc->mu);
  sc->alive = 0;
  pthread_mutex_unlock(&sc->mu);
  if(sc->free_ctx)
    sc->free_ctx(sc->ctx); /* no wake after this returns */
  pthread_mutex_destroy(&sc->mu);
  ml_free(sc);
}

void ml_req_stream(struct ml_req *r, unsigned status, uint64_t len, ml_req_read_fn read, void *ctx,
                   void (*free_ctx)(void *ctx)) {
  struct stream_ctx *sc = ml_calloc(1, sizeof(*sc));
  struct MHD_Response *resp;
  if(!sc) {
    if(free_ctx)
      free_ctx(ctx);
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  pthread_mutex_init(&sc->mu, NULL);
  sc->conn = r->priv->conn;
  sc->alive = 1;
  sc->read = read;
  sc->ctx = ctx;
  sc->free_ctx = free_ctx;
  resp = MHD_create_response_from_callback(len, 32 * 1024, stream_reader, sc, stream_free);
  if(!resp) {
    stream_free(sc);
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  set_response(r, status, resp, (int64_t)len);
}

void ml_req_empty(struct ml_req *r, unsigned status) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  set_response(r, status, resp, 0);
}

void ml_req_add_header(struct ml_req *r, const char *name, const char *value) {
  if(r->priv->response)
    MHD_add_response_header(r->priv->response, name, value);
}

void ml_req_set_header(struct ml_req *r, const char *name, const char *value) {
  struct MHD_Response *resp = r->priv->response;
  const char *old;
  if(!resp)
    return;
  while((old = MHD_get_response_header(resp, name))) {
    /* MHD_del_response_header wants the value too; a copy, since the one
     * found is freed by the deletion. */
    char *copy = ml_strdup(old);
    int gone = copy && MHD_del_response_header(resp, name, copy) == MHD_YES;
    ml_free(copy);
    if(!gone)
      break;
  }
  MHD_add_response_header(resp, name, value);
}

/* --------------------------------------------------------------- accessors */

const char *ml_req_header(struct ml_req *r, const char *name) {
  return MHD_lookup_connection_value(r->priv->conn, MHD_HEADER_KIND, name);
}

const char *ml_req_param(struct ml_req *r, const char *name) {
  return ml_route_param(&r->params, name);
}

const char *ml_req_client_addr(struct ml_req *r) {
  struct ml_req_priv *p = r->priv;
  const union MHD_ConnectionInfo *ci;
  if(p->client[0])
    return p->client;
  ci = MHD_get_connection_info(p->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if(ci && ci->client_addr) {
    const struct sockaddr *sa = ci->client_addr;
    if(sa->sa_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, p->client, sizeof(p->client));
    else if(sa->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, p->client,
                sizeof(p->client));
  }
  if(!p->client[0])
    snprintf(p->client, sizeof(p->client), "unknown");
  return p->client;
}

/* Host headers are echoed into URLs: accept only host[:port] characters. */
static int host_ok(const char *h) {
  size_t n = strlen(h);
  if(!n || n > 255)
    return 0;
  for(; *h; h++)
    if(!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
         *h == '.' || *h == '-' || *h == ':' || *h == '[' || *h == ']'))
      return 0;
  return 1;
}

const char *ml_req_base_url(struct ml_req *r) {
  struct ml_req_priv *p = r->priv;
  const char *host;
  if(p->base_url)
    return p->base_url;
  host = ml_req_header(r, "Host");
  if(!host || !host_ok(host))
    host = "localhost";
  p->base_url = ml_arena_printf(r->arena, "http://%s", host);
  return p->base_url ? p->base_url : "http://localhost";
}

/* ------------------------------------------------------------------ deferral */

static void work_trampoline(void *arg) {
  struct ml_req *r = arg;
  r->priv->work(r);
  atomic_store(&r->priv->work_done, 1);
  MHD_resume_connection(r->priv->conn);
}

void ml_req_defer(struct ml_req *r, void (*work)(struct ml_req *r)) {
  r->priv->work = work;
  r->priv->work_pool = NULL;
}

void ml_req_defer_on(struct ml_req *r, struct ml_workers *pool, void (*work)(struct ml_req *r)) {
  r->priv->work = work;
  r->priv->work_pool = pool;
}

/* ------------------------------------------------------------------- access */

static int request_id_ok(const char *s) {
  size_t n = strlen(s);
  if(n == 0 || n > 64)
    return 0;
  for(; *s; s++)
    if(!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
         *s == '-' || *s == '_' || *s == '.'))
      return 0;
  return 1;
}

/* A request id is the process's random prefix and a counter: unique across
 * instances and restarts without a getrandom(2) per request. */
static void make_request_id(struct ml_req *r) {
  const char *given = ml_req_header(r, "X-Request-Id");
  static const char hex[] = "0123456789abcdef";
  uint64_t n;
  if(given && request_id_ok(given)) {
    snprintf(r->request_id, sizeof(r->request_id), "%s", given);
    return;
  }
  n = atomic_fetch_add(&r->http->id_counter, 1);
  memcpy(r->request_id, r->http->id_prefix, 16);
  for(int i = 0; i < 8; i++)
    r->request_id[16 + i] = hex[(n >> (28 - 4 * i)) & 15];
  r->request_id[24] = '\0';
}

/* CORS headers for every answer but a preflight (which has its own). */
static void add_cors_headers(struct ml_req *r) {
  struct ml_cors_header hs[ML_CORS_HEADERS_MAX];
  size_t n;
  if(!r->http->o.cors || r->priv->preflight)
    return;
  n = ml_cors_response_headers(r->http->o.cors, ml_req_header(r, "Origin"), hs);
  for(size_t i = 0; i < n; i++)
    MHD_add_response_header(r->priv->response, hs[i].name, hs[i].value);
}

static enum MHD_Result queue(struct ml_req *r) {
  struct ml_req_priv *p = r->priv;
  enum MHD_Result ret;
  if(!p->response) {
    ml_req_error(r, ML_ERR_INTERNAL, "no answer was produced", NULL);
    if(!p->response)
      return MHD_NO;
  }
  add_cors_headers(r);
  ret = MHD_queue_response(p->conn, p->status, p->response);
  MHD_destroy_response(p->response);
  p->response = NULL;
  return ret;
}

struct header_count {
  const char *name;
  int n;
  int folded;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
  struct header_count *hc = cls;
  size_t n = strlen(hc->name);
  if(!strcasecmp(key, hc->name))
    hc->n++;
  else if(!strncasecmp(key, hc->name, n))
    hc->folded++; /* see smuggling_shape */
  return MHD_YES;
}

/* Request smuggling shapes (RFC 9112 section 6.3): a body length given twice
 * or two ways is refused, and the connection closed, so that no proxy in
 * front can disagree with us about where this request ends. libmicrohttpd
 * 0.9.75 accepts both shapes by itself. It also turns an obs-fold
 * continuation into text appended to the header's *name*
 * ("Transfer-Encoding: chunked\r\n x" arrives as "Transfer-Encodingx"), so
 * a framing header would silently vanish: such names are refused too.
 * Other folded headers cannot be told from ordinary ones. */
static const char *smuggling_shape(struct ml_req *r) {
  struct header_count cl = {"Content-Length", 0, 0}, te = {"Transfer-Encoding", 0, 0};
  const char *te_value;
  MHD_get_connection_values(r->priv->conn, MHD_HEADER_KIND, count_header, &cl);
  MHD_get_connection_values(r->priv->conn, MHD_HEADER_KIND, count_header, &te);
  if(cl.folded || te.folded)
    return "a folded or misspelt framing header";
  if(cl.n > 1)
    return "more than one Content-Length";
  if(te.n > 1)
    return "more than one Transfer-Encoding";
  if(cl.n && te.n)
    return "both Content-Length and Transfer-Encoding";
  te_value = ml_req_header(r, "Transfer-Encoding");
  if(te_value && strcasecmp(te_value, "chunked"))
    return "a Transfer-Encoding other than chunked";
  return NULL;
}

static ml_err parse_content_length(struct ml_req *r) {
  const char *cl = ml_req_header(r, "Content-Length");
  char *end;
  unsigned long long v;
  if(!cl)
    return ML_OK;
  if(*cl < '0' || *cl > '9')
    return ML_ERR_BAD_REQUEST;
  errno = 0;
  v = strtoull(cl, &end, 10);
  if(errno || *end || v > INT64_MAX)
    return ML_ERR_BAD_REQUEST;
  r->content_length = (int64_t)v;
  return ML_OK;
}

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * is the server's to answer, whatever the path: 204 with the allowed
 * methods and headers for a listed origin, 403 without any CORS header for
 * another. Like any answer it is queued on the last call (keep-alive), and a
 * body, if one comes, is drained. */
static const struct ml_route preflight_route = {
    .methods = ML_M_OPTIONS, .pattern = "*", .name = "cors.preflight"};

static void answer_preflight(struct ml_http *h, struct ml_req *r) {
  const char *origin = ml_req_header(r, "Origin");
  struct ml_cors_header hs[ML_CORS_HEADERS_MAX];
  size_t n;
  r->route = &preflight_route;
  r->priv->preflight = 1;
  r->priv->failed = 1;
  if(!ml_cors_allowed(h->o.cors, origin)) {
    ml_req_error(r, ML_ERR_FORBIDDEN, "this origin is not allowed (MEDIALIB_CORS_ORIGINS)", NULL);
    ml_req_add_header(r, "Vary", "Origin");
    return;
  }
  ml_req_empty(r, 204);
  n = ml_cors_preflight_headers(origin, hs);
  for(size_t i = 0; i < n; i++)
    ml_req_add_header(r, hs[i].name, hs[i].value);
}

/*
 * A refusal made from the headers (401, 403, 404, 405...). Answering now
 * closes the connection while the client may still be sending its body, and
 * a client that writes its whole body before reading (Node's fetch, most
 * libraries without Expect: 100-continue) then sees a reset instead of the
 * answer. So a body of up to DRAIN_MAX bytes (or chunked) is read and
 * dropped first, and the refusal answered at its end, on a connection that
 * stays open. Answered at once: no body, a client waiting for
 * "100 Continue", a declared body past DRAIN_MAX, and 413 (the point of
 * refusing by Content-Length is not to take the body).
 */
static enum MHD_Result refuse(struct ml_req *r, ml_err rc) {
  struct ml_req_priv *p = r->priv;
  const char *expect = ml_req_header(r, "Expect");
  int has_body =
      r->content_length > 0 || (r->content_length < 0 && ml_req_header(r, "Transfer-Encoding"));
  if(rc != ML_ERR_TOO_LARGE && has_body && !(expect && !strcasecmp(expect, "100-continue")) &&
     r->content_length <= DRAIN_MAX) {
    p->failed = 1; /* body_call drains; the last call answers */
    /* A client that sends no body after all is not waited for long. */
    set_phase(p->rec, PHASE_DRAIN);
    return MHD_YES;
  }
  return queue(r);
}

static enum MHD_Result first_call(struct ml_http *h, struct ml_req *r, const char *url,
                                  const char *method) {
  struct ml_req_priv *p = r->priv;
  unsigned allowed = 0;
  uint64_t now = ml_mono_ns();
  ml_err rc;

  p->started = 1;
  set_phase(p->rec, PHASE_ACTIVE);
  r->method_str = method;
  r->method = ml_router_method(method);
  r->path = ml_arena_strdup(r->arena, url);
  make_request_id(r);
  if(!r->path) {
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return queue(r);
  }
  if(now - p->t_start > (uint64_t)h->o.header_timeout * 1000000000u) {
    ml_req_note_error(r, ML_ERR_TIMEOUT, "request headers took longer than the header deadline");
    return MHD_NO;
  }
  {
    const char *shape = smuggling_shape(r);
    if(shape || parse_content_length(r)) {
      char msg[128];
      snprintf(msg, sizeof(msg), "ambiguous request body: %s",
               shape ? shape : "bad Content-Length");
      ml_req_error(r, ML_ERR_BAD_REQUEST, msg, NULL);
      ml_req_add_header(r, "Connection", "close");
      return queue(r);
    }
  }
  if(r->content_length > 0 || (r->content_length < 0 && ml_req_header(r, "Transfer-Encoding")))
    set_phase(p->rec, PHASE_BODY); /* a body to come: see peer_gone */
  if(ml_cors_enabled(h->o.cors) &&
     ml_cors_is_preflight(method, ml_req_header(r, "Origin"),
                          ml_req_header(r, "Access-Control-Request-Method"))) {
    answer_preflight(h, r);
    return MHD_YES;
  }
  r->route = ml_router_match(h->o.router, r->method, r->path, r->arena, &r->params, &allowed);
  if(!r->route) {
    if(allowed) {
      char allow[128];
      ml_router_allow_header(allowed, allow, sizeof(allow));
      ml_req_error(r, ML_ERR_METHOD_NOT_ALLOWED, NULL, NULL);
      ml_req_add_header(r, "Allow", allow);
    } else {
      char msg[160];
      snprintf(msg, sizeof(msg), "no such resource: %.120s", r->path);
      ml_req_error(r, ML_ERR_NOT_FOUND, msg, NULL);
    }
    return refuse(r, allowed ? ML_ERR_METHOD_NOT_ALLOWED : ML_ERR_NOT_FOUND);
  }
  if(r->route->on_headers) {
    rc = r->route->on_headers(r);
    if(rc) {
      if(!p->response)
        ml_req_error(r, rc, NULL, NULL);
      return refuse(r, rc);
    }
  }
  return MHD_YES;
}

static enum MHD_Result body_call(struct ml_http *h, struct ml_req *r, const char *data,
                                 size_t len) {
  struct ml_req_priv *p = r->priv;
  uint64_t now = ml_mono_ns();
  ml_err rc = ML_OK;
  if(p->failed) {
    p->drained += (int64_t)len;
    return p->drained > DRAIN_MAX ? MHD_NO : MHD_YES;
  }
  if(!p->t_body_start)
    p->t_body_start = p->t_start;
  r->body_bytes += (int64_t)len;
  if(h->o.min_body_rate > 0) {
    uint64_t elapsed = now - p->t_body_start;
    uint64_t grace = (uint64_t)h->o.header_timeout * 1000000000u;
    if(elapsed > grace &&
       (double)r->body_bytes < (double)h->o.min_body_rate * ((double)elapsed / 1e9) * 0.5) {
      /* Below half the minimum rate on average: a drip, not a slow link. */
      ml_req_note_error(r, ML_ERR_TIMEOUT, "request body slower than the minimum rate");
      return MHD_NO;
    }
  }
  if(r->route->on_body)
    rc = r->route->on_body(r, data, len);
  else if(r->body_bytes > 64 * 1024)
    rc = ML_ERR_TOO_LARGE; /* this route takes no body worth the name */
  if(rc) {
    p->failed = 1;
    if(!p->response)
      ml_req_error(r, rc, NULL, NULL);
  }
  return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls) {
  struct ml_http *h = cls;
  struct ml_req *r = *req_cls;
  struct ml_req_priv *p;
  if(!r) {
    /* The URI log callback always runs first; this is a safety net. */
    r = req_new(h);
    if(!r)
      return MHD_NO;
    atomic_fetch_add(&h->inflight, 1);
    *req_cls = r;
  }
  p = r->priv;
  p->conn = conn;
  if(!p->started)
    return first_call(h, r, url, method);
  if(*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    return body_call(h, r, upload_data, n);
  }
  /* The body is complete. */
  if(p->rec && atomic_load(&p->rec->phase) == PHASE_BODY)
    atomic_store(&p->rec->phase, PHASE_ACTIVE);
  if(p->suspended) {
    if(!atomic_load(&p->work_done))
      return MHD_YES; /* spurious wake-up */
    p->suspended = 0;
    return queue(r);
  }
  if(p->failed || p->response)
    return queue(r);
  r->route->on_complete(r);
  if(p->work) {
    ml_err rc;
    p->suspended = 1;
    MHD_suspend_connection(conn);
    rc = ml_workers_submit(p->work_pool ? p->work_pool : h->o.workers, work_trampoline, r);
    if(rc) {
      ml_req_error(r, ML_ERR_BUSY, "too much work queued; retry shortly", NULL);
      ml_req_add_header(r, "Retry-After", "1");
      atomic_store(&p->work_done, 1);
      MHD_resume_connection(conn);
    }
    return MHD_YES;
  }
  return queue(r);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  struct ml_http *h = cls;
  struct ml_req *r = req_new(h);
  const char *q;
  if(!r)
    return NULL;
  atomic_fetch_add(&h->inflight, 1);
  r->priv->conn = conn;
  r->priv->rec = conn_rec_of(conn);
  if(r->priv->rec && atomic_load(&r->priv->rec->phase) == PHASE_NEW)
    atomic_store(&r->priv->rec->phase, PHASE_HEADERS); /* still counting from accept */
  else
    set_phase(r->priv->rec, PHASE_HEADERS);
  q = strchr(uri, '?');
  if(q) {
    char *copy = ml_arena_strndup(r->arena, q + 1, strnlen(q + 1, 16384));
    r->query = copy ? copy : "";
  }
  return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct ml_http *h = cls;
  struct ml_req *r = *req_cls;
  struct ml_req_priv *p;
  double ms;
  const char *route_name;
  if(!r)
    return;
  p = r->priv;
  p->conn = conn;
  if(r->route && r->route->on_cleanup)
    r->route->on_cleanup(r);
  ms = (double)(ml_mono_ns() - p->t_start) / 1e6;
  route_name = r->route ? r->route->name : "none";
  if(p->started) {
    int aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if(h->o.metrics)
      ml_metrics_request(h->o.metrics, route_name, aborted ? 499 : (int)p->status, ms,
                         r->body_bytes, aborted ? 0 : p->bytes_out);
    if(h->o.log && ML_LOG_INFO >= h->o.log->level) {
      ml_log(h->o.log, p->status >= 500 || aborted ? ML_LOG_WARN : ML_LOG_INFO, r->request_id,
             "request", ML_LS("method", r->method_str), ML_LS("path", r->path),
             ML_LS("route", route_name), ML_LI("status", aborted ? 0 : (int)p->status),
             ML_LI("bytes_in", r->body_bytes), ML_LI("bytes_out", p->bytes_out),
             ML_LD("duration_ms", ms), ML_LS("client", ml_req_client_addr(r)),
             ML_LS("error", p->err ? ml_err_code(p->err) : NULL),
             ML_LS("error_message", p->err ? p->err_msg : NULL), ML_LB("aborted", aborted));
    }
  }
  if(p->rec && atomic_load(&p->rec->phase) != PHASE_CLOSING)
    set_phase(p->rec, PHASE_WAIT_LINE); /* keep-alive: the next request line */
  atomic_fetch_sub(&h->inflight, 1);
  req_free(r);
  *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  struct ml_http *h = cls;
  char msg[512];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  msg[strcspn(msg, "\n")] = '\0';
  ml_log(h->o.log, ML_LOG_DEBUG, NULL, "libmicrohttpd", ML_LS("detail", msg));
}

/* Parses "host:port", "[v6]:port" or ":port". */
static ml_err parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                           struct ml_errbuf *eb) {
  char host[256];
  const char *colon, *port_s;
  char *end;
  long port;
  memset(ss, 0, sizeof(*ss));
  if(s[0] == '[') {
    const char *rb = strchr(s, ']');
    if(!rb || rb[1] != ':')
      goto bad;
    snprintf(host, sizeof(host), "%.*s", (int)(rb - s - 1), s + 1);
    port_s = rb + 2;
  } else {
    colon = strrchr(s, ':');
    if(!colon)
      goto bad;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
    port_s = colon + 1;
  }
  port = strtol(port_s, &end, 10);
  if(!*port_s || *end || port < 0 || port > 65535)
    goto bad;
  if(!host[0] || !strcmp(host, "0.0.0.0")) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    *len = sizeof(*in);
    return ML_OK;
  }
  {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if(inet_pton(AF_INET, host, &in->sin_addr) == 1) {
      in->sin_family = AF_INET;
      in->sin_port = htons((uint16_t)port);
      *len = sizeof(*in);
      return ML_OK;
    }
    if(inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons((uint16_t)port);
      *len = sizeof(*in6);
      return ML_OK;
    }
    if(!strcmp(host, "localhost")) {
      in->sin_family = AF_INET;
      in->sin_port = htons((uint16_t)port);
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      *len = sizeof(*in);
      return ML_OK;
    }
  }
bad:
  return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_LISTEN: '%s' is not host:port (e.g. 127.0.0.1:8080)",
                 s);
}

ml_err ml_http_start(const struct ml_http_opts *o, struct ml_http **out, struct ml_errbuf *eb) {
  struct ml_http *h;
  struct sockaddr_storage ss;
  socklen_t sslen;
  unsigned flags =
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_ITC;
  const union MHD_DaemonInfo *info;
  ml_err rc = parse_listen(o->listen, &ss, &sslen, eb);
  if(rc)
    return rc;
  if(ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  h = ml_calloc(1, sizeof(*h));
  if(!h)
    return ML_ERR_NOMEM;
  h->o = *o;
  atomic_init(&h->inflight, 0);
  {
    unsigned char raw[8];
    uint64_t t = ml_mono_ns();
    if(getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
      memcpy(raw, &t, sizeof(raw));
    ml_hex_encode(raw, sizeof(raw), h->id_prefix);
    atomic_init(&h->id_counter, 0);
  }
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  h->conns.next = h->conns.prev = &h->conns;
  h->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 1 ? o->threads : 1),
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)o->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->idle_timeout,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)o->connection_memory,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_END);
  if(!h->daemon) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "cannot listen on %s: %s", o->listen,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    ml_free(h);
    return rc;
  }
  if(!pthread_create(&h->watchdog, NULL, watchdog_main, h))
    h->watchdog_running = 1;
  info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : 0;
  *out = h;
  return ML_OK;
}

int ml_http_port(const struct ml_http *h) { return h->port; }

void ml_http_quiesce(struct ml_http *h) {
  MHD_socket s = MHD_quiesce_daemon(h->daemon);
  if(s != MHD_INVALID_SOCKET)
    close(s);
  pthread_mutex_lock(&h->mu);
  h->quiescing = 1;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

int ml_http_inflight(struct ml_http *h) { return atomic_load(&h->inflight); }

void ml_http_stop(struct ml_http **hp) {
  struct ml_http *h;
  if(!hp || !*hp)
    return;
  h = *hp;
  if(h->watchdog_running) {
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->watchdog, NULL);
  }
  MHD_stop_daemon(h->daemon);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  ml_free(h);
  *hp = NULL;
}
