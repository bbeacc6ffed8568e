/* test_dcache.c - the delivery cache: hits, expiry, invalidation, races. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "media/media_int.h"

static struct ml_media media(int64_t id, int64_t version, const char *name) {
  struct ml_media m;
  memset(&m, 0, sizeof(m));
  m.id = id;
  m.version = version;
  m.filename = name;
  m.mime_type = "image/png";
  m.storage_key = "m/1/v1-abc/original";
  memcpy(m.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 65);
  m.title = m.alt_text = m.caption = m.folder = m.tags = "";
  return m;
}

static void test_hit_and_invalidate(void **state) {
  struct ml_dcache *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m = media(7, 3, "a.png"), got;
  uint64_t gen;
  (void)state;
  assert_int_equal(ml_dcache_create(60000, &c), ML_OK);
  assert_false(ml_dcache_get(c, 7, a, &got, &gen));
  ml_dcache_put(c, &m, gen);
  assert_true(ml_dcache_get(c, 7, a, &got, &gen));
  assert_int_equal(got.version, 3);
  assert_string_equal(got.filename, "a.png");
  assert_string_equal(got.storage_key, "m/1/v1-abc/original");
  assert_string_equal(got.sha256, m.sha256);
  /* another id in the same slot is a miss, not a wrong answer */
  assert_false(ml_dcache_get(c, 7 + 1024, a, &got, &gen));
  ml_dcache_invalidate(c, 7);
  assert_false(ml_dcache_get(c, 7, a, &got, &gen));
  ml_dcache_destroy(&c);
  assert_null(c);
  ml_arena_destroy(&a);
}

static void test_stale_read_is_not_stored(void **state) {
  struct ml_dcache *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media old = media(9, 1, "old.png"), got;
  uint64_t gen;
  (void)state;
  assert_int_equal(ml_dcache_create(60000, &c), ML_OK);
  /* a reader misses and reads version 1 from the database... */
  assert_false(ml_dcache_get(c, 9, a, &got, &gen));
  /* ...meanwhile a replace commits and invalidates... */
  ml_dcache_invalidate(c, 9);
  /* ...so what the reader read must not be cached */
  ml_dcache_put(c, &old, gen);
  assert_false(ml_dcache_get(c, 9, a, &got, &gen));
  ml_dcache_destroy(&c);
  ml_arena_destroy(&a);
}

static void test_expiry_and_off(void **state) {
  struct ml_dcache *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m = media(5, 1, "x.png"), got;
  struct timespec ts = {0, 60 * 1000 * 1000};
  uint64_t gen;
  (void)state;
  assert_int_equal(ml_dcache_create(30, &c), ML_OK);
  assert_false(ml_dcache_get(c, 5, a, &got, &gen));
  ml_dcache_put(c, &m, gen);
  assert_true(ml_dcache_get(c, 5, a, &got, &gen));
  nanosleep(&ts, NULL);
  assert_false(ml_dcache_get(c, 5, a, &got, &gen)); /* past its time to live */
  ml_dcache_destroy(&c);
  /* ttl 0: off, every call a miss or a no-op */
  assert_int_equal(ml_dcache_create(0, &c), ML_OK);
  assert_null(c);
  ml_dcache_put(c, &m, 0);
  assert_false(ml_dcache_get(c, 5, a, &got, &gen));
  ml_dcache_invalidate(c, 5);
  ml_arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_hit_and_invalidate),
                                     cmocka_unit_test(test_stale_read_is_not_stored),
                                     cmocka_unit_test(test_expiry_and_off)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
