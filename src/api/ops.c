/* ops.c - /healthz, /readyz, /metrics: for load balancers and Prometheus. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "jobs/purge.h"
#include "jobs/webhook.h"
#include "core/timeutil.h"

static struct ml_api *api_of(struct ml_req *r) { return r->route->ctx; }

static void healthz_complete(struct ml_req *r) {
  struct ml_buf b;
  ml_buf_init(&b, 64);
  if(ml_buf_adds(&b, "{\"status\":\"ok\"}")) {
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  ml_req_json(r, 200, &b);
}

static void readyz_work(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf deb = {{0}}, seb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_buf b;
  ml_err drc = ml_repo_acquire(api->repo, &c, &deb), src;
  if(!drc)
    drc = ml_repo_ping(c, &deb);
  ml_repo_release(&c);
  src = ml_store_ping(api->store, &seb);
  ml_buf_init(&b, 4096);
  if(ml_buf_addf(&b, "{\"status\":\"%s\",\"database\":\"%s\",\"storage\":\"%s\"}",
                 drc || src ? "unavailable" : "ok", drc ? ml_err_code(drc) : "ok",
                 src ? ml_err_code(src) : "ok")) {
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  if(drc || src)
    ml_req_note_error(r, drc ? drc : src, drc ? deb.msg : seb.msg);
  ml_req_json(r, drc || src ? 503 : 200, &b);
}

static void readyz_complete(struct ml_req *r) { ml_req_defer(r, readyz_work); }

/* Every kind this build queues has its series, 0 when none is queued, so a
 * dashboard or an alert on a kind never sees it vanish. */
static const char *const known_kinds[] = {ML_JOB_ABORT_UPLOAD, ML_JOB_PURGE, ML_JOB_REMOVE_BLOB,
                                          ML_JOB_RENDER_VARIANT, ML_JOB_WEBHOOK};
#define NKNOWN (sizeof(known_kinds) / sizeof(known_kinds[0]))

struct kind_lines {
  struct ml_buf *b;
  ml_err rc;
  int seen[NKNOWN];
};

static void kind_line(void *ctx, const char *kind, int64_t depth, int64_t failing) {
  struct kind_lines *k = ctx;
  for(size_t i = 0; i < NKNOWN; i++)
    if(!strcmp(kind, known_kinds[i]))
      k->seen[i] = 1;
  if(!k->rc)
    k->rc = ml_buf_addf(k->b,
                        "medialib_outbox_jobs{kind=\"%s\"} %lld\n"
                        "medialib_outbox_jobs_failing{kind=\"%s\"} %lld\n",
                        kind, (long long)depth, kind, (long long)failing);
}

static void metrics_work(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct ml_buf b;
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  int64_t depth = 0, oldest = 0, done = 0, failed = 0;
  ml_err rc;
  ml_buf_init(&b, 4 * 1024 * 1024);
  rc = ml_metrics_format(api->metrics, &b);
  ml_jobs_counters(api->jobs, &done, &failed);
  if(!rc)
    rc = ml_buf_addf(&b,
                     "# HELP medialib_jobs_done_total Outbox jobs finished by this instance.\n"
                     "# TYPE medialib_jobs_done_total counter\nmedialib_jobs_done_total %lld\n"
                     "# HELP medialib_job_failures_total Failed job attempts by this instance.\n"
                     "# TYPE medialib_job_failures_total counter\n"
                     "medialib_job_failures_total %lld\n",
                     (long long)done, (long long)failed);
  if(!rc && !ml_repo_acquire(api->repo, &c, &eb) && !ml_repo_job_stats(c, &depth, &oldest, &eb)) {
    double age = oldest ? (double)(ml_now_ms() - oldest) / 1000.0 : 0.0;
    struct kind_lines k = {&b, ML_OK, {0}};
    rc = ml_buf_addf(&b,
                     "# HELP medialib_outbox_depth Outbox jobs not yet done.\n"
                     "# TYPE medialib_outbox_depth gauge\nmedialib_outbox_depth %lld\n"
                     "# HELP medialib_outbox_oldest_age_seconds Age of the oldest job.\n"
                     "# TYPE medialib_outbox_oldest_age_seconds gauge\n"
                     "medialib_outbox_oldest_age_seconds %.3f\n"
                     "# HELP medialib_outbox_jobs Outbox jobs by kind, and those failing.\n"
                     "# TYPE medialib_outbox_jobs gauge\n"
                     "# TYPE medialib_outbox_jobs_failing gauge\n",
                     (long long)depth, age < 0 ? 0.0 : age);
    if(!rc && !ml_repo_job_depth_by_kind(c, kind_line, &k, &eb)) {
      for(size_t i = 0; i < NKNOWN; i++)
        if(!k.seen[i])
          kind_line(&k, known_kinds[i], 0, 0);
      rc = k.rc;
    }
  }
  ml_repo_release(&c);
  if(rc) {
    ml_buf_free(&b);
    ml_req_error(r, rc, NULL, NULL);
    return;
  }
  ml_req_body(r, 200, &b, "text/plain; version=0.0.4");
}

static void metrics_complete(struct ml_req *r) { ml_req_defer(r, metrics_work); }

ml_err ml_api_ops_register(struct ml_router *rt, struct ml_api *api) {
  const struct ml_route routes[] = {
      {ML_M_GET, "/healthz", "ops.healthz", NULL, NULL, healthz_complete, NULL, api},
      {ML_M_GET, "/readyz", "ops.readyz", NULL, NULL, readyz_complete, NULL, api},
      {ML_M_GET, "/metrics", "ops.metrics", NULL, NULL, metrics_complete, NULL, api},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
