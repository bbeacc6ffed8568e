/*
 * purge.h - cache purges: tells a caching proxy or CDN in front of medialib
 * (MEDIALIB_PURGE_URL) to drop the URLs of a replaced or deleted media.
 *
 * Purges are outbox jobs of kind ML_JOB_PURGE, queued by the domain in the
 * transaction that replaces or deletes, so a crash never loses one, and
 * retried with backoff until every cache acknowledged. Two methods:
 *
 *   purge  one job per URL path, key "purge:<path>": PURGE <base><path> to
 *          each cache; 2xx, or 404 (not cached), counts as done.
 *   ban    one job per media, key "ban:/media/<id>": BAN <base>/media/<id>,
 *          which the cache applies to that path and everything under it
 *          ("/media/42", "/media/42/...", "/media/42?..."); 2xx is done.
 *
 * The key says the method and the path, so a job queued before the
 * configuration changed still does what it was queued for. Keys never look
 * like blob keys ("m/..."), so fsck cannot take a purge for a blob's job.
 */
#ifndef ML_JOBS_PURGE_H
#define ML_JOBS_PURGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "db/repo.h"
#include "image/transform.h"

#define ML_JOB_PURGE "purge_url"

/* How many older versions' original URLs a delete purges (PURGE method):
 * their redirects may be cached by a cache that ignores no-cache. */
#define ML_PURGE_OLD_VERSIONS 8

struct ml_purge;

enum ml_purge_method { ML_PURGE_METHOD_PURGE = 0, ML_PURGE_METHOD_BAN = 1 };
enum ml_purge_event { ML_PURGE_REPLACE = 0, ML_PURGE_DELETE = 1 };

struct ml_purge_opts {
  const char *urls;   /* caches' base URLs, comma-separated ("" or NULL: off) */
  const char *method; /* "purge" (default) or "ban" */
  const char *host;   /* Host header of purge requests (the public host the
                          * cache keys objects by); "" or NULL: the target's */
  const struct ml_transform_presets *presets; /* preset URLs to purge; may be NULL */
  const struct ml_log *log;
};

/* Parses the options. ML_ERR_CONFIG, with the reason, for a method other
 * than purge and ban, or a URL that is not http(s)://host[:port][/path]. */
ml_err ml_purge_create(const struct ml_purge_opts *o, struct ml_purge **out, struct ml_errbuf *eb);
/* Sets *p NULL; NULL is a no-op. */
void ml_purge_destroy(struct ml_purge **p);
/* Is any cache configured? (p may be NULL) */
int ml_purge_enabled(const struct ml_purge *p);

/* The URL paths to purge, as the API hands them out (filename percent-
 * encoded like ml_api_file_path), without duplicates, in *paths (an arena
 * array of *n arena strings).
 *   replace of m (the media before it, at version n, filename f) to a new
 *     filename new_filename (NULL: f): /media/<id>, /media/<id>/<f> (and
 *     /media/<id>/<new_filename> when it differs), /media/<id>/v<n>/<f>,
 *     each preset's /media/<id>/v<n>/t_<preset>/<f> (renderable images
 *     with a size), each variant's /media/<id>/v<n>/<name>/<f> (variants of
 *     other versions are skipped).
 *   delete of m: the same (new_filename ignored), and the originals of up to
 *     ML_PURGE_OLD_VERSIONS older versions, /media/<id>/v<k>/<f>.
 * With ML_PURGE_METHOD_BAN, one prefix for either: /media/<id>.
 * presets may be NULL. ML_ERR_NOMEM. */
ml_err ml_purge_paths(enum ml_purge_method method, enum ml_purge_event ev, const struct ml_media *m,
                      const char *new_filename, const struct ml_variant *variants, size_t nvariants,
                      const struct ml_transform_presets *presets, struct ml_arena *a,
                      const char ***paths, size_t *n);

/* Inside the caller's transaction: queues the purge jobs of ml_purge_paths
 * (with p's method and presets), due now, leased until lease (0: none),
 * media_id m->id. *ids gets an arena array of the job ids, *n their count
 * (0 and ML_OK when p is NULL or has no cache). Repository errors. */
ml_err ml_purge_queue(struct ml_purge *p, struct ml_conn *c, enum ml_purge_event ev,
                      const struct ml_media *m, const char *new_filename,
                      const struct ml_variant *variants, size_t nvariants, int64_t now,
                      int64_t lease, struct ml_arena *a, int64_t **ids, size_t *n,
                      struct ml_errbuf *eb);

/* The outbox handler of ML_JOB_PURGE (ctx: the struct ml_purge): sends the
 * job's request to every cache. ML_OK when each acknowledged; otherwise the
 * first failure (ML_ERR_IO, ML_ERR_TIMEOUT, with the cache's status in eb)
 * and the job is retried (every cache again: purges are idempotent). A job
 * whose key is not a purge's, or queued while caches were configured that
 * are not any more, is dropped (ML_OK, logged). */
ml_err ml_purge_job(void *ctx, const struct ml_job *job, struct ml_errbuf *eb);

#endif
