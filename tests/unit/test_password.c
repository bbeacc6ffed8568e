/*
 * test_password.c - Argon2id hashing (src/auth/password.h). The tests use
 * libsodium's smallest cost so they stay fast under valgrind; the cost
 * travels inside each hash string, so verification is the same code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/password.h"

static int setup(void **state) {
  (void)state;
  return sodium_init() < 0 ? -1 : 0;
}

static void test_hash_and_verify(void **state) {
  struct ml_auth_pwcost cost = ml_auth_password_cost_min();
  struct ml_errbuf eb = {{0}};
  char h1[ML_AUTH_HASH_MAX], h2[ML_AUTH_HASH_MAX];
  const char pw[] = "correct horse battery staple";
  (void)state;
  assert_int_equal(ml_auth_password_hash(pw, strlen(pw), &cost, h1, &eb), ML_OK);
  assert_int_equal(strncmp(h1, "$argon2id$v=19$", 15), 0);
  assert_int_equal(ml_auth_password_verify(h1, pw, strlen(pw)), ML_OK);
  /* a fresh salt every time */
  assert_int_equal(ml_auth_password_hash(pw, strlen(pw), &cost, h2, &eb), ML_OK);
  assert_string_not_equal(h1, h2);
  assert_int_equal(ml_auth_password_verify(h2, pw, strlen(pw)), ML_OK);
  /* wrong passwords: one character off, a prefix, longer, empty */
  assert_int_equal(ml_auth_password_verify(h1, "correct horse battery staplE", 28),
                   ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify(h1, pw, strlen(pw) - 1), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify(h1, "correct horse battery staple!", 29),
                   ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify(h1, "", 0), ML_ERR_UNAUTHORIZED);
}

/* Passwords are bytes: embedded NULs and non-ASCII count. */
static void test_binary_password(void **state) {
  struct ml_auth_pwcost cost = ml_auth_password_cost_min();
  struct ml_errbuf eb = {{0}};
  char h[ML_AUTH_HASH_MAX];
  const char pw[] = "ab\0cdefgh\xc3\xa9";
  (void)state;
  assert_int_equal(ml_auth_password_hash(pw, sizeof(pw) - 1, &cost, h, &eb), ML_OK);
  assert_int_equal(ml_auth_password_verify(h, pw, sizeof(pw) - 1), ML_OK);
  assert_int_equal(ml_auth_password_verify(h, "ab", 2), ML_ERR_UNAUTHORIZED);
}

static void test_length_rules(void **state) {
  struct ml_auth_pwcost cost = ml_auth_password_cost_min();
  struct ml_errbuf eb = {{0}};
  char h[ML_AUTH_HASH_MAX];
  static char big[ML_AUTH_PASSWORD_MAX + 2];
  (void)state;
  memset(big, 'x', sizeof(big));
  assert_non_null(ml_auth_password_check(0));
  assert_non_null(ml_auth_password_check(7));
  assert_null(ml_auth_password_check(8));
  assert_null(ml_auth_password_check(ML_AUTH_PASSWORD_MAX));
  assert_non_null(ml_auth_password_check(ML_AUTH_PASSWORD_MAX + 1));
  assert_int_equal(ml_auth_password_hash("1234567", 7, &cost, h, &eb), ML_ERR_VALIDATION);
  assert_string_equal(h, "");
  assert_int_equal(ml_auth_password_hash(big, ML_AUTH_PASSWORD_MAX + 1, &cost, h, &eb),
                   ML_ERR_VALIDATION);
  assert_int_equal(ml_auth_password_hash(big, ML_AUTH_PASSWORD_MAX, &cost, h, &eb), ML_OK);
  assert_int_equal(ml_auth_password_verify(h, big, ML_AUTH_PASSWORD_MAX), ML_OK);
  /* an over-long password is refused without hashing */
  assert_int_equal(ml_auth_password_verify(h, big, ML_AUTH_PASSWORD_MAX + 1), ML_ERR_UNAUTHORIZED);
}

/* Stored hashes that are not ours, or ask for absurd work, are refused
 * rather than crashing or allocating gigabytes. */
static void test_bad_hashes(void **state) {
  struct ml_auth_pwcost cost = ml_auth_password_cost_min();
  struct ml_errbuf eb = {{0}};
  char h[ML_AUTH_HASH_MAX], big_m[ML_AUTH_HASH_MAX + 16], longer[300];
  const char pw[] = "password1";
  (void)state;
  assert_int_equal(ml_auth_password_hash(pw, strlen(pw), &cost, h, &eb), ML_OK);
  assert_int_equal(ml_auth_password_verify(NULL, pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify("", pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify("plaintext", pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify("$argon2id$", pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify("$argon2id$v=19$m=8,t=1,p=1$$", pw, strlen(pw)),
                   ML_ERR_UNAUTHORIZED);
  assert_int_equal(ml_auth_password_verify(h, pw, strlen(pw)), ML_OK);
  /* the same hash relabelled argon2i (not id) */
  {
    char i_hash[ML_AUTH_HASH_MAX];
    snprintf(i_hash, sizeof(i_hash), "$argon2i$%s", h + strlen("$argon2id$"));
    assert_int_equal(ml_auth_password_verify(i_hash, pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  }
  /* the same hash claiming 1 GiB of memory */
  {
    const char *rest = strchr(h + strlen("$argon2id$v=19$m="), ',');
    assert_non_null(rest);
    snprintf(big_m, sizeof(big_m), "$argon2id$v=19$m=1048576%s", rest);
    assert_int_equal(ml_auth_password_verify(big_m, pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  }
  /* one character of the hash changed */
  h[strlen(h) - 3] = h[strlen(h) - 3] == 'A' ? 'B' : 'A';
  assert_int_equal(ml_auth_password_verify(h, pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
  /* a string longer than any hash */
  memset(longer, 'a', sizeof(longer) - 1);
  longer[sizeof(longer) - 1] = '\0';
  memcpy(longer, "$argon2id$", 10);
  assert_int_equal(ml_auth_password_verify(longer, pw, strlen(pw)), ML_ERR_UNAUTHORIZED);
}

static void test_default_cost(void **state) {
  struct ml_auth_pwcost c = ml_auth_password_cost_default();
  (void)state;
  assert_int_equal(c.ops, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  assert_int_equal(c.mem, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  assert_true(c.mem >= 64u * 1024 * 1024);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hash_and_verify), cmocka_unit_test(test_binary_password),
      cmocka_unit_test(test_length_rules),    cmocka_unit_test(test_bad_hashes),
      cmocka_unit_test(test_default_cost),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
