/*
 * jobs.h - the outbox runner: finishes what must survive a crash.
 *
 * Outbox rows are written in the same transaction as the change that needs
 * them (media.c). This module executes them: at once for a request that
 * waits on them (DELETE, within a deadline), and in a background thread for
 * everything due, with exponential backoff and jitter, across restarts and
 * across instances (rows are claimed with a lease).
 *
 * Kinds:
 *   remove_blob   remove the blob at key, unless a media row uses the key
 *                 (then the job is obsolete and dropped)
 *   abort_upload  an upload intent: remove the blob at key and the pending
 *                 row media_id, unless the upload committed
 *   other kinds   run by the handler registered for them (ml_jobs_handle),
 *                 e.g. render_variant (the media domain renders key),
 *                 purge_url (jobs/purge.h), webhook (jobs/webhook.h); a
 *                 kind without a handler is failed and retried, never run
 *                 as a blob removal
 *
 * Jobs of one kind and key run one at a time in id order (the repository
 * claims only the oldest of them): webhooks rely on it for their order.
 */
#ifndef ML_JOBS_JOBS_H
#define ML_JOBS_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "db/repo.h"
#include "store/store.h"

#define ML_JOB_REMOVE_BLOB "remove_blob"
#define ML_JOB_ABORT_UPLOAD "abort_upload"
#define ML_JOB_RENDER_VARIANT "render_variant"

struct ml_jobs;

struct ml_jobs_opts {
  struct ml_repo *repo;
  struct ml_store *store;
  const struct ml_log *log;
  int64_t poll_ms;         /* background poll interval (default 500) */
  int64_t lease_ms;        /* claim lease (default 60000) */
  int64_t backoff_base_ms; /* first retry delay (default 1000) */
  int64_t backoff_max_ms;  /* cap (default 300000) */
};

ml_err ml_jobs_create(const struct ml_jobs_opts *o, struct ml_jobs **out);
/* Starts the background runner thread. */
ml_err ml_jobs_start(struct ml_jobs *j);
/* Stops the runner (finishing the job in hand) and frees; sets *j NULL. */
void ml_jobs_destroy(struct ml_jobs **j);
/* Registers the handler of a job kind other than the two above, before
 * ml_jobs_start (at most 8). The handler returns ML_OK when the job is
 * finished (it is then deleted) or an error (it is retried with backoff). */
ml_err ml_jobs_handle(struct ml_jobs *j, const char *kind,
                      ml_err (*fn)(void *ctx, const struct ml_job *job, struct ml_errbuf *eb),
                      void *ctx);
/* Wakes the runner now (new work was queued). */
void ml_jobs_kick(struct ml_jobs *j);

struct ml_jobs_result {
  size_t done;      /* jobs confirmed and deleted */
  size_t pending;   /* jobs still in the outbox */
  int64_t attempts; /* max attempts over the jobs */
  char last_error[ML_ERRBUF_SIZE];
};

/* Runs the given jobs (ids) now, retrying failures quickly until deadline_ms
 * has passed. Jobs not done stay queued with backoff for the runner. */
ml_err ml_jobs_run_now(struct ml_jobs *j, const int64_t *ids, size_t n, int64_t deadline_ms,
                       const char *request_id, struct ml_jobs_result *res);

/* Runs one pass of the background loop: claims due jobs and runs them.
 * Returns how many ran in *ran (for tests and for `medialib fsck`). */
ml_err ml_jobs_run_due(struct ml_jobs *j, size_t max, size_t *ran, struct ml_errbuf *eb);

/* Jobs finished and failed attempts since start (for /metrics). */
void ml_jobs_counters(struct ml_jobs *j, int64_t *done, int64_t *failed);

/* The delay before attempt number `attempts + 1`: base * 2^attempts capped
 * at max, then jittered into [delay/2, delay] by rnd (any 32-bit value). */
int64_t ml_jobs_backoff_ms(int64_t attempts, int64_t base_ms, int64_t max_ms, uint32_t rnd);

#endif
