/* test_range.c - the Range header parser: every RFC 9110 form and the abuse
 * shapes of TESTING.md H4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/range.h"

/* Parses h against size and checks the result (and the range when OK). */
static void check(const char *h, uint64_t size, enum ml_range_result want, uint64_t wstart,
                  uint64_t wlen) {
  uint64_t start = 12345, len = 12345;
  enum ml_range_result r = ml_range_parse(h, size, &start, &len);
  if(r != want)
    fail_msg("'%s' size %llu: got %d, want %d", h ? h : "(null)", (unsigned long long)size, (int)r,
             (int)want);
  if(want == ML_RANGE_OK) {
    assert_int_equal(start, wstart);
    assert_int_equal(len, wlen);
    assert_true(start + len <= size);
  }
}

static void test_none(void **state) {
  (void)state;
  check(NULL, 100, ML_RANGE_NONE, 0, 0);
  check("", 100, ML_RANGE_NONE, 0, 0);
}

static void test_first_last(void **state) {
  (void)state;
  check("bytes=0-499", 1000, ML_RANGE_OK, 0, 500);
  check("bytes=500-999", 1000, ML_RANGE_OK, 500, 500);
  check("bytes=0-0", 1000, ML_RANGE_OK, 0, 1);
  check("bytes=999-999", 1000, ML_RANGE_OK, 999, 1);
  check("bytes=5-5", 6, ML_RANGE_OK, 5, 1);
}

static void test_first_open(void **state) {
  (void)state;
  check("bytes=500-", 1000, ML_RANGE_OK, 500, 500);
  check("bytes=0-", 1000, ML_RANGE_OK, 0, 1000);
  check("bytes=999-", 1000, ML_RANGE_OK, 999, 1);
}

static void test_suffix(void **state) {
  (void)state;
  check("bytes=-500", 1000, ML_RANGE_OK, 500, 500);
  check("bytes=-1", 1000, ML_RANGE_OK, 999, 1);
  check("bytes=-1000", 1000, ML_RANGE_OK, 0, 1000);
  /* a suffix longer than the representation is all of it */
  check("bytes=-5000", 1000, ML_RANGE_OK, 0, 1000);
  check("bytes=-18446744073709551615", 10, ML_RANGE_OK, 0, 10);
  /* a zero-length suffix is not satisfiable (RFC 9110 14.1.1) */
  check("bytes=-0", 1000, ML_RANGE_UNSATISFIABLE, 0, 0);
}

static void test_end_clamped(void **state) {
  (void)state;
  check("bytes=0-5000", 1000, ML_RANGE_OK, 0, 1000);
  check("bytes=900-18446744073709551615", 1000, ML_RANGE_OK, 900, 100);
}

static void test_unsatisfiable(void **state) {
  (void)state;
  check("bytes=1000-", 1000, ML_RANGE_UNSATISFIABLE, 0, 0);
  check("bytes=1000-2000", 1000, ML_RANGE_UNSATISFIABLE, 0, 0);
  check("bytes=5000-6000", 1000, ML_RANGE_UNSATISFIABLE, 0, 0);
  check("bytes=18446744073709551615-", 1000, ML_RANGE_UNSATISFIABLE, 0, 0);
}

static void test_empty_representation(void **state) {
  (void)state;
  check("bytes=0-0", 0, ML_RANGE_UNSATISFIABLE, 0, 0);
  check("bytes=0-", 0, ML_RANGE_UNSATISFIABLE, 0, 0);
  check("bytes=-1", 0, ML_RANGE_UNSATISFIABLE, 0, 0);
  check("bytes=-0", 0, ML_RANGE_UNSATISFIABLE, 0, 0);
  check(NULL, 0, ML_RANGE_NONE, 0, 0);
  check("bytes=abc", 0, ML_RANGE_NONE, 0, 0);
}

static void test_unit_case(void **state) {
  (void)state;
  check("BYTES=0-1", 10, ML_RANGE_OK, 0, 2);
  check("Bytes=-2", 10, ML_RANGE_OK, 8, 2);
}

static void test_multiple_ranges(void **state) {
  (void)state;
  check("bytes=0-1,5-6", 10, ML_RANGE_NONE, 0, 0);
  check("bytes=0-1, 5-6", 10, ML_RANGE_NONE, 0, 0);
  check("bytes=0-1 ,\t5-6", 10, ML_RANGE_NONE, 0, 0);
  /* overlapping */
  check("bytes=0-5,2-8,0-", 10, ML_RANGE_NONE, 0, 0);
  /* one satisfiable among unsatisfiable ones: still not a single range */
  check("bytes=0-1,100-200", 10, ML_RANGE_NONE, 0, 0);
  /* none satisfiable: 416 */
  check("bytes=100-200,300-", 10, ML_RANGE_UNSATISFIABLE, 0, 0);
  /* empty list elements are allowed by the list syntax */
  check("bytes=0-1,", 10, ML_RANGE_OK, 0, 2);
  check("bytes=,0-1", 10, ML_RANGE_OK, 0, 2);
  check("bytes=0-1, ,", 10, ML_RANGE_OK, 0, 2);
  check("bytes=,", 10, ML_RANGE_NONE, 0, 0);
  /* one bad element poisons the header */
  check("bytes=0-1,x", 10, ML_RANGE_NONE, 0, 0);
}

