/* test_timeutil.c - clocks, RFC 3339 and HTTP dates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/timeutil.h"

static void test_clocks(void **state) {
  int64_t now = ml_now_ms();
  uint64_t a, b;
  (void)state;
  /* after 2020-01-01 and before 2200 */
  assert_true(now > INT64_C(1577836800000));
  assert_true(now < INT64_C(7258118400000));
  a = ml_mono_ns();
  b = ml_mono_ns();
  assert_true(b >= a);
}

static void test_rfc3339(void **state) {
  char out[21];
  (void)state;
  ml_time_rfc3339(0, out);
  assert_string_equal(out, "1970-01-01T00:00:00Z");
  ml_time_rfc3339(INT64_C(1795374000000), out);
  assert_string_equal(out, "2026-11-22T19:00:00Z");
  /* milliseconds are dropped, not rounded */
  ml_time_rfc3339(INT64_C(1795374000999), out);
  assert_string_equal(out, "2026-11-22T19:00:00Z");
  ml_time_rfc3339(INT64_C(951782400000), out); /* leap day 2000 */
  assert_string_equal(out, "2000-02-29T00:00:00Z");
  ml_time_rfc3339(INT64_C(253402300799000), out); /* the last second of 9999 */
  assert_string_equal(out, "9999-12-31T23:59:59Z");
  assert_int_equal(strlen(out), 20);
}

static void test_http_format(void **state) {
  char out[30];
  (void)state;
  ml_time_http(0, out);
  assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
  ml_time_http(1795374000, out);
  assert_string_equal(out, "Sun, 22 Nov 2026 19:00:00 GMT");
  ml_time_http(784111777, out); /* RFC 9110's example */
  assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
  ml_time_http(951782399, out);
  assert_string_equal(out, "Mon, 28 Feb 2000 23:59:59 GMT");
  assert_int_equal(strlen(out), 29);
}

static void test_http_parse(void **state) {
  time_t t = 0;
  (void)state;
  assert_int_equal(ml_time_http_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  assert_int_equal(t, 784111777);
  assert_int_equal(ml_time_http_parse("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
  assert_int_equal(t, 0);
  assert_int_equal(ml_time_http_parse("Tue, 29 Feb 2000 12:00:00 GMT", &t), 0);
  assert_int_equal(t, 951825600);
}

static void test_http_roundtrip(void **state) {
  (void)state;
  /* every ~11.6 days from 1970 to 2100, at odd times of day */
  for(time_t t = 0; t < (time_t)4102444800; t += 1000003) {
    char s[30];
    time_t back = -1;
    ml_time_http(t, s);
    if(ml_time_http_parse(s, &back) != 0 || back != t)
      fail_msg("%lld -> '%s' -> %lld", (long long)t, s, (long long)back);
  }
}

static void test_http_parse_malformed(void **state) {
  static const char *bad[] = {
      "",
      "Sun, 06 Nov 1994 08:49:37",      /* no zone */
      "Sun, 06 Nov 1994 08:49:37 UTC",  /* wrong zone */
      "Sun, 06 Nov 1994 08:49:37 GMT ", /* trailing space */
      " Sun, 06 Nov 1994 08:49:37 GMT", /* leading space */
      "Sun, 06 Nov 1994 08:49:37 GMTx",
      "Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850 form */
      "Sun Nov  6 08:49:37 1994",       /* asctime form */
      "Sun, 06 nov 1994 08:49:37 GMT",  /* month case */
      "Sun, 06 Xyz 1994 08:49:37 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 32 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:49:37 GMT",
      "Sun, 06 Nov 1994 08:60:37 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 06 Nov 1969 08:49:37 GMT",
      "Sun, 06 Nov 19x4 08:49:37 GMT",
      "Sun, 06 Nov 1994 08-49-37 GMT",
      "Sun; 06 Nov 1994 08:49:37 GMT",
      "yesterday at noon, more or less",
      "Sun, 06 Nov 1994 08:49:37 GMT and more",
  };
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    time_t t = 12345;
    if(ml_time_http_parse(bad[i], &t) != -1)
      fail_msg("'%s' accepted as %lld", bad[i], (long long)t);
    assert_int_equal(t, 12345);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clocks),         cmocka_unit_test(test_rfc3339),
      cmocka_unit_test(test_http_format),    cmocka_unit_test(test_http_parse),
      cmocka_unit_test(test_http_roundtrip), cmocka_unit_test(test_http_parse_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
