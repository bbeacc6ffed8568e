/*
 * limiter.h - counts failed logins per key, in memory, in bounded space.
 *
 * Keys are what an attacker varies ("u:alice", "a:192.0.2.7"); each gets a
 * fixed window that starts at its first failure: after max_failures within
 * window_ms, check() refuses until the window ends. The table has a fixed
 * number of slots in sets of 8 (chosen by a keyed SipHash of the key, so a
 * client cannot aim its keys at one set); a new key takes a free or expired
 * slot of its set, else the least recently failed one. Memory never grows.
 * All functions are thread-safe.
 */
#ifndef ML_AUTH_LIMITER_H
#define ML_AUTH_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ml_auth_limiter;

struct ml_auth_limiter_opts {
  size_t slots;      /* rounded up to a multiple of 8; 0: 8192 */
  int max_failures;  /* >= 1 */
  int64_t window_ms; /* >= 1 */
};

/* Needs sodium_init() first (the hash key is random). ML_ERR_NOMEM. */
ml_err ml_auth_limiter_create(const struct ml_auth_limiter_opts *o, struct ml_auth_limiter **out);
/* Sets *l NULL; NULL is a no-op. */
void ml_auth_limiter_destroy(struct ml_auth_limiter **l);

/* ML_OK when key may try again at now_ms; ML_ERR_RATE_LIMITED when it has
 * used up its failures, with *retry_after_s (>= 1) seconds to wait. */
ml_err ml_auth_limiter_check(struct ml_auth_limiter *l, const char *key, size_t keylen,
                             int64_t now_ms, int64_t *retry_after_s);
/* Counts one failure of key at now_ms. */
void ml_auth_limiter_fail(struct ml_auth_limiter *l, const char *key, size_t keylen,
                          int64_t now_ms);
/* Forgets key (after a successful login). */
void ml_auth_limiter_reset(struct ml_auth_limiter *l, const char *key, size_t keylen);
/* Slots in use at now_ms (not expired), for tests and metrics. */
size_t ml_auth_limiter_used(struct ml_auth_limiter *l, int64_t now_ms);

#endif
