/* store_http.c - the remote stores' shared pieces (store_http.h). */
#include "store/store_http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "store/store_int.h"

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

size_t ml_store_http_src_read(char *buf, size_t size, size_t nitems, void *arg) {
  struct ml_store_http_src *p = arg;
  int64_t left = p->len - p->pos;
  size_t want = size * nitems;
  ssize_t n;
  if(left <= 0)
    return 0;
  if((int64_t)want > left)
    want = (size_t)left;
  do
    n = pread(p->fd, buf, want, (off_t)(p->off + p->pos));
  while(n < 0 && errno == EINTR);
  if(n <= 0) {
    p->local_errno = n < 0 ? errno : EIO; /* 0: the file shrank under us */
    return CURL_READFUNC_ABORT;
  }
  p->pos += n;
  return (size_t)n;
}

int ml_store_http_src_seek(void *arg, curl_off_t offset, int origin) {
  struct ml_store_http_src *p = arg;
  if(origin != SEEK_SET || offset < 0 || offset > p->len)
    return CURL_SEEKFUNC_FAIL;
  p->pos = offset;
  return CURL_SEEKFUNC_OK;
}

size_t ml_store_http_sink_write(char *data, size_t size, size_t nmemb, void *arg) {
  struct ml_store_http_sink *k = arg;
  size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &status);
  if(status < 200 || status >= 300) { /* an error body: keep its start */
    size_t room = k->errbody.max - k->errbody.len;
    if(room)
      ml_buf_add(&k->errbody, data, n < room ? n : room);
    return n;
  }
  if(k->out_fd >= 0) {
    for(size_t off = 0; off < n;) {
      ssize_t w = write(k->out_fd, data + off, n - off);
      if(w < 0 && errno == EINTR)
        continue;
      if(w < 0) {
        k->local_errno = errno;
        return 0;
      }
      off += (size_t)w;
    }
    return n;
  }
  if(k->out && ml_buf_add(k->out, data, n)) {
    k->local_errno = EFBIG;
    return 0;
  }
  return n;
}

int ml_store_http_sink_reset(struct ml_store_http_sink *k) {
  k->local_errno = 0;
  ml_buf_reset(&k->errbody);
  if(k->out)
    ml_buf_reset(k->out);
  if(k->out_fd >= 0 && (ftruncate(k->out_fd, 0) || lseek(k->out_fd, 0, SEEK_SET) < 0))
    return errno;
  return 0;
}

