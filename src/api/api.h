/*
 * api.h - HTTP handlers, one file per resource, registered on a router.
 *
 * Handlers parse and validate HTTP input, call the domain (src/media), and
 * format answers. They never touch SQL or storage directly.
 */
#ifndef ML_API_API_H
#define ML_API_API_H

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
};

ml_err ml_api_media_register(struct ml_router *rt, struct ml_api *api);
ml_err ml_api_files_register(struct ml_router *rt, struct ml_api *api);
ml_err ml_api_ops_register(struct ml_router *rt, struct ml_api *api);

/* Shared helpers (api.c). */
/* The base of absolute URLs: MEDIALIB_PUBLIC_URL or http://<Host>. */
const char *ml_api_base_url(struct ml_api *api, struct ml_req *r);
/* Writes: ML_OK when allowed; else answers 401 and returns the error. */
ml_err ml_api_require_writer(struct ml_api *api, struct ml_req *r);
/* Parses a positive decimal id; ML_ERR_NOT_FOUND for anything else. */
ml_err ml_api_parse_id(const char *s, int64_t *id);
/* Appends "/media/<id>/v<version>/<encoded filename>" (no base). */
ml_err ml_api_media_path(struct ml_buf *b, const struct ml_media *m);
/* Appends the media object of API.md. */
ml_err ml_api_media_json(struct ml_buf *b, const struct ml_media *m, const char *base);
/* Maps a domain error to an answer, with eb's message when there is one. */
void ml_api_fail(struct ml_req *r, ml_err e, const struct ml_errbuf *eb);

/* JSON body of PATCH (media_json.c): validates into meta. ML_ERR_BAD_REQUEST
 * (msg says where the JSON is broken), ML_ERR_VALIDATION (fe). */
ml_err ml_api_meta_from_json(const char *data, size_t len, struct ml_arena *a,
                             struct ml_media_meta *meta, struct ml_field_errors *fe,
                             char *msg, size_t msglen);

#endif
