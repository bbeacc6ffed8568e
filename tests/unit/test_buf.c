/* test_buf.c - the bounded buffer: appends, the hard maximum, JSON string
 * escaping and URL encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"

/* JSON-encodes n bytes of s and compares with want. */
static void json(const char *s, size_t n, const char *want) {
  struct ml_buf b;
  ml_buf_init(&b, 1 << 16);
  assert_int_equal(ml_buf_json_strn(&b, s, n), ML_OK);
  assert_string_equal(b.data, want);
  assert_int_equal(b.len, strlen(want));
  ml_buf_free(&b);
}

static void url(const char *s, const char *want) {
  struct ml_buf b;
  ml_buf_init(&b, 1 << 16);
  assert_int_equal(ml_buf_url_encode(&b, s), ML_OK);
  if(*want)
    assert_string_equal(b.data, want);
  else
    assert_int_equal(b.len, 0);
  ml_buf_free(&b);
}

static void test_append(void **state) {
  struct ml_buf b;
  char *taken;
  size_t len = 0;
  (void)state;
  ml_buf_init(&b, 1024);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(ml_buf_adds(&b, "abc"), ML_OK);
  assert_int_equal(ml_buf_addc(&b, '-'), ML_OK);
  assert_int_equal(ml_buf_add(&b, "xyz", 2), ML_OK);
  assert_int_equal(ml_buf_add(&b, NULL, 0), ML_OK);
  assert_int_equal(ml_buf_addi(&b, -42), ML_OK);
  assert_int_equal(ml_buf_addf(&b, "|%s=%d|", "k", 7), ML_OK);
  assert_string_equal(b.data, "abc-xy-42|k=7|");
  assert_int_equal(b.len, 14);
  /* binary data with NULs keeps its length */
  assert_int_equal(ml_buf_add(&b, "\0\0", 2), ML_OK);
  assert_int_equal(b.len, 16);
  assert_int_equal(b.data[16], '\0');
  ml_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  assert_int_equal(ml_buf_adds(&b, "again"), ML_OK);
  taken = ml_buf_take(&b, &len);
  assert_string_equal(taken, "again");
  assert_int_equal(len, 5);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  ml_free(taken);
  /* take of an empty buffer */
  assert_null(ml_buf_take(&b, NULL));
  ml_buf_free(&b);
  ml_buf_free(&b); /* twice is harmless */
}

static void test_addi_extremes(void **state) {
  struct ml_buf b;
  (void)state;
  ml_buf_init(&b, 100);
  assert_int_equal(ml_buf_addi(&b, INT64_MIN), ML_OK);
  assert_int_equal(ml_buf_addc(&b, ' '), ML_OK);
  assert_int_equal(ml_buf_addi(&b, INT64_MAX), ML_OK);
  assert_int_equal(ml_buf_addc(&b, ' '), ML_OK);
  assert_int_equal(ml_buf_addi(&b, 0), ML_OK);
  assert_string_equal(b.data, "-9223372036854775808 9223372036854775807 0");
  ml_buf_free(&b);
}

static void test_addf_long(void **state) {
  /* longer than addf's stack scratch */
  struct ml_buf b;
  char big[1001];
  (void)state;
  memset(big, 'q', 1000);
  big[1000] = '\0';
  ml_buf_init(&b, 4096);
  assert_int_equal(ml_buf_adds(&b, "<"), ML_OK);
  assert_int_equal(ml_buf_addf(&b, "%s|%s", big, big), ML_OK);
  assert_int_equal(b.len, 2002);
  assert_int_equal(b.data[0], '<');
  assert_int_equal(b.data[1001], '|');
  assert_int_equal(b.data[2002], '\0');
  ml_buf_free(&b);
}