static void test_two_hundred_ranges(void **state) {
  char h[4096];
  size_t n = 0;
  (void)state;
  n += (size_t)snprintf(h + n, sizeof(h) - n, "bytes=");
  for(int i = 0; i < 200; i++)
    n += (size_t)snprintf(h + n, sizeof(h) - n, "%s%d-%d", i ? "," : "", i, i + 1000);
  assert_true(n < sizeof(h) - 1);
  check(h, 1u << 20, ML_RANGE_NONE, 0, 0);
  /* 200 overlapping copies of the same range */
  n = (size_t)snprintf(h, sizeof(h), "bytes=");
  for(int i = 0; i < 200; i++)
    n += (size_t)snprintf(h + n, sizeof(h) - n, "%s0-", i ? "," : "");
  check(h, 100, ML_RANGE_NONE, 0, 0);
}

static void test_invalid_syntax(void **state) {
  (void)state;
  check("bytes=abc", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=5-1", 100, ML_RANGE_NONE, 0, 0);
  check("items=0-1", 100, ML_RANGE_NONE, 0, 0);
  check("bytes0-1", 100, ML_RANGE_NONE, 0, 0);
  check("bytes", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=-", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=--1", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=1", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=1-2-3", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=-1-2", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=+1-2", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=0x10-20", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=1 -2", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=1- 2", 100, ML_RANGE_NONE, 0, 0);
  check("bytes = 0-1", 100, ML_RANGE_NONE, 0, 0);
  check("bytes= 0-1", 100, ML_RANGE_NONE, 0, 0);
  check(" bytes=0-1", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=0-1 ", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=0-1;", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=\xff-1", 100, ML_RANGE_NONE, 0, 0);
  check("bytesx=0-1", 100, ML_RANGE_NONE, 0, 0);
}

static void test_overflow(void **state) {
  (void)state;
  /* UINT64_MAX itself is fine; one more overflows and is garbage */
  check("bytes=18446744073709551616-", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=0-18446744073709551616", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=-18446744073709551616", 100, ML_RANGE_NONE, 0, 0);
  check("bytes=99999999999999999999999999999-", 100, ML_RANGE_NONE, 0, 0);
  /* leading zeros do not overflow */
  check("bytes=000000000000000000000000000001-0000000000000000000000000000002", 100, ML_RANGE_OK, 1,
        2);
  /* a huge representation */
  check("bytes=18446744073709551614-", UINT64_MAX, ML_RANGE_OK, UINT64_MAX - 1, 1);
  check("bytes=0-", UINT64_MAX, ML_RANGE_OK, 0, UINT64_MAX);
  check("bytes=-18446744073709551615", UINT64_MAX, ML_RANGE_OK, 0, UINT64_MAX);
}

static void test_header_too_long(void **state) {
  char h[5000];
  (void)state;
  /* exactly 4096 bytes: parsed */
  memset(h, '0', sizeof(h));
  memcpy(h, "bytes=", 6);
  h[4094] = '-';
  h[4095] = '5';
  h[4096] = '\0';
  check(h, 100, ML_RANGE_OK, 0, 6);
  /* 4097: ignored */
  h[4095] = '0';
  h[4096] = '5';
  h[4097] = '\0';
  check(h, 100, ML_RANGE_NONE, 0, 0);
  /* much longer, and padded with whitespace: ignored */
  memset(h + 6, ' ', sizeof(h) - 7);
  h[sizeof(h) - 1] = '\0';
  check(h, 100, ML_RANGE_NONE, 0, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none),
      cmocka_unit_test(test_first_last),
      cmocka_unit_test(test_first_open),
      cmocka_unit_test(test_suffix),
      cmocka_unit_test(test_end_clamped),
      cmocka_unit_test(test_unsatisfiable),
      cmocka_unit_test(test_empty_representation),
      cmocka_unit_test(test_unit_case),
      cmocka_unit_test(test_multiple_ranges),
      cmocka_unit_test(test_two_hundred_ranges),
      cmocka_unit_test(test_invalid_syntax),
      cmocka_unit_test(test_overflow),
      cmocka_unit_test(test_header_too_long),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
