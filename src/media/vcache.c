/*
 * vcache.c - a small cache of rendered variants' rows for file delivery, so
 * that serving a stored thumbnail costs no database round trip, as
 * dcache.c does for originals.
 *
 * A variant row is immutable for its (media, version, name): it only goes
 * away with its version (replace, delete), and delivery looks a variant up
 * only for the version the delivery cache says is current. So entries need
 * no invalidation here; the time to live (MEDIALIB_DELIVERY_CACHE_MS) bounds
 * what another instance's delete can leave visible, as for originals.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "media/media_int.h"

#define SLOTS 1024
#define STRIPES 16

struct ventry {
  int64_t id, version;
  int64_t size, width, height, created_at;
  int64_t expires_ms;
  int valid;
  char name[ML_TRANSFORM_CANONICAL_MAX];
  char mime[32];
  char sha256[65];
  char key[256];
};

struct ml_vcache {
  int64_t ttl_ms;
  pthread_mutex_t mu[STRIPES];
  struct ventry slots[SLOTS];
};

ml_err ml_vcache_create(int64_t ttl_ms, struct ml_vcache **out) {
  struct ml_vcache *c;
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

void ml_vcache_destroy(struct ml_vcache **cp) {
  if(!cp || !*cp)
    return;
  for(int i = 0; i < STRIPES; i++)
    pthread_mutex_destroy(&(*cp)->mu[i]);
  ml_free(*cp);
  *cp = NULL;
}

/* FNV-1a over the id, the version and the name. */
static size_t slot_of(int64_t id, int64_t version, const char *name) {
  uint64_t h = 1469598103934665603ull;
  uint64_t v[2] = {(uint64_t)id, (uint64_t)version};
  const unsigned char *p = (const unsigned char *)v;
  for(size_t i = 0; i < sizeof(v); i++)
    h = (h ^ p[i]) * 1099511628211ull;
  for(p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return (size_t)(h % SLOTS);
}

int ml_vcache_get(struct ml_vcache *c, int64_t id, int64_t version, const char *name,
                  struct ml_arena *a, struct ml_variant *out) {
  size_t s;
  struct ventry *e;
  int hit = 0;
  if(!c)
    return 0;
  s = slot_of(id, version, name);
  e = &c->slots[s];
  pthread_mutex_lock(&c->mu[s % STRIPES]);
  if(e->valid && e->id == id && e->version == version && !strcmp(e->name, name) &&
     ml_now_ms() < e->expires_ms) {
    memset(out, 0, sizeof(*out));
    out->media_id = id;
    out->version = version;
    out->size = e->size;
    out->width = e->width;
    out->height = e->height;
    out->created_at = e->created_at;
    memcpy(out->sha256, e->sha256, sizeof(out->sha256));
    out->name = ml_arena_strdup(a, e->name);
    out->mime_type = ml_arena_strdup(a, e->mime);
    out->storage_key = ml_arena_strdup(a, e->key);
    hit = out->name && out->mime_type && out->storage_key;
  }
  pthread_mutex_unlock(&c->mu[s % STRIPES]);
  return hit;
}

void ml_vcache_put(struct ml_vcache *c, const struct ml_variant *v) {
  size_t s;
  struct ventry *e;
  if(!c || strlen(v->name) >= sizeof(e->name) || strlen(v->mime_type) >= sizeof(e->mime) ||
     strlen(v->storage_key) >= sizeof(e->key))
    return;
  s = slot_of(v->media_id, v->version, v->name);
  e = &c->slots[s];
  pthread_mutex_lock(&c->mu[s % STRIPES]);
  e->id = v->media_id;
  e->version = v->version;
  e->size = v->size;
  e->width = v->width;
  e->height = v->height;
  e->created_at = v->created_at;
  e->expires_ms = ml_now_ms() + c->ttl_ms;
  memcpy(e->sha256, v->sha256, sizeof(e->sha256));
  memcpy(e->name, v->name, strlen(v->name) + 1);
  memcpy(e->mime, v->mime_type, strlen(v->mime_type) + 1);
  memcpy(e->key, v->storage_key, strlen(v->storage_key) + 1);
  e->valid = 1;
  pthread_mutex_unlock(&c->mu[s % STRIPES]);
}
