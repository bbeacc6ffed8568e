/* test_filename.c - client filename cleaning (TESTING.md U3) and
 * Content-Disposition output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "media/filename.h"

/* Cleans n bytes of in into out (ML_FILENAME_MAX + 1 bytes); returns out. */
static const char *clean_into(const char *in, size_t n, char *out) {
  memset(out, 'X', ML_FILENAME_MAX + 1);
  ml_filename_clean(in, n, out, ML_FILENAME_MAX + 1);
  assert_true(strlen(out) <= ML_FILENAME_MAX);
  return out;
}

/* Each test function declares the scratch buffer these write into. */
#define clean_n(in, n) clean_into((in), (n), scratch)
#define clean(in) clean_into((in), strlen(in), scratch)

/* Valid UTF-8 check, so that cuts are shown to land on boundaries. */
static int valid_utf8(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  while(*s) {
    size_t len = *s < 0x80 ? 1 : *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 : *s >= 0xC2 ? 2 : 0;
    if(!len)
      return 0;
    for(size_t i = 1; i < len; i++)
      if((s[i] & 0xC0) != 0x80)
        return 0;
    s += len;
  }
  return 1;
}

static void test_plain(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean("photo.jpg"), "photo.jpg");
  assert_string_equal(clean("my photo (1).JPG"), "my photo (1).JPG");
  assert_string_equal(clean("a.tar.gz"), "a.tar.gz");
  assert_string_equal(clean("<script>.png"), "<script>.png");
}

static void test_paths(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean("../../x"), "x");
  assert_string_equal(clean("..\\x"), "x");
  assert_string_equal(clean("..\\..\\windows\\system32\\cmd.exe"), "cmd.exe");
  assert_string_equal(clean("/etc/passwd"), "passwd");
  assert_string_equal(clean("C:\\Users\\me\\Pictures\\cat.png"), "cat.png");
  assert_string_equal(clean("a/b\\c/d.txt"), "d.txt");
  assert_string_equal(clean("dir/"), "file");
  assert_string_equal(clean("/"), "file");
  assert_string_equal(clean("x/.."), "file");
  assert_string_equal(clean("..%2F..%2Fx"), "%2F..%2Fx"); /* never decoded */
}

static void test_dots_and_empty(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean(""), "file");
  assert_string_equal(clean_n(NULL, 0), "file");
  assert_string_equal(clean("."), "file");
  assert_string_equal(clean(".."), "file");
  assert_string_equal(clean("..."), "file");
  assert_string_equal(clean(" "), "file");
  assert_string_equal(clean(" . . "), "file");
  assert_string_equal(clean(".htaccess"), "htaccess");
  assert_string_equal(clean("  name.txt  "), "name.txt");
  assert_string_equal(clean("name.txt..."), "name.txt");
  assert_string_equal(clean("a b"), "a b");
  assert_string_equal(clean("a..b"), "a..b");
  assert_string_equal(clean("\"\""), "file");
}

static void test_controls(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean_n("evil.php\0.jpg", 13), "evil.php.jpg");
  assert_string_equal(clean_n("\0\0\0", 3), "file");
  assert_string_equal(clean("a\r\nSet-Cookie: x=1.txt"), "aSet-Cookie: x=1.txt");
  assert_string_equal(clean("tab\there.txt"), "tabhere.txt");
  assert_string_equal(clean("del\x7f.txt"), "del.txt");
  assert_string_equal(clean("say \"hi\".txt"), "say hi.txt");
  assert_string_equal(clean("\x1b[31mred.txt"), "[31mred.txt");
  /* C1 control U+0085 (NEL) */
  assert_string_equal(clean("a\xC2\x85"
                            "b.txt"),
                      "ab.txt");
  /* U+202E RIGHT-TO-LEFT OVERRIDE disguising an extension */
  assert_string_equal(clean("invoice\xE2\x80\xAEgpj.exe"), "invoicegpj.exe");
  assert_string_equal(clean("a\xE2\x81\xA6"
                            "b\xE2\x81\xA9"
                            ".txt"),
                      "ab.txt");
}

