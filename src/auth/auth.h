/*
 * auth.h - who may do what: users and roles, logins, tokens, the signing
 * secret.
 *
 * The domain of authentication, between the HTTP handlers (src/api/auth.c,
 * users.c), the CLI (main.c) and the repository: it never sees HTTP types
 * and handlers never see SQL. Roles are ordered: a viewer reads, an editor
 * also uploads, edits, replaces and deletes, an admin also manages users.
 *
 * Tokens are SimpleJWT-shaped HS256 JWTs (jwt.h). Access tokens are checked
 * against the user's row on every use (exists, enabled, same token
 * version), so disabling a user or changing a password takes effect at
 * once; the role comes from the row, not from the token. Refresh tokens are
 * also kept by jti so each can be revoked.
 *
 * Speed: password hashing (login, user create, password change) takes about
 * 0.1 s and 64 MiB: call those on a worker thread. authenticate() is one
 * HMAC and one primary-key read.
 */
#ifndef ML_AUTH_AUTH_H
#define ML_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "auth/password.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/log.h"
#include "db/repo.h"

enum ml_role { ML_ROLE_NONE = 0, ML_ROLE_VIEWER = 1, ML_ROLE_EDITOR = 2, ML_ROLE_ADMIN = 3 };

/* "viewer" | "editor" | "admin"; 0 on success, -1 for anything else. */
int ml_auth_role_parse(const char *s, enum ml_role *out);
/* The name of a role ("none" for ML_ROLE_NONE), never NULL. */
const char *ml_auth_role_name(enum ml_role r);

/* Usernames: 1..150 of [A-Za-z0-9@.+_-] (Django's rule), unique whatever
 * their letter case. NULL when s[0..len) is valid, else a message for the
 * "username" field. */
#define ML_AUTH_USERNAME_MAX 150
const char *ml_auth_username_check(const char *s, size_t len);

struct ml_auth;

struct ml_auth_opts {
  struct ml_repo *repo;
  const struct ml_log *log;   /* may be NULL */
  const unsigned char *key;   /* copied; NULL: no tokens (the CLI's user commands) */
  size_t keylen;              /* >= ML_JWT_KEY_MIN when key is set */
  int64_t access_ttl;         /* seconds */
  int64_t refresh_ttl;        /* seconds */
  struct ml_auth_pwcost cost; /* {0, 0}: ml_auth_password_cost_default() */
  int login_max_failures;     /* per minute, per username and per address; 0: 10 */
  int64_t login_window_ms;    /* 0: 60000 */
  size_t limiter_slots;       /* 0: 8192 */
};

/* Needs sodium_init() first. With a key, computes the dummy hash that
 * logins of unknown users are checked against (one hash: ~0.1 s).
 * ML_ERR_CONFIG for a key under ML_JWT_KEY_MIN bytes; ML_ERR_NOMEM. */
ml_err ml_auth_create(const struct ml_auth_opts *o, struct ml_auth **out, struct ml_errbuf *eb);
/* Wipes the key; sets *a NULL; NULL is a no-op. */
void ml_auth_destroy(struct ml_auth **a);

/* Who a request acts as. */
struct ml_principal {
  int64_t user_id; /* 0: nobody (open writes, a test switch) */
  enum ml_role role;
  char username[ML_AUTH_USERNAME_MAX + 1];
};

#define ML_AUTH_TOKEN_MAX 1024
struct ml_auth_tokens {
  char access[ML_AUTH_TOKEN_MAX];
  char refresh[ML_AUTH_TOKEN_MAX];
};

/* The message of every failed login, whatever the reason (unknown user,
 * wrong password, disabled user), so none can be told apart: SimpleJWT's. */
#define ML_AUTH_LOGIN_FAILED "No active account found with the given credentials"

/* May username log in from client (an address) now? ML_OK, or
 * ML_ERR_RATE_LIMITED with *retry_after_s. Cheap: call it before parsing
 * a password, so a blocked client costs no hashing. */
ml_err ml_auth_login_allowed(struct ml_auth *a, const char *username, const char *client,
                             int64_t *retry_after_s);
/* Checks username and password and issues an access and a refresh token.
 * Unknown users are checked against a dummy hash, so the time does not
 * tell them apart. ML_ERR_UNAUTHORIZED (counted against the username and
 * the address), ML_ERR_RATE_LIMITED (*retry_after_s), ML_ERR_DB,
 * ML_ERR_NOMEM, ML_ERR_CONFIG (no key). arena is scratch. */
ml_err ml_auth_login(struct ml_auth *a, const char *username, const char *password,
                     size_t password_len, const char *client, struct ml_arena *arena,
                     struct ml_auth_tokens *out, int64_t *retry_after_s, struct ml_errbuf *eb);
