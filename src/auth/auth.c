/*
 * auth.c - roles, logins, token issue and checks.
 *
 * Every refusal of a login looks the same from outside: one message, one
 * status, and the same work (an Argon2id verification, against a dummy
 * hash when the user does not exist). Failures count against the username
 * and the client address in the limiter; a success clears the username's
 * count only, so a valid account cannot be used to reset an address.
 */
#include "auth/auth_int.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"

static const char *role_names[] = {"none", "viewer", "editor", "admin"};

int ml_auth_role_parse(const char *s, enum ml_role *out) {
  for(int i = ML_ROLE_VIEWER; i <= ML_ROLE_ADMIN; i++) {
    if(s && !strcmp(s, role_names[i])) {
      *out = (enum ml_role)i;
      return 0;
    }
  }
  return -1;
}

const char *ml_auth_role_name(enum ml_role r) {
  return (unsigned)r <= ML_ROLE_ADMIN ? role_names[r] : "none";
}

const char *ml_auth_username_check(const char *s, size_t len) {
  if(len == 0)
    return "This field may not be blank.";
  if(len > ML_AUTH_USERNAME_MAX)
    return "Ensure this field has no more than 150 characters.";
  for(size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if(!(isalnum(ch) && ch < 128) && !strchr("@.+-_", ch))
      return "Enter a valid username. This value may contain only letters, numbers, and "
             "@/./+/-/_ characters.";
    if(!ch)
      return "Enter a valid username.";
  }
  return NULL;
}

ml_err ml_auth_create(const struct ml_auth_opts *o, struct ml_auth **out, struct ml_errbuf *eb) {
  struct ml_auth *a;
  struct ml_auth_limiter_opts lo;
  ml_err rc = ML_OK;

  *out = NULL;
  if(o->key && o->keylen < ML_JWT_KEY_MIN)
    return ml_fail(eb, ML_ERR_CONFIG, "the signing secret needs at least %d bytes", ML_JWT_KEY_MIN);
  a = ml_calloc(1, sizeof(*a));
  if(!a)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  a->repo = o->repo;
  a->log = o->log;
  a->access_ttl = o->access_ttl > 0 ? o->access_ttl : 15 * 60;
  a->refresh_ttl = o->refresh_ttl > 0 ? o->refresh_ttl : 7 * 86400;
  a->cost = o->cost.ops ? o->cost : ml_auth_password_cost_default();
  lo.slots = o->limiter_slots;
  lo.max_failures = o->login_max_failures > 0 ? o->login_max_failures : 10;
  lo.window_ms = o->login_window_ms > 0 ? o->login_window_ms : 60000;
  rc = ml_auth_limiter_create(&lo, &a->limiter);
  if(rc) {
    rc = ml_fail(eb, rc, "cannot create the login limiter");
    goto out;
  }
  if(o->key) {
    unsigned char pw[32];
    a->key = ml_malloc(o->keylen);
    if(!a->key) {
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
      goto out;
    }
    memcpy(a->key, o->key, o->keylen);
    a->keylen = o->keylen;
    randombytes_buf(pw, sizeof(pw));
    rc = ml_auth_password_hash((const char *)pw, sizeof(pw), &a->cost, a->dummy_hash, eb);
    sodium_memzero(pw, sizeof(pw));
    if(rc)
      goto out;
  }
  *out = a;
  a = NULL;

out:
  ml_auth_destroy(&a);
  return rc;
}

void ml_auth_destroy(struct ml_auth **ap) {
  struct ml_auth *a;
  if(!ap || !*ap)
    return;
  a = *ap;
  if(a->key) {
    sodium_memzero(a->key, a->keylen);
    ml_free(a->key);
  }
  ml_auth_limiter_destroy(&a->limiter);
  ml_free(a);
  *ap = NULL;
}

