/* test_query.c - percent-decoding, form-urlencoded query strings and strict
 * integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/query.h"

/* Decodes a copy of s; returns the length (or -1) and the result in out. */
static long decode(const char *s, int plus, char *out, size_t outsz) {
  size_t n = strlen(s);
  assert_true(n < outsz);
  memcpy(out, s, n + 1);
  return ml_url_decode(out, n, plus);
}

static void test_decode(void **state) {
  char out[128];
  (void)state;
  assert_int_equal(decode("abc", 0, out, sizeof(out)), 3);
  assert_string_equal(out, "abc");
  assert_int_equal(decode("a%20b", 0, out, sizeof(out)), 3);
  assert_string_equal(out, "a b");
  assert_int_equal(decode("a+b", 1, out, sizeof(out)), 3);
  assert_string_equal(out, "a b");
  assert_int_equal(decode("a+b", 0, out, sizeof(out)), 3);
  assert_string_equal(out, "a+b");
  assert_int_equal(decode("%2B%2b", 1, out, sizeof(out)), 2);
  assert_string_equal(out, "++");
  assert_int_equal(decode("%2F%2f%C3%A9", 0, out, sizeof(out)), 4);
  assert_string_equal(out, "//\xC3\xA9");
  assert_int_equal(decode("", 0, out, sizeof(out)), 0);
  assert_string_equal(out, "");
  /* a double-encoded escape is decoded once only */
  assert_int_equal(decode("%252F", 0, out, sizeof(out)), 3);
  assert_string_equal(out, "%2F");
  /* decoding stops at len and NUL-terminates there */
  memcpy(out, "a%41bcdef", 10);
  assert_int_equal(ml_url_decode(out, 4, 0), 2);
  assert_string_equal(out, "aA");
  memcpy(out, "abc", 4);
  assert_int_equal(ml_url_decode(out, 2, 0), 2);
  assert_string_equal(out, "ab");
}

static void test_decode_bad(void **state) {
  char out[64];
  (void)state;
  assert_int_equal(decode("%zz", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("%4", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("abc%", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("%g0", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("%0g", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("% 1", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("%00", 0, out, sizeof(out)), -1);
  assert_int_equal(decode("a%00b", 1, out, sizeof(out)), -1);
  /* len stops before the second hex digit */
  memcpy(out, "%41", 4);
  assert_int_equal(ml_url_decode(out, 2, 0), -1);
  /* a raw NUL inside len */
  memcpy(out, "a\0b", 4);
  assert_int_equal(ml_url_decode(out, 3, 0), -1);
}

#define MAXPAIRS 100
struct seen {
  int n;
  char key[MAXPAIRS][64];
  char val[MAXPAIRS][64];
  int stop_at; /* return an error on this call (1-based), 0 never */
};

static ml_err collect(void *ctx, const char *key, const char *val) {
  struct seen *s = ctx;
  assert_true(s->n < MAXPAIRS);
  snprintf(s->key[s->n], sizeof(s->key[0]), "%s", key);
  snprintf(s->val[s->n], sizeof(s->val[0]), "%s", val);
  s->n++;
  if(s->stop_at && s->n == s->stop_at)
    return ML_ERR_VALIDATION;
  return ML_OK;
}

static ml_err parse(const char *qs, struct seen *s) {
  memset(s, 0, sizeof(*s));
  return ml_query_parse(qs, strlen(qs), collect, s);
}

static void test_parse(void **state) {
  struct seen s;
  (void)state;
  assert_int_equal(parse("a=1&b=x+y&c&d=%2F", &s), ML_OK);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.key[0], "a");
  assert_string_equal(s.val[0], "1");
  assert_string_equal(s.key[1], "b");
  assert_string_equal(s.val[1], "x y");
  assert_string_equal(s.key[2], "c");
  assert_string_equal(s.val[2], "");
  assert_string_equal(s.key[3], "d");
  assert_string_equal(s.val[3], "/");

  /* encoded '&' and '=' do not split */
  assert_int_equal(parse("k%3D1=v%261&x=a=b", &s), ML_OK);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.key[0], "k=1");
  assert_string_equal(s.val[0], "v&1");
  assert_string_equal(s.key[1], "x");
  assert_string_equal(s.val[1], "a=b");

  /* repeated keys are all reported, in order */
  assert_int_equal(parse("tag=a&tag=b", &s), ML_OK);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.val[1], "b");

  /* empty value and empty key */
  assert_int_equal(parse("a=&=b", &s), ML_OK);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.key[0], "a");
  assert_string_equal(s.val[0], "");
  assert_string_equal(s.key[1], "");
  assert_string_equal(s.val[1], "b");
}

static void test_empty_pairs(void **state) {
  struct seen s;
  (void)state;
  assert_int_equal(parse("", &s), ML_OK);
  assert_int_equal(s.n, 0);
  assert_int_equal(parse("&&&", &s), ML_OK);
  assert_int_equal(s.n, 0);
  assert_int_equal(parse("&a=1&&b=2&", &s), ML_OK);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.key[1], "b");
  /* only the given length is parsed */
  memset(&s, 0, sizeof(s));
  assert_int_equal(ml_query_parse("a=1&b=2", 3, collect, &s), ML_OK);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.val[0], "1");
}

