/*
 * auth_int.h - the layout of struct ml_auth, shared by auth.c and users.c
 * only.
 */
#ifndef ML_AUTH_AUTH_INT_H
#define ML_AUTH_AUTH_INT_H

#include "auth/auth.h"
#include "auth/jwt.h"
#include "auth/limiter.h"

struct ml_auth {
  struct ml_repo *repo;
  const struct ml_log *log;
  unsigned char *key; /* NULL: no tokens */
  size_t keylen;
  int64_t access_ttl, refresh_ttl;
  struct ml_auth_pwcost cost;
  struct ml_auth_limiter *limiter;
  /* An Argon2id hash of a random password nobody knows, checked when the
   * username does not exist so that the answer takes as long as for a
   * wrong password. */
  char dummy_hash[ML_AUTH_HASH_MAX];
};

/* Runs fn(c, ctx) inside a write transaction on a pooled connection:
 * commits when fn returns ML_OK, rolls back otherwise. */
ml_err ml_auth_in_tx(struct ml_auth *a, ml_err (*fn)(struct ml_conn *c, void *ctx), void *ctx,
                     struct ml_errbuf *eb);

#endif
