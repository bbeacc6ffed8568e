/* password.c - Argon2id hashing and verification through libsodium. */
#include "auth/password.h"

#include <sodium.h>
#include <string.h>

struct ml_auth_pwcost ml_auth_password_cost_default(void) {
  struct ml_auth_pwcost c = {crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE};
  return c;
}

struct ml_auth_pwcost ml_auth_password_cost_min(void) {
  struct ml_auth_pwcost c = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
  return c;
}

const char *ml_auth_password_check(size_t len) {
  if(len < ML_AUTH_PASSWORD_MIN)
    return "Ensure this field has at least 8 characters.";
  if(len > ML_AUTH_PASSWORD_MAX)
    return "Ensure this field has no more than 1024 characters.";
  return NULL;
}

ml_err ml_auth_password_hash(const char *pw, size_t len, const struct ml_auth_pwcost *cost,
                             char out[ML_AUTH_HASH_MAX], struct ml_errbuf *eb) {
  _Static_assert(ML_AUTH_HASH_MAX >= crypto_pwhash_STRBYTES, "hash buffer too small");
  out[0] = '\0';
  if(ml_auth_password_check(len))
    return ml_fail(eb, ML_ERR_VALIDATION, "%s", ml_auth_password_check(len));
  /* crypto_pwhash_str fails only when the memory cannot be had. */
  if(crypto_pwhash_str(out, pw, len, cost->ops, cost->mem) != 0) {
    out[0] = '\0';
    return ml_fail(eb, ML_ERR_NOMEM, "not enough memory to hash a password");
  }
  return ML_OK;
}

/* The memory an "$argon2id$v=19$m=<KiB>,t=...,p=..." string asks for, in
 * KiB; 0 when there is no m= field. */
static unsigned long long hash_mem_kib(const char *hash) {
  const char *m = strstr(hash, "$m=");
  unsigned long long v = 0;
  if(!m)
    return 0;
  for(m += 3; *m >= '0' && *m <= '9' && v < (1ull << 40); m++)
    v = v * 10 + (unsigned)(*m - '0');
  return v;
}

ml_err ml_auth_password_verify(const char *hash, const char *pw, size_t len) {
  if(!hash || strnlen(hash, ML_AUTH_HASH_MAX) >= ML_AUTH_HASH_MAX || len > ML_AUTH_PASSWORD_MAX)
    return ML_ERR_UNAUTHORIZED;
  if(strncmp(hash, crypto_pwhash_argon2id_STRPREFIX, strlen(crypto_pwhash_argon2id_STRPREFIX)))
    return ML_ERR_UNAUTHORIZED; /* not an Argon2id string */
  /* A bound on what a stored hash may ask: a tampered row must not make
   * one login allocate gigabytes (SENSITIVE is 1 GiB; 256 MiB is plenty). */
  if(hash_mem_kib(hash) > crypto_pwhash_MEMLIMIT_MODERATE / 1024)
    return ML_ERR_UNAUTHORIZED;
  return crypto_pwhash_str_verify(hash, pw, len) == 0 ? ML_OK : ML_ERR_UNAUTHORIZED;
}
