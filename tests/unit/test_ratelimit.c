/*
 * test_ratelimit.c - the login limiter (src/auth/limiter.h): failures per
 * key in a fixed window, Retry-After, expiry, reset, and a table that never
 * grows whatever the number of keys.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/limiter.h"

#define T0 1700000000000LL

static int setup(void **state) {
  (void)state;
  return sodium_init() < 0 ? -1 : 0;
}

static struct ml_auth_limiter *make(size_t slots, int max, int64_t window) {
  struct ml_auth_limiter_opts o = {slots, max, window};
  struct ml_auth_limiter *l = NULL;
  assert_int_equal(ml_auth_limiter_create(&o, &l), ML_OK);
  assert_non_null(l);
  return l;
}

static ml_err check(struct ml_auth_limiter *l, const char *k, int64_t now, int64_t *retry) {
  return ml_auth_limiter_check(l, k, strlen(k), now, retry);
}

static void fail_once(struct ml_auth_limiter *l, const char *k, int64_t now) {
  ml_auth_limiter_fail(l, k, strlen(k), now);
}

static void test_blocks_after_max(void **state) {
  struct ml_auth_limiter *l = make(0, 10, 60000);
  int64_t retry = -1;
  (void)state;
  for(int i = 0; i < 9; i++) {
    fail_once(l, "u:alice", T0 + i * 1000);
    assert_int_equal(check(l, "u:alice", T0 + i * 1000, &retry), ML_OK);
    assert_int_equal(retry, 0);
  }
  fail_once(l, "u:alice", T0 + 9000);
  assert_int_equal(check(l, "u:alice", T0 + 9000, &retry), ML_ERR_RATE_LIMITED);
  assert_int_equal(retry, 51); /* the window started at T0 */
  assert_int_equal(check(l, "u:alice", T0 + 59001, &retry), ML_ERR_RATE_LIMITED);
  assert_int_equal(retry, 1); /* rounded up, never 0 */
  /* other keys are not affected */
  assert_int_equal(check(l, "u:bob", T0 + 9000, &retry), ML_OK);
  assert_int_equal(check(l, "a:127.0.0.1", T0 + 9000, &retry), ML_OK);
  /* the window ends */
  assert_int_equal(check(l, "u:alice", T0 + 60000, &retry), ML_OK);
  /* a failure after it starts a new window with a count of one */
  fail_once(l, "u:alice", T0 + 60000);
  assert_int_equal(check(l, "u:alice", T0 + 60001, &retry), ML_OK);
  ml_auth_limiter_destroy(&l);
  assert_null(l);
  ml_auth_limiter_destroy(&l); /* NULL is fine */
}

static void test_reset(void **state) {
  struct ml_auth_limiter *l = make(64, 3, 60000);
  int64_t retry;
  (void)state;
  for(int i = 0; i < 3; i++)
    fail_once(l, "u:carol", T0);
  assert_int_equal(check(l, "u:carol", T0, &retry), ML_ERR_RATE_LIMITED);
  ml_auth_limiter_reset(l, "u:carol", 7);
  assert_int_equal(check(l, "u:carol", T0, &retry), ML_OK);
  ml_auth_limiter_reset(l, "u:nobody", 8); /* unknown key: nothing happens */
  ml_auth_limiter_destroy(&l);
}

/* Keys are bytes: a prefix of a key is another key. */
static void test_keys_are_exact(void **state) {
  struct ml_auth_limiter *l = make(64, 1, 60000);
  int64_t retry;
  (void)state;
  fail_once(l, "u:dave", T0);
  assert_int_equal(check(l, "u:dave", T0, &retry), ML_ERR_RATE_LIMITED);
  assert_int_equal(ml_auth_limiter_check(l, "u:dave", 5, T0, &retry), ML_OK);
  assert_int_equal(check(l, "u:davE", T0, &retry), ML_OK);
  ml_auth_limiter_destroy(&l);
}