ml_err ml_store_spool_download(const char *spool_dir, const char *what, const char *key,
                               ml_store_download_fn download, void *arg, struct ml_blob *out,
                               struct ml_errbuf *eb) {
  char tmpl[4096];
  struct stat sb;
  time_t mtime = 0;
  ml_err rc;
  int fd;
  if((size_t)snprintf(tmpl, sizeof(tmpl), "%s/get-XXXXXX", spool_dir) >= sizeof(tmpl))
    return ml_fail(eb, ML_ERR_INTERNAL, "spool path too long");
  fd = mkostemp(tmpl, O_CLOEXEC);
  if(fd < 0)
    return ml_fail(eb, ml_store_errno_err(errno), "%s %s: temp file in %s: %s", what, key,
                   spool_dir, strerror(errno));
  unlink(tmpl); /* nothing to clean after a crash */
  rc = download(arg, fd, &mtime, eb);
  if(!rc && (fstat(fd, &sb) || lseek(fd, 0, SEEK_SET) < 0))
    rc = ml_fail(eb, ML_ERR_IO, "%s %s: temp file: %s", what, key, strerror(errno));
  if(rc) {
    close(fd);
    return rc;
  }
  out->fd = fd;
  out->size = sb.st_size;
  out->mtime = mtime;
  out->stream = NULL;
  return ML_OK;
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

/* ------------------------------------------------------------- streams */

#define STREAM_BUF (256 * 1024)

/* One thread per store drives every delivery stream's transfer with a
 * curl multi handle; readers take bytes from a bounded buffer per stream,
 * and a full buffer pauses its transfer. */
struct http_stream;
struct ml_store_streamer {
  pthread_mutex_t st_mu;
  pthread_t st_thread;
  int st_running;
  int st_stop;
  CURLM *multi;
  struct http_stream *st_add; /* started by readers, not yet in multi */
  struct http_stream *st_del; /* closed by readers, to free */
};

enum { ST_NEW, ST_RUNNING, ST_DONE, ST_FAILED };

struct http_stream {
  struct ml_blob_stream base;
  struct ml_store_streamer *sr;
  ml_store_stream_setup setup; /* the store's options for each (re)start */
  void *setup_arg;
  int max_tries;
  long timeout_s;
  struct http_stream *next;  /* in the streamer's active list */
  struct http_stream *qnext; /* in st_add or st_del: a closed stream is queued on st_del
                              * while still on the active list, so the two links must
                              * differ (one link lost the streams after it: they stalled) */
  char *url;
  uint64_t start, len; /* the range asked for */
  /* guarded by mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state;
  int started;
  int closing;
  int paused;
  int waking; /* a wake call is running: close waits for it */
  void (*wake)(void *arg);
  void *wake_arg;
  uint64_t received;  /* bytes of the range that arrived */
  uint64_t delivered; /* bytes handed to the reader */
  char *buf;
  size_t off, n;
  /* the streamer thread's alone */
  CURL *h;
  struct curl_slist *hdrs;
  int tries;
  long status;
};

static void stream_free(struct http_stream *st) {
  if(st->h)
    curl_easy_cleanup(st->h);
  curl_slist_free_all(st->hdrs);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  ml_free(st->buf);
  ml_free(st->url);
  ml_free(st);
}

/* Calls the reader's wake, if it waits, outside the lock; mu held on entry
 * and on return. */
static void stream_wake_locked(struct http_stream *st) {
  void (*wake)(void *) = st->wake;
  void *arg = st->wake_arg;
  if(!wake || st->closing)
    return;
  st->wake = NULL;
  st->waking++;
  pthread_mutex_unlock(&st->mu);
  wake(arg);
  pthread_mutex_lock(&st->mu);
  st->waking--;
  pthread_cond_broadcast(&st->cv);
}

static size_t stream_on_write(char *data, size_t size, size_t nmemb, void *arg) {
  struct http_stream *st = arg;
  size_t len = size * nmemb;
  pthread_mutex_lock(&st->mu);
  if(st->closing || st->status != 206 || st->received + len > st->len) {
    pthread_mutex_unlock(&st->mu);
    return 0; /* abort: gone, an error answer, or more than the range */
  }
  if(STREAM_BUF - st->n < len) {
    st->paused = 1;
    pthread_mutex_unlock(&st->mu);
    return CURL_WRITEFUNC_PAUSE; /* curl keeps the bytes and offers them again */
  }
  if(st->off + st->n + len > STREAM_BUF) {
    memmove(st->buf, st->buf + st->off, st->n);
    st->off = 0;
  }
  memcpy(st->buf + st->off + st->n, data, len);
  st->n += len;
  st->received += len;
  stream_wake_locked(st);
  pthread_mutex_unlock(&st->mu);
  return len;
}

static size_t stream_on_header(char *line, size_t size, size_t nitems, void *arg) {
  struct http_stream *st = arg;
  size_t n = size * nitems;
  long status = 0;
  if(n > 5 && !strncmp(line, "HTTP/", 5)) {
    /* the status line of this answer: "HTTP/1.1 206 Partial Content" */
    const char *sp = memchr(line, ' ', n);
    if(sp)
      status = strtol(sp + 1, NULL, 10);
    st->status = status;
  }
  return n;
}

/* (Re)starts the transfer of what is left of the range. Streamer thread. */
static int stream_begin(struct http_stream *st) {
  struct ml_store_streamer *s = st->sr;
  char range[80];
  uint64_t got, from, last;
  pthread_mutex_lock(&st->mu);
  got = st->received;
  pthread_mutex_unlock(&st->mu);
  if(got >= st->len)
    return -1;
  from = st->start + got;
  last = st->start + st->len - 1;
  snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)from,
           (unsigned long long)last);
  if(!st->h)
    st->h = curl_easy_init();
  if(!st->h)
    return -1;
  curl_slist_free_all(st->hdrs);
  st->hdrs = NULL;
  curl_easy_reset(st->h);
  if(st->setup(st->setup_arg, st->h, range, &st->hdrs))
    return -1;
  curl_easy_setopt(st->h, CURLOPT_URL, st->url);
  curl_easy_setopt(st->h, CURLOPT_HTTPHEADER, st->hdrs);
  curl_easy_setopt(st->h, CURLOPT_WRITEFUNCTION, stream_on_write);
  curl_easy_setopt(st->h, CURLOPT_WRITEDATA, st);
  curl_easy_setopt(st->h, CURLOPT_HEADERFUNCTION, stream_on_header);
  curl_easy_setopt(st->h, CURLOPT_HEADERDATA, st);
  curl_easy_setopt(st->h, CURLOPT_PRIVATE, st);
  /* A paused transfer is exempt from the speed check: a slow client only
   * pauses it. */
  curl_easy_setopt(st->h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(st->h, CURLOPT_LOW_SPEED_TIME, st->timeout_s);
  st->status = 0;
  st->tries++;
  return curl_multi_add_handle(s->multi, st->h) == CURLM_OK ? 0 : -1;
}

