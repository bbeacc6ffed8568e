/*
 * test_auth.c - the authentication domain (src/auth/auth.h) on a real
 * SQLite database: logins and their uniform refusals, the rate limit,
 * refresh and revocation (password change, disabling, deletion, logout),
 * roles read from the row, the last-admin rule, and the signing secret's
 * file. Passwords use libsodium's smallest cost to stay fast.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "core/alloc.h"
#include "core/timeutil.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define PW "correct horse"
#define CLIENT "192.0.2.1"

struct fixture {
  char dir[64];
  int seq;
  struct ml_repo *repo;
  struct ml_auth *auth;
  struct ml_arena *a;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(path);
}

static int group_setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  if(!fx || sodium_init() < 0)
    return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/ml_auth_test_XXXXXX");
  if(!mkdtemp(fx->dir))
    return -1;
  *state = fx;
  return 0;
}

static int group_teardown(void **state) {
  struct fixture *fx = *state;
  nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static int setup(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_auth_opts o;
  char url[128];
  snprintf(url, sizeof(url), "sqlite://%s/a%d.db", fx->dir, ++fx->seq);
  if(ml_repo_open(url, 4, 1, &fx->repo, &eb))
    return -1;
  memset(&o, 0, sizeof(o));
  o.repo = fx->repo;
  o.key = (const unsigned char *)KEY;
  o.keylen = 32;
  o.access_ttl = 900;
  o.refresh_ttl = 86400;
  o.cost = ml_auth_password_cost_min();
  o.login_max_failures = 3;
  if(ml_auth_create(&o, &fx->auth, &eb))
    return -1;
  fx->a = ml_arena_create(0);
  return fx->a ? 0 : -1;
}

static int teardown(void **state) {
  struct fixture *fx = *state;
  ml_auth_destroy(&fx->auth);
  ml_repo_close(&fx->repo);
  ml_arena_destroy(&fx->a);
  return 0;
}

static int64_t mkuser(struct fixture *fx, const char *name, const char *role) {
  struct ml_field_errors fe;
  struct ml_errbuf eb = {{0}};
  struct ml_user u;
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(ml_auth_user_create(fx->auth, name, PW, strlen(PW), role, fx->a, &u, &fe, &eb),
                   ML_OK);
  return u.id;
}

static ml_err login(struct fixture *fx, const char *name, const char *pw, const char *client,
                    struct ml_auth_tokens *t, struct ml_errbuf *eb) {
  int64_t retry = 0;
  ml_errbuf_clear(eb);
  return ml_auth_login(fx->auth, name, pw, strlen(pw), client, fx->a, t, &retry, eb);
}

static ml_err authn(struct fixture *fx, const char *tok, struct ml_principal *who,
                    struct ml_errbuf *eb) {
  ml_errbuf_clear(eb);
  return ml_auth_authenticate(fx->auth, tok, strlen(tok), fx->a, who, eb);
}

static ml_err refresh(struct fixture *fx, const char *tok, char *access, struct ml_errbuf *eb) {
  ml_errbuf_clear(eb);
  return ml_auth_refresh(fx->auth, tok, strlen(tok), fx->a, access, eb);
}

static void test_login_refresh_authenticate(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_tokens t;
  struct ml_principal who;
  struct ml_errbuf eb = {{0}};
  struct ml_jwt_claims c;
  struct ml_user u;
  char access[ML_AUTH_TOKEN_MAX];
  int64_t id = mkuser(fx, "alice", "editor");

  assert_int_equal(login(fx, "alice", PW, CLIENT, &t, &eb), ML_OK);
  assert_int_equal(authn(fx, t.access, &who, &eb), ML_OK);
  assert_int_equal(who.user_id, id);
  assert_int_equal(who.role, ML_ROLE_EDITOR);
  assert_string_equal(who.username, "alice");
  /* SimpleJWT's claims */
  assert_int_equal(ml_jwt_verify(t.access, strlen(t.access), (const unsigned char *)KEY, 32,
                                 ML_JWT_ACCESS, ml_now_ms() / 1000, &c, &eb),
                   ML_OK);
  assert_int_equal(c.user_id, id);
  assert_int_equal(c.exp - c.iat, 900);
  assert_int_equal(strlen(c.jti), 32);
  assert_string_equal(c.role, "editor");
  assert_int_equal(ml_jwt_verify(t.refresh, strlen(t.refresh), (const unsigned char *)KEY, 32,
                                 ML_JWT_REFRESH, ml_now_ms() / 1000, &c, &eb),
                   ML_OK);
  assert_int_equal(c.exp - c.iat, 86400);
  /* the login is recorded; the name matches whatever its case */
  assert_int_equal(ml_auth_user_get(fx->auth, id, fx->a, &u, &eb), ML_OK);
  assert_true(u.last_login_at > 0);
  assert_int_equal(login(fx, "ALICE", PW, CLIENT, &t, &eb), ML_OK);

  assert_int_equal(refresh(fx, t.refresh, access, &eb), ML_OK);
  assert_int_equal(authn(fx, access, &who, &eb), ML_OK);
  assert_int_equal(who.user_id, id);
  /* the types do not mix */
  assert_int_equal(authn(fx, t.refresh, &who, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(refresh(fx, t.access, access, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(authn(fx, "garbage", &who, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(refresh(fx, "", access, &eb), ML_ERR_UNAUTHORIZED);
}

/* One message for every refusal: no user enumeration. */
static void test_login_refusals_look_alike(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_tokens t;
  struct ml_errbuf e1 = {{0}}, e2 = {{0}}, e3 = {{0}}, e4 = {{0}};
  struct ml_auth_user_change ch = {NULL, NULL, 0, 1};
  struct ml_field_errors fe;
  struct ml_user u;
  int64_t id;
  mkuser(fx, "admin", "admin");
  id = mkuser(fx, "bob", "viewer");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(login(fx, "bob", "wrong password", "a1", &t, &e1), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "nobody", PW, "a2", &t, &e2), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "bad name!", PW, "a3", &t, &e3), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_user_update(fx->auth, id, &ch, fx->a, &u, &fe, &e4), ML_OK);
  assert_int_equal(login(fx, "bob", PW, "a4", &t, &e4), ML_ERR_UNAUTHORIZED);
  assert_string_equal(e1.msg, ML_AUTH_LOGIN_FAILED);
  assert_string_equal(e2.msg, ML_AUTH_LOGIN_FAILED);
  assert_string_equal(e3.msg, ML_AUTH_LOGIN_FAILED);
  assert_string_equal(e4.msg, ML_AUTH_LOGIN_FAILED);
  assert_string_equal(t.access, "");
  assert_string_equal(t.refresh, "");
}

static void test_rate_limit(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_tokens t;
  struct ml_errbuf eb = {{0}};
  int64_t retry = 0;
  mkuser(fx, "carol", "viewer");
  mkuser(fx, "dave", "viewer");
  /* per username: three failures from three addresses */
  for(int i = 0; i < 3; i++) {
    char client[16];
    snprintf(client, sizeof(client), "10.0.0.%d", i);
    assert_int_equal(login(fx, "carol", "nope nope", client, &t, &eb), ML_ERR_UNAUTHORIZED);
  }
  assert_int_equal(ml_auth_login_allowed(fx->auth, "carol", "10.9.9.9", &retry),
                   ML_ERR_RATE_LIMITED);
  assert_true(retry >= 1 && retry <= 60);
  assert_int_equal(ml_auth_login_allowed(fx->auth, "CAROL", "10.9.9.9", &retry),
                   ML_ERR_RATE_LIMITED);
  /* even the right password waits */
  assert_int_equal(login(fx, "carol", PW, "10.9.9.9", &t, &eb), ML_ERR_RATE_LIMITED);
  /* per address: three failures for three names */
  assert_int_equal(login(fx, "x1", "nope nope", "172.16.0.1", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "x2", "nope nope", "172.16.0.1", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "x3", "nope nope", "172.16.0.1", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "dave", PW, "172.16.0.1", &t, &eb), ML_ERR_RATE_LIMITED);
  /* other names from other addresses are not affected */
  assert_int_equal(login(fx, "dave", PW, "172.16.0.2", &t, &eb), ML_OK);
}

static void test_success_resets_username_only(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_tokens t;
  struct ml_errbuf eb = {{0}};
  int64_t retry;
  mkuser(fx, "erin", "viewer");
  assert_int_equal(login(fx, "erin", "nope nope", "10.1.1.1", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "erin", "nope nope", "10.1.1.1", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "erin", PW, "10.1.1.1", &t, &eb), ML_OK);
  assert_int_equal(login(fx, "erin", "nope nope", "10.1.1.2", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_login_allowed(fx->auth, "erin", "10.1.1.3", &retry), ML_OK);
  /* the address kept its two failures: one more blocks it */
  assert_int_equal(login(fx, "erin", "nope nope", "10.1.1.1", &t, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_login_allowed(fx->auth, "someone", "10.1.1.1", &retry),
                   ML_ERR_RATE_LIMITED);
}

static void test_password_change_revokes(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_tokens t, t2;
  struct ml_principal who;
  struct ml_errbuf eb = {{0}};
  struct ml_field_errors fe;
  struct ml_auth_user_change ch = {NULL, "a new password", 14, -1};
  struct ml_user u;
  char access[ML_AUTH_TOKEN_MAX];
  int64_t id = mkuser(fx, "frank", "editor");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(login(fx, "frank", PW, CLIENT, &t, &eb), ML_OK);
  assert_int_equal(ml_auth_user_update(fx->auth, id, &ch, fx->a, &u, &fe, &eb), ML_OK);
  assert_int_equal(u.token_version, 1);
  assert_int_equal(authn(fx, t.access, &who, &eb), ML_ERR_UNAUTHORIZED);
  assert_string_equal(eb.msg, "token was revoked");
  assert_int_equal(refresh(fx, t.refresh, access, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "frank", PW, "10.2.0.1", &t2, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "frank", "a new password", "10.2.0.2", &t2, &eb), ML_OK);
  assert_int_equal(authn(fx, t2.access, &who, &eb), ML_OK);
  /* a role change takes effect at once, without new tokens */
  ch = (struct ml_auth_user_change){"viewer", NULL, 0, -1};
  assert_int_equal(ml_auth_user_update(fx->auth, id, &ch, fx->a, &u, &fe, &eb), ML_OK);
  assert_int_equal(authn(fx, t2.access, &who, &eb), ML_OK);
  assert_int_equal(who.role, ML_ROLE_VIEWER);
}

static void test_disable_and_delete_revoke(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_tokens t, t2;
  struct ml_principal who;
  struct ml_errbuf eb = {{0}};
  struct ml_field_errors fe;
  struct ml_auth_user_change ch = {NULL, NULL, 0, 1};
  struct ml_user u;
  char access[ML_AUTH_TOKEN_MAX];
  int64_t id = mkuser(fx, "gina", "editor");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(login(fx, "gina", PW, CLIENT, &t, &eb), ML_OK);
  assert_int_equal(ml_auth_user_update(fx->auth, id, &ch, fx->a, &u, &fe, &eb), ML_OK);
  assert_int_equal(authn(fx, t.access, &who, &eb), ML_ERR_UNAUTHORIZED);
  assert_string_equal(eb.msg, "the user is disabled");
  assert_int_equal(refresh(fx, t.refresh, access, &eb), ML_ERR_UNAUTHORIZED);
  /* enabled again: old tokens stay dead, a new login works */
  ch.disabled = 0;
  assert_int_equal(ml_auth_user_update(fx->auth, id, &ch, fx->a, &u, &fe, &eb), ML_OK);
  assert_int_equal(authn(fx, t.access, &who, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(refresh(fx, t.refresh, access, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(login(fx, "gina", PW, CLIENT, &t2, &eb), ML_OK);
  assert_int_equal(authn(fx, t2.access, &who, &eb), ML_OK);
  /* logout: the refresh token goes, twice is fine */
  assert_int_equal(ml_auth_revoke(fx->auth, t2.refresh, strlen(t2.refresh), &eb), ML_OK);
  assert_int_equal(ml_auth_revoke(fx->auth, t2.refresh, strlen(t2.refresh), &eb), ML_OK);
  assert_int_equal(refresh(fx, t2.refresh, access, &eb), ML_ERR_UNAUTHORIZED);
  assert_string_equal(eb.msg, "refresh token was revoked");
  assert_int_equal(ml_auth_revoke(fx->auth, t2.access, strlen(t2.access), &eb),
                   ML_ERR_UNAUTHORIZED);
  /* deleted */
  assert_int_equal(login(fx, "gina", PW, CLIENT, &t2, &eb), ML_OK);
  assert_int_equal(ml_auth_user_delete(fx->auth, id, &eb), ML_OK);
  assert_int_equal(authn(fx, t2.access, &who, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(refresh(fx, t2.refresh, access, &eb), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_user_delete(fx->auth, id, &eb), ML_ERR_NOT_FOUND);
}

static void test_last_admin(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_field_errors fe;
  struct ml_user u;
  struct ml_auth_user_change demote = {"editor", NULL, 0, -1}, disable = {NULL, NULL, 0, 1};
  int64_t a1 = mkuser(fx, "root1", "admin"), a2;
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(ml_auth_user_update(fx->auth, a1, &demote, fx->a, &u, &fe, &eb),
                   ML_ERR_CONFLICT);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_auth_user_update(fx->auth, a1, &disable, fx->a, &u, &fe, &eb),
                   ML_ERR_CONFLICT);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_auth_user_delete(fx->auth, a1, &eb), ML_ERR_CONFLICT);
  /* the row is as it was */
  assert_int_equal(ml_auth_user_get(fx->auth, a1, fx->a, &u, &eb), ML_OK);
  assert_string_equal(u.role, "admin");
  assert_int_equal(u.disabled, 0);
  /* with a second admin, one may go */
  a2 = mkuser(fx, "root2", "admin");
  assert_int_equal(ml_auth_user_update(fx->auth, a1, &demote, fx->a, &u, &fe, &eb), ML_OK);
  assert_int_equal(ml_auth_user_delete(fx->auth, a2, &eb), ML_ERR_CONFLICT);
  /* a disabled admin does not count */
  assert_int_equal(ml_auth_user_update(fx->auth, a1,
                                       &(struct ml_auth_user_change){"admin", NULL, 0, 1}, fx->a,
                                       &u, &fe, &eb),
                   ML_OK);
  assert_int_equal(ml_auth_user_delete(fx->auth, a2, &eb), ML_ERR_CONFLICT);
}

static void test_create_validation(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_field_errors fe;
  struct ml_user u;
  char long_name[160];
  mkuser(fx, "henry", "viewer");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(
      ml_auth_user_create(fx->auth, "HENRY", PW, strlen(PW), "viewer", fx->a, &u, &fe, &eb),
      ML_ERR_VALIDATION);
  assert_int_equal(fe.n, 1);
  assert_string_equal(fe.f[0].name, "username");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(
      ml_auth_user_create(fx->auth, "bad name", "short", 5, "root", fx->a, &u, &fe, &eb),
      ML_ERR_VALIDATION);
  assert_int_equal(fe.n, 3);
  memset(long_name, 'x', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(
      ml_auth_user_create(fx->auth, long_name, PW, strlen(PW), "viewer", fx->a, &u, &fe, &eb),
      ML_ERR_VALIDATION);
  assert_string_equal(fe.f[0].name, "username");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(ml_auth_user_create(fx->auth, "ok.name+tag@x_y-z", PW, strlen(PW), "admin",
                                       fx->a, &u, &fe, &eb),
                   ML_OK);
  assert_non_null(ml_auth_username_check("é", 2));
  assert_non_null(ml_auth_username_check("a\0b", 3));
  assert_non_null(ml_auth_username_check("", 0));
}

static void test_mint_access(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_field_errors fe;
  struct ml_principal who;
  struct ml_user u;
  struct ml_jwt_claims c;
  char tok[ML_AUTH_TOKEN_MAX];
  int64_t id = mkuser(fx, "ivan", "editor");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(ml_auth_mint_access(fx->auth, "ivan", 3600, fx->a, tok, &eb), ML_OK);
  assert_int_equal(authn(fx, tok, &who, &eb), ML_OK);
  assert_int_equal(who.user_id, id);
  assert_int_equal(ml_jwt_verify(tok, strlen(tok), (const unsigned char *)KEY, 32, ML_JWT_ACCESS,
                                 ml_now_ms() / 1000, &c, &eb),
                   ML_OK);
  assert_int_equal(c.exp - c.iat, 3600);
  assert_int_equal(ml_auth_mint_access(fx->auth, "nobody", 3600, fx->a, tok, &eb),
                   ML_ERR_NOT_FOUND);
  assert_int_equal(ml_auth_user_update(fx->auth, id,
                                       &(struct ml_auth_user_change){NULL, NULL, 0, 1}, fx->a, &u,
                                       &fe, &eb),
                   ML_OK);
  assert_int_equal(ml_auth_mint_access(fx->auth, "ivan", 3600, fx->a, tok, &eb), ML_ERR_FORBIDDEN);
}

static void test_no_key(void **state) {
  struct fixture *fx = *state;
  struct ml_auth_opts o;
  struct ml_auth *a = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_auth_tokens t;
  int64_t retry;
  memset(&o, 0, sizeof(o));
  o.repo = fx->repo;
  o.cost = ml_auth_password_cost_min();
  assert_int_equal(ml_auth_create(&o, &a, &eb), ML_OK);
  assert_int_equal(ml_auth_login(a, "x", "y", 1, "z", fx->a, &t, &retry, &eb), ML_ERR_CONFIG);
  ml_auth_destroy(&a);
  o.key = (const unsigned char *)KEY;
  o.keylen = 31;
  assert_int_equal(ml_auth_create(&o, &a, &eb), ML_ERR_CONFIG);
  assert_null(a);
}

/* ------------------------------------------------------------------ secret */

static void test_secret_from_env(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  unsigned char *key = NULL;
  size_t len = 0;
  assert_int_equal(
      ml_auth_secret_load("0123456789abcdef0123456789abcde", fx->dir, &key, &len, NULL, &eb),
      ML_ERR_CONFIG);
  assert_null(key);
  assert_non_null(strstr(eb.msg, "MEDIALIB_JWT_SECRET has 31 bytes"));
  assert_null(strstr(eb.msg, "0123456789")); /* the secret is never in a message */
  assert_int_equal(ml_auth_secret_load(KEY, fx->dir, &key, &len, NULL, &eb), ML_OK);
  assert_int_equal(len, 32);
  assert_memory_equal(key, KEY, 32);
  ml_auth_secret_free(&key, len);
  assert_null(key);
}

static void test_secret_file(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  unsigned char *k1 = NULL, *k2 = NULL;
  size_t l1 = 0, l2 = 0;
  int generated = -1;
  char dir[128], path[160];
  struct stat st;
  snprintf(dir, sizeof(dir), "%s/secret%d", fx->dir, ++fx->seq);
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(path, sizeof(path), "%s/jwt.secret", dir);
  assert_int_equal(ml_auth_secret_load("", dir, &k1, &l1, &generated, &eb), ML_OK);
  assert_int_equal(generated, 1);
  assert_int_equal(l1, 64);
  for(size_t i = 0; i < l1; i++)
    assert_non_null(strchr("0123456789abcdef", k1[i]));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* reused, not regenerated */
  assert_int_equal(ml_auth_secret_load(NULL, dir, &k2, &l2, &generated, &eb), ML_OK);
  assert_int_equal(generated, 0);
  assert_int_equal(l2, l1);
  assert_memory_equal(k1, k2, l1);
  ml_auth_secret_free(&k2, l2);
  /* readable by others: refused */
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(ml_auth_secret_load(NULL, dir, &k2, &l2, NULL, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "chmod 600"));
  /* too short: refused */
  {
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "short\n", 6), 6);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
    ml_errbuf_clear(&eb);
    assert_int_equal(ml_auth_secret_load(NULL, dir, &k2, &l2, NULL, &eb), ML_ERR_CONFIG);
    assert_null(k2);
  }
  /* a symlink is not followed */
  {
    char target[200];
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    assert_int_equal(rename(path, target), 0);
    assert_int_equal(symlink(target, path), 0);
    ml_errbuf_clear(&eb);
    assert_int_not_equal(ml_auth_secret_load(NULL, dir, &k2, &l2, NULL, &eb), ML_OK);
    assert_null(k2);
  }
  /* an environment secret wins over the file */
  assert_int_equal(ml_auth_secret_load(KEY, dir, &k2, &l2, NULL, &eb), ML_OK);
  assert_memory_equal(k2, KEY, 32);
  ml_auth_secret_free(&k2, l2);
  ml_auth_secret_free(&k1, l1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_login_refresh_authenticate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_login_refusals_look_alike, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_success_resets_username_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_password_change_revokes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disable_and_delete_revoke, setup, teardown),
      cmocka_unit_test_setup_teardown(test_last_admin, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mint_access, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_key, setup, teardown),
      cmocka_unit_test(test_secret_from_env),
      cmocka_unit_test(test_secret_file),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
