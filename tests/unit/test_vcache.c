/* test_vcache.c - the cache of rendered variants' rows (src/media/vcache.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/arena.h"
#include "media/media_int.h"

static struct ml_variant variant(int64_t id, int64_t version, const char *name, const char *key) {
  struct ml_variant v;
  memset(&v, 0, sizeof(v));
  v.media_id = id;
  v.version = version;
  v.name = name;
  v.storage_key = key;
  v.mime_type = "image/webp";
  v.size = 1234;
  v.width = 200;
  v.height = 100;
  v.created_at = 42;
  snprintf(v.sha256, sizeof(v.sha256), "%064d", 9);
  return v;
}

static void test_hit_and_miss(void **state) {
  struct ml_vcache *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_variant v = variant(7, 2, "c_fill,f_webp,h_100,w_200", "m/7/v2-x/c_fill-f_webp.webp"),
                    got;
  (void)state;
  assert_int_equal(ml_vcache_create(1000, &c), ML_OK);
  assert_non_null(c);
  assert_int_equal(ml_vcache_get(c, 7, 2, v.name, a, &got), 0);
  ml_vcache_put(c, &v);
  assert_int_equal(ml_vcache_get(c, 7, 2, v.name, a, &got), 1);
  assert_int_equal(got.media_id, 7);
  assert_int_equal(got.version, 2);
  assert_string_equal(got.name, v.name);
  assert_string_equal(got.storage_key, v.storage_key);
  assert_string_equal(got.mime_type, "image/webp");
  assert_int_equal(got.size, 1234);
  assert_int_equal(got.width, 200);
  assert_int_equal(got.height, 100);
  assert_int_equal(got.created_at, 42);
  assert_string_equal(got.sha256, v.sha256);
  /* Another version, media or name is another variant. */
  assert_int_equal(ml_vcache_get(c, 7, 3, v.name, a, &got), 0);
  assert_int_equal(ml_vcache_get(c, 8, 2, v.name, a, &got), 0);
  assert_int_equal(ml_vcache_get(c, 7, 2, "f_webp,w_200", a, &got), 0);
  ml_vcache_destroy(&c);
  assert_null(c);
  ml_arena_destroy(&a);
}

static void test_expiry_and_off(void **state) {
  struct ml_vcache *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_variant v = variant(1, 1, "f_png,w_10", "m/1/v1-x/f_png-w_10.png"), got;
  struct timespec ts = {0, 30 * 1000 * 1000};
  char longkey[300];
  (void)state;
  assert_int_equal(ml_vcache_create(10, &c), ML_OK);
  ml_vcache_put(c, &v);
  assert_int_equal(ml_vcache_get(c, 1, 1, v.name, a, &got), 1);
  nanosleep(&ts, NULL);
  assert_int_equal(ml_vcache_get(c, 1, 1, v.name, a, &got), 0);
  /* What does not fit is not cached (and not truncated). */
  memset(longkey, 'k', sizeof(longkey) - 1);
  longkey[sizeof(longkey) - 1] = '\0';
  v.storage_key = longkey;
  ml_vcache_put(c, &v);
  assert_int_equal(ml_vcache_get(c, 1, 1, v.name, a, &got), 0);
  ml_vcache_destroy(&c);
  /* ttl 0: off, every call a no-op or a miss. */
  assert_int_equal(ml_vcache_create(0, &c), ML_OK);
  assert_null(c);
  ml_vcache_put(c, &v);
  assert_int_equal(ml_vcache_get(c, 1, 1, v.name, a, &got), 0);
  ml_vcache_destroy(&c);
  ml_arena_destroy(&a);
}

static void test_many_entries(void **state) {
  struct ml_vcache *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  int hits = 0;
  (void)state;
  assert_int_equal(ml_vcache_create(60000, &c), ML_OK);
  /* More entries than slots: the newest of a slot wins, nothing mixes. */
  for(int i = 1; i <= 3000; i++) {
    char name[32], key[64];
    struct ml_variant v;
    snprintf(name, sizeof(name), "f_png,w_%d", i);
    snprintf(key, sizeof(key), "m/%d/v1-x/f_png-w_%d.png", i, i);
    v = variant(i, 1, name, key);
    ml_vcache_put(c, &v);
  }
  for(int i = 1; i <= 3000; i++) {
    char name[32], key[64];
    struct ml_variant got;
    snprintf(name, sizeof(name), "f_png,w_%d", i);
    snprintf(key, sizeof(key), "m/%d/v1-x/f_png-w_%d.png", i, i);
    if(ml_vcache_get(c, i, 1, name, a, &got)) {
      hits++;
      assert_string_equal(got.storage_key, key);
    }
  }
  assert_true(hits > 0 && hits <= 1024);
  ml_vcache_destroy(&c);
  ml_arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hit_and_miss),
      cmocka_unit_test(test_expiry_and_off),
      cmocka_unit_test(test_many_entries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
