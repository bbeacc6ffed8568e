/* test_cond.c - conditional requests: If-None-Match, If-Modified-Since and
 * If-Range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/timeutil.h"
#include "http/cond.h"

#define ETAG "\"abc\""
/* Sun, 22 Nov 2026 19:00:00 GMT */
#define LM ((time_t)1795374000)

static void test_time_constant(void **state) {
  char d[30];
  (void)state;
  ml_time_http(LM, d);
  assert_string_equal(d, "Sun, 22 Nov 2026 19:00:00 GMT");
}

static void test_none_match(void **state) {
  (void)state;
  assert_true(ml_cond_none_match("\"abc\"", ETAG));
  assert_false(ml_cond_none_match("\"abd\"", ETAG));
  assert_false(ml_cond_none_match("\"ab\"", ETAG));
  assert_false(ml_cond_none_match("\"abcd\"", ETAG));
  /* lists, with and without spaces, tabs, empty elements */
  assert_true(ml_cond_none_match("\"x\", \"abc\"", ETAG));
  assert_true(ml_cond_none_match("\"x\",\"abc\"", ETAG));
  assert_true(ml_cond_none_match("  \"x\" ,\t\"abc\"  ", ETAG));
  assert_true(ml_cond_none_match("\"abc\", \"x\"", ETAG));
  assert_true(ml_cond_none_match(",\"abc\",,", ETAG));
  assert_false(ml_cond_none_match("\"x\", \"y\", \"z\"", ETAG));
  /* weak comparison: W/ is ignored */
  assert_true(ml_cond_none_match("W/\"abc\"", ETAG));
  assert_true(ml_cond_none_match("\"x\", W/\"abc\"", ETAG));
  assert_true(ml_cond_none_match("\"abc\"", "W/\"abc\""));
  assert_false(ml_cond_none_match("w/\"abc\"", ETAG));
  /* "*" */
  assert_true(ml_cond_none_match("*", ETAG));
  assert_true(ml_cond_none_match(" * ", ETAG));
  /* case matters in tags */
  assert_false(ml_cond_none_match("\"ABC\"", ETAG));
  /* the empty tag */
  assert_true(ml_cond_none_match("\"\"", "\"\""));
  assert_false(ml_cond_none_match("\"\"", ETAG));
}

static void test_none_match_malformed(void **state) {
  (void)state;
  assert_false(ml_cond_none_match(NULL, ETAG));
  assert_false(ml_cond_none_match("", ETAG));
  assert_false(ml_cond_none_match(" , ", ETAG));
  assert_false(ml_cond_none_match("abc", ETAG));
  assert_false(ml_cond_none_match("\"abc", ETAG));
  assert_false(ml_cond_none_match("abc\"", ETAG));
  assert_false(ml_cond_none_match("W/abc", ETAG));
  assert_false(ml_cond_none_match("W/ \"abc\"", ETAG));
  assert_false(ml_cond_none_match("\"a bc\"", "\"a bc\""));
  /* "*" only alone */
  assert_false(ml_cond_none_match("*, \"abc\"", ETAG));
  assert_false(ml_cond_none_match("\"abc\", *", ETAG));
  assert_false(ml_cond_none_match("**", ETAG));
  /* a malformed tail spoils an early match */
  assert_false(ml_cond_none_match("\"abc\", garbage", ETAG));
  assert_false(ml_cond_none_match("\"abc\" \"x\"", ETAG));
  assert_false(ml_cond_none_match("\"abc\"x", ETAG));
  assert_false(ml_cond_none_match("\"abc\";", ETAG));
  /* control characters inside a tag */
  assert_false(ml_cond_none_match("\"ab\x01\"", "\"ab\x01\""));
  /* a broken own tag matches nothing but "*" */
  assert_false(ml_cond_none_match("\"abc\"", "abc"));
  assert_false(ml_cond_none_match("\"abc\"", NULL));
  assert_false(ml_cond_none_match("*", NULL));
}

