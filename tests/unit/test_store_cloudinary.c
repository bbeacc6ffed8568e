/* test_store_cloudinary.c - the Cloudinary store's pure parts: the request
 * signature against the example of Cloudinary's documentation, its URL,
 * resource types, delivery URLs and the JSON answers it reads. (The store's
 * calls are tested end to end against the stand-in server:
 * tests/e2e/87-cloudinary-standin.test.mjs.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "store/store.h"
#include "store/store_cloudinary.h"

/* A JSON literal and its length. */
#define J(s) s, strlen(s)

/* ------------------------------------------------------------ signatures */

/* Cloudinary, "Generating authentication signatures": eager, public_id and
 * timestamp 1315060510 with the secret "abcd" sign as
 * bfd09f95f331f558cbd1320e67aa8d488770583e (SHA-1). The SHA-256 answer is
 * sha256sum's of the same string. file, api_key, resource_type and
 * cloud_name are not signed; neither are empty values. */
static void test_sign_documented_example(void **state) {
  struct ml_store_cld_param p[] = {
      {"timestamp", "1315060510"},
      {"public_id", "sample_image"},
      {"file", "ignored"},
      {"api_key", "1234"},
      {"resource_type", "image"},
      {"cloud_name", "demo"},
      {"folder", ""},
      {"eager", "w_400,h_300,c_pad|w_260,h_200,c_crop"},
  };
  struct ml_buf s;
  char sig[65];
  (void)state;
  ml_buf_init(&s, 4096);
  assert_int_equal(ml_store_cld_string_to_sign(p, 8, &s), ML_OK);
  assert_string_equal(s.data, "eager=w_400,h_300,c_pad|w_260,h_200,c_crop&public_id=sample_image&"
                              "timestamp=1315060510");
  ml_buf_free(&s);
  assert_int_equal(ml_store_cld_sign(p, 8, "abcd", 0, sig, NULL), ML_OK);
  assert_string_equal(sig, "bfd09f95f331f558cbd1320e67aa8d488770583e");
  assert_int_equal(ml_store_cld_sign(p, 8, "abcd", 1, sig, NULL), ML_OK);
  assert_string_equal(sig, "cc927e1290f9e3ae4c1a741eda21a4630b4ce80f9ce0bc0296337d25cf40f91e");
  /* a different secret, a different signature */
  assert_int_equal(ml_store_cld_sign(p, 8, "abce", 0, sig, NULL), ML_OK);
  assert_string_not_equal(sig, "bfd09f95f331f558cbd1320e67aa8d488770583e");
}

/* The destroy call medialib makes: invalidate, public_id, timestamp, type. */
static void test_sign_destroy_order(void **state) {
  struct ml_store_cld_param p[] = {{"type", "upload"},
                                   {"public_id", "lib/m/4/v2-ab/original"},
                                   {"invalidate", "true"},
                                   {"timestamp", "1700000000"},
                                   {"signature", "old"}};
  struct ml_buf s;
  (void)state;
  ml_buf_init(&s, 4096);
  assert_int_equal(ml_store_cld_string_to_sign(p, 5, &s), ML_OK);
  assert_string_equal(s.data, "invalidate=true&public_id=lib/m/4/v2-ab/original&"
                              "timestamp=1700000000&type=upload");
  ml_buf_free(&s);
}

/* ------------------------------------------------------------------ URL */

static void test_url_defaults(void **state) {
  struct ml_store_cld_url u;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_store_cld_url_parse("cloudinary://123456:a%2Fb_c@my-cloud", 0, &u, &eb),
                   ML_OK);
  assert_string_equal(u.api_key, "123456");
  assert_string_equal(u.api_secret, "a/b_c");
  assert_string_equal(u.cloud, "my-cloud");
  assert_string_equal(u.upload_prefix, "https://api.cloudinary.com");
  assert_string_equal(u.delivery_prefix, "https://res.cloudinary.com");
  assert_string_equal(u.prefix, "");
  assert_int_equal(u.redirect, 1);
  assert_int_equal(u.sha256, 0);
  assert_int_equal(u.chunk_size, 20LL * 1024 * 1024);
  assert_int_equal(u.list_page, 500);
  assert_int_equal(u.tries, 3);
}