ml_err ml_auth_in_tx(struct ml_auth *a, ml_err (*fn)(struct ml_conn *c, void *ctx), void *ctx,
                     struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = ml_repo_acquire(a->repo, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_begin(c, eb);
  if(rc)
    goto out;
  rc = fn(c, ctx);
  if(!rc)
    rc = ml_repo_commit(c, eb);

out:
  if(rc)
    ml_repo_rollback(c);
  ml_repo_release(&c);
  return rc;
}

/* ------------------------------------------------------------ limiter keys */

/* "u:<lowercased name>" and "a:<address>": names are unique whatever their
 * case, so "Alice" and "alice" share one count. */
static size_t user_key(const char *username, char *out, size_t size) {
  size_t n = 0;
  out[n++] = 'u';
  out[n++] = ':';
  for(const char *p = username ? username : ""; *p && n + 1 < size; p++)
    out[n++] = (char)tolower((unsigned char)*p);
  out[n] = '\0';
  return n;
}

static size_t addr_key(const char *client, char *out, size_t size) {
  int n = snprintf(out, size, "a:%s", client ? client : "");
  return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

ml_err ml_auth_login_allowed(struct ml_auth *a, const char *username, const char *client,
                             int64_t *retry_after_s) {
  char uk[ML_AUTH_USERNAME_MAX + 8], ak[96];
  int64_t now = ml_now_ms(), r1 = 0, r2 = 0;
  size_t ul = user_key(username, uk, sizeof(uk)), al = addr_key(client, ak, sizeof(ak));
  ml_err rc1 = ml_auth_limiter_check(a->limiter, uk, ul, now, &r1);
  ml_err rc2 = ml_auth_limiter_check(a->limiter, ak, al, now, &r2);
  *retry_after_s = r1 > r2 ? r1 : r2;
  return rc1 ? rc1 : rc2;
}

/* ------------------------------------------------------------------ tokens */

static void new_jti(char out[ML_JWT_JTI_MAX + 1]) {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof(raw));
  sodium_bin2hex(out, ML_JWT_JTI_MAX + 1, raw, sizeof(raw));
}

static ml_err sign_into(struct ml_auth *a, const struct ml_jwt_claims *c,
                        char out[ML_AUTH_TOKEN_MAX]) {
  struct ml_buf b;
  ml_err rc;
  ml_buf_init(&b, ML_AUTH_TOKEN_MAX - 1);
  rc = ml_jwt_sign(c, a->key, a->keylen, &b);
  if(!rc)
    memcpy(out, b.data, b.len + 1);
  ml_buf_free(&b);
  return rc;
}

static ml_err issue(struct ml_auth *a, const struct ml_user *u, enum ml_jwt_type type,
                    int64_t now_s, int64_t ttl, char jti[ML_JWT_JTI_MAX + 1],
                    char out[ML_AUTH_TOKEN_MAX]) {
  struct ml_jwt_claims c;
  memset(&c, 0, sizeof(c));
  c.type = type;
  c.user_id = u->id;
  c.iat = now_s;
  c.exp = now_s + ttl;
  c.ver = u->token_version;
  new_jti(c.jti);
  snprintf(c.role, sizeof(c.role), "%s", u->role);
  if(jti)
    memcpy(jti, c.jti, sizeof(c.jti));
  return sign_into(a, &c, out);
}

/* Is the row's state still what the token was issued for? */
static ml_err user_usable(const struct ml_user *u, int64_t ver, struct ml_errbuf *eb) {
  if(u->disabled)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "the user is disabled");
  if(u->token_version != ver)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token was revoked");
  return ML_OK;
}

struct login_write {
  struct ml_refresh t;
  int64_t now_ms;
};

/* Records the refresh token and the login; drops refresh tokens that
 * expired a day ago or more, so the table stays the size of the live
 * sessions. */
static ml_err login_write(struct ml_conn *c, void *ctx) {
  struct login_write *w = ctx;
  ml_err rc = ml_repo_refresh_add(c, &w->t, NULL);
  if(!rc)
    rc = ml_repo_user_touch_login(c, w->t.user_id, w->now_ms, NULL);
  if(!rc)
    rc = ml_repo_refresh_prune(c, w->now_ms - 86400 * 1000, NULL, NULL);
  return rc;
}

