/*
 * test_repo_users.c - the repository contract for users and refresh tokens
 * (src/db/repo.h, migration 2) against the SQLite backend, on real
 * database files in a temporary directory.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/arena.h"
#include "db/repo.h"

struct fixture {
  char dir[64];
  int seq;
  struct ml_repo *repo;
  struct ml_conn *c;
  struct ml_arena *a;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(path);
}

static int group_setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  if(!fx)
    return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/ml_users_test_XXXXXX");
  if(!mkdtemp(fx->dir)) {
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

static int group_teardown(void **state) {
  struct fixture *fx = *state;
  nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

/* A fresh, migrated database and one connection per test. */
static int setup(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  char url[128];
  snprintf(url, sizeof(url), "sqlite://%s/u%d.db", fx->dir, ++fx->seq);
  if(ml_repo_open(url, 2, 1, &fx->repo, &eb) || ml_repo_acquire(fx->repo, &fx->c, &eb))
    return -1;
  fx->a = ml_arena_create(0);
  return fx->a ? 0 : -1;
}

static int teardown(void **state) {
  struct fixture *fx = *state;
  ml_repo_release(&fx->c);
  ml_repo_close(&fx->repo);
  ml_arena_destroy(&fx->a);
  return 0;
}

static struct ml_user user(const char *name, const char *role) {
  struct ml_user u;
  memset(&u, 0, sizeof(u));
  u.username = name;
  u.password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA";
  u.role = role;
  u.created_at = 1700000000000;
  return u;
}

static int64_t add(struct fixture *fx, const char *name, const char *role) {
  struct ml_user u = user(name, role);
  struct ml_errbuf eb = {{0}};
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  assert_true(u.id > 0);
  return u.id;
}

