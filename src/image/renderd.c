/* renderd.c - the render worker pool (server side) and the worker loop. */
#include "image/renderd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "image/renderd_wire.h"

extern char **environ;

#define WORKER_FD 3

struct worker {
  pid_t pid; /* 0: not running */
  int sock;
  int busy;
};

struct ml_renderd {
  struct ml_renderd_opts o;
  char exe[4096];
  pthread_mutex_t mu;
  pthread_cond_t freed;
  int64_t spawned;
  int n;
  struct worker w[];
};

ml_err ml_renderd_create(const struct ml_renderd_opts *o, struct ml_renderd **out,
                         struct ml_errbuf *eb) {
  struct ml_renderd *p;
  if(!o->exe || o->workers < 1 || o->workers > 1024 || o->timeout_ms <= 0 ||
     strlen(o->exe) >= sizeof(p->exe))
    return ml_fail(eb, ML_ERR_CONFIG, "render workers: bad options");
  p = ml_calloc(1, sizeof(*p) + (size_t)o->workers * sizeof(p->w[0]));
  if(!p)
    return ML_ERR_NOMEM;
  p->o = *o;
  memcpy(p->exe, o->exe, strlen(o->exe) + 1);
  p->o.exe = p->exe;
  p->n = o->workers;
  for(int i = 0; i < p->n; i++)
    p->w[i].sock = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->freed, NULL);
  *out = p;
  return ML_OK;
}

