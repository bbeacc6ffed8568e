/* test_workers.c - the bounded worker pool: runs everything, refuses when full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "core/workers.h"

static void bump(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }

static void slow(void *arg) {
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL);
  atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_runs_all(void **state) {
  struct ml_workers *w = NULL;
  atomic_int n = 0;
  (void)state;
  assert_int_equal(ml_workers_create(3, 1000, &w), ML_OK);
  for(int i = 0; i < 500; i++)
    assert_int_equal(ml_workers_submit(w, bump, &n), ML_OK);
  ml_workers_destroy(&w); /* drains the queue */
  assert_null(w);
  assert_int_equal(atomic_load(&n), 500);
}

static void test_full_queue_is_busy(void **state) {
  struct ml_workers *w = NULL;
  atomic_int n = 0;
  int busy = 0;
  (void)state;
  assert_int_equal(ml_workers_create(1, 2, &w), ML_OK);
  for(int i = 0; i < 10; i++)
    if(ml_workers_submit(w, slow, &n) == ML_ERR_BUSY)
      busy++;
  assert_true(busy >= 7); /* one running, two queued at most */
  ml_workers_destroy(&w);
  assert_int_equal(atomic_load(&n), 10 - busy);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_runs_all),
                                     cmocka_unit_test(test_full_queue_is_busy)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
