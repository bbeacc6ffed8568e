/* stub_http.h - a one-thread HTTP server on 127.0.0.1 for unit tests of
 * outgoing requests: answers every request with a fixed status and keeps
 * the raw requests (head and body) for the test to read. */
#ifndef ML_TEST_STUB_HTTP_H
#define ML_TEST_STUB_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STUB_MAX_REQS 16
#define STUB_REQ_MAX 16384

struct stub_http {
  int fd;
  int port;
  int status; /* answer to every request */
  int nreqs;
  char reqs[STUB_MAX_REQS][STUB_REQ_MAX];
  pthread_t thread;
  pthread_mutex_t mu;
};

/* Reads one request: the head, then Content-Length bytes of body. */
static inline void stub_read_request(int c, char *out, size_t cap) {
  size_t len = 0, want = 0;
  char *head_end = NULL;
  while(len + 1 < cap) {
    ssize_t n = read(c, out + len, cap - 1 - len);
    if(n <= 0)
      break;
    len += (size_t)n;
    out[len] = '\0';
    if(!head_end && (head_end = strstr(out, "\r\n\r\n"))) {
      const char *cl = strcasestr(out, "\r\nContent-Length:");
      want = (size_t)(head_end + 4 - out) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
    }
    if(head_end && len >= want)
      break;
  }
  out[len] = '\0';
}

static void *stub_main(void *arg) {
  struct stub_http *s = arg;
  for(;;) {
    char answer[128];
    int c = accept(s->fd, NULL, NULL);
    int slot;
    if(c < 0)
      return NULL; /* closed by stub_stop */
    pthread_mutex_lock(&s->mu);
    slot = s->nreqs < STUB_MAX_REQS ? s->nreqs++ : STUB_MAX_REQS - 1;
    pthread_mutex_unlock(&s->mu);
    stub_read_request(c, s->reqs[slot], STUB_REQ_MAX);
    snprintf(answer, sizeof(answer),
             "HTTP/1.1 %d Stub\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", s->status);
    if(write(c, answer, strlen(answer)) < 0) {
      /* the client went away: nothing to do */
    }
    close(c);
  }
}

static inline int stub_start(struct stub_http *s, int status) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(s, 0, sizeof(*s));
  s->status = status;
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 16) ||
     getsockname(s->fd, (struct sockaddr *)&a, &alen))
    return -1;
  s->port = ntohs(a.sin_port);
  pthread_mutex_init(&s->mu, NULL);
  return pthread_create(&s->thread, NULL, stub_main, s) ? -1 : 0;
}

static inline void stub_stop(struct stub_http *s) {
  shutdown(s->fd, SHUT_RDWR);
  close(s->fd);
  pthread_join(s->thread, NULL);
  pthread_mutex_destroy(&s->mu);
}

/* A port nothing listens on (bound, then closed). */
static inline int stub_closed_port(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
     !getsockname(fd, (struct sockaddr *)&a, &alen))
    port = ntohs(a.sin_port);
  if(fd >= 0)
    close(fd);
  return port;
}

#endif
