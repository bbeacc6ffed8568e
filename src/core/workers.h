/*
 * workers.h - a bounded pool of threads for slow work.
 *
 * The HTTP event-loop threads must never block on fsync, commits or long
 * storage calls (DESIGN.md, note 7): such work is submitted here. The queue
 * is bounded; a full queue is refused at once (ML_ERR_BUSY) so the caller can
 * answer 503 instead of piling up work.
 */
#ifndef ML_CORE_WORKERS_H
#define ML_CORE_WORKERS_H

#include <stddef.h>

#include "core/err.h"

struct ml_workers;

/* nthreads >= 1; queue_max >= 1. */
ml_err ml_workers_create(int nthreads, size_t queue_max, struct ml_workers **out);
/* Runs fn(arg) on a worker. ML_ERR_BUSY when the queue is full, ML_ERR_NOMEM. */
ml_err ml_workers_submit(struct ml_workers *w, void (*fn)(void *arg), void *arg);
/* Finishes every queued task, joins the threads, frees; sets *w NULL. */
void ml_workers_destroy(struct ml_workers **w);
/* Tasks queued or running (for metrics). */
size_t ml_workers_pending(struct ml_workers *w);

#endif
