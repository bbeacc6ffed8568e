/*
 * fsck.h - the reconciler: compares the blob store with the database.
 *
 * An orphan is a blob that no media row uses and no outbox job will remove,
 * older than a grace period. A missing blob is an active row whose blob is
 * gone. In a correct system both counts are zero; with repair, orphans are
 * removed and rows with missing blobs are marked (state "missing", so they
 * answer 404 instead of failing on every download).
 */
#ifndef ML_JOBS_FSCK_H
#define ML_JOBS_FSCK_H

#include <stdint.h>

#include "core/err.h"
#include "db/repo.h"
#include "store/store.h"

struct ml_fsck_opts {
  int repair;
  int64_t grace_ms; /* blobs younger than this are never orphans */
  /* Called for every blob and row checked (progress), may be NULL. */
  void (*progress)(void *ctx, int64_t blobs, int64_t rows);
  /* Called for every problem: kind "orphan" or "missing". May be NULL. */
  void (*problem)(void *ctx, const char *kind, const char *key, int64_t media_id, int repaired);
  void *ctx;
};

struct ml_fsck_report {
  int64_t blobs;   /* blobs listed */
  int64_t rows;    /* active rows checked */
  int64_t pending; /* blobs with a pending outbox job (not orphans) */
  int64_t young;   /* unreferenced blobs inside the grace period */
  int64_t orphans;
  int64_t missing;
  int64_t repaired;
};

ml_err ml_fsck_run(struct ml_repo *repo, struct ml_store *store, const struct ml_fsck_opts *o,
                   struct ml_fsck_report *rep, struct ml_errbuf *eb);

#endif
