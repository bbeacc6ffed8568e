/* test_arena.c - request-lifetime memory: alignment, growth, the ceiling,
 * reset and the string helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/arena.h"

static void test_create_destroy(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  (void)state;
  assert_non_null(a);
  ml_arena_destroy(&a);
  assert_null(a);
  ml_arena_destroy(&a); /* NULL is harmless */
  ml_arena_destroy(NULL);
}

static void test_alignment_and_separation(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  unsigned char *prev = NULL;
  (void)state;
  for(size_t n = 0; n < 300; n++) {
    unsigned char *p = ml_arena_alloc(a, n);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    /* writing the whole block must not touch the previous one */
    memset(p, (int)(n & 0xff), n);
    if(prev && n > 1)
      assert_int_equal(prev[0], (unsigned char)((n - 1) & 0xff));
    prev = p;
  }
  ml_arena_destroy(&a);
}

static void test_large_blocks(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  char *small, *big, *after;
  (void)state;
  small = ml_arena_alloc(a, 10);
  big = ml_arena_alloc(a, 100000); /* bigger than a chunk */
  after = ml_arena_alloc(a, 10);
  assert_non_null(small);
  assert_non_null(big);
  assert_non_null(after);
  memset(big, 'b', 100000);
  memset(small, 's', 10);
  memset(after, 'a', 10);
  assert_int_equal(big[0], 'b');
  assert_int_equal(big[99999], 'b');
  ml_arena_destroy(&a);
}

static void test_ceiling(void **state) {
  struct ml_arena *a = ml_arena_create(16384);
  size_t got = 0;
  (void)state;
  assert_non_null(a);
  /* one allocation past the ceiling fails, smaller ones still fit */
  assert_null(ml_arena_alloc(a, 20000));
  while(ml_arena_alloc(a, 1000))
    got += 1000;
  assert_true(got >= 8000);
  assert_true(got <= 16384);
  assert_null(ml_arena_alloc(a, 5000));
  ml_arena_destroy(&a);
}

static void test_huge_sizes(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  (void)state;
  assert_null(ml_arena_alloc(a, SIZE_MAX));
  assert_null(ml_arena_alloc(a, SIZE_MAX - 8));
  assert_null(ml_arena_alloc(a, SIZE_MAX / 2));
  assert_null(ml_arena_alloc(a, (size_t)65 << 20)); /* over the 64 MiB default */
  assert_non_null(ml_arena_alloc(a, 16));
  ml_arena_destroy(&a);
}

static void test_reset(void **state) {
  struct ml_arena *a = ml_arena_create(32768);
  (void)state;
  for(int round = 0; round < 20; round++) {
    size_t got = 0;
    while(ml_arena_alloc(a, 4000))
      got += 4000;
    /* every round gets the same room back */
    assert_true(got >= 24000);
    ml_arena_reset(a);
  }
  assert_non_null(ml_arena_strdup(a, "still usable"));
  ml_arena_destroy(&a);
}

static void test_strings(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  char big[10000];
  char *s;
  (void)state;
  assert_string_equal(ml_arena_strdup(a, "hello"), "hello");
  assert_string_equal(ml_arena_strdup(a, ""), "");
  assert_null(ml_arena_strdup(a, NULL));
  assert_null(ml_arena_strndup(a, NULL, 3));
  assert_string_equal(ml_arena_strndup(a, "abcdef", 3), "abc");
  assert_string_equal(ml_arena_printf(a, "%s-%d-%lld", "x", 42, (long long)INT64_MIN),
                      "x-42--9223372036854775808");
  assert_string_equal(ml_arena_printf(a, "%s", ""), "");
  memset(big, 'p', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  s = ml_arena_printf(a, "<%s>", big);
  assert_non_null(s);
  assert_int_equal(strlen(s), sizeof(big) + 1);
  assert_int_equal(s[0], '<');
  ml_arena_destroy(&a);
}

static void test_printf_over_ceiling(void **state) {
  struct ml_arena *a = ml_arena_create(8192);
  char big[9000];
  (void)state;
  memset(big, 'p', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_null(ml_arena_printf(a, "%s", big));
  assert_null(ml_arena_strdup(a, big));
  assert_non_null(ml_arena_strdup(a, "small"));
  ml_arena_destroy(&a);
}

#ifdef ML_TEST_HOOKS
static void test_nomem(void **state) {
  struct ml_arena *a;
  (void)state;
  ml_alloc_fail_after(1);
  assert_null(ml_arena_create(0));
  ml_alloc_fail_after(2); /* the first chunk */
  assert_null(ml_arena_create(0));
  ml_alloc_fail_after(0);
  a = ml_arena_create(0);
  assert_non_null(a);
  ml_alloc_fail_after(1);
  assert_null(ml_arena_alloc(a, 100000));
  ml_alloc_fail_after(0);
  assert_non_null(ml_arena_alloc(a, 100000));
  ml_arena_destroy(&a);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_destroy), cmocka_unit_test(test_alignment_and_separation),
      cmocka_unit_test(test_large_blocks),   cmocka_unit_test(test_ceiling),
      cmocka_unit_test(test_huge_sizes),     cmocka_unit_test(test_reset),
      cmocka_unit_test(test_strings),        cmocka_unit_test(test_printf_over_ceiling),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_nomem),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
