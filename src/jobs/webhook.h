/*
 * webhook.h - webhooks: media.created, media.updated, media.replaced and
 * media.deleted, POSTed as signed JSON to each MEDIALIB_WEBHOOK_URL.
 *
 * An event is an outbox job of kind ML_JOB_WEBHOOK per endpoint, queued by
 * the domain in the transaction of the change (a crash never loses one),
 * delivered by the background runner (never while the API answers), and
 * retried with backoff until the endpoint answers 2xx. Its payload is the
 * event body, fixed when queued: a redelivery sends the same bytes, with
 * the same event id, signed anew.
 *
 * Order per media: the job key is "webhook:<endpoint>:<media id>" and the
 * outbox hands out jobs of one kind and key one at a time, oldest first
 * (ml_repo_job_claim), so an endpoint never gets a later event of a media
 * before an earlier one has been acknowledged; media are independent, and
 * so are endpoints (<endpoint> is the first 12 hex digits of the SHA-256 of
 * its URL, so URLs, which may carry credentials, stay out of keys and logs).
 *
 * media.deleted carries the final storage status: its job waits (retried
 * with backoff) until no remove_blob job of the media is left, then says
 * {"id": N, "deleted": true, "storage": {"status": "deleted"}}.
 *
 * Body: {"id": "evt_<16 hex>", "type": "media.created", "created_at":
 * "<RFC 3339>", "data": <media object of API.md, or the delete's object>}.
 * Signature header (Stripe's scheme): Medialib-Signature: t=<unix seconds>,
 * v1=<hex HMAC-SHA256 of "<t>.<body>" with MEDIALIB_WEBHOOK_SECRET>.
 */
#ifndef ML_JOBS_WEBHOOK_H
#define ML_JOBS_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "db/repo.h"
#include "image/transform.h"

#define ML_JOB_WEBHOOK "webhook"
#define ML_WEBHOOK_SECRET_MIN 16
/* "t=" 20 digits ",v1=" 64 hex and a NUL */
#define ML_WEBHOOK_SIG_MAX 96

struct ml_webhooks;

/* Appends the media object of API.md (ml_api_media_json; main wires it in,
 * so this module does not depend on the API layer). */
typedef ml_err (*ml_webhook_media_json_fn)(struct ml_buf *b, const struct ml_media *m,
                                           const char *base,
                                           const struct ml_transform_presets *presets);

struct ml_webhook_opts {
  const char *urls;     /* endpoints, comma-separated ("" or NULL: off) */
  const char *secret;   /* HMAC key, >= ML_WEBHOOK_SECRET_MIN bytes when urls are set */
  const char *base_url; /* base of the media URLs in events (MEDIALIB_PUBLIC_URL) */
  const struct ml_transform_presets *presets;
  ml_webhook_media_json_fn media_json;
  struct ml_repo *repo; /* the delete event's wait */
  const struct ml_log *log;
};

/* Copies what it needs of o. ML_ERR_CONFIG with the reason: a URL that is
 * not http(s)://, more than 8 endpoints, a missing or short secret. */
ml_err ml_webhook_create(const struct ml_webhook_opts *o, struct ml_webhooks **out,
                         struct ml_errbuf *eb);
/* Wipes the secret; sets *w NULL; NULL is a no-op. */
void ml_webhook_destroy(struct ml_webhooks **w);
/* Is any endpoint configured? (w may be NULL) */
int ml_webhook_enabled(const struct ml_webhooks *w);

/* Inside the caller's transaction: queues event `type` of media_id to every
 * endpoint, due now. m is the media after the change (NULL for
 * "media.deleted"). ML_OK and nothing queued when w is NULL or off.
 * Repository errors, ML_ERR_NOMEM, ML_ERR_INTERNAL (no randomness). */
ml_err ml_webhook_queue(struct ml_webhooks *w, struct ml_conn *c, const char *type,
                        int64_t media_id, const struct ml_media *m, int64_t now,
                        struct ml_errbuf *eb);

/* Pure parts, for tests. */
/* Appends {"id":event_id,"type":type,"created_at":"<RFC 3339 of
 * created_at_ms>","data":<data_json>} (data_json is valid JSON, copied). */
ml_err ml_webhook_event_json(struct ml_buf *b, const char *event_id, const char *type,
                             int64_t created_at_ms, const char *data_json);
/* Appends the data of a delete: {"id":N,"deleted":true,"storage":{"status":"deleted"}}. */
ml_err ml_webhook_deleted_json(struct ml_buf *b, int64_t media_id);
/* Writes "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>." body)>" into out.
 * ML_ERR_INTERNAL when OpenSSL fails. */
ml_err ml_webhook_sign(const char *secret, size_t secret_len, int64_t t, const char *body,
                       size_t body_len, char out[ML_WEBHOOK_SIG_MAX]);
/* The endpoint id of a URL: 12 lowercase hex digits and a NUL. */
void ml_webhook_endpoint_id(const char *url, char out[13]);

/* The outbox handler of ML_JOB_WEBHOOK (ctx: the struct ml_webhooks):
 * POSTs the payload, signed, to the job's endpoint. ML_OK on 2xx; ML_ERR_BUSY
 * while a media.deleted waits for its storage; ML_ERR_IO (the status in eb)
 * or ML_ERR_TIMEOUT otherwise, and the job is retried. A job whose endpoint
 * is no longer configured is dropped (ML_OK, logged). */
ml_err ml_webhook_job(void *ctx, const struct ml_job *job, struct ml_errbuf *eb);

#endif