static void test_not_modified_ims(void **state) {
  (void)state;
  /* equal: not modified */
  assert_true(ml_cond_not_modified(NULL, "Sun, 22 Nov 2026 19:00:00 GMT", ETAG, LM));
  /* the client's copy is newer than our file: not modified */
  assert_true(ml_cond_not_modified(NULL, "Sun, 22 Nov 2026 19:00:01 GMT", ETAG, LM));
  assert_true(ml_cond_not_modified(NULL, "Mon, 01 Jan 2029 00:00:00 GMT", ETAG, LM));
  /* the client's copy is older: modified */
  assert_false(ml_cond_not_modified(NULL, "Sun, 22 Nov 2026 18:59:59 GMT", ETAG, LM));
  assert_false(ml_cond_not_modified(NULL, "Thu, 01 Jan 1970 00:00:00 GMT", ETAG, LM));
  /* unparsable dates are ignored */
  assert_false(ml_cond_not_modified(NULL, "yesterday", ETAG, LM));
  assert_false(ml_cond_not_modified(NULL, "", ETAG, LM));
  assert_false(ml_cond_not_modified(NULL, "Sunday, 22-Nov-26 19:00:00 GMT", ETAG, LM));
  assert_false(ml_cond_not_modified(NULL, "Sun Nov 22 19:00:00 2026", ETAG, LM));
  assert_false(ml_cond_not_modified(NULL, "Sun, 22 Nov 2026 19:00:00 UTC", ETAG, LM));
  assert_false(ml_cond_not_modified(NULL, "Sun, 22 Xyz 2026 19:00:00 GMT", ETAG, LM));
  /* neither header */
  assert_false(ml_cond_not_modified(NULL, NULL, ETAG, LM));
}

static void test_not_modified_inm_wins(void **state) {
  (void)state;
  /* a matching tag: 304 even with an IMS that says modified */
  assert_true(ml_cond_not_modified(ETAG, "Thu, 01 Jan 1970 00:00:00 GMT", ETAG, LM));
  /* a different tag: 200 even with an IMS that says not modified */
  assert_false(ml_cond_not_modified("\"old\"", "Sun, 22 Nov 2026 19:00:00 GMT", ETAG, LM));
  /* a malformed If-None-Match still hides IMS (it was sent) */
  assert_false(ml_cond_not_modified("garbage", "Sun, 22 Nov 2026 19:00:00 GMT", ETAG, LM));
  assert_true(ml_cond_not_modified("*", NULL, ETAG, LM));
  assert_true(ml_cond_not_modified("W/\"abc\"", NULL, ETAG, LM));
}

static void test_if_range(void **state) {
  (void)state;
  assert_true(ml_cond_if_range(NULL, ETAG, LM));
  /* strong tags must match exactly */
  assert_true(ml_cond_if_range("\"abc\"", ETAG, LM));
  assert_true(ml_cond_if_range(" \"abc\" ", ETAG, LM));
  assert_false(ml_cond_if_range("\"abd\"", ETAG, LM));
  /* weak tags never */
  assert_false(ml_cond_if_range("W/\"abc\"", ETAG, LM));
  assert_false(ml_cond_if_range("\"abc\"", "W/\"abc\"", LM));
  /* one tag only, no lists */
  assert_false(ml_cond_if_range("\"abc\", \"abc\"", ETAG, LM));
  assert_false(ml_cond_if_range("*", ETAG, LM));
  assert_false(ml_cond_if_range("\"abc", ETAG, LM));
  assert_false(ml_cond_if_range("\"abc\"", NULL, LM));
  /* dates must be exact */
  assert_true(ml_cond_if_range("Sun, 22 Nov 2026 19:00:00 GMT", ETAG, LM));
  assert_false(ml_cond_if_range("Sun, 22 Nov 2026 19:00:01 GMT", ETAG, LM));
  assert_false(ml_cond_if_range("Sun, 22 Nov 2026 18:59:59 GMT", ETAG, LM));
  assert_false(ml_cond_if_range("Sun, 22 Nov 2026 19:00:00 GMT", ETAG, LM + 1));
  /* garbage */
  assert_false(ml_cond_if_range("", ETAG, LM));
  assert_false(ml_cond_if_range("tomorrow", ETAG, LM));
  assert_false(ml_cond_if_range("abc", ETAG, LM));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time_constant),         cmocka_unit_test(test_none_match),
      cmocka_unit_test(test_none_match_malformed),  cmocka_unit_test(test_not_modified_ims),
      cmocka_unit_test(test_not_modified_inm_wins), cmocka_unit_test(test_if_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