static void test_max(void **state) {
  struct ml_buf b;
  char big[600];
  (void)state;
  ml_buf_init(&b, 10);
  assert_int_equal(ml_buf_adds(&b, "0123456789"), ML_OK);
  assert_int_equal(b.len, 10);
  /* one more byte is refused and the buffer is unchanged */
  assert_int_equal(ml_buf_addc(&b, 'x'), ML_ERR_TOO_LARGE);
  assert_int_equal(ml_buf_adds(&b, "xy"), ML_ERR_TOO_LARGE);
  assert_int_equal(ml_buf_addf(&b, "%d", 1), ML_ERR_TOO_LARGE);
  assert_int_equal(ml_buf_addi(&b, 5), ML_ERR_TOO_LARGE);
  assert_int_equal(ml_buf_json_str(&b, ""), ML_ERR_TOO_LARGE);
  assert_int_equal(b.len, 10);
  assert_string_equal(b.data, "0123456789");
  assert_int_equal(ml_buf_add(&b, "", 0), ML_OK);
  ml_buf_free(&b);
  /* a single huge append, and a length that would overflow size_t */
  ml_buf_init(&b, 512);
  memset(big, 'z', sizeof(big));
  assert_int_equal(ml_buf_add(&b, big, sizeof(big)), ML_ERR_TOO_LARGE);
  assert_int_equal(b.len, 0);
  assert_int_equal(ml_buf_adds(&b, "a"), ML_OK);
  assert_int_equal(ml_buf_add(&b, big, SIZE_MAX), ML_ERR_TOO_LARGE);
  assert_int_equal(ml_buf_addf(&b, "%s", "0123456789012345678901234567890123456789"), ML_OK);
  assert_int_equal(b.len, 41);
  /* the allocation never passes max + 1 */
  assert_true(b.cap <= 513);
  ml_buf_free(&b);
  /* max 0: nothing fits */
  ml_buf_init(&b, 0);
  assert_int_equal(ml_buf_addc(&b, 'a'), ML_ERR_TOO_LARGE);
  ml_buf_free(&b);
}