/* A new access token for a refresh token that is valid, known, not revoked,
 * not expired, of an enabled user with the same token version.
 * ML_ERR_UNAUTHORIZED (eb says why), ML_ERR_DB, ML_ERR_NOMEM. */
ml_err ml_auth_refresh(struct ml_auth *a, const char *refresh, size_t len, struct ml_arena *arena,
                       char access[ML_AUTH_TOKEN_MAX], struct ml_errbuf *eb);
/* Revokes a refresh token (logout). The token must verify; ML_OK also when
 * it was revoked already. ML_ERR_UNAUTHORIZED, ML_ERR_DB. */
ml_err ml_auth_revoke(struct ml_auth *a, const char *refresh, size_t len, struct ml_errbuf *eb);
/* Checks an access token and the user's row; fills *out with the user's
 * current role. ML_ERR_UNAUTHORIZED (eb says why), ML_ERR_DB, ML_ERR_BUSY. */
ml_err ml_auth_authenticate(struct ml_auth *a, const char *token, size_t len,
                            struct ml_arena *arena, struct ml_principal *out, struct ml_errbuf *eb);
/* An access token for username valid ttl seconds (the CLI's `token`).
 * ML_ERR_NOT_FOUND, ML_ERR_FORBIDDEN (disabled user), ML_ERR_CONFIG. */
ml_err ml_auth_mint_access(struct ml_auth *a, const char *username, int64_t ttl,
                           struct ml_arena *arena, char out[ML_AUTH_TOKEN_MAX],
                           struct ml_errbuf *eb);

/* Users (users.c). Strings of returned rows live in arena. */
/* Creates a user. ML_ERR_VALIDATION with fe naming "username", "password"
 * or "role" (a taken username too); ML_ERR_DB, ML_ERR_NOMEM. */
ml_err ml_auth_user_create(struct ml_auth *a, const char *username, const char *password,
                           size_t password_len, const char *role, struct ml_arena *arena,
                           struct ml_user *out, struct ml_field_errors *fe, struct ml_errbuf *eb);

/* A change to a user; NULL / -1 leave a field alone. */
struct ml_auth_user_change {
  const char *role;
  const char *password;
  size_t password_len;
  int disabled; /* -1, 0 or 1 */
};
/* Applies ch. A new password or disabling revokes every token of the user
 * (the token version moves, refresh tokens are revoked) in the same
 * transaction. ML_ERR_VALIDATION (fe), ML_ERR_NOT_FOUND, ML_ERR_CONFLICT
 * when it would leave no enabled admin, ML_ERR_DB. */
ml_err ml_auth_user_update(struct ml_auth *a, int64_t id, const struct ml_auth_user_change *ch,
                           struct ml_arena *arena, struct ml_user *out, struct ml_field_errors *fe,
                           struct ml_errbuf *eb);
/* ML_ERR_NOT_FOUND, ML_ERR_CONFLICT for the last enabled admin, ML_ERR_DB. */
ml_err ml_auth_user_delete(struct ml_auth *a, int64_t id, struct ml_errbuf *eb);
ml_err ml_auth_user_get(struct ml_auth *a, int64_t id, struct ml_arena *arena, struct ml_user *out,
                        struct ml_errbuf *eb);
ml_err ml_auth_user_find(struct ml_auth *a, const char *username, struct ml_arena *arena,
                         struct ml_user *out, struct ml_errbuf *eb);
ml_err ml_auth_user_list(struct ml_auth *a, int64_t offset, int64_t limit, struct ml_arena *arena,
                         struct ml_user **items, size_t *n, int64_t *count, struct ml_errbuf *eb);
ml_err ml_auth_user_count(struct ml_auth *a, int64_t *n, struct ml_errbuf *eb);

/* The signing secret (secret.c). configured (MEDIALIB_JWT_SECRET) wins when
 * non-empty and must have at least ML_JWT_KEY_MIN bytes. Otherwise the
 * secret is $data_dir/jwt.secret, created on first use with 32 random
 * bytes (64 hex digits), mode 0600, atomically (two processes starting at
 * once agree); a file readable by others is refused. *key (free with
 * ml_auth_secret_free) gets the secret's bytes; *generated is set when the
 * file was just made (may be NULL). ML_ERR_CONFIG (too short, bad file
 * mode), ML_ERR_IO, ML_ERR_NOMEM. The secret never reaches eb. */
ml_err ml_auth_secret_load(const char *configured, const char *data_dir, unsigned char **key,
                           size_t *keylen, int *generated, struct ml_errbuf *eb);
/* Wipes and frees; sets *key NULL. */
void ml_auth_secret_free(unsigned char **key, size_t keylen);

#endif
