/*
 * repo.c - the repository's front: picks the backend by URL scheme, keeps
 * the connection pool, and dispatches every call through the backend's ops
 * table. Nothing here knows SQL; a new backend needs no change here beyond
 * one line in the backends table.
 */
#include "db/repo_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"

static const struct ml_repo_ops *const backends[] = {
    &ml_repo_sqlite_ops,
    &ml_repo_pg_ops,
};

/* The length of the URL prefix of ops that url starts with, or 0. */
static size_t scheme_match(const struct ml_repo_ops *ops, const char *url) {
  size_t n = strlen(ops->scheme);
  if(!strncmp(url, ops->scheme, n))
    return n;
  if(ops->alias) {
    n = strlen(ops->alias);
    if(!strncmp(url, ops->alias, n))
      return n;
  }
  return 0;
}

/* Tears down whatever open got to: idle connections, pool, backend. */
static void repo_free(struct ml_repo *r) {
  int i;
  for(i = 0; i < r->nidle; i++)
    r->ops->conn_close(r->idle[i]);
  r->nidle = 0;
  ml_free(r->idle);
  r->idle = NULL;
  if(r->pool_ready) {
    pthread_cond_destroy(&r->freed);
    pthread_mutex_destroy(&r->lock);
    r->pool_ready = 0;
  }
  r->ops->close(r);
}

/* The condition variable waits on the monotonic clock, so a wall clock jump
 * cannot stretch or cut the acquire timeout. */
static ml_err pool_init(struct ml_repo *r, int pool_size, struct ml_errbuf *eb) {
  pthread_condattr_t attr;
  int rc;
  r->idle = ml_calloc((size_t)pool_size, sizeof(*r->idle));
  if(!r->idle)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory for the connection pool");
  r->pool_size = pool_size;
  r->nidle = 0;
  r->acquire_timeout_ms = ML_REPO_ACQUIRE_TIMEOUT_MS;
  if(pthread_condattr_init(&attr))
    return ml_fail(eb, ML_ERR_NOMEM, "pthread_condattr_init failed");
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  rc = pthread_cond_init(&r->freed, &attr);
  pthread_condattr_destroy(&attr);
  if(rc)
    return ml_fail(eb, ML_ERR_NOMEM, "pthread_cond_init failed");
  if(pthread_mutex_init(&r->lock, NULL)) {
    pthread_cond_destroy(&r->freed);
    return ml_fail(eb, ML_ERR_NOMEM, "pthread_mutex_init failed");
  }
  r->pool_ready = 1;
  return ML_OK;
}

ml_err ml_repo_open(const char *url, int pool_size, int migrate, struct ml_repo **out,
                    struct ml_errbuf *eb) {
  const struct ml_repo_ops *ops = NULL;
  struct ml_repo *r = NULL;
  ml_err rc = ML_OK;
  size_t i, prefix = 0;

  *out = NULL;
  if(!url || !*url) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "database URL is empty");
    goto out;
  }
  if(pool_size < 1 || pool_size > 1024) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "database pool size %d is outside 1..1024", pool_size);
    goto out;
  }
  for(i = 0; i < sizeof(backends) / sizeof(backends[0]) && !ops; i++) {
    prefix = scheme_match(backends[i], url);
    if(prefix)
      ops = backends[i];
  }
  if(!ops) {
    rc = ml_fail(eb, ML_ERR_CONFIG,
                 "unsupported database URL (want sqlite://PATH or postgres://...)");
    goto out;
  }

  rc = ops->open(url + prefix, &r, eb);
  if(rc)
    goto out;
  rc = pool_init(r, pool_size, eb);
  if(rc)
    goto out;
  /* Every connection is opened now, so a bad path or a locked file fails
   * at start rather than on the first request. */
  for(i = 0; i < (size_t)pool_size; i++) {
    struct ml_conn *c = NULL;
    rc = ops->conn_open(r, &c, eb);
    if(rc)
      goto out;
    c->repo = r;
    r->idle[r->nidle++] = c;
  }
  if(migrate) {
    rc = ml_repo_migrate(r, NULL, eb);
    if(rc)
      goto out;
  }
  *out = r;
  r = NULL;

out:
  if(r)
    repo_free(r);
  return rc;
}

