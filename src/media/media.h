/*
 * media.h - the domain: upload, replace, update, delete, get, list.
 *
 * The consistency rules of DESIGN.md live here. Upload: the body is spooled
 * to a temp file while hashing; its type is sniffed from content; an outbox
 * intent ("remove this key unless the upload commits") and a pending row are
 * committed before the blob is stored; the transaction that activates the
 * row deletes the intent. Replace: the same for the new version, and the
 * activating transaction queues removal of the old version's blob. Delete:
 * one transaction deletes the row and queues removal of every blob, then the
 * removals run at once within a deadline and the caller learns whether the
 * storage is clean or still pending. Nothing here knows HTTP.
 */
#ifndef ML_MEDIA_MEDIA_H
#define ML_MEDIA_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "db/repo.h"
#include "image/transform.h"
#include "store/store.h"

struct ml_media_svc;
struct ml_upload;
struct ml_jobs;
struct ml_renderd;
struct ml_purge;
struct ml_webhooks;

struct ml_media_deps {
  struct ml_repo *repo;
  struct ml_store *store;
  struct ml_jobs *jobs; /* runs outbox jobs; may be NULL (then inline only) */
  const struct ml_log *log;
  int64_t max_upload; /* bytes */
  int64_t delete_deadline_ms;
  int64_t intent_delay_ms;   /* an upload intent may run after this long */
  int64_t max_pixels;        /* images: width x height refused above this */
  int64_t max_frames;        /* images: frames refused above this */
  int64_t delivery_cache_ms; /* time to live of the delivery cache; 0: off */
  /* Images: the preset table (owned by the caller, read-only) and the
   * presets rendered in the background after an upload or replace (names,
   * comma-separated; "" for none). */
  const struct ml_transform_presets *presets;
  const char *eager_presets;
  struct ml_renderd *renderer; /* render worker processes; NULL: images are not rendered */
  /* Cache purges (jobs/purge.h) queued with replace and delete, and
   * webhooks (jobs/webhook.h) queued with every change; NULL: none. */
  struct ml_purge *purge;
  struct ml_webhooks *webhooks;
  /* How long a replaced version's blobs stay for downloads under way
   * before their removal runs (ms; 0: at once). */
  int64_t replaced_grace_ms;
};

ml_err ml_media_svc_create(const struct ml_media_deps *d, struct ml_media_svc **out,
                           struct ml_errbuf *eb);
void ml_media_svc_destroy(struct ml_media_svc **s);

/* Client-supplied metadata. NULL fields were not given (left unchanged on
 * update, empty on create). */
struct ml_media_meta {
  const char *title;
  const char *alt_text;
  const char *caption;
  const char *folder;
  const char *tags;     /* normalized: trimmed, unique, joined by ',' */
  const char *filename; /* cleaned */
};

/* Validates and sets one field ("title", "alt_text", "caption", "folder",
 * "tags", "filename") from len bytes of value. Tags accumulate across calls
 * (repeated fields) and are split on commas. Unknown names are ignored
 * (returns ML_OK). A bad value adds to fe and returns ML_ERR_VALIDATION. */
ml_err ml_meta_set(struct ml_media_meta *m, struct ml_arena *a, const char *field,
                   const char *value, size_t len, struct ml_field_errors *fe);
/* Sets tags to none (for an update that clears them). */
void ml_meta_clear_tags(struct ml_media_meta *m);

/* Upload spool: a temp file beside the blobs, hashed as it is written. */
ml_err ml_upload_begin(struct ml_media_svc *s, struct ml_upload **out, struct ml_errbuf *eb);
/* ML_ERR_TOO_LARGE past max_upload; ML_ERR_INSUFFICIENT_STORAGE; ML_ERR_IO. */
ml_err ml_upload_write(struct ml_upload *u, const void *data, size_t len, struct ml_errbuf *eb);
int64_t ml_upload_size(const struct ml_upload *u);
/* Removes the temp file (if still there) and frees; sets *u NULL. */
void ml_upload_discard(struct ml_upload **u);
/* Removes spool files of processes that died mid-upload; *removed counts them. */
void ml_upload_sweep(struct ml_media_svc *s, int *removed);

/* Creates a media from a complete upload (consumed on success). Errors:
 * ML_ERR_UNSUPPORTED_MEDIA_TYPE (sniffed type not allowed; eb names it),
 * ML_ERR_VALIDATION (fe), ML_ERR_STORAGE_UNAVAILABLE,
 * ML_ERR_INSUFFICIENT_STORAGE, ML_ERR_DB. */
ml_err ml_media_create(struct ml_media_svc *s, struct ml_upload *u,
                       const struct ml_media_meta *meta, const char *request_id, struct ml_arena *a,
                       struct ml_media *out, struct ml_errbuf *eb);
/* Replaces the file of media id (new version) and applies meta. Also
 * ML_ERR_NOT_FOUND, ML_ERR_CONFLICT (a concurrent replace won). */
ml_err ml_media_replace(struct ml_media_svc *s, int64_t id, struct ml_upload *u,
                        const struct ml_media_meta *meta, const char *request_id,
                        struct ml_arena *a, struct ml_media *out, struct ml_errbuf *eb);
/* Metadata only; the version does not change. */
ml_err ml_media_update(struct ml_media_svc *s, int64_t id, const struct ml_media_meta *meta,
                       const char *request_id, struct ml_arena *a, struct ml_media *out,
                       struct ml_errbuf *eb);

