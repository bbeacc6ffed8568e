/*
 * test_cors.c - the allowed-origin list and the CORS headers of answers
 * (src/http/cors.h): nothing by default, exact origins only, the origin
 * echoed (never "*"), Authorization allowed in preflights.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/cors.h"

static const char *header(const struct ml_cors_header *hs, size_t n, const char *name) {
  for(size_t i = 0; i < n; i++)
    if(!strcmp(hs[i].name, name))
      return hs[i].value;
  return NULL;
}

static void test_nothing_by_default(void **state) {
  struct ml_cors *c = NULL;
  struct ml_cors_header hs[ML_CORS_HEADERS_MAX];
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_cors_create("", &c, &eb), ML_OK);
  assert_false(ml_cors_enabled(c));
  assert_false(ml_cors_allowed(c, "https://a.example"));
  assert_int_equal(ml_cors_response_headers(c, "https://a.example", hs), 0);
  ml_cors_destroy(&c);
  assert_null(c);
  assert_int_equal(ml_cors_create(NULL, &c, &eb), ML_OK);
  assert_false(ml_cors_enabled(c));
  ml_cors_destroy(&c);
  assert_int_equal(ml_cors_create(" , ,", &c, &eb), ML_OK);
  assert_false(ml_cors_enabled(c));
  ml_cors_destroy(&c);
  assert_false(ml_cors_allowed(NULL, "https://a.example"));
  assert_int_equal(ml_cors_response_headers(NULL, "https://a.example", hs), 0);
}

static void test_allowed_origins(void **state) {
  struct ml_cors *c = NULL;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_cors_create(" https://a.example ,http://localhost:3000,http://[::1]:8080,"
                                  "http://127.0.0.1",
                                  &c, &eb),
                   ML_OK);
  assert_true(ml_cors_enabled(c));
  assert_true(ml_cors_allowed(c, "https://a.example"));
  assert_true(ml_cors_allowed(c, "HTTPS://A.EXAMPLE"));
  assert_true(ml_cors_allowed(c, "http://localhost:3000"));
  assert_true(ml_cors_allowed(c, "http://[::1]:8080"));
  assert_true(ml_cors_allowed(c, "http://127.0.0.1"));
  /* near misses */
  assert_false(ml_cors_allowed(c, "http://a.example"));
  assert_false(ml_cors_allowed(c, "https://a.example:443"));
  assert_false(ml_cors_allowed(c, "https://a.example/"));
  assert_false(ml_cors_allowed(c, "https://a.example.evil.com"));
  assert_false(ml_cors_allowed(c, "https://evil.a.example"));
  assert_false(ml_cors_allowed(c, "http://localhost:30000"));
  assert_false(ml_cors_allowed(c, "http://localhost"));
  assert_false(ml_cors_allowed(c, "null"));
  assert_false(ml_cors_allowed(c, ""));
  assert_false(ml_cors_allowed(c, NULL));
  ml_cors_destroy(&c);
}

static void test_bad_lists(void **state) {
  const char *const bad[] = {
      "*",
      "https://*.example",
      "https://a.example/",
      "https://a.example/path",
      "a.example",
      "ftp://a.example",
      "https://",
      "https://a example",
      "https://a:",
      "https://a:123456",
      "https://a.example?x",
      "https://a.example#x",
      "https://u@a",
      "http://[::1",
      "http://[zz]:80",
      "https://a.example, *",
      "null",
  };
  struct ml_errbuf eb;
  struct ml_cors *c = NULL;
  char many[64 * 40];
  size_t n = 0;
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&eb, 0, sizeof(eb));
    if(ml_cors_create(bad[i], &c, &eb) != ML_ERR_CONFIG)
      fail_msg("accepted %s", bad[i]);
    assert_null(c);
    assert_non_null(strstr(eb.msg, "MEDIALIB_CORS_ORIGINS"));
  }
  for(int i = 0; i < ML_CORS_MAX_ORIGINS + 1; i++)
    n += (size_t)snprintf(many + n, sizeof(many) - n, "https://h%d.example,", i);
  memset(&eb, 0, sizeof(eb));
  assert_int_equal(ml_cors_create(many, &c, &eb), ML_ERR_CONFIG);
  assert_null(c);
}

static void test_preflight(void **state) {
  struct ml_cors_header hs[ML_CORS_HEADERS_MAX];
  size_t n;
  (void)state;
  assert_true(ml_cors_is_preflight("OPTIONS", "https://a.example", "POST"));
  assert_false(ml_cors_is_preflight("OPTIONS", "https://a.example", NULL));
  assert_false(ml_cors_is_preflight("OPTIONS", NULL, "POST"));
  assert_false(ml_cors_is_preflight("POST", "https://a.example", "POST"));
  n = ml_cors_preflight_headers("https://a.example", hs);
  assert_string_equal(header(hs, n, "Access-Control-Allow-Origin"), "https://a.example");
  assert_non_null(strstr(header(hs, n, "Access-Control-Allow-Headers"), "Authorization"));
  assert_non_null(strstr(header(hs, n, "Access-Control-Allow-Headers"), "Content-Type"));
  assert_non_null(strstr(header(hs, n, "Access-Control-Allow-Methods"), "PATCH"));
  assert_non_null(strstr(header(hs, n, "Access-Control-Allow-Methods"), "DELETE"));
  assert_string_equal(header(hs, n, "Access-Control-Max-Age"), ML_CORS_MAX_AGE);
  assert_string_equal(header(hs, n, "Vary"), "Origin");
  assert_null(header(hs, n, "Access-Control-Allow-Credentials"));
}

static void test_response_headers(void **state) {
  struct ml_cors *c = NULL;
  struct ml_cors_header hs[ML_CORS_HEADERS_MAX];
  struct ml_errbuf eb = {{0}};
  size_t n;
  (void)state;
  assert_int_equal(ml_cors_create("https://a.example", &c, &eb), ML_OK);
  n = ml_cors_response_headers(c, "https://a.example", hs);
  assert_string_equal(header(hs, n, "Access-Control-Allow-Origin"), "https://a.example");
  assert_non_null(strstr(header(hs, n, "Access-Control-Expose-Headers"), "X-Request-Id"));
  assert_non_null(strstr(header(hs, n, "Access-Control-Expose-Headers"), "Location"));
  assert_string_equal(header(hs, n, "Vary"), "Origin");
  /* another origin, or none: only Vary, so caches keep answers apart */
  n = ml_cors_response_headers(c, "https://b.example", hs);
  assert_int_equal(n, 1);
  assert_string_equal(header(hs, n, "Vary"), "Origin");
  n = ml_cors_response_headers(c, NULL, hs);
  assert_int_equal(n, 1);
  assert_null(header(hs, n, "Access-Control-Allow-Origin"));
  ml_cors_destroy(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nothing_by_default), cmocka_unit_test(test_allowed_origins),
      cmocka_unit_test(test_bad_lists),          cmocka_unit_test(test_preflight),
      cmocka_unit_test(test_response_headers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