static void stream_finish(struct http_stream *st, CURLcode cc) {
  struct ml_store_streamer *s = st->sr;
  int again;
  curl_multi_remove_handle(s->multi, st->h);
  pthread_mutex_lock(&st->mu);
  if(cc == CURLE_OK && st->status == 206 && st->received == st->len) {
    st->state = ST_DONE;
  } else {
    /* A broken transfer resumes from where it stopped; a 4xx does not. */
    again = !st->closing && st->tries < st->max_tries &&
            (ml_store_http_retriable(cc) || st->status >= 500 || st->status == 429 ||
             st->status == 420 || (cc == CURLE_OK && st->status == 206));
    pthread_mutex_unlock(&st->mu);
    if(again && stream_begin(st) == 0)
      return;
    pthread_mutex_lock(&st->mu);
    st->state = ST_FAILED;
  }
  stream_wake_locked(st);
  pthread_mutex_unlock(&st->mu);
}

static void *streamer_main(void *arg) {
  struct ml_store_streamer *s = arg;
  struct http_stream *active = NULL;
  for(;;) {
    struct http_stream *add, *del, **pp;
    CURLMsg *msg;
    int running = 0, left = 0, stop;
    pthread_mutex_lock(&s->st_mu);
    add = s->st_add;
    del = s->st_del;
    s->st_add = s->st_del = NULL;
    stop = s->st_stop;
    pthread_mutex_unlock(&s->st_mu);
    while(add) {
      struct http_stream *st = add;
      add = st->qnext;
      st->next = active;
      active = st;
      if(stream_begin(st)) {
        pthread_mutex_lock(&st->mu);
        st->state = ST_FAILED;
        stream_wake_locked(st);
        pthread_mutex_unlock(&st->mu);
      }
    }
    while(del) {
      struct http_stream *st = del;
      del = st->qnext;
      for(pp = &active; *pp; pp = &(*pp)->next) {
        if(*pp == st) {
          *pp = st->next;
          break;
        }
      }
      if(st->h)
        curl_multi_remove_handle(s->multi, st->h);
      stream_free(st);
    }
    if(stop)
      break;
    /* Resume transfers whose reader made room. */
    for(struct http_stream *st = active; st; st = st->next) {
      int resume;
      pthread_mutex_lock(&st->mu);
      resume = st->paused && STREAM_BUF - st->n >= CURL_MAX_WRITE_SIZE;
      if(resume)
        st->paused = 0;
      pthread_mutex_unlock(&st->mu);
      if(resume)
        curl_easy_pause(st->h, CURLPAUSE_CONT);
    }
    curl_multi_perform(s->multi, &running);
    while((msg = curl_multi_info_read(s->multi, &left))) {
      struct http_stream *st = NULL;
      if(msg->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&st);
      if(st)
        stream_finish(st, msg->data.result);
    }
    curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
  }
  while(active) { /* streams still open at close: their readers are gone */
    struct http_stream *st = active;
    active = st->next;
    if(st->h)
      curl_multi_remove_handle(s->multi, st->h);
    stream_free(st);
  }
  return NULL;
}

static void stream_range(struct ml_blob_stream *b, uint64_t start, uint64_t len) {
  struct http_stream *st = (struct http_stream *)b;
  pthread_mutex_lock(&st->mu);
  if(!st->started) {
    st->start = start;
    st->len = len;
  }
  pthread_mutex_unlock(&st->mu);
}