void ml_repo_close(struct ml_repo **rp) {
  if(!rp || !*rp)
    return;
  repo_free(*rp);
  *rp = NULL;
}

ml_err ml_repo_acquire(struct ml_repo *r, struct ml_conn **c, struct ml_errbuf *eb) {
  struct timespec deadline;
  ml_err rc = ML_OK;

  *c = NULL;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += r->acquire_timeout_ms / 1000;
  deadline.tv_nsec += (long)(r->acquire_timeout_ms % 1000) * 1000000L;
  if(deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&r->lock);
  while(r->nidle == 0) {
    int wrc = pthread_cond_timedwait(&r->freed, &r->lock, &deadline);
    if(wrc == ETIMEDOUT && r->nidle == 0) {
      rc = ml_fail(eb, ML_ERR_BUSY, "no free database connection after %d ms",
                   r->acquire_timeout_ms);
      goto out;
    }
  }
  *c = r->idle[--r->nidle];

out:
  pthread_mutex_unlock(&r->lock);
  if(!rc && r->ops->conn_check) {
    rc = r->ops->conn_check(*c, eb);
    if(rc) {
      struct ml_conn *back = *c;
      *c = NULL;
      pthread_mutex_lock(&r->lock);
      r->idle[r->nidle++] = back;
      pthread_cond_signal(&r->freed);
      pthread_mutex_unlock(&r->lock);
    }
  }
  return rc;
}

void ml_repo_release(struct ml_conn **cp) {
  struct ml_conn *c;
  struct ml_repo *r;
  if(!cp || !*cp)
    return;
  c = *cp;
  r = c->repo;
  *cp = NULL;
  /* Outside the lock: a rollback can touch the disk. */
  r->ops->conn_reset(c);
  pthread_mutex_lock(&r->lock);
  r->idle[r->nidle++] = c;
  pthread_cond_signal(&r->freed);
  pthread_mutex_unlock(&r->lock);
}

ml_err ml_repo_migrate(struct ml_repo *r, int *applied, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc;
  if(applied)
    *applied = 0;
  rc = ml_repo_acquire(r, &c, eb);
  if(rc)
    return rc;
  rc = r->ops->migrate(c, applied, eb);
  ml_repo_release(&c);
  return rc;
}

ml_err ml_repo_schema_version(struct ml_repo *r, int *version, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = ml_repo_acquire(r, &c, eb);
  if(rc)
    return rc;
  rc = r->ops->schema_version(c, version, eb);
  ml_repo_release(&c);
  return rc;
}

/* Shared by the backends: see repo_int.h. */
char *ml_repo_like_pattern(struct ml_arena *a, const char *q) {
  size_t len = strlen(q), i, o = 0;
  char *p = ml_arena_alloc(a, 2 * len + 3);
  if(!p)
    return NULL;
  p[o++] = '%';
  for(i = 0; i < len; i++) {
    if(q[i] == '%' || q[i] == '_' || q[i] == '\\')
      p[o++] = '\\';
    p[o++] = q[i];
  }
  p[o++] = '%';
  p[o] = '\0';
  return p;
}

/* The rest only forwards to the connection's backend. */

ml_err ml_repo_begin(struct ml_conn *c, struct ml_errbuf *eb) { return c->repo->ops->begin(c, eb); }

ml_err ml_repo_commit(struct ml_conn *c, struct ml_errbuf *eb) {
  return c->repo->ops->commit(c, eb);
}

void ml_repo_rollback(struct ml_conn *c) { c->repo->ops->rollback(c); }

ml_err ml_repo_ping(struct ml_conn *c, struct ml_errbuf *eb) { return c->repo->ops->ping(c, eb); }

ml_err ml_repo_media_get(struct ml_conn *c, int64_t id, int include_pending, struct ml_arena *a,
                         struct ml_media *out, struct ml_errbuf *eb) {
  return c->repo->ops->media_get(c, id, include_pending, a, out, eb);
}

ml_err ml_repo_end(struct ml_conn *c, ml_err rc, struct ml_errbuf *eb) {
  if(!c)
    return rc ? rc : ML_ERR_INTERNAL; /* no connection: nothing began */
  if(!rc)
    rc = ml_repo_commit(c, eb);
  if(rc)
    ml_repo_rollback(c);
  return rc;
}