static void test_invalid_utf8(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean("a\xff"
                            "b.txt"),
                      "ab.txt");
  assert_string_equal(clean("\xC3"
                            ".txt"),
                      "txt"); /* truncated sequence */
  assert_string_equal(clean("\xC0\xAF"
                            "x"),
                      "x"); /* overlong '/' */
  assert_string_equal(clean("\xED\xA0\x80"
                            "x"),
                      "x"); /* surrogate */
  assert_string_equal(clean("\xF4\x90\x80\x80"
                            "x"),
                      "x"); /* past U+10FFFF */
  assert_string_equal(clean("\xE0\x80\xAF"
                            "x"),
                      "x");                         /* overlong 3-byte */
  assert_string_equal(clean("end\xE2\x82"), "end"); /* cut at the end */
}

static void test_unicode(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean("\xC3\xA9t\xC3\xA9.jpg"), "\xC3\xA9t\xC3\xA9.jpg");
  assert_string_equal(clean("\xE6\x97\xA5\xE6\x9C\xAC.png"), "\xE6\x97\xA5\xE6\x9C\xAC.png");
  assert_string_equal(clean("\xF0\x9F\x98\x80.gif"), "\xF0\x9F\x98\x80.gif");
  /* fullwidth solidus is not a separator; it is kept as a character */
  assert_string_equal(clean("a\xEF\xBC\x8F"
                            "b"),
                      "a\xEF\xBC\x8F"
                      "b");
}

static void test_percent_kept(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  (void)state;
  assert_string_equal(clean("a%20b.jpg"), "a%20b.jpg");
  assert_string_equal(clean("%2e%2e%2fetc"), "%2e%2e%2fetc");
  assert_string_equal(clean("a%252F.jpg"), "a%252F.jpg");
  assert_string_equal(clean("100%.txt"), "100%.txt");
}

static void test_long_ascii(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  char in[1001];
  const char *out;
  (void)state;
  memset(in, 'a', 996);
  memcpy(in + 996, ".jpg", 5);
  out = clean(in);
  assert_int_equal(strlen(out), ML_FILENAME_MAX);
  assert_string_equal(out + ML_FILENAME_MAX - 4, ".jpg");
  assert_int_equal(out[0], 'a');
  /* no extension: a plain cut */
  memset(in, 'b', 1000);
  in[1000] = '\0';
  out = clean(in);
  assert_int_equal(strlen(out), ML_FILENAME_MAX);
  /* an "extension" longer than 16 is not kept */
  memset(in, 'c', 1000);
  in[500] = '.';
  out = clean(in);
  assert_int_equal(strlen(out), ML_FILENAME_MAX);
  assert_null(strchr(out, '.'));
  /* an extension of exactly 16 (with the dot) is kept */
  memset(in, 'd', 1000);
  in[1000 - 16] = '.';
  out = clean(in);
  assert_int_equal(strlen(out), ML_FILENAME_MAX);
  assert_int_equal(out[ML_FILENAME_MAX - 16], '.');
  /* exactly 255 is left alone */
  memset(in, 'e', 255);
  in[255] = '\0';
  assert_int_equal(strlen(clean(in)), 255);
}

static void test_long_unicode(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  char in[1100];
  const char *out;
  size_t n = 0;
  (void)state;
  /* 333 three-byte characters: the cut must land between characters */
  while(n + 3 < 1000) {
    memcpy(in + n, "\xE6\x97\xA5", 3);
    n += 3;
  }
  memcpy(in + n, ".jpeg", 6);
  out = clean(in);
  assert_true(valid_utf8(out));
  assert_string_equal(out + strlen(out) - 5, ".jpeg");
  assert_true(strlen(out) <= ML_FILENAME_MAX);
  assert_true(strlen(out) > ML_FILENAME_MAX - 3);
  /* four-byte characters without extension */
  for(n = 0; n + 4 <= 1000; n += 4)
    memcpy(in + n, "\xF0\x9F\x98\x80", 4);
  in[n] = '\0';
  out = clean(in);
  assert_true(valid_utf8(out));
  assert_int_equal(strlen(out), 252);
  /* a long name whose cut falls into spaces: no trailing space before the
   * extension */
  memset(in, ' ', 1000);
  in[0] = 'x';
  memcpy(in + 995, ".png", 5);
  assert_string_equal(clean(in), "x.png");
  /* a cut that would leave a trailing dot */
  memset(in, 'y', 1000);
  in[254] = '.';
  in[1000] = '\0';
  out = clean(in);
  assert_int_equal(strlen(out), 254);
  assert_int_not_equal(out[253], '.');
}

