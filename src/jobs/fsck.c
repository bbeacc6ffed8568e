/* fsck.c - orphan and missing-blob detection, race-free against live traffic. */
#include "jobs/fsck.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/timeutil.h"
#include "image/transform.h"

struct walk {
  struct ml_store *store;
  struct ml_conn *c;
  const struct ml_fsck_opts *o;
  struct ml_fsck_report *rep;
  int64_t now;
  ml_err rc;
  struct ml_errbuf *eb;
};

/* The order of the checks matters while the server runs: an upload commit
 * deletes its intent and activates its row in one transaction, so checking
 * the job first and the row second never misses both; a removal deletes the
 * blob before its job, so a blob with neither may just have been removed,
 * which the final existence check tells. */
static int check_blob(void *ctx, const char *key, int64_t size, int64_t mtime_ms) {
  struct walk *w = ctx;
  int has_job = 0, in_use = 0;
  struct ml_blob b;
  struct ml_errbuf beb = {{0}};
  ml_err rc;
  (void)size;
  w->rep->blobs++;
  rc = ml_repo_job_exists_for_key(w->c, key, &has_job, w->eb);
  if(!rc && !has_job)
    rc = ml_repo_key_in_use(w->c, key, &in_use, w->eb);
  if(rc) {
    w->rc = rc;
    return 1;
  }
  if(has_job) {
    w->rep->pending++;
  } else if(!in_use) {
    if(w->now - mtime_ms < w->o->grace_ms) {
      w->rep->young++;
    } else if(ml_store_stat(w->store, key, &b, &beb) == ML_OK) {
      int repaired = 0;
      w->rep->orphans++;
      if(w->o->repair && ml_store_remove(w->store, key, &beb) == ML_OK) {
        repaired = 1;
        w->rep->repaired++;
      }
      if(w->o->problem)
        w->o->problem(w->o->ctx, "orphan", key, 0, repaired);
    }
  }
  if(w->o->progress && (w->rep->blobs & 63) == 0)
    w->o->progress(w->o->ctx, w->rep->blobs, w->rep->rows);
  return 0;
}

struct rows {
  struct ml_store *store;
  const struct ml_fsck_opts *o;
  struct ml_fsck_report *rep;
  int64_t *missing_ids;
  size_t n, cap;
  ml_err rc;
};

static int check_row(void *ctx, const struct ml_media *m) {
  struct rows *r = ctx;
  struct ml_blob b;
  struct ml_errbuf beb = {{0}};
  ml_err rc;
  if(m->state != ML_MEDIA_ACTIVE)
    return 0;
  r->rep->rows++;
  /* stat, not get: a remote store would download every blob */
  rc = ml_store_stat(r->store, m->storage_key, &b, &beb);
  if(rc == ML_ERR_NOT_FOUND) {
    if(r->n == r->cap) {
      size_t ncap = r->cap ? r->cap * 2 : 64;
      int64_t *ids = ml_realloc(r->missing_ids, ncap * sizeof(*ids));
      if(!ids) {
        r->rc = ML_ERR_NOMEM;
        return 1;
      }
      r->missing_ids = ids;
      r->cap = ncap;
    }
    r->missing_ids[r->n++] = m->id;
    if(r->o->problem && !r->o->repair)
      r->o->problem(r->o->ctx, "missing", m->storage_key, m->id, 0);
  } else if(rc) {
    r->rc = rc; /* the store failed: no verdict is possible */
    return 1;
  }
  if(r->o->progress && (r->rep->rows & 63) == 0)
    r->o->progress(r->o->ctx, r->rep->blobs, r->rep->rows);
  return 0;
}

/* A variant whose blob is gone: its row is dropped on repair (the variant is
 * rendered again on its next request). Collected first: the walk's
 * connection cannot write while it walks. */
struct gone_variant {
  int64_t media_id, version;
  char name[ML_TRANSFORM_CANONICAL_MAX];
  char key[256];
};

struct vrows {
  struct ml_store *store;
  const struct ml_fsck_opts *o;
  struct ml_fsck_report *rep;
  struct gone_variant *gone;
  size_t n, cap;
  ml_err rc;
};

