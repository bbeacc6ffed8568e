/*
 * dcache.c - a small cache of what file delivery needs to know about a
 * media (version, key, type, name, hash), so that serving a file costs no
 * database round trip (a query and two fcntl locks in SQLite: a tenth of a
 * 100 KiB download's time).
 *
 * Consistency: this process's own writes invalidate their entry when they
 * commit, so a replace or delete here is seen at once. Writes by other
 * processes or instances (the CLI, fsck --repair, a second server on
 * PostgreSQL) are seen within the time to live (MEDIALIB_DELIVERY_CACHE_MS,
 * 1 s by default; 0 turns the cache off). A lookup that races an
 * invalidation never stores what it read: each slot has a generation.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "media/media_int.h"

#define SLOTS 1024
#define STRIPES 16

struct dentry {
  int64_t id;
  int64_t version;
  int64_t size, width, height;
  int64_t created_at, updated_at;
  int64_t expires_ms;
  uint64_t gen;
  int valid;
  char sha256[65];
  char mime[128];
  char filename[256];
  char key[200];
};

struct ml_dcache {
  int64_t ttl_ms;
  pthread_mutex_t mu[STRIPES];
  struct dentry slots[SLOTS];
};

ml_err ml_dcache_create(int64_t ttl_ms, struct ml_dcache **out) {
  struct ml_dcache *c;
  *out = NULL;
  if(ttl_ms <= 0)
    return ML_OK; /* off */
  c = ml_calloc(1, sizeof(*c));
  if(!c)
    return ML_ERR_NOMEM;
  c->ttl_ms = ttl_ms;
  for(int i = 0; i < STRIPES; i++)
    pthread_mutex_init(&c->mu[i], NULL);
  *out = c;
  return ML_OK;
}

void ml_dcache_destroy(struct ml_dcache **cp) {
  if(!cp || !*cp)
    return;
  for(int i = 0; i < STRIPES; i++)
    pthread_mutex_destroy(&(*cp)->mu[i]);
  ml_free(*cp);
  *cp = NULL;
}

static size_t slot_of(int64_t id) { return (size_t)((uint64_t)id % SLOTS); }

int ml_dcache_get(struct ml_dcache *c, int64_t id, struct ml_arena *a, struct ml_media *out,
                  uint64_t *gen) {
  size_t s = slot_of(id);
  struct dentry *e;
  int hit = 0;
  *gen = 0;
  if(!c)
    return 0;
  e = &c->slots[s];
  pthread_mutex_lock(&c->mu[s % STRIPES]);
  *gen = e->gen;
  if(e->valid && e->id == id && ml_now_ms() < e->expires_ms) {
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->state = ML_MEDIA_ACTIVE;
    out->version = e->version;
    out->size = e->size;
    out->width = e->width;
    out->height = e->height;
    out->created_at = e->created_at;
    out->updated_at = e->updated_at;
    memcpy(out->sha256, e->sha256, sizeof(out->sha256));
    out->mime_type = ml_arena_strdup(a, e->mime);
    out->filename = ml_arena_strdup(a, e->filename);
    out->storage_key = ml_arena_strdup(a, e->key);
    out->title = out->alt_text = out->caption = out->folder = out->tags = "";
    hit = out->mime_type && out->filename && out->storage_key;
  }
  pthread_mutex_unlock(&c->mu[s % STRIPES]);
  return hit;
}

void ml_dcache_put(struct ml_dcache *c, const struct ml_media *m, uint64_t gen) {
  size_t s;
  struct dentry *e;
  if(!c || strlen(m->mime_type) >= sizeof(e->mime) || strlen(m->filename) >= sizeof(e->filename) ||
     strlen(m->storage_key) >= sizeof(e->key))
    return;
  s = slot_of(m->id);
  e = &c->slots[s];
  pthread_mutex_lock(&c->mu[s % STRIPES]);
  if(e->gen == gen) { /* no invalidation since the caller looked */
    e->id = m->id;
    e->version = m->version;
    e->size = m->size;
    e->width = m->width;
    e->height = m->height;
    e->created_at = m->created_at;
    e->updated_at = m->updated_at;
    e->expires_ms = ml_now_ms() + c->ttl_ms;
    memcpy(e->sha256, m->sha256, sizeof(e->sha256));
    snprintf(e->mime, sizeof(e->mime), "%s", m->mime_type);
    snprintf(e->filename, sizeof(e->filename), "%s", m->filename);
    snprintf(e->key, sizeof(e->key), "%s", m->storage_key);
    e->valid = 1;
  }
  pthread_mutex_unlock(&c->mu[s % STRIPES]);
}

void ml_dcache_invalidate(struct ml_dcache *c, int64_t id) {
  size_t s;
  if(!c)
    return;
  s = slot_of(id);
  pthread_mutex_lock(&c->mu[s % STRIPES]);
  c->slots[s].gen++;
  if(c->slots[s].id == id)
    c->slots[s].valid = 0;
  pthread_mutex_unlock(&c->mu[s % STRIPES]);
}