static void test_addf_over_max(void **state) {
  /* the long addf path must also respect max */
  struct ml_buf b;
  char big[300];
  (void)state;
  memset(big, 'w', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ml_buf_init(&b, 200);
  assert_int_equal(ml_buf_addf(&b, "%s", big), ML_ERR_TOO_LARGE);
  assert_int_equal(b.len, 0);
  ml_buf_free(&b);
}

static void test_json_basic(void **state) {
  struct ml_buf b;
  (void)state;
  json("", 0, "\"\"");
  json("plain text", 10, "\"plain text\"");
  json("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
  json("\n\r\t", 3, "\"\\n\\r\\t\"");
  ml_buf_init(&b, 64);
  assert_int_equal(ml_buf_json_str(&b, NULL), ML_OK);
  assert_string_equal(b.data, "null");
  ml_buf_reset(&b);
  assert_int_equal(ml_buf_json_str(&b, "x\"y"), ML_OK);
  assert_string_equal(b.data, "\"x\\\"y\"");
  ml_buf_free(&b);
}

static void test_json_controls(void **state) {
  (void)state;
  json("\x01", 1, "\"\\u0001\"");
  json("\x1f", 1, "\"\\u001f\"");
  json("\b\f", 2, "\"\\u0008\\u000c\"");
  json("a\0b", 3, "\"a\\u0000b\"");
  json("\x1b[0m", 4, "\"\\u001b[0m\"");
  /* DEL is a valid JSON character */
  json("\x7f", 1, "\"\x7f\"");
}

static void test_json_utf8(void **state) {
  (void)state;
  /* valid UTF-8 passes through */
  json("\xC3\xA9", 2, "\"\xC3\xA9\"");
  json("\xE6\x97\xA5\xE6\x9C\xAC", 6, "\"\xE6\x97\xA5\xE6\x9C\xAC\"");
  json("\xF0\x9F\x98\x80", 4, "\"\xF0\x9F\x98\x80\"");
  json("\xEF\xBF\xBF", 3, "\"\xEF\xBF\xBF\"");
  json("\xF4\x8F\xBF\xBF", 4, "\"\xF4\x8F\xBF\xBF\"");
  /* invalid bytes become U+FFFD, one per bad byte */
  json("\xff", 1, "\"\xEF\xBF\xBD\"");
  json("a\x80z", 3, "\"a\xEF\xBF\xBDz\"");
  json("\xC3", 1, "\"\xEF\xBF\xBD\"");                 /* truncated */
  json("\xC3(", 2, "\"\xEF\xBF\xBD(\"");               /* bad continuation */
  json("\xC0\xAF", 2, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""); /* overlong */
  json("\xE0\x80\xAF", 3, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  json("\xED\xA0\x80", 3, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""); /* surrogate */
  json("\xF4\x90\x80\x80", 4,
       "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""); /* > U+10FFFF */
  json("\xF5", 1, "\"\xEF\xBF\xBD\"");
  /* a sequence cut by the length is invalid too */
  json("\xE6\x97\xA5", 2, "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  /* mixed */
  json("ok\xC3\xA9\xff\"\n", 7, "\"ok\xC3\xA9\xEF\xBF\xBD\\\"\\n\"");
}

static void test_json_over_max(void **state) {
  struct ml_buf b;
  (void)state;
  ml_buf_init(&b, 8);
  assert_int_equal(ml_buf_json_str(&b, "\x01\x01"), ML_ERR_TOO_LARGE);
  assert_true(b.len <= 8);
  ml_buf_free(&b);
}

static void test_url_encode(void **state) {
  (void)state;
  url("", "");
  url("AZaz09-._~", "AZaz09-._~");
  url("a b", "a%20b");
  url("a+b&c=d/e?f#g%h", "a%2Bb%26c%3Dd%2Fe%3Ff%23g%25h");
  url("\"'<>\\", "%22%27%3C%3E%5C");
  url("\xC3\xA9", "%C3%A9");
  url("\xff\x01\x7f", "%FF%01%7F");
  url("%2F", "%252F");
}

static void test_url_encode_max(void **state) {
  struct ml_buf b;
  (void)state;
  ml_buf_init(&b, 5);
  assert_int_equal(ml_buf_url_encode(&b, "ab"), ML_OK);
  assert_int_equal(ml_buf_url_encode(&b, " "), ML_OK);
  assert_string_equal(b.data, "ab%20");
  assert_int_equal(ml_buf_url_encode(&b, "x"), ML_ERR_TOO_LARGE);
  ml_buf_free(&b);
}

static void test_utf8_valid(void **state) {
  size_t n = 99;
  (void)state;
  assert_true(ml_utf8_valid("", 0, &n));
  assert_int_equal(n, 0);
  assert_true(ml_utf8_valid("a\xC3\xA9\xF0\x9F\x98\x80", 7, &n));
  assert_int_equal(n, 3);
  assert_false(ml_utf8_valid("\xC0\xAF", 2, NULL));
  assert_false(ml_utf8_valid("\xED\xA0\x80", 3, NULL));
  assert_false(ml_utf8_valid("\xE6\x97", 2, NULL));
  assert_true(ml_utf8_valid("a\0b", 3, NULL));
}

#ifdef ML_TEST_HOOKS
static void test_nomem(void **state) {
  struct ml_buf b;
  (void)state;
  ml_buf_init(&b, 1 << 20);
  ml_alloc_fail_after(1);
  assert_int_equal(ml_buf_adds(&b, "abc"), ML_ERR_NOMEM);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(ml_buf_adds(&b, "abc"), ML_OK);
  /* a failed growth keeps the old content */
  ml_alloc_fail_after(1);
  {
    char big[1000];
    memset(big, 'g', sizeof(big));
    assert_int_equal(ml_buf_add(&b, big, sizeof(big)), ML_ERR_NOMEM);
  }
  assert_string_equal(b.data, "abc");
  assert_int_equal(b.len, 3);
  ml_alloc_fail_after(0);
  ml_buf_free(&b);
}
#endif

static void test_hex_encode(void **state) {
  const unsigned char in[] = {0x00, 0x0f, 0x10, 0xab, 0xff};
  char out[2 * sizeof(in) + 1];
  (void)state;
  memset(out, 'x', sizeof(out));
  ml_hex_encode(in, sizeof(in), out);
  assert_string_equal(out, "000f10abff");
  ml_hex_encode(in, 0, out);
  assert_string_equal(out, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hex_encode),    cmocka_unit_test(test_append),
      cmocka_unit_test(test_addi_extremes), cmocka_unit_test(test_addf_long),
      cmocka_unit_test(test_max),           cmocka_unit_test(test_addf_over_max),
      cmocka_unit_test(test_json_basic),    cmocka_unit_test(test_json_controls),
      cmocka_unit_test(test_json_utf8),     cmocka_unit_test(test_json_over_max),
      cmocka_unit_test(test_url_encode),    cmocka_unit_test(test_url_encode_max),
      cmocka_unit_test(test_utf8_valid),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_nomem),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