static int check_variant(void *ctx, const struct ml_variant *v) {
  struct vrows *r = ctx;
  struct ml_blob b;
  struct ml_errbuf beb = {{0}};
  ml_err rc = ml_store_get(r->store, v->storage_key, &b, &beb);
  r->rep->rows++;
  if(rc == ML_OK) {
    if(b.fd >= 0)
      close(b.fd);
    return 0;
  }
  if(rc != ML_ERR_NOT_FOUND) {
    r->rc = rc; /* the store failed: no verdict is possible */
    return 1;
  }
  if(r->n == r->cap) {
    size_t ncap = r->cap ? r->cap * 2 : 16;
    struct gone_variant *g = ml_realloc(r->gone, ncap * sizeof(*g));
    if(!g) {
      r->rc = ML_ERR_NOMEM;
      return 1;
    }
    r->gone = g;
    r->cap = ncap;
  }
  r->gone[r->n].media_id = v->media_id;
  r->gone[r->n].version = v->version;
  snprintf(r->gone[r->n].name, sizeof(r->gone[r->n].name), "%s", v->name);
  snprintf(r->gone[r->n].key, sizeof(r->gone[r->n].key), "%s", v->storage_key);
  r->n++;
  return 0;
}

static ml_err drop_gone_variants(struct ml_conn *c, struct vrows *r, struct ml_errbuf *eb) {
  for(size_t i = 0; i < r->n; i++) {
    const struct gone_variant *g = &r->gone[i];
    int repaired = 0;
    if(r->o->repair) {
      ml_err rc = ml_repo_variant_delete(c, g->media_id, g->version, g->name, eb);
      if(rc && rc != ML_ERR_NOT_FOUND)
        return rc;
      repaired = 1;
      r->rep->repaired++;
    }
    if(r->o->problem)
      r->o->problem(r->o->ctx, "missing", g->key, g->media_id, repaired);
  }
  return ML_OK;
}

static ml_err mark_missing(struct ml_conn *c, struct rows *r, struct ml_errbuf *eb) {
  for(size_t i = 0; i < r->n; i++) {
    struct ml_arena *a = ml_arena_create(0);
    struct ml_media m;
    ml_err rc = a ? ML_OK : ML_ERR_NOMEM;
    if(!rc)
      rc = ml_repo_begin(c, eb);
    if(!rc) {
      rc = ml_repo_media_get(c, r->missing_ids[i], 0, a, &m, eb);
      if(!rc) {
        m.state = ML_MEDIA_MISSING;
        rc = ml_repo_media_update(c, &m, m.version, eb);
      }
      rc = ml_repo_end(c, rc, eb);
    }
    if(!rc) {
      r->rep->repaired++;
      if(r->o->problem)
        r->o->problem(r->o->ctx, "missing", m.storage_key, m.id, 1);
    }
    ml_arena_destroy(&a);
    if(rc && rc != ML_ERR_NOT_FOUND && rc != ML_ERR_CONFLICT)
      return rc;
  }
  return ML_OK;
}

ml_err ml_fsck_run(struct ml_repo *repo, struct ml_store *store, const struct ml_fsck_opts *o,
                   struct ml_fsck_report *rep, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct walk w;
  struct rows r;
  struct vrows v;
  ml_err rc;
  memset(rep, 0, sizeof(*rep));
  memset(&r, 0, sizeof(r));
  memset(&v, 0, sizeof(v));
  if(!a)
    return ML_ERR_NOMEM;
  rc = ml_repo_acquire(repo, &c, eb);
  if(rc)
    goto out;
  w = (struct walk){store, c, o, rep, ml_now_ms(), ML_OK, eb};
  rc = ml_store_list(store, "", check_blob, &w, eb);
  if(!rc)
    rc = w.rc;
  if(rc)
    goto out;
  r.store = store;
  r.o = o;
  r.rep = rep;
  rc = ml_repo_media_each(c, a, check_row, &r, eb);
  if(!rc)
    rc = r.rc;
  if(rc)
    goto out;
  rep->missing = (int64_t)r.n;
  if(o->repair)
    rc = mark_missing(c, &r, eb);
  if(!rc) {
    v.store = store;
    v.o = o;
    v.rep = rep;
    rc = ml_repo_variant_each(c, a, check_variant, &v, eb);
    if(!rc)
      rc = v.rc;
    if(!rc) {
      rep->missing += (int64_t)v.n;
      rc = drop_gone_variants(c, &v, eb);
    }
  }
  if(o->progress)
    o->progress(o->ctx, rep->blobs, rep->rows);
out:
  ml_free(r.missing_ids);
  ml_free(v.gone);
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  return rc;
}