static void test_insert_get(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u = user("Alice", "editor"), got;
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  assert_int_equal(u.id, 1);
  assert_int_equal(ml_repo_user_get(fx->c, u.id, fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.id, 1);
  assert_string_equal(got.username, "Alice");
  assert_string_equal(got.password_hash, u.password_hash);
  assert_string_equal(got.role, "editor");
  assert_int_equal(got.disabled, 0);
  assert_int_equal(got.token_version, 0);
  assert_int_equal(got.created_at, 1700000000000);
  assert_int_equal(got.last_login_at, 0);
  /* by name, whatever the case */
  memset(&got, 0, sizeof(got));
  assert_int_equal(ml_repo_user_get_by_name(fx->c, "aLICE", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.id, 1);
  assert_string_equal(got.username, "Alice");
  assert_int_equal(ml_repo_user_get_by_name(fx->c, "Alic", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_get_by_name(fx->c, "Alice%", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_get(fx->c, 2, fx->a, &got, &eb), ML_ERR_NOT_FOUND);
}

static void test_unique_and_checked(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u = user("ALICE", "viewer");
  int64_t n = -1;
  add(fx, "alice", "admin");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_ERR_CONFLICT);
  assert_int_equal(u.id, 0);
  u = user("bob", "root");
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
}

static void test_list(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user *items = NULL;
  size_t n = 0;
  int64_t count = 0;
  char name[16];
  for(int i = 0; i < 25; i++) {
    snprintf(name, sizeof(name), "user%02d", i);
    add(fx, name, i % 3 ? "viewer" : "editor");
  }
  assert_int_equal(ml_repo_user_list(fx->c, 0, 10, fx->a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 10);
  assert_int_equal(count, 25);
  assert_string_equal(items[0].username, "user00");
  assert_int_equal(items[9].id, 10);
  assert_int_equal(ml_repo_user_list(fx->c, 20, 10, fx->a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 5);
  assert_string_equal(items[4].username, "user24");
  assert_int_equal(ml_repo_user_list(fx->c, 100, 10, fx->a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(count, 25);
  assert_int_equal(ml_repo_user_list(fx->c, 0, 0, fx->a, &items, &n, &count, &eb),
                   ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_repo_user_list(fx->c, 0, 1001, fx->a, &items, &n, &count, &eb),
                   ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_repo_user_list(fx->c, -1, 10, fx->a, &items, &n, &count, &eb),
                   ML_ERR_BAD_REQUEST);
}

static void test_update_touch_count(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u, got;
  int64_t id = add(fx, "carol", "admin"), n = 0;
  add(fx, "dave", "admin");
  add(fx, "erin", "viewer");
  assert_int_equal(ml_repo_user_count(fx->c, 1, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &u, &eb), ML_OK);
  u.role = "editor";
  u.disabled = 1;
  u.token_version = 5;
  u.password_hash = "new-hash";
  u.username = "mallory"; /* not written */
  u.created_at = 1;       /* not written */
  assert_int_equal(ml_repo_user_update(fx->c, &u, &eb), ML_OK);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &got, &eb), ML_OK);
  assert_string_equal(got.username, "carol");
  assert_string_equal(got.role, "editor");
  assert_string_equal(got.password_hash, "new-hash");
  assert_int_equal(got.disabled, 1);
  assert_int_equal(got.token_version, 5);
  assert_int_equal(got.created_at, 1700000000000);
  assert_int_equal(ml_repo_user_count(fx->c, 1, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 3);
  assert_int_equal(ml_repo_user_touch_login(fx->c, id, 1700000123456, &eb), ML_OK);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.last_login_at, 1700000123456);
  assert_int_equal(got.token_version, 5);
  u.id = 999;
  assert_int_equal(ml_repo_user_update(fx->c, &u, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_touch_login(fx->c, 999, 1, &eb), ML_ERR_NOT_FOUND);
}

static struct ml_refresh token(const char *jti, int64_t user_id, int64_t expires_at) {
  struct ml_refresh t;
  memset(&t, 0, sizeof(t));
  t.jti = jti;
  t.user_id = user_id;
  t.expires_at = expires_at;
  t.created_at = 1700000000000;
  return t;
}

static void test_refresh_tokens(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_refresh t, got;
  int64_t alice = add(fx, "alice", "editor"), bob = add(fx, "bob", "viewer"), n = -1;

  t = token("j1", alice, 2000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  t = token("j2", alice, 3000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  t = token("j3", bob, 1000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  /* the same jti twice; a user that does not exist */
  t = token("j1", bob, 5000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_ERR_CONFLICT);
  t = token("j9", 999, 5000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_ERR_NOT_FOUND);

  assert_int_equal(ml_repo_refresh_get(fx->c, "j1", fx->a, &got, &eb), ML_OK);
  assert_string_equal(got.jti, "j1");
  assert_int_equal(got.user_id, alice);
  assert_int_equal(got.expires_at, 2000);
  assert_int_equal(got.revoked, 0);
  assert_int_equal(got.created_at, 1700000000000);
  assert_int_equal(ml_repo_refresh_get(fx->c, "J1", fx->a, &got, &eb), ML_ERR_NOT_FOUND);

  assert_int_equal(ml_repo_refresh_revoke(fx->c, "j1", &eb), ML_OK);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j1", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.revoked, 1);
  assert_int_equal(ml_repo_refresh_revoke(fx->c, "nope", &eb), ML_ERR_NOT_FOUND);

  /* every token of alice: j2 was still live */
  assert_int_equal(ml_repo_refresh_revoke_user(fx->c, alice, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j2", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.revoked, 1);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j3", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.revoked, 0);

  /* prune what expired before 2500: j1 and j3 */
  assert_int_equal(ml_repo_refresh_prune(fx->c, 2500, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j1", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j2", fx->a, &got, &eb), ML_OK);
}

static void test_delete_cascades(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_refresh t = token("k1", 0, 5000), got;
  struct ml_user u;
  int64_t id = add(fx, "frank", "viewer");
  t.user_id = id;
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  assert_int_equal(ml_repo_user_delete(fx->c, id, &eb), ML_OK);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &u, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_refresh_get(fx->c, "k1", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_delete(fx->c, id, &eb), ML_ERR_NOT_FOUND);
  /* ids are never reused */
  assert_int_equal(add(fx, "frank", "viewer"), id + 1);
}

/* Inside a transaction, a failed insert leaves the transaction usable. */
static void test_in_transaction(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u = user("gina", "viewer");
  int64_t n = 0;
  assert_int_equal(ml_repo_begin(fx->c, &eb), ML_OK);
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  u = user("GINA", "viewer");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_ERR_CONFLICT);
  u = user("hank", "viewer");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  assert_int_equal(ml_repo_commit(fx->c, &eb), ML_OK);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  /* and a rollback undoes */
  assert_int_equal(ml_repo_begin(fx->c, &eb), ML_OK);
  u = user("ivan", "viewer");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  ml_repo_rollback(fx->c);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_insert_get, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unique_and_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_update_touch_count, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_tokens, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_cascades, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in_transaction, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