static void test_parse_bad(void **state) {
  struct seen s;
  (void)state;
  assert_int_equal(parse("a=%zz", &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(parse("a=%4", &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(parse("a=1&b=%", &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(parse("%zz=1", &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(parse("a%00b=1", &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(parse("a=x%00", &s), ML_ERR_BAD_REQUEST);
  /* nothing is reported from a query that is refused, even its good head */
  assert_int_equal(parse("good=1&bad=%", &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(s.n, 0);
  /* raw NUL inside the given length */
  memset(&s, 0, sizeof(s));
  assert_int_equal(ml_query_parse("a=1\0b=2", 7, collect, &s), ML_ERR_BAD_REQUEST);
}

static void test_limits(void **state) {
  char qs[9000];
  size_t n = 0;
  struct seen s;
  (void)state;
  /* 64 pairs is fine; 65 is not */
  for(int i = 0; i < 64; i++)
    n += (size_t)snprintf(qs + n, sizeof(qs) - n, "%sk%d=%d", i ? "&" : "", i, i);
  assert_int_equal(parse(qs, &s), ML_OK);
  assert_int_equal(s.n, 64);
  assert_string_equal(s.key[63], "k63");
  snprintf(qs + n, sizeof(qs) - n, "&k64=64");
  assert_int_equal(parse(qs, &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(s.n, 0);
  /* empty pairs do not count */
  snprintf(qs + n, sizeof(qs) - n, "&&&&");
  assert_int_equal(parse(qs, &s), ML_OK);
  assert_int_equal(s.n, 64);
  /* 8 KiB in all */
  memset(qs, 'a', 8192);
  qs[0] = 'k';
  qs[1] = '=';
  qs[8192] = '\0';
  memset(&s, 0, sizeof(s));
  assert_int_equal(ml_query_parse(qs, 8192, collect, &s), ML_OK);
  assert_int_equal(s.n, 1);
  qs[8192] = 'a';
  qs[8193] = '\0';
  assert_int_equal(parse(qs, &s), ML_ERR_BAD_REQUEST);
  assert_int_equal(s.n, 0);
}

static void test_callback_error(void **state) {
  struct seen s;
  (void)state;
  memset(&s, 0, sizeof(s));
  s.stop_at = 2;
  assert_int_equal(ml_query_parse("a=1&b=2&c=3", 11, collect, &s), ML_ERR_VALIDATION);
  assert_int_equal(s.n, 2);
}

static void test_int(void **state) {
  int64_t v = 99;
  (void)state;
  assert_int_equal(ml_query_int("0", 0, 10, &v), ML_OK);
  assert_int_equal(v, 0);
  assert_int_equal(ml_query_int("10", 0, 10, &v), ML_OK);
  assert_int_equal(v, 10);
  assert_int_equal(ml_query_int("-5", -10, 10, &v), ML_OK);
  assert_int_equal(v, -5);
  assert_int_equal(ml_query_int("-0", 0, 10, &v), ML_OK);
  assert_int_equal(v, 0);
  assert_int_equal(ml_query_int("007", 0, 10, &v), ML_OK);
  assert_int_equal(v, 7);
  assert_int_equal(ml_query_int("9223372036854775807", INT64_MIN, INT64_MAX, &v), ML_OK);
  assert_true(v == INT64_MAX);
  assert_int_equal(ml_query_int("-9223372036854775808", INT64_MIN, INT64_MAX, &v), ML_OK);
  assert_true(v == INT64_MIN);
}

static void test_int_bad(void **state) {
  int64_t v = 99;
  (void)state;
  /* bounds */
  assert_int_equal(ml_query_int("11", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("-1", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("0", 1, 100, &v), ML_ERR_VALIDATION);
  /* garbage */
  assert_int_equal(ml_query_int("", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int(NULL, 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("-", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("+1", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int(" 1", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("1 ", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("1a", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("0x1", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("1.0", 0, 10, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("1e3", 0, 10000, &v), ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("--1", -10, 10, &v), ML_ERR_VALIDATION);
  /* overflow */
  assert_int_equal(ml_query_int("9223372036854775808", INT64_MIN, INT64_MAX, &v),
                   ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("-9223372036854775809", INT64_MIN, INT64_MAX, &v),
                   ML_ERR_VALIDATION);
  assert_int_equal(ml_query_int("99999999999999999999999", INT64_MIN, INT64_MAX, &v),
                   ML_ERR_VALIDATION);
  /* the output is untouched on error */
  assert_int_equal(v, 99);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode),         cmocka_unit_test(test_decode_bad),
      cmocka_unit_test(test_parse),          cmocka_unit_test(test_empty_pairs),
      cmocka_unit_test(test_parse_bad),      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_callback_error), cmocka_unit_test(test_int),
      cmocka_unit_test(test_int_bad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