/* Ends a worker: closes its socket, kills it when kill_it, reaps it. */
static void stop_worker(struct worker *w, int kill_it, int *status) {
  int st = 0;
  if(w->sock >= 0)
    close(w->sock);
  w->sock = -1;
  if(w->pid > 0) {
    if(kill_it)
      kill(w->pid, SIGKILL);
    while(waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
      ;
  }
  w->pid = 0;
  if(status)
    *status = st;
}

void ml_renderd_destroy(struct ml_renderd **pp) {
  struct ml_renderd *p;
  if(!pp || !*pp)
    return;
  p = *pp;
  for(int i = 0; i < p->n; i++) {
    struct worker *w = &p->w[i];
    if(w->pid <= 0)
      continue;
    close(w->sock); /* the worker exits at end of file */
    w->sock = -1;
    for(int k = 0; k < 100; k++) { /* up to a second */
      int st;
      pid_t r = waitpid(w->pid, &st, WNOHANG);
      if(r == w->pid || (r < 0 && errno != EINTR)) {
        w->pid = 0;
        break;
      }
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    stop_worker(w, 1, NULL);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->freed);
  ml_free(p);
  *pp = NULL;
}

int64_t ml_renderd_spawned(struct ml_renderd *p) {
  int64_t n;
  pthread_mutex_lock(&p->mu);
  n = p->spawned;
  pthread_mutex_unlock(&p->mu);
  return n;
}

/* Starts the worker process of slot w, its socket on fd 3. */
static ml_err spawn_worker(struct ml_renderd *p, struct worker *w, struct ml_errbuf *eb) {
  int sv[2];
  char limit[32];
  char *argv[3];
  posix_spawn_file_actions_t fa;
  int e;
  if(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
    return ml_fail(eb, ML_ERR_INTERNAL, "render worker: socketpair: %s", strerror(errno));
  snprintf(limit, sizeof(limit), "%lld", (long long)p->o.memory_limit);
  argv[0] = "medialib-render";
  argv[1] = limit;
  argv[2] = NULL;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], WORKER_FD); /* dup2 clears CLOEXEC */
  e = posix_spawn(&w->pid, p->exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if(e) {
    close(sv[0]);
    w->pid = 0;
    return ml_fail(eb, ML_ERR_INTERNAL, "render worker: cannot start %s: %s", p->exe, strerror(e));
  }
  w->sock = sv[0];
  pthread_mutex_lock(&p->mu);
  p->spawned++;
  pthread_mutex_unlock(&p->mu);
  ml_log(p->o.log, ML_LOG_INFO, NULL, "render.worker_started", ML_LI("pid", w->pid));
  return ML_OK;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends req with the two fds, waits for the answer until the timeout. */
static ml_err exchange(struct ml_renderd *p, struct worker *w, const struct ml_renderd_req *req,
                       int src_fd, int out_fd, struct ml_renderd_res *res, struct ml_errbuf *eb) {
  struct iovec iov = {(void *)req, sizeof(*req)};
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg = {0};
  struct cmsghdr *cm;
  int fds[2] = {src_fd, out_fd};
  size_t nfds = out_fd >= 0 ? 2 : 1;
  int64_t deadline = mono_ms() + p->o.timeout_ms;
  ssize_t n;
  memset(&ctl, 0, sizeof(ctl));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
  cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
  do
    n = sendmsg(w->sock, &msg, MSG_NOSIGNAL);
  while(n < 0 && errno == EINTR);
  if(n != (ssize_t)sizeof(*req))
    return ml_fail(eb, ML_ERR_INVALID_IMAGE, "the render worker went away");
  for(;;) {
    struct pollfd pfd = {w->sock, POLLIN, 0};
    int64_t left = deadline - mono_ms();
    int r;
    if(left <= 0)
      return ml_fail(eb, ML_ERR_TIMEOUT, "the render took longer than %lld ms",
                     (long long)p->o.timeout_ms);
    r = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
    if(r < 0 && errno == EINTR)
      continue;
    if(r < 0)
      return ml_fail(eb, ML_ERR_INTERNAL, "render worker: poll: %s", strerror(errno));
    if(r > 0)
      break;
  }
  do
    n = recv(w->sock, res, sizeof(*res), 0);
  while(n < 0 && errno == EINTR);
  if(n != (ssize_t)sizeof(*res) || res->magic != ML_RENDERD_MAGIC)
    return ml_fail(eb, ML_ERR_INVALID_IMAGE, "the render worker died");
  return ML_OK;
}

/* One request to an idle worker (started if needed), and its answer in
 * *ans. A worker that hangs or dies is ended (the next call starts a new
 * one). The worker's own error comes back as the return value and eb. */
static ml_err call(struct ml_renderd *p, const struct ml_renderd_req *req, int src_fd, int out_fd,
                   struct ml_renderd_res *ans, struct ml_errbuf *eb) {
  struct worker *w = NULL;
  ml_err rc;
  pthread_mutex_lock(&p->mu);
  for(;;) {
    for(int i = 0; i < p->n && !w; i++)
      if(!p->w[i].busy)
        w = &p->w[i];
    if(w)
      break;
    pthread_cond_wait(&p->freed, &p->mu);
  }
  w->busy = 1;
  pthread_mutex_unlock(&p->mu);

  rc = w->pid > 0 ? ML_OK : spawn_worker(p, w, eb);
  if(!rc)
    rc = exchange(p, w, req, src_fd, out_fd, ans, eb);
  if(rc == ML_ERR_TIMEOUT || rc == ML_ERR_INVALID_IMAGE) {
    /* Hung or dead: end it; the next call starts a fresh one. */
    int status = 0;
    pid_t pid = w->pid;
    stop_worker(w, 1, &status);
    if(rc == ML_ERR_INVALID_IMAGE && WIFSIGNALED(status)) {
      ml_errbuf_clear(eb);
      ml_fail(eb, rc, "the render worker died on this image (signal %d)", WTERMSIG(status));
    }
    ml_log(p->o.log, ML_LOG_WARN, NULL, "render.worker_lost", ML_LI("pid", pid), ML_LERR(rc),
           ML_LS("detail", eb->msg), ML_LS("mime_type", req->mime));
  } else if(!rc && ans->rc) {
    rc = ans->rc > 0 && ans->rc < ML_ERR__COUNT ? (ml_err)ans->rc : ML_ERR_INTERNAL;
    ans->msg[sizeof(ans->msg) - 1] = '\0';
    ml_fail(eb, rc, "%s", ans->msg[0] ? ans->msg : ml_err_message(rc));
  }

  pthread_mutex_lock(&p->mu);
  w->busy = 0;
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static ml_err make_req(int op, const char *src_mime, struct ml_renderd_req *req,
                       struct ml_errbuf *eb) {
  if(!src_mime || strlen(src_mime) >= sizeof(req->mime))
    return ml_fail(eb, ML_ERR_INTERNAL, "render worker: bad arguments");
  memset(req, 0, sizeof(*req));
  req->magic = ML_RENDERD_MAGIC;
  req->op = op;
  memcpy(req->mime, src_mime, strlen(src_mime) + 1);
  return ML_OK;
}

ml_err ml_renderd_render(struct ml_renderd *p, int src_fd, const char *src_mime,
                         const struct ml_transform_dims *dims, enum ml_transform_format fmt,
                         int quality, const char *out_path, struct ml_render_result *res,
                         struct ml_errbuf *eb) {
  struct ml_renderd_req req;
  struct ml_renderd_res ans;
  int out_fd;
  ml_err rc;

  if(res)
    memset(res, 0, sizeof(*res));
  if(!dims || !out_path || !ml_transform_format_mime(fmt))
    return ml_fail(eb, ML_ERR_INTERNAL, "ml_renderd_render: bad arguments");
  rc = make_req(ML_RENDERD_RENDER, src_mime, &req, eb);
  if(rc)
    return rc;
  req.width = (int32_t)dims->width;
  req.height = (int32_t)dims->height;
  req.crop = dims->crop;
  req.format = (int32_t)fmt;
  req.quality = quality;

  out_fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if(out_fd < 0)
    return ml_fail(eb, ML_ERR_IO, "creating %s: %s", out_path, strerror(errno));
  rc = call(p, &req, src_fd, out_fd, &ans, eb);
  if(!rc && res) {
    res->width = ans.width;
    res->height = ans.height;
    res->size = ans.size;
    res->mime = ml_transform_format_mime(fmt);
  }
  if(close(out_fd) && !rc)
    rc = ml_fail(eb, ML_ERR_IO, "closing %s: %s", out_path, strerror(errno));
  if(rc)
    unlink(out_path);
  return rc;
}

ml_err ml_renderd_probe(struct ml_renderd *p, int src_fd, const char *src_mime,
                        struct ml_image_info *out, struct ml_errbuf *eb) {
  struct ml_renderd_req req;
  struct ml_renderd_res ans;
  ml_err rc = make_req(ML_RENDERD_PROBE, src_mime, &req, eb);
  memset(out, 0, sizeof(*out));
  if(!rc)
    rc = call(p, &req, src_fd, -1, &ans, eb);
  if(!rc) {
    out->width = ans.width;
    out->height = ans.height;
    out->frames = ans.frames;
    out->orientation = ans.orientation;
  }
  return rc;
}