/* A million distinct keys through a 64-slot table: memory stays put. */
static void test_bounded(void **state) {
  struct ml_auth_limiter *l = make(64, 5, 60000);
  char key[32];
  int64_t retry;
  (void)state;
  for(int i = 0; i < 1000000; i++) {
    int n = snprintf(key, sizeof(key), "a:10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    ml_auth_limiter_fail(l, key, (size_t)n, T0 + i / 1000);
  }
  assert_true(ml_auth_limiter_used(l, T0 + 1000) <= 64);
  assert_true(ml_auth_limiter_used(l, T0 + 1000) > 0);
  /* everything has expired a minute later */
  assert_int_equal(ml_auth_limiter_used(l, T0 + 1000 + 60000 + 1000), 0);
  assert_int_equal(check(l, "a:10.0.0.1", T0 + 1000, &retry), ML_OK);
  ml_auth_limiter_destroy(&l);
}

/* A new key takes an expired slot before it evicts a live count: one set
 * of 8 slots, 7 expired counts and one blocked key; 7 new keys must leave
 * the blocked key blocked. */
static void test_eviction_prefers_expired(void **state) {
  struct ml_auth_limiter *l = make(8, 10, 60000);
  char key[32];
  int64_t retry;
  (void)state;
  for(int i = 0; i < 7; i++) {
    snprintf(key, sizeof(key), "old%d", i);
    fail_once(l, key, T0);
  }
  for(int i = 0; i < 10; i++)
    fail_once(l, "victim", T0 + 50000);
  assert_int_equal(check(l, "victim", T0 + 61000, &retry), ML_ERR_RATE_LIMITED);
  for(int i = 0; i < 7; i++) {
    snprintf(key, sizeof(key), "new%d", i);
    fail_once(l, key, T0 + 61000);
  }
  assert_int_equal(check(l, "victim", T0 + 61000, &retry), ML_ERR_RATE_LIMITED);
  assert_int_equal(retry, 49);
  assert_int_equal(ml_auth_limiter_used(l, T0 + 61000), 8);
  ml_auth_limiter_destroy(&l);
}

static void test_bad_options(void **state) {
  struct ml_auth_limiter_opts o = {8, 0, 60000};
  struct ml_auth_limiter *l = NULL;
  (void)state;
  assert_int_not_equal(ml_auth_limiter_create(&o, &l), ML_OK);
  assert_null(l);
  o.max_failures = 1;
  o.window_ms = 0;
  assert_int_not_equal(ml_auth_limiter_create(&o, &l), ML_OK);
  assert_null(l);
}

struct hammer {
  struct ml_auth_limiter *l;
  int id;
};

static void *hammer_main(void *arg) {
  struct hammer *h = arg;
  char key[32];
  int64_t retry;
  for(int i = 0; i < 20000; i++) {
    int n = snprintf(key, sizeof(key), "k%d", (i * 31 + h->id) % 500);
    ml_auth_limiter_fail(h->l, key, (size_t)n, T0 + i);
    ml_auth_limiter_check(h->l, key, (size_t)n, T0 + i, &retry);
    if(i % 7 == 0)
      ml_auth_limiter_reset(h->l, key, (size_t)n);
  }
  return NULL;
}

/* Event-loop threads check while workers count: no torn slots, no crash. */
static void test_threads(void **state) {
  struct ml_auth_limiter *l = make(256, 10, 60000);
  pthread_t th[4];
  struct hammer h[4];
  (void)state;
  for(int i = 0; i < 4; i++) {
    h[i] = (struct hammer){l, i};
    assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
  }
  for(int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_true(ml_auth_limiter_used(l, T0 + 20000) <= 256);
  ml_auth_limiter_destroy(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocks_after_max),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_keys_are_exact),
      cmocka_unit_test(test_bounded),
      cmocka_unit_test(test_eviction_prefers_expired),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