static void test_small_out(void **state) {
  char out[8];
  (void)state;
  ml_filename_clean("abcdefghijkl.jpg", 16, out, sizeof(out));
  assert_string_equal(out, "abc.jpg");
  ml_filename_clean("", 0, out, 3);
  assert_string_equal(out, "fi");
  ml_filename_clean("abc", 3, out, 1);
  assert_string_equal(out, "");
  ml_filename_clean("abc", 3, out, 0); /* nothing written, no crash */
}

static void disp(int is_inline, const char *name, const char *want) {
  struct ml_buf b;
  ml_buf_init(&b, 4096);
  assert_int_equal(ml_filename_disposition(&b, is_inline, name), ML_OK);
  assert_string_equal(b.data, want);
  ml_buf_free(&b);
}

static void test_disposition(void **state) {
  (void)state;
  disp(0, "photo.jpg", "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg");
  disp(1, "photo.jpg", "inline; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg");
  disp(0, "my file.pdf", "attachment; filename=\"my file.pdf\"; filename*=UTF-8''my%20file.pdf");
  /* non-ASCII: one '_' per character in the fallback, percent-encoded UTF-8 */
  disp(0, "\xC3\xA9t\xC3\xA9.jpg",
       "attachment; filename=\"_t_.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg");
  disp(1, "\xE6\x97\xA5\xE6\x9C\xAC.png",
       "inline; filename=\"__.png\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.png");
  disp(0, "\xF0\x9F\x98\x80", "attachment; filename=\"_\"; filename*=UTF-8''%F0%9F%98%80");
  /* characters that would break or confuse the header */
  disp(0, "a\\b\"c%41;d",
       "attachment; filename=\"a_b_c_41;d\"; filename*=UTF-8''a%5Cb%22c%2541%3Bd");
  disp(0, "x\r\ny", "attachment; filename=\"x__y\"; filename*=UTF-8''x%0D%0Ay");
  disp(0, "", "attachment; filename=\"file\"; filename*=UTF-8''file");
  disp(0, NULL, "attachment; filename=\"file\"; filename*=UTF-8''file");
}

static void test_disposition_appends_and_limits(void **state) {
  struct ml_buf b;
  (void)state;
  ml_buf_init(&b, 64);
  assert_int_equal(ml_buf_adds(&b, "X: "), ML_OK);
  assert_int_equal(ml_filename_disposition(&b, 1, "a"), ML_OK);
  assert_string_equal(b.data, "X: inline; filename=\"a\"; filename*=UTF-8''a");
  /* too long for the buffer: an error and the buffer as it was */
  assert_int_equal(ml_filename_disposition(&b, 0, "0123456789012345678901234567890"),
                   ML_ERR_TOO_LARGE);
  assert_string_equal(b.data, "X: inline; filename=\"a\"; filename*=UTF-8''a");
  assert_int_equal(b.len, strlen(b.data));
  ml_buf_free(&b);
}

static void test_clean_then_disposition(void **state) {
  char scratch[ML_FILENAME_MAX + 1];
  /* the cleaned name of a hostile input makes a safe header */
  struct ml_buf b;
  const char *name;
  (void)state;
  name = clean("../\r\n\"evil\xE2\x80\xAE\".html");
  assert_string_equal(name, "evil.html");
  ml_buf_init(&b, 4096);
  assert_int_equal(ml_filename_disposition(&b, 0, name), ML_OK);
  assert_null(strpbrk(b.data, "\r\n"));
  ml_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain),
      cmocka_unit_test(test_paths),
      cmocka_unit_test(test_dots_and_empty),
      cmocka_unit_test(test_controls),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_unicode),
      cmocka_unit_test(test_percent_kept),
      cmocka_unit_test(test_long_ascii),
      cmocka_unit_test(test_long_unicode),
      cmocka_unit_test(test_small_out),
      cmocka_unit_test(test_disposition),
      cmocka_unit_test(test_disposition_appends_and_limits),
      cmocka_unit_test(test_clean_then_disposition),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