static void test_url_params(void **state) {
  struct ml_store_cld_url u;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_store_cld_url_parse("cloudinary://k:s@c?delivery=proxy&prefix=site/media/"
                                          "&signature=sha256&chunk_size=6MiB&list_page=7&timeout=9"
                                          "&connect_timeout=2&tries=5&redirect_ttl=60"
                                          "&upload_prefix=http://127.0.0.1:9000"
                                          "&delivery_prefix=http%3A%2F%2F127.0.0.1%3A9000",
                                          0, &u, &eb),
                   ML_OK);
  assert_int_equal(u.redirect, 0);
  assert_string_equal(u.prefix, "site/media/");
  assert_int_equal(u.sha256, 1);
  assert_int_equal(u.chunk_size, 6LL * 1024 * 1024);
  assert_int_equal(u.list_page, 7);
  assert_int_equal(u.timeout_s, 9);
  assert_int_equal(u.connect_timeout_s, 2);
  assert_int_equal(u.tries, 5);
  assert_int_equal(u.redirect_ttl, 60);
  assert_string_equal(u.upload_prefix, "http://127.0.0.1:9000");
  assert_string_equal(u.delivery_prefix, "http://127.0.0.1:9000");
  assert_int_equal(
      ml_store_cld_url_parse("cloudinary://k:s@c?secure_distribution=cdn.example.com", 0, &u, &eb),
      ML_OK);
  assert_string_equal(u.delivery_prefix, "https://cdn.example.com");
}

static void test_url_refused(void **state) {
  static const char *const bad[] = {
      "s3://bucket",
      "cloudinary://",
      "cloudinary://key@cloud",         /* no secret */
      "cloudinary://:secret@cloud",     /* no key */
      "cloudinary://key:secret@",       /* no cloud */
      "cloudinary://key:secret@clo/ud", /* bad cloud name */
      "cloudinary://key:s%zzt@cloud",   /* bad escape */
      "cloudinary://key:s%00t@cloud",   /* NUL */
      "cloudinary://key:secret@cloud?nope=1",
      "cloudinary://key:secret@cloud?delivery=cdn",
      "cloudinary://key:secret@cloud?prefix=no-slash",
      "cloudinary://key:secret@cloud?prefix=/lead/",
      "cloudinary://key:secret@cloud?prefix=a//b/",
      "cloudinary://key:secret@cloud?signature=md5",
      "cloudinary://key:secret@cloud?chunk_size=1MiB", /* under Cloudinary's 5 MiB */
      "cloudinary://key:secret@cloud?chunk_size=lots",
      "cloudinary://key:secret@cloud?list_page=501",
      "cloudinary://key:secret@cloud?tries=0",
      "cloudinary://key:secret@cloud?upload_prefix=ftp://x",
      "cloudinary://key:secret@cloud?upload_prefix=http://x/",
      "cloudinary://key:secret@cloud?secure_distribution=a/b",
      "cloudinary://key:secret@cloud?timeout",
  };
  struct ml_store_cld_url u;
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct ml_errbuf eb = {{0}};
    if(ml_store_cld_url_parse(bad[i], 0, &u, &eb) != ML_ERR_CONFIG)
      fail_msg("accepted: %s", bad[i]);
    assert_true(eb.msg[0] != '\0');
    assert_null(strstr(eb.msg, "secret@")); /* never the secret */
  }
  /* small chunks only where the caller allows them (tests' stand-in) */
  assert_int_equal(ml_store_cld_url_parse("cloudinary://k:s@c?chunk_size=64KiB", 1, &u, NULL),
                   ML_OK);
  assert_int_equal(u.chunk_size, 64 * 1024);
}

/* --------------------------------------------- resource types, delivery */

static void test_resource_type(void **state) {
  (void)state;
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "image/jpeg"), "image");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "image/PNG"), "image");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "image/avif"), "image");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "image/heic"), "image");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "image/svg+xml"), "raw");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "video/mp4"), "video");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "audio/mpeg"), "video");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", "application/pdf"), "raw");
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/original", NULL), "raw");
  /* a rendered variant is raw whatever its type: its key has an extension */
  assert_string_equal(ml_store_cld_resource_type("m/1/v1-ab/c_fill-h_200-w_200.jpeg", "image/jpeg"),
                      "raw");
  /* a dot in a directory is not an extension */
  assert_string_equal(ml_store_cld_resource_type("a.b/m/1/v1-ab/original", "image/gif"), "image");
}

