/*
 * store.h - the blob store: where file bytes live.
 *
 * One interface, several backends (local files now; S3 and Cloudinary later),
 * chosen by URL at start. Keys are made by the server, never by clients:
 * "m/<media id>/v<version>-<random>/original". Errors:
 *   ML_ERR_NOT_FOUND             no such blob (get only: remove treats
 *                                missing as success)
 *   ML_ERR_STORAGE_UNAVAILABLE   the store cannot be reached or refused
 *   ML_ERR_INSUFFICIENT_STORAGE  no space left
 *   ML_ERR_IO                    any other failure (eb says what)
 */
#ifndef ML_STORE_STORE_H
#define ML_STORE_STORE_H

#include <stdint.h>
#include <time.h>

#include "core/err.h"

struct ml_store;

/* An opened blob, for delivery. fd belongs to the caller (close it, or hand
 * it to a response that will). */
struct ml_blob {
  int fd;
  int64_t size;
  time_t mtime;
};

/* Opens the store named by url ("file:///abs/dir", "file://rel/dir").
 * faults is a test-only fault injection spec (NULL or "" for none; see
 * store_faults.c). */
ml_err ml_store_open(const char *url, const char *faults, struct ml_store **out,
                     struct ml_errbuf *eb);
void ml_store_close(struct ml_store **s);

/* A directory on the same file system as the blobs, where uploads are
 * spooled, so that put can rename instead of copy. */
const char *ml_store_spool_dir(const struct ml_store *s);

/* Stores the file at src_path under key, durably (data and directory entry
 * synced) before returning. The source file is consumed on success (renamed
 * or copied then unlinked); on failure it is left for the caller. */
ml_err ml_store_put(struct ml_store *s, const char *key, const char *src_path,
                    const char *content_type, struct ml_errbuf *eb);
/* Opens a blob for reading. */
ml_err ml_store_get(struct ml_store *s, const char *key, struct ml_blob *out, struct ml_errbuf *eb);
/* Removes a blob; a missing blob counts as removed (ML_OK). */
ml_err ml_store_remove(struct ml_store *s, const char *key, struct ml_errbuf *eb);
/* Calls cb for every blob whose key starts with prefix ("" for all);
 * cb returning non-zero stops the walk. */
ml_err ml_store_list(struct ml_store *s, const char *prefix,
                     int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                     void *ctx, struct ml_errbuf *eb);
/* Is the store reachable and writable? (readiness) */
ml_err ml_store_ping(struct ml_store *s, struct ml_errbuf *eb);

#endif