ml_err ml_repo_media_list(struct ml_conn *c, const struct ml_media_filter *f, struct ml_arena *a,
                          struct ml_media **items, size_t *n, int64_t *count,
                          struct ml_errbuf *eb) {
  return c->repo->ops->media_list(c, f, a, items, n, count, eb);
}

ml_err ml_repo_media_insert(struct ml_conn *c, struct ml_media *m, struct ml_errbuf *eb) {
  return c->repo->ops->media_insert(c, m, eb);
}

ml_err ml_repo_media_update(struct ml_conn *c, const struct ml_media *m, int64_t expect_version,
                            struct ml_errbuf *eb) {
  return c->repo->ops->media_update(c, m, expect_version, eb);
}

ml_err ml_repo_media_delete(struct ml_conn *c, int64_t id, struct ml_errbuf *eb) {
  return c->repo->ops->media_delete(c, id, eb);
}

ml_err ml_repo_media_each(struct ml_conn *c, struct ml_arena *a,
                          int (*cb)(void *ctx, const struct ml_media *m), void *ctx,
                          struct ml_errbuf *eb) {
  return c->repo->ops->media_each(c, a, cb, ctx, eb);
}

ml_err ml_repo_key_in_use(struct ml_conn *c, const char *key, int *in_use, struct ml_errbuf *eb) {
  return c->repo->ops->key_in_use(c, key, in_use, eb);
}

ml_err ml_repo_variant_get(struct ml_conn *c, int64_t media_id, int64_t version, const char *name,
                           struct ml_arena *a, struct ml_variant *out, struct ml_errbuf *eb) {
  return c->repo->ops->variant_get(c, media_id, version, name, a, out, eb);
}

ml_err ml_repo_variant_put(struct ml_conn *c, const struct ml_variant *v, struct ml_errbuf *eb) {
  return c->repo->ops->variant_put(c, v, eb);
}

ml_err ml_repo_variant_list(struct ml_conn *c, int64_t media_id, struct ml_arena *a,
                            struct ml_variant **items, size_t *n, struct ml_errbuf *eb) {
  return c->repo->ops->variant_list(c, media_id, a, items, n, eb);
}

ml_err ml_repo_variant_delete_below(struct ml_conn *c, int64_t media_id, int64_t below, int64_t *n,
                                    struct ml_errbuf *eb) {
  return c->repo->ops->variant_delete_below(c, media_id, below, n, eb);
}

ml_err ml_repo_variant_each(struct ml_conn *c, struct ml_arena *a,
                            int (*cb)(void *ctx, const struct ml_variant *v), void *ctx,
                            struct ml_errbuf *eb) {
  return c->repo->ops->variant_each(c, a, cb, ctx, eb);
}

ml_err ml_repo_variant_delete(struct ml_conn *c, int64_t media_id, int64_t version,
                              const char *name, struct ml_errbuf *eb) {
  return c->repo->ops->variant_delete(c, media_id, version, name, eb);
}

ml_err ml_repo_job_add(struct ml_conn *c, struct ml_job *j, struct ml_errbuf *eb) {
  return c->repo->ops->job_add(c, j, eb);
}

ml_err ml_repo_job_get(struct ml_conn *c, int64_t id, struct ml_arena *a, struct ml_job *out,
                       struct ml_errbuf *eb) {
  return c->repo->ops->job_get(c, id, a, out, eb);
}

ml_err ml_repo_job_delete(struct ml_conn *c, int64_t id, struct ml_errbuf *eb) {
  return c->repo->ops->job_delete(c, id, eb);
}

ml_err ml_repo_job_claim(struct ml_conn *c, int64_t now, int64_t lease_ms, size_t max,
                         struct ml_arena *a, struct ml_job **jobs, size_t *n,
                         struct ml_errbuf *eb) {
  return c->repo->ops->job_claim(c, now, lease_ms, max, a, jobs, n, eb);
}

ml_err ml_repo_job_fail(struct ml_conn *c, int64_t id, int64_t next_at, const char *error,
                        struct ml_errbuf *eb) {
  return c->repo->ops->job_fail(c, id, next_at, error, eb);
}

ml_err ml_repo_job_exists_for_key(struct ml_conn *c, const char *key, int *exists,
                                  struct ml_errbuf *eb) {
  return c->repo->ops->job_exists_for_key(c, key, exists, eb);
}

