/*
 * api.h - HTTP handlers, one file per resource, registered on a router.
 *
 * Handlers parse and validate HTTP input, call the domain (src/media), and
 * format answers. They never touch SQL or storage directly.
 */
#ifndef ML_API_API_H
#define ML_API_API_H

#include <jansson.h>

#include "api/admin.h"
#include "auth/auth.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "db/repo.h"
#include "http/metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "media/media.h"
#include "store/store.h"

struct ml_api {
  const struct ml_config *cfg;
  const struct ml_log *log;
  struct ml_media_svc *media;
  struct ml_repo *repo;
  struct ml_store *store;
  struct ml_metrics *metrics;
  struct ml_jobs *jobs;
  struct ml_auth *auth;                       /* users, logins, tokens; NULL: every token refused */
  const struct ml_transform_presets *presets; /* image presets; NULL: none */
  struct ml_workers *render_pool;             /* renders variants; NULL: the server's */
};

ml_err ml_api_media_register(struct ml_router *rt, struct ml_api *api);
ml_err ml_api_files_register(struct ml_router *rt, struct ml_api *api);
ml_err ml_api_ops_register(struct ml_router *rt, struct ml_api *api);
/* POST /api/token/, /api/token/refresh/, /api/token/revoke/ (auth.c). */
ml_err ml_api_auth_register(struct ml_router *rt, struct ml_api *api);
/* /api/users/ and /api/users/me/ (users.c). */
ml_err ml_api_users_register(struct ml_router *rt, struct ml_api *api);
/* The admin UI at /admin/ is ml_api_admin_register (admin.h). */

/* Shared helpers (api.c). */
/* The base of absolute URLs: MEDIALIB_PUBLIC_URL or http://<Host>. */
const char *ml_api_base_url(struct ml_api *api, struct ml_req *r);
/* Authorization: ML_OK when the request's bearer token belongs to an
 * enabled user whose role is at least need (who, when not NULL, gets the
 * user). Otherwise answers and returns the error: 401 with
 * "WWW-Authenticate: Bearer" when there is no token, with
 * 'Bearer error="invalid_token"' for a bad, expired or revoked one; 403 for
 * a role below need; 503 when the database cannot say. Checks a signature
 * and reads one row: fine on the event loop (on_headers). With
 * MEDIALIB_INSECURE_OPEN_WRITES (a test switch), a request without a token
 * passes up to the editor role as nobody (who->user_id 0). */
ml_err ml_api_require_role(struct ml_api *api, struct ml_req *r, enum ml_role need,
                           struct ml_principal *who);
/* Reads of the API: public, or a viewer's when MEDIALIB_PRIVATE_API is on. */
ml_err ml_api_require_reader(struct ml_api *api, struct ml_req *r);
/* Answers 401 'Bearer error="invalid_token"' with message. */
void ml_api_invalid_token(struct ml_req *r, const char *message);

/* Signs a transform URL ("https://host/media/42/v3/w_300,h_200/a.jpg" or its
 * path alone) for `medialib sign`: out gets the same URL with "s_<sig>/" and
 * the canonical transform in place of the transform segment. The signature
 * covers the canonical transform and "/media/42/v3/<filename>", as
 * files.c checks it. ML_ERR_BAD_REQUEST with the reason for anything else. */
ml_err ml_api_sign_url(const char *url, const unsigned char *key, size_t keylen,
                       const struct ml_transform_presets *presets, struct ml_buf *out,
                       struct ml_errbuf *eb);

/* Small JSON request bodies (token and user endpoints), bounded by
 * MEDIALIB_MAX_JSON_BODY. begin (on_headers) checks the Content-Type and a
 * declared length, and sets up body; feed (on_body) appends; parse
 * (on_complete) returns the root object, or answers 400 and returns NULL.
 * Each answers its own errors. wipe zeroes and frees the body (it may hold
 * a password). */
ml_err ml_api_json_begin(struct ml_api *api, struct ml_req *r, struct ml_buf *body);
ml_err ml_api_json_feed(struct ml_req *r, struct ml_buf *body, const char *data, size_t len);
json_t *ml_api_json_parse(struct ml_req *r, const struct ml_buf *body);
void ml_api_json_wipe(struct ml_buf *body);
/* Zeroes a Jansson string's bytes in place, before the value is freed. */
void ml_api_json_wipe_string(json_t *s);
/* Parses a positive decimal id; ML_ERR_NOT_FOUND for anything else. */
ml_err ml_api_parse_id(const char *s, int64_t *id);
/* Appends "/media/<id>/v<version>/<encoded filename>" (no base). */
ml_err ml_api_media_path(struct ml_buf *b, const struct ml_media *m);
/* Appends the quoted absolute URL of page `page` of a list (ctx is the
 * list's own parameters). */
typedef ml_err (*ml_api_page_link_fn)(struct ml_buf *b, const void *ctx, int64_t page);
/* Opens a page in Django REST Framework's shape,
 * {"count":N,"next":URL|null,"previous":URL|null,"results":[ ; the caller
 * appends the items and then "]}". */
ml_err ml_api_page_open(struct ml_buf *b, int64_t count, int64_t page, int has_next,
                        ml_api_page_link_fn link, const void *ctx);
/* Appends the media object of API.md; its "variants" are the URLs of the
 * presets (none for files that are not renderable images, or presets NULL). */
ml_err ml_api_media_json(struct ml_buf *b, const struct ml_media *m, const char *base,
                         const struct ml_transform_presets *presets);
/* Appends "/media/<id>/v<version>/[<sig>/]<transform>/<encoded filename>";
 * sig may be NULL, transform NULL for the original's path. */
ml_err ml_api_file_path(struct ml_buf *b, const struct ml_media *m, const char *sig,
                        const char *transform);
/* Maps a domain error to an answer, with eb's message when there is one. */
void ml_api_fail(struct ml_req *r, ml_err e, const struct ml_errbuf *eb);

/* JSON body of PATCH (media_json.c): validates into meta. ML_ERR_BAD_REQUEST
 * (msg says where the JSON is broken), ML_ERR_VALIDATION (fe). */
ml_err ml_api_meta_from_json(const char *data, size_t len, struct ml_arena *a,
                             struct ml_media_meta *meta, struct ml_field_errors *fe, char *msg,
                             size_t msglen);

#endif
