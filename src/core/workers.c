/* workers.c - fixed thread pool with a bounded FIFO of tasks. */
#include "core/workers.h"

#include <pthread.h>

#include "core/alloc.h"

struct task {
  void (*fn)(void *arg);
  void *arg;
};

struct ml_workers {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t *threads;
  int nthreads;
  struct task *q; /* ring buffer */
  size_t cap, head, len;
  size_t running;
  int stopping;
};

static void *worker_main(void *p) {
  struct ml_workers *w = p;
  pthread_mutex_lock(&w->mu);
  for(;;) {
    struct task t;
    while(!w->len && !w->stopping)
      pthread_cond_wait(&w->cv, &w->mu);
    if(!w->len && w->stopping)
      break;
    t = w->q[w->head];
    w->head = (w->head + 1) % w->cap;
    w->len--;
    w->running++;
    pthread_mutex_unlock(&w->mu);
    t.fn(t.arg);
    pthread_mutex_lock(&w->mu);
    w->running--;
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

ml_err ml_workers_create(int nthreads, size_t queue_max, struct ml_workers **out) {
  struct ml_workers *w = ml_calloc(1, sizeof(*w));
  int started = 0;
  if(!w)
    return ML_ERR_NOMEM;
  w->q = ml_calloc(queue_max, sizeof(*w->q));
  w->threads = ml_calloc((size_t)nthreads, sizeof(*w->threads));
  if(!w->q || !w->threads)
    goto fail;
  w->cap = queue_max;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  for(; started < nthreads; started++)
    if(pthread_create(&w->threads[started], NULL, worker_main, w))
      break;
  w->nthreads = started;
  if(started < nthreads) {
    ml_workers_destroy(&w);
    return ML_ERR_INTERNAL;
  }
  *out = w;
  return ML_OK;
fail:
  ml_free(w->q);
  ml_free(w->threads);
  ml_free(w);
  return ML_ERR_NOMEM;
}

ml_err ml_workers_submit(struct ml_workers *w, void (*fn)(void *arg), void *arg) {
  ml_err rc = ML_OK;
  pthread_mutex_lock(&w->mu);
  if(w->stopping || w->len == w->cap) {
    rc = ML_ERR_BUSY;
  } else {
    w->q[(w->head + w->len) % w->cap] = (struct task){fn, arg};
    w->len++;
    pthread_cond_signal(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  return rc;
}

size_t ml_workers_pending(struct ml_workers *w) {
  size_t n;
  pthread_mutex_lock(&w->mu);
  n = w->len + w->running;
  pthread_mutex_unlock(&w->mu);
  return n;
}

void ml_workers_destroy(struct ml_workers **wp) {
  struct ml_workers *w;
  if(!wp || !*wp)
    return;
  w = *wp;
  pthread_mutex_lock(&w->mu);
  w->stopping = 1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  for(int i = 0; i < w->nthreads; i++)
    pthread_join(w->threads[i], NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  ml_free(w->q);
  ml_free(w->threads);
  ml_free(w);
  *wp = NULL;
}
