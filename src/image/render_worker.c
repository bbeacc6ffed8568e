/*
 * render_worker.c - the render worker process (`medialib-render`): the only
 * program that loads libvips. Spawned by a server's renderd pool with its
 * socket on fd 3; renders each request into the fd it is given.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image/render.h"
#include "image/renderd.h"
#include "image/renderd_wire.h"

/* Receives one request and its two fds; 0 at end of file, -1 on error. */
static int receive(int sock, struct ml_renderd_req *req, int *src_fd, int *out_fd) {
  struct iovec iov = {req, sizeof(*req)};
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg = {0};
  struct cmsghdr *cm;
  ssize_t n;
  *src_fd = *out_fd = -1;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof(ctl.buf);
  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while(n < 0 && errno == EINTR);
  if(n == 0)
    return 0;
  cm = CMSG_FIRSTHDR(&msg);
  if(cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
     (cm->cmsg_len == CMSG_LEN(2 * sizeof(int)) || cm->cmsg_len == CMSG_LEN(sizeof(int)))) {
    int fds[2] = {-1, -1};
    memcpy(fds, CMSG_DATA(cm), cm->cmsg_len - CMSG_LEN(0));
    *src_fd = fds[0];
    *out_fd = fds[1];
  }
  if(n != (ssize_t)sizeof(*req) || req->magic != ML_RENDERD_MAGIC || *src_fd < 0)
    return -1;
  req->mime[sizeof(req->mime) - 1] = '\0';
  return 1;
}

int ml_renderd_worker_main(int sock, int64_t memory_limit) {
  struct ml_errbuf eb = {{0}};
  /* No PR_SET_PDEATHSIG: it fires when the *thread* that spawned us ends.
   * The server's death closes its end of the socket instead, and the next
   * recv here returns end of file. */
  signal(SIGPIPE, SIG_IGN);
#if !defined(__SANITIZE_ADDRESS__) && !defined(ML_SANITIZED)
  /* (The sanitizers reserve terabytes of address space: no limit there.) */
  if(memory_limit > 0) {
    struct rlimit rl = {(rlim_t)memory_limit, (rlim_t)memory_limit};
    setrlimit(RLIMIT_AS, &rl);
  }
#else
  (void)memory_limit;
#endif
  if(ml_render_init(&eb)) {
    fprintf(stderr, "medialib render-worker: %s\n", eb.msg);
    return 1;
  }
  for(;;) {
    struct ml_renderd_req req;
    struct ml_renderd_res ans;
    struct ml_render_result r;
    struct ml_transform_dims dims;
    int src_fd, out_fd;
    int got = receive(sock, &req, &src_fd, &out_fd);
    ml_err rc;
    if(got <= 0) {
      if(src_fd >= 0)
        close(src_fd);
      if(out_fd >= 0)
        close(out_fd);
      break;
    }
#ifdef ML_TEST_HOOKS
    if(!strcmp(req.mime, "test/crash"))
      abort();
    if(!strcmp(req.mime, "test/hang"))
      sleep(3600);
#endif
    memset(&ans, 0, sizeof(ans));
    memset(&dims, 0, sizeof(dims));
    dims.width = req.width;
    dims.height = req.height;
    dims.crop = req.crop;
    ml_errbuf_clear(&eb);
    if(req.op == ML_RENDERD_PROBE) {
      struct ml_image_info info;
      rc = ml_render_probe(src_fd, req.mime, &info, &eb);
      if(!rc) {
        ans.width = (int32_t)info.width;
        ans.height = (int32_t)info.height;
        ans.frames = info.frames;
        ans.orientation = info.orientation;
      }
    } else if(out_fd < 0) {
      rc = ml_fail(&eb, ML_ERR_INTERNAL, "a render request without an output");
    } else {
      rc = ml_render_to_fd(src_fd, req.mime, &dims, (enum ml_transform_format)req.format,
                           req.quality, out_fd, &r, &eb);
      if(!rc) {
        ans.width = r.width;
        ans.height = r.height;
        ans.size = r.size;
      }
    }
    close(src_fd);
    if(out_fd >= 0)
      close(out_fd);
    ans.magic = ML_RENDERD_MAGIC;
    ans.rc = (int32_t)rc;
    memcpy(ans.msg, eb.msg, sizeof(ans.msg));
    if(send(sock, &ans, sizeof(ans), MSG_NOSIGNAL) != (ssize_t)sizeof(ans))
      break;
  }
  ml_render_shutdown();
  return 0;
}