static void test_key_version(void **state) {
  (void)state;
  assert_int_equal(ml_store_cld_key_version("m/42/v3-ab12/original"), 3);
  assert_int_equal(ml_store_cld_key_version("m/42/v117-ab12/t.jpeg"), 117);
  assert_int_equal(ml_store_cld_key_version("m/42/v0-ab12/original"), 1);
  assert_int_equal(ml_store_cld_key_version("m/42/x3-ab12/original"), 1);
  assert_int_equal(ml_store_cld_key_version("m/42/v3/original"), 1);
  assert_int_equal(ml_store_cld_key_version("m/42"), 1);
  assert_int_equal(ml_store_cld_key_version("m/42/v99999999999999999999-a/o"), 1);
}

static void test_delivery_url(void **state) {
  struct ml_store_cld_url u;
  struct ml_buf b;
  (void)state;
  assert_int_equal(ml_store_cld_url_parse("cloudinary://k:s@demo", 0, &u, NULL), ML_OK);
  ml_buf_init(&b, 4096);
  assert_int_equal(ml_store_cld_delivery_url(&u, "image", NULL, 3, "m/1/v3-ab/original", &b),
                   ML_OK);
  assert_string_equal(b.data, "https://res.cloudinary.com/demo/image/upload/v3/m/1/v3-ab/original");
  ml_buf_reset(&b);
  assert_int_equal(
      ml_store_cld_delivery_url(&u, "image", "c_lfill,h_200,q_auto,w_200", 3, "p/x", &b), ML_OK);
  assert_string_equal(
      b.data, "https://res.cloudinary.com/demo/image/upload/c_lfill,h_200,q_auto,w_200/v3/p/x");
  ml_buf_free(&b);
}

/* ------------------------------------------------------------------ JSON */

static void test_parse_upload(void **state) {
  static const char ok[] =
      "{\"asset_id\":\"a\",\"public_id\":\"m/1/v1-ab/original\",\"version\":1700000001,"
      "\"resource_type\":\"image\",\"bytes\":1234,\"created_at\":\"2026-11-29T17:00:00Z\","
      "\"type\":\"upload\"}";
  struct ml_store_cld_asset a;
  int partial = 7;
  (void)state;
  assert_int_equal(ml_store_cld_parse_upload(ok, strlen(ok), &a, &partial, NULL), ML_OK);
  assert_int_equal(partial, 0);
  assert_string_equal(a.public_id, "m/1/v1-ab/original");
  assert_string_equal(a.resource_type, "image");
  assert_int_equal(a.bytes, 1234);
  assert_int_equal(a.version, 1700000001);
  assert_int_equal(a.created_ms, 1795971600000LL);
  assert_int_equal(ml_store_cld_parse_upload(J("{\"done\":false}"), &a, &partial, NULL), ML_OK);
  assert_int_equal(partial, 1);
  assert_int_equal(ml_store_cld_parse_upload(J("[]"), &a, &partial, NULL), ML_ERR_IO);
  assert_int_equal(ml_store_cld_parse_upload(J("{\"public_id\":1}"), &a, &partial, NULL),
                   ML_ERR_IO);
  assert_int_equal(
      ml_store_cld_parse_upload(J("{\"public_id\":\"a\\u0000b\",\"resource_type\":\"raw\"}"), &a,
                                &partial, NULL),
      ML_ERR_IO); /* a NUL inside: not a public_id of ours */
  assert_int_equal(ml_store_cld_parse_upload(J("{\"public_id\":"), &a, &partial, NULL), ML_ERR_IO);
}

static void test_parse_destroy(void **state) {
  int found = -1;
  (void)state;
  assert_int_equal(ml_store_cld_parse_destroy(J("{\"result\":\"ok\"}"), &found, NULL), ML_OK);
  assert_int_equal(found, 1);
  assert_int_equal(ml_store_cld_parse_destroy(J("{\"result\":\"not found\"}"), &found, NULL),
                   ML_OK);
  assert_int_equal(found, 0);
  assert_int_equal(ml_store_cld_parse_destroy(J("{\"result\":\"error\"}"), &found, NULL),
                   ML_ERR_IO);
  assert_int_equal(ml_store_cld_parse_destroy(J("{}"), &found, NULL), ML_ERR_IO);
  assert_int_equal(ml_store_cld_parse_destroy(J(""), &found, NULL), ML_ERR_IO);
}