ml_err ml_auth_login(struct ml_auth *a, const char *username, const char *password,
                     size_t password_len, const char *client, struct ml_arena *arena,
                     struct ml_auth_tokens *out, int64_t *retry_after_s, struct ml_errbuf *eb) {
  char uk[ML_AUTH_USERNAME_MAX + 8], ak[96];
  char jti[ML_JWT_JTI_MAX + 1];
  size_t ul = user_key(username, uk, sizeof(uk)), al = addr_key(client, ak, sizeof(ak));
  struct ml_conn *c = NULL;
  struct ml_user u;
  struct login_write w;
  int found = 0;
  int64_t now_ms = ml_now_ms();
  ml_err rc;

  memset(out, 0, sizeof(*out));
  *retry_after_s = 0;
  if(!a->key)
    return ml_fail(eb, ML_ERR_CONFIG, "tokens are not configured");
  /* Checked again here: concurrent attempts may have passed the early check. */
  rc = ml_auth_login_allowed(a, username, client, retry_after_s);
  if(rc)
    return ml_fail(eb, rc, "too many failed logins; retry in %lld s", (long long)*retry_after_s);

  if(!ml_auth_username_check(username, strlen(username))) {
    rc = ml_repo_acquire(a->repo, &c, eb);
    if(!rc) {
      rc = ml_repo_user_get_by_name(c, username, arena, &u, NULL);
      ml_repo_release(&c);
      if(rc == ML_ERR_NOT_FOUND)
        rc = ML_OK;
      else if(!rc)
        found = 1;
    }
    if(rc)
      return ml_fail(eb, rc, "cannot look up the user");
  }
  /* The same work whether or not the user exists: the connection is back in
   * the pool before the slow part. */
  rc = ml_auth_password_verify(found ? u.password_hash : a->dummy_hash, password, password_len);
  if(rc || !found || u.disabled) {
    ml_auth_limiter_fail(a->limiter, uk, ul, now_ms);
    ml_auth_limiter_fail(a->limiter, ak, al, now_ms);
    ml_log(a->log, ML_LOG_INFO, NULL, "auth.login_failed", ML_LS("client", client),
           ML_LS("reason", !found       ? "unknown user"
                           : u.disabled ? "disabled"
                                        : "password"));
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, ML_AUTH_LOGIN_FAILED);
  }
  ml_auth_limiter_reset(a->limiter, uk, ul);

  rc = issue(a, &u, ML_JWT_ACCESS, now_ms / 1000, a->access_ttl, NULL, out->access);
  if(!rc)
    rc = issue(a, &u, ML_JWT_REFRESH, now_ms / 1000, a->refresh_ttl, jti, out->refresh);
  if(rc) {
    rc = ml_fail(eb, rc, "cannot sign a token");
    goto out;
  }
  memset(&w, 0, sizeof(w));
  w.t.jti = jti;
  w.t.user_id = u.id;
  w.t.expires_at = (now_ms / 1000 + a->refresh_ttl) * 1000;
  w.t.created_at = now_ms;
  w.now_ms = now_ms;
  rc = ml_auth_in_tx(a, login_write, &w, eb);
  if(rc) {
    ml_fail(eb, rc, "cannot record the login");
    goto out;
  }
  ml_log(a->log, ML_LOG_INFO, NULL, "auth.login", ML_LI("user_id", u.id), ML_LS("client", client));

out:
  if(rc)
    sodium_memzero(out, sizeof(*out));
  return rc;
}

/* Verifies a refresh token and its server-side record; fills *u. */
static ml_err check_refresh(struct ml_auth *a, struct ml_conn *c, const char *token, size_t len,
                            struct ml_arena *arena, struct ml_jwt_claims *claims, struct ml_user *u,
                            struct ml_errbuf *eb) {
  struct ml_refresh t;
  int64_t now_ms = ml_now_ms();
  ml_err rc =
      ml_jwt_verify(token, len, a->key, a->keylen, ML_JWT_REFRESH, now_ms / 1000, claims, eb);
  if(rc)
    return rc;
  rc = ml_repo_refresh_get(c, claims->jti, arena, &t, NULL);
  if(rc == ML_ERR_NOT_FOUND)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "refresh token is not known");
  if(rc)
    return ml_fail(eb, rc, "cannot look up the refresh token");
  if(t.revoked)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "refresh token was revoked");
  if(t.expires_at <= now_ms)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has expired");
  if(t.user_id != claims->user_id)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "refresh token does not match its record");
  rc = ml_repo_user_get(c, claims->user_id, arena, u, NULL);
  if(rc == ML_ERR_NOT_FOUND)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "the user no longer exists");
  if(rc)
    return ml_fail(eb, rc, "cannot look up the user");
  return user_usable(u, claims->ver, eb);
}