static ssize_t stream_read(struct ml_blob_stream *b, char *buf, size_t max, void (*wake)(void *arg),
                           void *arg) {
  struct http_stream *st = (struct http_stream *)b;
  struct ml_store_streamer *s = st->sr;
  ssize_t ret;
  int nudge = 0;
  pthread_mutex_lock(&st->mu);
  if(!st->started) {
    st->started = 1;
    if(st->len == 0) {
      st->state = ST_DONE;
    } else {
      st->state = ST_RUNNING;
      pthread_mutex_unlock(&st->mu);
      pthread_mutex_lock(&s->st_mu);
      st->qnext = s->st_add;
      s->st_add = st;
      pthread_mutex_unlock(&s->st_mu);
      curl_multi_wakeup(s->multi);
      pthread_mutex_lock(&st->mu);
    }
  }
  if(st->n > 0) {
    size_t k = st->n < max ? st->n : max;
    memcpy(buf, st->buf + st->off, k);
    st->off += k;
    st->n -= k;
    st->delivered += k;
    if(st->n == 0)
      st->off = 0;
    nudge = st->paused;
    ret = (ssize_t)k;
  } else if(st->delivered == st->len) {
    ret = 0; /* the whole range is out, whether or not curl has said it is done */
  } else if(st->state == ST_DONE) {
    ret = ML_BLOB_FAILED;
  } else if(st->state == ST_FAILED) {
    ret = ML_BLOB_FAILED;
  } else {
    st->wake = wake;
    st->wake_arg = arg;
    ret = ML_BLOB_WAIT;
  }
  pthread_mutex_unlock(&st->mu);
  if(nudge)
    curl_multi_wakeup(s->multi);
  return ret;
}

static void stream_close(struct ml_blob_stream *b) {
  struct http_stream *st = (struct http_stream *)b;
  struct ml_store_streamer *s = st->sr;
  int started;
  pthread_mutex_lock(&st->mu);
  st->closing = 1;
  st->wake = NULL;
  while(st->waking)
    pthread_cond_wait(&st->cv, &st->mu);
  started = st->started && st->len > 0;
  pthread_mutex_unlock(&st->mu);
  if(!started) {
    stream_free(st);
    return;
  }
  pthread_mutex_lock(&s->st_mu);
  st->qnext = s->st_del;
  s->st_del = st;
  pthread_mutex_unlock(&s->st_mu);
  curl_multi_wakeup(s->multi);
}

static const struct ml_blob_stream_ops stream_ops = {stream_range, stream_read, stream_close};

/* ------------------------------------------------------------ streamer */

ml_err ml_store_streamer_start(struct ml_store_streamer **out, struct ml_errbuf *eb) {
  struct ml_store_streamer *s = ml_calloc(1, sizeof(*s));
  *out = NULL;
  if(!s)
    return ML_ERR_NOMEM;
  pthread_mutex_init(&s->st_mu, NULL);
  s->multi = curl_multi_init();
  if(!s->multi) {
    ml_store_streamer_stop(&s);
    return ml_fail(eb, ML_ERR_NOMEM, "cannot make a curl multi handle");
  }
  if(pthread_create(&s->st_thread, NULL, streamer_main, s)) {
    ml_store_streamer_stop(&s);
    return ml_fail(eb, ML_ERR_NOMEM, "cannot start the stream thread");
  }
  s->st_running = 1;
  *out = s;
  return ML_OK;
}

void ml_store_streamer_stop(struct ml_store_streamer **sp) {
  struct ml_store_streamer *s = sp ? *sp : NULL;
  if(!s)
    return;
  if(s->st_running) {
    pthread_mutex_lock(&s->st_mu);
    s->st_stop = 1;
    pthread_mutex_unlock(&s->st_mu);
    curl_multi_wakeup(s->multi);
    pthread_join(s->st_thread, NULL);
  }
  if(s->multi)
    curl_multi_cleanup(s->multi);
  pthread_mutex_destroy(&s->st_mu);
  ml_free(s);
  *sp = NULL;
}

ml_err ml_store_stream_new(struct ml_store_streamer *sr, const char *url, uint64_t size,
                           int max_tries, long timeout_s, ml_store_stream_setup setup, void *arg,
                           struct ml_blob_stream **out) {
  struct http_stream *sm = ml_calloc(1, sizeof(*sm));
  if(!sm)
    return ML_ERR_NOMEM;
  sm->buf = ml_malloc(STREAM_BUF);
  sm->url = ml_strdup(url);
  if(!sm->buf || !sm->url) {
    ml_free(sm->buf);
    ml_free(sm->url);
    ml_free(sm);
    return ML_ERR_NOMEM;
  }
  sm->base.ops = &stream_ops;
  sm->sr = sr;
  sm->setup = setup;
  sm->setup_arg = arg;
  sm->max_tries = max_tries;
  sm->timeout_s = timeout_s;
  sm->start = 0;
  sm->len = size;
  pthread_mutex_init(&sm->mu, NULL);
  pthread_cond_init(&sm->cv, NULL);
  *out = &sm->base;
  return ML_OK;
}