struct seen {
  int n;
  char last[1024];
  int stop_at;
};

static int on_item(void *ctx, const struct ml_store_cld_asset *a) {
  struct seen *s = ctx;
  s->n++;
  snprintf(s->last, sizeof(s->last), "%s:%s:%lld", a->resource_type, a->public_id,
           (long long)a->bytes);
  return s->n == s->stop_at;
}

static void test_parse_list(void **state) {
  static const char page[] =
      "{\"resources\":[{\"public_id\":\"p/a\",\"resource_type\":\"image\",\"bytes\":5},"
      "{\"public_id\":\"p/b\",\"resource_type\":\"image\",\"bytes\":6,"
      "\"created_at\":\"2026-01-01T00:00:00Z\"}],\"next_cursor\":\"abc123\"}";
  struct seen s = {0};
  char cursor[16];
  int stopped = 0;
  (void)state;
  assert_int_equal(ml_store_cld_parse_list(page, strlen(page), on_item, &s, cursor, sizeof(cursor),
                                           &stopped, NULL),
                   ML_OK);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.last, "image:p/b:6");
  assert_string_equal(cursor, "abc123");
  assert_int_equal(stopped, 0);
  /* the callback stops the walk */
  memset(&s, 0, sizeof(s));
  s.stop_at = 1;
  assert_int_equal(ml_store_cld_parse_list(page, strlen(page), on_item, &s, cursor, sizeof(cursor),
                                           &stopped, NULL),
                   ML_OK);
  assert_int_equal(s.n, 1);
  assert_int_equal(stopped, 1);
  /* the last page has no cursor */
  memset(&s, 0, sizeof(s));
  assert_int_equal(ml_store_cld_parse_list(J("{\"resources\":[]}"), on_item, &s, cursor,
                                           sizeof(cursor), &stopped, NULL),
                   ML_OK);
  assert_string_equal(cursor, "");
  /* malformed */
  assert_int_equal(ml_store_cld_parse_list(J("{\"resources\":{}}"), on_item, &s, cursor,
                                           sizeof(cursor), &stopped, NULL),
                   ML_ERR_IO);
  assert_int_equal(ml_store_cld_parse_list(J("{\"resources\":[1]}"), on_item, &s, cursor,
                                           sizeof(cursor), &stopped, NULL),
                   ML_ERR_IO);
  assert_int_equal(
      ml_store_cld_parse_list(J("{\"resources\":[],\"next_cursor\":\"0123456789abcdefX\"}"),
                              on_item, &s, cursor, sizeof(cursor), &stopped, NULL),
      ML_ERR_IO); /* a cursor longer than the room for it */
}

static void test_parse_error(void **state) {
  char msg[16];
  (void)state;
  assert_int_equal(
      ml_store_cld_parse_error(J("{\"error\":{\"message\":\"Invalid\\nSignature 0123456\"}}"), msg,
                               sizeof(msg)),
      1);
  assert_string_equal(msg, "Invalid Signatu"); /* newline replaced, cut to fit */
  assert_int_equal(ml_store_cld_parse_error(J("<html>"), msg, sizeof(msg)), 0);
  assert_string_equal(msg, "");
  assert_int_equal(ml_store_cld_parse_error(J("{\"error\":\"x\"}"), msg, sizeof(msg)), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sign_documented_example),
      cmocka_unit_test(test_sign_destroy_order),
      cmocka_unit_test(test_url_defaults),
      cmocka_unit_test(test_url_params),
      cmocka_unit_test(test_url_refused),
      cmocka_unit_test(test_resource_type),
      cmocka_unit_test(test_key_version),
      cmocka_unit_test(test_delivery_url),
      cmocka_unit_test(test_parse_upload),
      cmocka_unit_test(test_parse_destroy),
      cmocka_unit_test(test_parse_list),
      cmocka_unit_test(test_parse_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
