/* limiter.c - a fixed-size, set-associative table of failure counters. */
#include "auth/limiter.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core/alloc.h"

#define WAYS 8

struct slot {
  uint64_t hash;        /* 0: free */
  int64_t window_start; /* ms of the first failure of the window */
  int64_t last;         /* ms of the latest failure */
  uint32_t failures;
};

struct ml_auth_limiter {
  pthread_mutex_t mu;
  struct slot *slots;
  size_t nsets;
  int max_failures;
  int64_t window_ms;
  unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

ml_err ml_auth_limiter_create(const struct ml_auth_limiter_opts *o, struct ml_auth_limiter **out) {
  struct ml_auth_limiter *l;
  size_t slots = o->slots ? o->slots : 8192;
  *out = NULL;
  if(o->max_failures < 1 || o->window_ms < 1 || slots > ((size_t)1 << 24))
    return ML_ERR_INTERNAL;
  l = ml_calloc(1, sizeof(*l));
  if(!l)
    return ML_ERR_NOMEM;
  l->nsets = (slots + WAYS - 1) / WAYS;
  l->slots = ml_calloc(l->nsets * WAYS, sizeof(*l->slots));
  if(!l->slots) {
    ml_free(l);
    return ML_ERR_NOMEM;
  }
  l->max_failures = o->max_failures;
  l->window_ms = o->window_ms;
  randombytes_buf(l->hash_key, sizeof(l->hash_key));
  pthread_mutex_init(&l->mu, NULL);
  *out = l;
  return ML_OK;
}

void ml_auth_limiter_destroy(struct ml_auth_limiter **lp) {
  struct ml_auth_limiter *l;
  if(!lp || !*lp)
    return;
  l = *lp;
  pthread_mutex_destroy(&l->mu);
  ml_free(l->slots);
  ml_free(l);
  *lp = NULL;
}

static uint64_t key_hash(const struct ml_auth_limiter *l, const char *key, size_t keylen) {
  unsigned char h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, (const unsigned char *)key, keylen, l->hash_key);
  memcpy(&v, h, sizeof(v));
  return v ? v : 1; /* 0 marks a free slot */
}

static int expired(const struct ml_auth_limiter *l, const struct slot *s, int64_t now) {
  return now - s->window_start >= l->window_ms;
}

static struct slot *find(struct ml_auth_limiter *l, uint64_t h) {
  struct slot *set = &l->slots[(h % l->nsets) * WAYS];
  for(int i = 0; i < WAYS; i++)
    if(set[i].hash == h)
      return &set[i];
  return NULL;
}

ml_err ml_auth_limiter_check(struct ml_auth_limiter *l, const char *key, size_t keylen,
                             int64_t now_ms, int64_t *retry_after_s) {
  uint64_t h = key_hash(l, key, keylen);
  struct slot *s;
  ml_err rc = ML_OK;
  *retry_after_s = 0;
  pthread_mutex_lock(&l->mu);
  s = find(l, h);
  if(s && !expired(l, s, now_ms) && s->failures >= (uint32_t)l->max_failures) {
    int64_t left_ms = s->window_start + l->window_ms - now_ms;
    *retry_after_s = (left_ms + 999) / 1000;
    if(*retry_after_s < 1)
      *retry_after_s = 1;
    rc = ML_ERR_RATE_LIMITED;
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

void ml_auth_limiter_fail(struct ml_auth_limiter *l, const char *key, size_t keylen,
                          int64_t now_ms) {
  uint64_t h = key_hash(l, key, keylen);
  struct slot *s;
  pthread_mutex_lock(&l->mu);
  s = find(l, h);
  if(!s) {
    /* A free slot, else an expired one, else the least recently failed. */
    struct slot *set = &l->slots[(h % l->nsets) * WAYS];
    for(int i = 0; i < WAYS && !s; i++)
      if(!set[i].hash)
        s = &set[i];
    for(int i = 0; i < WAYS && !s; i++)
      if(expired(l, &set[i], now_ms))
        s = &set[i];
    if(!s) {
      s = &set[0];
      for(int i = 1; i < WAYS; i++)
        if(set[i].last < s->last)
          s = &set[i];
    }
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->window_start = now_ms;
  } else if(expired(l, s, now_ms)) {
    s->window_start = now_ms;
    s->failures = 0;
  }
  if(s->failures < UINT32_MAX)
    s->failures++;
  s->last = now_ms;
  pthread_mutex_unlock(&l->mu);
}

void ml_auth_limiter_reset(struct ml_auth_limiter *l, const char *key, size_t keylen) {
  uint64_t h = key_hash(l, key, keylen);
  struct slot *s;
  pthread_mutex_lock(&l->mu);
  s = find(l, h);
  if(s)
    memset(s, 0, sizeof(*s));
  pthread_mutex_unlock(&l->mu);
}

size_t ml_auth_limiter_used(struct ml_auth_limiter *l, int64_t now_ms) {
  size_t n = 0;
  pthread_mutex_lock(&l->mu);
  for(size_t i = 0; i < l->nsets * WAYS; i++)
    if(l->slots[i].hash && !expired(l, &l->slots[i], now_ms))
      n++;
  pthread_mutex_unlock(&l->mu);
  return n;
}