struct ml_delete_result {
  int storage_deleted;             /* 1: every blob confirmed removed; 0: pending */
  int64_t attempts;                /* removal attempts so far (max over the blobs) */
  char last_error[ML_ERRBUF_SIZE]; /* "" when none */
  int64_t purges;                  /* cache purges queued (0: no cache configured) */
  int64_t purges_pending;          /* of those, not acknowledged within the deadline */
};
/* Deletes the row and queues the removal of its blobs, the cache purges of
 * its URLs and the media.deleted webhook, then runs the removals and then
 * the purges, each for up to delete_deadline_ms. ML_ERR_NOT_FOUND when there
 * is no such media. */
ml_err ml_media_delete(struct ml_media_svc *s, int64_t id, const char *request_id,
                       struct ml_delete_result *res, struct ml_errbuf *eb);

ml_err ml_media_get(struct ml_media_svc *s, int64_t id, struct ml_arena *a, struct ml_media *out,
                    struct ml_errbuf *eb);
ml_err ml_media_list(struct ml_media_svc *s, const struct ml_media_filter *f, struct ml_arena *a,
                     struct ml_media **items, size_t *n, int64_t *count, struct ml_errbuf *eb);
/* What file delivery needs of an active media, from a short-lived cache
 * (dcache.c): strings besides filename, mime type and key are "". */
ml_err ml_media_get_for_delivery(struct ml_media_svc *s, int64_t id, struct ml_arena *a,
                                 struct ml_media *out, struct ml_errbuf *eb);
/* Opens the current blob of m for delivery: an fd (local store) or a
 * stream (remote store, store.h); close with ml_blob_close. */
ml_err ml_media_open_blob(struct ml_media_svc *s, const struct ml_media *m, struct ml_blob *out,
                          struct ml_errbuf *eb);
/* A URL where the client may fetch the blob at key itself, valid *max_age
 * seconds, when the store hands them out (ml_store_delivery_url);
 * ML_ERR_NOT_IMPLEMENTED when the bytes are to be sent by us. */
ml_err ml_media_blob_url(struct ml_media_svc *s, const char *key, const char *mime,
                         const char *disposition, struct ml_buf *out, int64_t *max_age,
                         struct ml_errbuf *eb);

/* ---- variants: derived images (image/transform.h, API.md "File delivery") ---- */

/* A variant to serve or render: a transform resolved against one media. */
struct ml_variant_plan {
  struct ml_transform t;                 /* the parsed transform, format made concrete */
  struct ml_transform_dims dims;         /* the output size */
  char name[ML_TRANSFORM_CANONICAL_MAX]; /* canonical form: names the variant */
  const char *mime_type;                 /* of the output */
  const char *ext;                       /* "jpg", "png", "webp", "avif" */
};

/* Where the store serves t of m itself (Cloudinary with delivery=redirect:
 * a Cloudinary transformation URL), and how long a redirect to it may be
 * cached. ML_ERR_NOT_IMPLEMENTED when the store does not: render it. */
ml_err ml_media_transform_url(struct ml_media_svc *s, const struct ml_media *m,
                              const struct ml_transform *t, struct ml_buf *out, int64_t *max_age,
                              struct ml_errbuf *eb);
/* Can variants be made of this type? (JPEG, PNG, WebP, GIF, AVIF, HEIF, TIFF) */
int ml_media_renderable(const char *mime);

/* Resolves t for m and a request's Accept header (may be NULL). *varies is
 * set when the choice depends on Accept (f_auto). ML_ERR_UNSUPPORTED_MEDIA_TYPE
 * when m is not a renderable image; ML_ERR_INVALID_IMAGE when its size is
 * unknown. */
ml_err ml_media_variant_plan(const struct ml_media *m, const struct ml_transform *t,
                             const char *accept, struct ml_variant_plan *out, int *varies,
                             struct ml_errbuf *eb);

/* The variant already rendered, if any: ML_ERR_NOT_FOUND when not yet. One
 * indexed read: cheap enough for the event loop. */
ml_err ml_media_variant_find(struct ml_media_svc *s, const struct ml_media *m,
                             const struct ml_variant_plan *p, struct ml_arena *a,
                             struct ml_variant *out, struct ml_errbuf *eb);

/* The variant, rendered now if it is not yet (blocking: call from a worker).
 * Concurrent calls for the same variant wait for one render (single
 * flight). The blob is written like an upload's (an outbox intent first, so
 * a crash leaves nothing behind) under the version's key prefix, and the
 * row is recorded only while m's version is still current: a variant of a
 * replaced or deleted media is removed at once and the call answers
 * ML_ERR_NOT_FOUND. Errors of the renderer (ML_ERR_INVALID_IMAGE, ...), of
 * the store and of the repository. */
ml_err ml_media_variant_get(struct ml_media_svc *s, const struct ml_media *m,
                            const struct ml_variant_plan *p, const char *request_id,
                            struct ml_arena *a, struct ml_variant *out, struct ml_errbuf *eb);

/* Opens a variant's blob for delivery. */
ml_err ml_media_open_variant(struct ml_media_svc *s, const struct ml_variant *v,
                             struct ml_blob *out, struct ml_errbuf *eb);

/* The outbox handler of ML_JOB_RENDER_VARIANT (eager presets): renders the
 * variant named by the job's key if its media is still at that version.
 * Images that cannot be rendered are given up (ML_OK, logged); store and
 * database failures return their error, so the job is retried. */
ml_err ml_media_render_job(void *svc, const struct ml_job *job, struct ml_errbuf *eb);

/* Delivery rules by type (TESTING.md U4). */
int ml_media_is_raster_image(const char *mime);
int ml_media_inline_ok(const char *mime); /* raster images and PDF */

#endif
