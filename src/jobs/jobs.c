/* jobs.c - executes outbox rows: inline within a deadline, or in the background. */
#include "jobs/jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/timeutil.h"
#include "core/workers.h"

#define MAX_HANDLERS 8

struct job_handler {
  const char *kind;
  ml_err (*fn)(void *ctx, const struct ml_job *job, struct ml_errbuf *eb);
  void *ctx;
};

struct ml_jobs {
  struct ml_jobs_opts o;
  struct job_handler handlers[MAX_HANDLERS];
  int nhandlers;
  atomic_llong done_total;        /* jobs finished (metrics) */
  atomic_llong failed_total;      /* failed attempts (metrics) */
  atomic_int backlog;             /* failed jobs may be waiting out a backoff */
  struct ml_workers *inline_pool; /* runs ml_jobs_run_now batches */
  pthread_t thread;
  int running;
  int stopping;
  int kicked;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

int64_t ml_jobs_backoff_ms(int64_t attempts, int64_t base_ms, int64_t max_ms, uint32_t rnd) {
  int64_t d = base_ms;
  for(int64_t i = 0; i < attempts && d < max_ms; i++)
    d *= 2;
  if(d > max_ms)
    d = max_ms;
  /* "equal jitter": half fixed, half random, so retries never synchronize */
  return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

static uint32_t rnd32(void) {
  uint32_t r = 0;
  if(getrandom(&r, sizeof(r), 0) != sizeof(r))
    r = (uint32_t)ml_mono_ns();
  return r;
}

ml_err ml_jobs_create(const struct ml_jobs_opts *o, struct ml_jobs **out) {
  struct ml_jobs *j = ml_calloc(1, sizeof(*j));
  if(!j)
    return ML_ERR_NOMEM;
  j->o = *o;
  if(j->o.poll_ms <= 0)
    j->o.poll_ms = 500;
  if(j->o.lease_ms <= 0)
    j->o.lease_ms = 60000;
  if(j->o.backoff_base_ms <= 0)
    j->o.backoff_base_ms = 1000;
  if(j->o.backoff_max_ms <= 0)
    j->o.backoff_max_ms = 300000;
  /* Batches mostly wait (on the store, and between retries): enough threads
   * that concurrent DELETEs each start at once instead of queueing behind
   * one another's pauses. */
  if(ml_workers_create(16, 256, &j->inline_pool)) {
    ml_free(j);
    return ML_ERR_NOMEM;
  }
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  *out = j;
  return ML_OK;
}

ml_err ml_jobs_handle(struct ml_jobs *j, const char *kind,
                      ml_err (*fn)(void *ctx, const struct ml_job *job, struct ml_errbuf *eb),
                      void *ctx) {
  if(j->nhandlers == MAX_HANDLERS)
    return ML_ERR_INTERNAL;
  j->handlers[j->nhandlers++] = (struct job_handler){kind, fn, ctx};
  return ML_OK;
}

static const struct job_handler *handler_of(struct ml_jobs *j, const char *kind) {
  for(int i = 0; i < j->nhandlers; i++)
    if(!strcmp(j->handlers[i].kind, kind))
      return &j->handlers[i];
  return NULL;
}

/* A failed attempt: backoff, metrics, the log line. Returns the error to
 * report (the bookkeeping's own, or rc). */
static ml_err job_failed(struct ml_jobs *j, struct ml_conn *c, const struct ml_job *job,
                         const char *rid, ml_err rc, const struct ml_errbuf *seb,
                         struct ml_errbuf *eb) {
  int64_t next = ml_now_ms() + ml_jobs_backoff_ms(job->attempts, j->o.backoff_base_ms,
                                                  j->o.backoff_max_ms, rnd32());
  ml_err frc = ml_repo_job_fail(c, job->id, next, seb->msg[0] ? seb->msg : ml_err_code(rc), eb);
  atomic_fetch_add(&j->failed_total, 1);
  atomic_store(&j->backlog, 1);
  ml_log(j->o.log, ML_LOG_WARN, rid, "job.failed", ML_LS("kind", job->kind),
         ML_LI("job_id", job->id), ML_LI("media_id", job->media_id), ML_LS("key", job->key),
         ML_LI("attempts", job->attempts + 1), ML_LERR(rc), ML_LS("detail", seb->msg),
         ML_LI("retry_in_ms", next - ml_now_ms()));
  if(eb && !eb->msg[0])
    ml_fail(eb, rc, "%s", seb->msg[0] ? seb->msg : ml_err_code(rc));
  return frc ? frc : rc;
}

/* Executes one job against the store and records the outcome. Returns
 * ML_OK when the job is finished (and deleted). */
static ml_err run_job(struct ml_jobs *j, struct ml_conn *c, const struct ml_job *job,
                      const char *rid, struct ml_errbuf *eb) {
  ml_err rc;
  int in_use = 0;
  struct ml_errbuf seb = {{0}};
  const char *outcome = "removed";
  const struct job_handler *h = handler_of(j, job->kind);

  if(h) {
    rc = h->fn(h->ctx, job, &seb);
    if(rc)
      return job_failed(j, c, job, rid, rc, &seb, eb);
    outcome = "done";
    goto finished;
  }
  if(strcmp(job->kind, ML_JOB_REMOVE_BLOB) && strcmp(job->kind, ML_JOB_ABORT_UPLOAD)) {
    /* A kind whose handler this process did not register: never take its
     * key for a blob's; leave it for a process that knows it. */
    ml_fail(&seb, ML_ERR_NOT_IMPLEMENTED, "no handler for jobs of kind %s", job->kind);
    return job_failed(j, c, job, rid, ML_ERR_NOT_IMPLEMENTED, &seb, eb);
  }
  rc = ml_repo_key_in_use(c, job->key, &in_use, eb);
  if(rc)
    return rc;
  if(!strcmp(job->kind, ML_JOB_ABORT_UPLOAD) && job->media_id) {
    /* The intent of an upload that never committed: the row is pending. */
    struct ml_arena *a = ml_arena_create(0);
    struct ml_media m;
    if(!a)
      return ML_ERR_NOMEM;
    rc = ml_repo_media_get(c, job->media_id, 1, a, &m, eb);
    if(rc == ML_OK && m.state == ML_MEDIA_ACTIVE && !strcmp(m.storage_key, job->key))
      in_use = 1;
    ml_arena_destroy(&a);
    if(rc && rc != ML_ERR_NOT_FOUND)
      return rc;
    rc = ML_OK;
  }
  if(in_use) {
    outcome = "kept: key in use";
  } else {
    /* A blob's removal carries the content type it was stored with. */
    rc = ml_store_remove_as(j->o.store, job->key, job->payload, &seb);
    if(rc)
      return job_failed(j, c, job, rid, rc, &seb, eb);
  }
finished:
  rc = ml_repo_begin(c, eb);
  if(!rc && !strcmp(job->kind, ML_JOB_ABORT_UPLOAD) && job->media_id && !in_use) {
    struct ml_arena *a = ml_arena_create(0);
    struct ml_media m;
    ml_err grc = a ? ml_repo_media_get(c, job->media_id, 1, a, &m, eb) : ML_ERR_NOMEM;
    if(grc == ML_OK && m.state == ML_MEDIA_PENDING)
      rc = ml_repo_media_delete(c, job->media_id, eb);
    else if(grc != ML_OK && grc != ML_ERR_NOT_FOUND)
      rc = grc;
    ml_arena_destroy(&a);
  }
  if(!rc) {
    rc = ml_repo_job_delete(c, job->id, eb);
    if(rc == ML_ERR_NOT_FOUND)
      rc = ML_OK; /* another runner finished it */
  }
  rc = ml_repo_end(c, rc, eb);
  if(!rc)
    atomic_fetch_add(&j->done_total, 1);
  ml_log(j->o.log, ML_LOG_INFO, rid, "job.done", ML_LS("kind", job->kind), ML_LI("job_id", job->id),
         ML_LI("media_id", job->media_id), ML_LS("key", job->key),
         ML_LI("attempts", job->attempts + 1), ML_LS("result", rc ? "error" : outcome),
         ML_LS("error", rc ? ml_err_code(rc) : NULL));
  return rc;
}

/* Runs the jobs once, then retries quickly until the deadline (monotonic
 * ns, fixed by the caller when it asked: a batch that starts late does not
 * hold its thread past the time its caller stopped waiting). The attempts
 * and the last error so far are also copied into *seen under mu, so a
 * caller that stops waiting can still tell what the store said. */
static ml_err run_batch(struct ml_jobs *j, const int64_t *ids, size_t n, uint64_t deadline,
                        const char *rid, struct ml_jobs_result *res, pthread_mutex_t *mu,
                        struct ml_jobs_result *seen) {
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  int *done = NULL;
  ml_err rc;
  struct ml_errbuf eb = {{0}};
  memset(res, 0, sizeof(*res));
  if(!a)
    return ML_ERR_NOMEM;
  done = ml_calloc(n ? n : 1, sizeof(*done));
  if(!done) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  rc = ml_repo_acquire(j->o.repo, &c, &eb);
  if(rc)
    goto out;
  for(int round = 0;; round++) {
    size_t left = 0;
    for(size_t i = 0; i < n; i++) {
      struct ml_job job;
      struct ml_errbuf jeb = {{0}};
      ml_err jrc;
      if(done[i])
        continue;
      jrc = ml_repo_job_get(c, ids[i], a, &job, &jeb);
      if(jrc == ML_ERR_NOT_FOUND) {
        done[i] = 1; /* finished by someone else */
        continue;
      }
      if(!jrc) {
        jrc = run_job(j, c, &job, rid, &jeb);
        if(job.attempts + 1 > res->attempts)
          res->attempts = job.attempts + 1; /* failures recorded so far + this one */
      }
      if(!jrc) {
        done[i] = 1;
        continue;
      }
      left++;
      snprintf(res->last_error, sizeof(res->last_error), "%s",
               jeb.msg[0] ? jeb.msg : ml_err_code(jrc));
    }
    pthread_mutex_lock(mu);
    *seen = *res;
    pthread_mutex_unlock(mu);
    if(!left || ml_mono_ns() >= deadline)
      break;
    {
      /* short pauses between inline attempts: 50, 100, 200 ms... */
      uint64_t pause = (uint64_t)50000000u << (round < 4 ? round : 4);
      uint64_t now = ml_mono_ns();
      struct timespec ts;
      /* An attempt begun at the deadline ends after the caller stopped
       * waiting (it gives 50 ms of slack), and its error would be lost:
       * "did not confirm" instead of the store's answer. Stop instead. */
      if(now + pause >= deadline)
        break;
      ts.tv_sec = (time_t)(pause / 1000000000u);
      ts.tv_nsec = (long)(pause % 1000000000u);
      nanosleep(&ts, NULL);
    }
  }
  for(size_t i = 0; i < n; i++) {
    if(done[i])
      res->done++;
    else
      res->pending++;
  }
  if(res->pending)
    ml_jobs_kick(j);
out:
  ml_repo_release(&c);
  ml_free(done);
  ml_arena_destroy(&a);
  return rc;
}

/* A batch run on the inline pool. The caller waits for it until the
 * deadline and then answers; a store call that stalls past the deadline
 * finishes on the pool and records its outcome in the outbox. Whoever of the
 * two lets go last frees the batch. */
struct batch {
  struct ml_jobs *j;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs;
  int finished;
  size_t n;
  uint64_t deadline_ns;       /* monotonic */
  struct ml_jobs_result seen; /* attempts and last error so far (under mu) */
  char rid[72];
  struct ml_jobs_result res;
  ml_err rc;
  int64_t ids[];
};

static void batch_release(struct batch *b) {
  int last;
  pthread_mutex_lock(&b->mu);
  last = --b->refs == 0;
  pthread_mutex_unlock(&b->mu);
  if(last) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    ml_free(b);
  }
}

static void batch_main(void *arg) {
  struct batch *b = arg;
  struct ml_jobs_result res;
  ml_err rc = run_batch(b->j, b->ids, b->n, b->deadline_ns, b->rid, &res, &b->mu, &b->seen);
  pthread_mutex_lock(&b->mu);
  b->res = res;
  b->rc = rc;
  b->finished = 1;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  batch_release(b);
}

ml_err ml_jobs_run_now(struct ml_jobs *j, const int64_t *ids, size_t n, int64_t deadline_ms,
                       const char *rid, struct ml_jobs_result *res) {
  struct batch *b = ml_calloc(1, sizeof(*b) + n * sizeof(int64_t));
  struct timespec until;
  ml_err rc;
  memset(res, 0, sizeof(*res));
  if(!b)
    return ML_ERR_NOMEM;
  b->j = j;
  b->refs = 2;
  b->n = n;
  b->deadline_ns = ml_mono_ns() + (uint64_t)deadline_ms * 1000000u;
  snprintf(b->rid, sizeof(b->rid), "%s", rid ? rid : "");
  memcpy(b->ids, ids, n * sizeof(int64_t));
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  if(ml_workers_submit(j->inline_pool, batch_main, b)) {
    b->refs = 1;
    batch_release(b);
    res->pending = n;
    res->attempts = 0;
    snprintf(res->last_error, sizeof(res->last_error), "too many removals in progress; queued");
    ml_jobs_kick(j);
    return ML_OK;
  }
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(deadline_ms / 1000);
  until.tv_nsec += (long)(deadline_ms % 1000) * 1000000L + 50 * 1000000L; /* 50 ms slack */
  while(until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&b->mu);
  while(!b->finished)
    if(pthread_cond_timedwait(&b->cv, &b->mu, &until))
      break;
  if(b->finished) {
    *res = b->res;
    rc = b->rc;
  } else {
    /* Still at it: what the store said so far, or that it said nothing. */
    res->pending = n;
    res->attempts = b->seen.attempts ? b->seen.attempts : 1;
    if(b->seen.last_error[0])
      memcpy(res->last_error, b->seen.last_error, sizeof(res->last_error));
    else
      snprintf(res->last_error, sizeof(res->last_error), "storage did not confirm within %lld ms",
               (long long)deadline_ms);
    rc = ML_OK;
  }
  pthread_mutex_unlock(&b->mu);
  batch_release(b);
  return rc;
}

/* One pass: claims due jobs and runs them; counts the runs and failures. */
static ml_err run_due(struct ml_jobs *j, size_t max, size_t *ran, size_t *failed,
                      struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_job *jobs = NULL;
  size_t n = 0;
  ml_err rc;
  *ran = *failed = 0;
  if(!a)
    return ML_ERR_NOMEM;
  rc = ml_repo_acquire(j->o.repo, &c, eb);
  if(rc)
    goto out;
  rc = ml_repo_job_claim(c, ml_now_ms(), j->o.lease_ms, max, a, &jobs, &n, eb);
  if(rc)
    goto out;
  for(size_t i = 0; i < n; i++) {
    struct ml_errbuf jeb = {{0}};
    if(run_job(j, c, &jobs[i], NULL, &jeb))
      (*failed)++;
    (*ran)++;
  }
out:
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  return rc;
}

ml_err ml_jobs_run_due(struct ml_jobs *j, size_t max, size_t *ran, struct ml_errbuf *eb) {
  size_t failed;
  return run_due(j, max, ran, &failed, eb);
}

static void add_failing(void *ctx, const char *kind, int64_t depth, int64_t failing) {
  (void)kind;
  (void)depth;
  *(int64_t *)ctx += failing;
}

/* How many queued jobs have failed at least once (-1 when unknown). */
static int64_t failing_jobs(struct ml_jobs *j) {
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  int64_t n = 0;
  if(ml_repo_acquire(j->o.repo, &c, &eb) || ml_repo_job_depth_by_kind(c, add_failing, &n, &eb))
    n = -1;
  ml_repo_release(&c);
  return n;
}

/* Makes up to limit backed-off jobs due now (limit <= 0: all). */
static void retry_now(struct ml_jobs *j, int64_t limit) {
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  int64_t changed = 0;
  if(!ml_repo_acquire(j->o.repo, &c, &eb))
    ml_repo_job_retry_now(c, ml_now_ms(), limit, &changed, &eb);
  ml_repo_release(&c);
  if(changed > 1)
    ml_log(j->o.log, ML_LOG_INFO, NULL, "jobs.recovered", ML_LI("rescheduled", changed));
}

void ml_jobs_counters(struct ml_jobs *j, int64_t *done, int64_t *failed) {
  *done = (int64_t)atomic_load(&j->done_total);
  *failed = (int64_t)atomic_load(&j->failed_total);
}

/* The background loop. Each job backs off on its own; but when the store
 * itself was down, every job is backed off at once, and recovery would wait
 * for the longest delay. So while failures are outstanding, each pass first
 * makes the one soonest-due failed job due now (a half-open probe, one store
 * call per poll); when the probe's pass succeeds, every backed-off job is
 * made due at once. */
static void *runner_main(void *arg) {
  struct ml_jobs *j = arg;
  atomic_store(&j->backlog, 1); /* a restart may find failed jobs */
  pthread_mutex_lock(&j->mu);
  while(!j->stopping) {
    size_t ran = 0, failed = 0;
    struct ml_errbuf eb = {{0}};
    int probing = atomic_load(&j->backlog);
    ml_err rc;
    j->kicked = 0;
    pthread_mutex_unlock(&j->mu);
    if(probing)
      retry_now(j, 1);
    rc = run_due(j, 32, &ran, &failed, &eb);
    if(rc)
      ml_log(j->o.log, ML_LOG_WARN, NULL, "jobs.poll_failed", ML_LERR(rc), ML_LS("detail", eb.msg));
    if(probing && !failed && !rc) {
      if(ran) {
        atomic_store(&j->backlog, 0);
        retry_now(j, 0); /* the store answers again: everything may go now */
      } else if(failing_jobs(j) == 0) {
        atomic_store(&j->backlog, 0); /* nothing failed is waiting */
      }
    }
    pthread_mutex_lock(&j->mu);
    /* More may be due: a full pass, new work, or a finished job whose
     * successor of the same kind and key may go now (ml_repo_job_claim). */
    if(ran == 32 || ran > failed || j->kicked || j->stopping)
      continue;
    {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += (time_t)(j->o.poll_ms / 1000);
      ts.tv_nsec += (long)(j->o.poll_ms % 1000) * 1000000L;
      if(ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

ml_err ml_jobs_start(struct ml_jobs *j) {
  if(pthread_create(&j->thread, NULL, runner_main, j))
    return ML_ERR_INTERNAL;
  j->running = 1;
  return ML_OK;
}

void ml_jobs_kick(struct ml_jobs *j) {
  pthread_mutex_lock(&j->mu);
  j->kicked = 1;
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
}

void ml_jobs_destroy(struct ml_jobs **jp) {
  struct ml_jobs *j;
  if(!jp || !*jp)
    return;
  j = *jp;
  if(j->running) {
    pthread_mutex_lock(&j->mu);
    j->stopping = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
  }
  ml_workers_destroy(&j->inline_pool); /* lets abandoned batches finish */
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  ml_free(j);
  *jp = NULL;
}