ml_err ml_auth_refresh(struct ml_auth *a, const char *refresh, size_t len, struct ml_arena *arena,
                       char access[ML_AUTH_TOKEN_MAX], struct ml_errbuf *eb) {
  struct ml_jwt_claims claims;
  struct ml_conn *c = NULL;
  struct ml_user u;
  ml_err rc;
  access[0] = '\0';
  if(!a->key)
    return ml_fail(eb, ML_ERR_CONFIG, "tokens are not configured");
  rc = ml_repo_acquire(a->repo, &c, eb);
  if(rc)
    return rc;
  rc = check_refresh(a, c, refresh, len, arena, &claims, &u, eb);
  ml_repo_release(&c);
  if(rc)
    return rc;
  rc = issue(a, &u, ML_JWT_ACCESS, ml_now_ms() / 1000, a->access_ttl, NULL, access);
  if(rc)
    return ml_fail(eb, rc, "cannot sign a token");
  return ML_OK;
}

ml_err ml_auth_revoke(struct ml_auth *a, const char *refresh, size_t len, struct ml_errbuf *eb) {
  struct ml_jwt_claims claims;
  struct ml_conn *c = NULL;
  ml_err rc;
  if(!a->key)
    return ml_fail(eb, ML_ERR_CONFIG, "tokens are not configured");
  /* Expired or revoked tokens need no revoking, but must still be ours. */
  rc = ml_jwt_verify(refresh, len, a->key, a->keylen, ML_JWT_REFRESH, ml_now_ms() / 1000, &claims,
                     eb);
  if(rc)
    return rc;
  rc = ml_repo_acquire(a->repo, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_refresh_revoke(c, claims.jti, eb);
  ml_repo_release(&c);
  if(rc == ML_ERR_NOT_FOUND)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "refresh token is not known");
  return rc;
}

ml_err ml_auth_authenticate(struct ml_auth *a, const char *token, size_t len,
                            struct ml_arena *arena, struct ml_principal *out,
                            struct ml_errbuf *eb) {
  struct ml_jwt_claims claims;
  struct ml_conn *c = NULL;
  struct ml_user u;
  enum ml_role role;
  ml_err rc;

  memset(out, 0, sizeof(*out));
  if(!a->key)
    return ml_fail(eb, ML_ERR_CONFIG, "tokens are not configured");
  rc = ml_jwt_verify(token, len, a->key, a->keylen, ML_JWT_ACCESS, ml_now_ms() / 1000, &claims, eb);
  if(rc)
    return rc;
  rc = ml_repo_acquire(a->repo, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_user_get(c, claims.user_id, arena, &u, NULL);
  ml_repo_release(&c);
  if(rc == ML_ERR_NOT_FOUND)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "the user no longer exists");
  if(rc)
    return ml_fail(eb, rc, "cannot look up the user");
  rc = user_usable(&u, claims.ver, eb);
  if(rc)
    return rc;
  if(ml_auth_role_parse(u.role, &role))
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "the user has no valid role");
  out->user_id = u.id;
  out->role = role;
  snprintf(out->username, sizeof(out->username), "%s", u.username);
  return ML_OK;
}

ml_err ml_auth_mint_access(struct ml_auth *a, const char *username, int64_t ttl,
                           struct ml_arena *arena, char out[ML_AUTH_TOKEN_MAX],
                           struct ml_errbuf *eb) {
  struct ml_user u;
  ml_err rc;
  out[0] = '\0';
  if(!a->key)
    return ml_fail(eb, ML_ERR_CONFIG, "tokens are not configured");
  if(ttl < 1)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "the lifetime must be positive");
  rc = ml_auth_user_find(a, username, arena, &u, eb);
  if(rc)
    return rc;
  if(u.disabled)
    return ml_fail(eb, ML_ERR_FORBIDDEN, "user %s is disabled", u.username);
  rc = issue(a, &u, ML_JWT_ACCESS, ml_now_ms() / 1000, ttl, NULL, out);
  if(rc)
    return ml_fail(eb, rc, "cannot sign a token");
  return ML_OK;
}