ml_err ml_repo_job_exists_for_media(struct ml_conn *c, const char *kind, int64_t media_id,
                                    int *exists, struct ml_errbuf *eb) {
  return c->repo->ops->job_exists_for_media(c, kind, media_id, exists, eb);
}

ml_err ml_repo_job_stats(struct ml_conn *c, int64_t *depth, int64_t *oldest_created,
                         struct ml_errbuf *eb) {
  return c->repo->ops->job_stats(c, depth, oldest_created, eb);
}

ml_err ml_repo_job_due_now_for_media(struct ml_conn *c, const char *kind, int64_t media_id,
                                     int64_t now, int64_t *changed, struct ml_errbuf *eb) {
  return c->repo->ops->job_due_now_for_media(c, kind, media_id, now, changed, eb);
}

ml_err ml_repo_job_retry_now(struct ml_conn *c, int64_t now, int64_t limit, int64_t *changed,
                             struct ml_errbuf *eb) {
  return c->repo->ops->job_retry_now(c, now, limit, changed, eb);
}

ml_err ml_repo_job_depth_by_kind(struct ml_conn *c,
                                 void (*cb)(void *ctx, const char *kind, int64_t depth,
                                            int64_t failing),
                                 void *ctx, struct ml_errbuf *eb) {
  return c->repo->ops->job_depth_by_kind(c, cb, ctx, eb);
}

ml_err ml_repo_user_insert(struct ml_conn *c, struct ml_user *u, struct ml_errbuf *eb) {
  return c->repo->ops->user_insert(c, u, eb);
}

ml_err ml_repo_user_get(struct ml_conn *c, int64_t id, struct ml_arena *a, struct ml_user *out,
                        struct ml_errbuf *eb) {
  return c->repo->ops->user_get(c, id, a, out, eb);
}

ml_err ml_repo_user_get_by_name(struct ml_conn *c, const char *username, struct ml_arena *a,
                                struct ml_user *out, struct ml_errbuf *eb) {
  return c->repo->ops->user_get_by_name(c, username, a, out, eb);
}

ml_err ml_repo_user_list(struct ml_conn *c, int64_t offset, int64_t limit, struct ml_arena *a,
                         struct ml_user **items, size_t *n, int64_t *count, struct ml_errbuf *eb) {
  return c->repo->ops->user_list(c, offset, limit, a, items, n, count, eb);
}

ml_err ml_repo_user_update(struct ml_conn *c, const struct ml_user *u, struct ml_errbuf *eb) {
  return c->repo->ops->user_update(c, u, eb);
}

ml_err ml_repo_user_touch_login(struct ml_conn *c, int64_t id, int64_t now, struct ml_errbuf *eb) {
  return c->repo->ops->user_touch_login(c, id, now, eb);
}

ml_err ml_repo_user_delete(struct ml_conn *c, int64_t id, struct ml_errbuf *eb) {
  return c->repo->ops->user_delete(c, id, eb);
}

ml_err ml_repo_user_count(struct ml_conn *c, int admins_only, int64_t *n, struct ml_errbuf *eb) {
  return c->repo->ops->user_count(c, admins_only, n, eb);
}

ml_err ml_repo_refresh_add(struct ml_conn *c, const struct ml_refresh *t, struct ml_errbuf *eb) {
  return c->repo->ops->refresh_add(c, t, eb);
}

ml_err ml_repo_refresh_get(struct ml_conn *c, const char *jti, struct ml_arena *a,
                           struct ml_refresh *out, struct ml_errbuf *eb) {
  return c->repo->ops->refresh_get(c, jti, a, out, eb);
}

ml_err ml_repo_refresh_revoke(struct ml_conn *c, const char *jti, struct ml_errbuf *eb) {
  return c->repo->ops->refresh_revoke(c, jti, eb);
}

ml_err ml_repo_refresh_revoke_user(struct ml_conn *c, int64_t user_id, int64_t *n,
                                   struct ml_errbuf *eb) {
  return c->repo->ops->refresh_revoke_user(c, user_id, n, eb);
}

ml_err ml_repo_refresh_prune(struct ml_conn *c, int64_t before, int64_t *n, struct ml_errbuf *eb) {
  return c->repo->ops->refresh_prune(c, before, n, eb);
}
