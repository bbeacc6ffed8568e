/*
 * password.h - password hashing with Argon2id (libsodium's crypto_pwhash).
 *
 * Hashes are libsodium's self-describing strings ("$argon2id$v=19$m=...,
 * t=...,p=1$salt$hash"), so the cost can grow later without breaking the
 * verification of older hashes. Callers must have called sodium_init()
 * (main does, once). Nothing here keeps or logs a password.
 */
#ifndef ML_AUTH_PASSWORD_H
#define ML_AUTH_PASSWORD_H

#include <stddef.h>

#include "core/err.h"

/* Bytes a password may have. The upper bound keeps a login request from
 * costing more than hashing a kilobyte. */
#define ML_AUTH_PASSWORD_MIN 8
#define ML_AUTH_PASSWORD_MAX 1024
/* Room for a hash string with its NUL (crypto_pwhash_STRBYTES). */
#define ML_AUTH_HASH_MAX 128

/* Work factors: ops (passes) and mem (bytes). */
struct ml_auth_pwcost {
  unsigned long long ops;
  size_t mem;
};

/* The production cost: libsodium's INTERACTIVE limits (2 passes, 64 MiB),
 * about 0.1 s on a current core, meant for online logins. */
struct ml_auth_pwcost ml_auth_password_cost_default(void);
/* The smallest cost libsodium accepts: for unit tests only. */
struct ml_auth_pwcost ml_auth_password_cost_min(void);

/* Does pw[0..len) fit the password rules (length)? Returns NULL when it
 * does, else a message for the "password" field. */
const char *ml_auth_password_check(size_t len);

/* Hashes pw[0..len) with a fresh random salt into out. ML_ERR_NOMEM when
 * libsodium cannot get the memory the cost asks for; ML_ERR_VALIDATION for
 * a length outside the rules. */
ml_err ml_auth_password_hash(const char *pw, size_t len, const struct ml_auth_pwcost *cost,
                             char out[ML_AUTH_HASH_MAX], struct ml_errbuf *eb);

/* ML_OK when pw matches hash; ML_ERR_UNAUTHORIZED when it does not, or when
 * hash is not a hash libsodium can check. Runs in the time the hash's own
 * cost takes, whatever the password. */
ml_err ml_auth_password_verify(const char *hash, const char *pw, size_t len);

#endif
