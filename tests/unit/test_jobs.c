/* test_jobs.c - the outbox runner: backoff, and removals against a real
 * SQLite repository and file-system store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/timeutil.h"
#include "jobs/jobs.h"

static void test_backoff(void **state) {
  (void)state;
  /* base 1 s doubles per attempt, capped, jittered into [d/2, d] */
  for(uint32_t rnd = 0; rnd < 5000; rnd += 997) {
    int64_t d0 = ml_jobs_backoff_ms(0, 1000, 300000, rnd);
    int64_t d3 = ml_jobs_backoff_ms(3, 1000, 300000, rnd);
    int64_t d30 = ml_jobs_backoff_ms(30, 1000, 300000, rnd);
    assert_true(d0 >= 500 && d0 <= 1000);
    assert_true(d3 >= 4000 && d3 <= 8000);
    assert_true(d30 >= 150000 && d30 <= 300000);
  }
  /* jitter actually varies */
  assert_true(ml_jobs_backoff_ms(5, 1000, 300000, 1) != ml_jobs_backoff_ms(5, 1000, 300000, 7777));
}

struct fixture {
  char dir[64];
  struct ml_repo *repo;
  struct ml_store *store;
  struct ml_jobs *jobs;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  struct ml_errbuf eb = {{0}};
  char url[160];
  struct ml_jobs_opts o = {0};
  snprintf(f->dir, sizeof(f->dir), "/tmp/ml-jobs-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(url, sizeof(url), "sqlite://%s/db.sqlite", f->dir);
  assert_int_equal(ml_repo_open(url, 2, 1, &f->repo, &eb), ML_OK);
  snprintf(url, sizeof(url), "file://%s/blobs", f->dir);
  assert_int_equal(ml_store_open(url, NULL, &f->store, &eb), ML_OK);
  o.repo = f->repo;
  o.store = f->store;
  assert_int_equal(ml_jobs_create(&o, &f->jobs), ML_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  char cmd[128];
  ml_jobs_destroy(&f->jobs);
  ml_store_close(&f->store);
  ml_repo_close(&f->repo);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static void put_blob(struct fixture *f, const char *key) {
  char path[256];
  struct ml_errbuf eb = {{0}};
  int fd;
  snprintf(path, sizeof(path), "%s/up-XXXXXX", ml_store_spool_dir(f->store));
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "data", 4), 4);
  close(fd);
  assert_int_equal(ml_store_put(f->store, key, path, NULL, &eb), ML_OK);
}

static int64_t add_job(struct fixture *f, const char *kind, const char *key, int64_t media_id,
                       int64_t next_at) {
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_job j = {0};
  j.kind = kind;
  j.key = key;
  j.media_id = media_id;
  j.next_at = next_at;
  j.last_error = "";
  j.created_at = ml_now_ms();
  assert_int_equal(ml_repo_acquire(f->repo, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &j, &eb), ML_OK);
  ml_repo_release(&c);
  return j.id;
}

static int64_t depth(struct fixture *f) {
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  int64_t d = -1, oldest;
  assert_int_equal(ml_repo_acquire(f->repo, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_job_stats(c, &d, &oldest, &eb), ML_OK);
  ml_repo_release(&c);
  return d;
}

static void test_remove_now_and_idempotent(void **state) {
  struct fixture *f = *state;
  struct ml_jobs_result res;
  struct ml_blob b;
  struct ml_errbuf eb = {{0}};
  int64_t ids[2];
  put_blob(f, "m/1/v1-a/original");
  ids[0] = add_job(f, ML_JOB_REMOVE_BLOB, "m/1/v1-a/original", 1, ml_now_ms());
  /* a key already gone: "missing" counts as removed */
  ids[1] = add_job(f, ML_JOB_REMOVE_BLOB, "m/9/v1-z/original", 9, ml_now_ms());
  assert_int_equal(ml_jobs_run_now(f->jobs, ids, 2, 1000, "test", &res), ML_OK);
  assert_int_equal(res.done, 2);
  assert_int_equal(res.pending, 0);
  assert_int_equal(ml_store_get(f->store, "m/1/v1-a/original", &b, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(depth(f), 0);
  /* running finished jobs again is harmless */
  assert_int_equal(ml_jobs_run_now(f->jobs, ids, 2, 0, "test", &res), ML_OK);
  assert_int_equal(res.done, 2);
}

static void test_key_in_use_is_kept(void **state) {
  struct fixture *f = *state;
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_media m = {0};
  struct ml_jobs_result res;
  struct ml_blob b;
  int64_t id;
  put_blob(f, "m/1/v1-b/original");
  m.state = ML_MEDIA_ACTIVE;
  m.title = m.alt_text = m.caption = m.folder = m.tags = "";
  m.filename = "a.png";
  m.mime_type = "image/png";
  m.version = 1;
  m.storage_key = "m/1/v1-b/original";
  assert_int_equal(ml_repo_acquire(f->repo, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  ml_repo_release(&c);
  /* a stale removal of a key a live row uses must not delete the file */
  id = add_job(f, ML_JOB_REMOVE_BLOB, "m/1/v1-b/original", m.id, ml_now_ms());
  assert_int_equal(ml_jobs_run_now(f->jobs, &id, 1, 0, "test", &res), ML_OK);
  assert_int_equal(res.done, 1);
  assert_int_equal(ml_store_get(f->store, "m/1/v1-b/original", &b, &eb), ML_OK);
  close(b.fd);
}

static void test_abort_upload_removes_pending(void **state) {
  struct fixture *f = *state;
  struct ml_conn *c = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_media m = {0}, got;
  struct ml_arena *a = ml_arena_create(0);
  size_t ran = 0;
  struct ml_blob b;
  m.state = ML_MEDIA_PENDING;
  m.title = m.alt_text = m.caption = m.folder = m.tags = "";
  m.filename = "a.png";
  m.mime_type = "image/png";
  m.version = 1;
  m.storage_key = "";
  assert_int_equal(ml_repo_acquire(f->repo, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  ml_repo_release(&c);
  put_blob(f, "m/1/v1-c/original");
  /* not due yet: the background pass leaves it (another key: jobs of one
   * kind and key run in id order, so one of "m/1/v1-c/original" would hold
   * back the one below) */
  add_job(f, ML_JOB_ABORT_UPLOAD, "m/1/v1-d/original", m.id, ml_now_ms() + 60000);
  assert_int_equal(ml_jobs_run_due(f->jobs, 10, &ran, &eb), ML_OK);
  assert_int_equal(ran, 0);
  add_job(f, ML_JOB_ABORT_UPLOAD, "m/1/v1-c/original", m.id, ml_now_ms() - 1);
  assert_int_equal(ml_jobs_run_due(f->jobs, 10, &ran, &eb), ML_OK);
  assert_int_equal(ran, 1);
  assert_int_equal(ml_store_get(f->store, "m/1/v1-c/original", &b, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_acquire(f->repo, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_ERR_NOT_FOUND);
  ml_repo_release(&c);
  assert_int_equal(depth(f), 1);
  ml_arena_destroy(&a);
}

/* A kind this runner has no handler for (a purge queued by a build that
 * knew it) is failed and kept, never run as a blob removal of its key. */
static void test_kind_without_handler_is_kept(void **state) {
  struct fixture *f = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_job got;
  struct ml_blob b;
  size_t ran = 0;
  int64_t id;
  put_blob(f, "m/5/v1-e/original");
  id = add_job(f, "purge_url", "m/5/v1-e/original", 5, ml_now_ms() - 1);
  assert_int_equal(ml_jobs_run_due(f->jobs, 10, &ran, &eb), ML_OK);
  assert_int_equal(ran, 1);
  assert_int_equal(ml_store_get(f->store, "m/5/v1-e/original", &b, &eb), ML_OK);
  close(b.fd);
  assert_int_equal(ml_repo_acquire(f->repo, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_job_get(c, id, a, &got, &eb), ML_OK);
  assert_int_equal(got.attempts, 1);
  assert_non_null(strstr(got.last_error, "no handler"));
  ml_repo_release(&c);
  ml_arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backoff),
      cmocka_unit_test_setup_teardown(test_remove_now_and_idempotent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_in_use_is_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_upload_removes_pending, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kind_without_handler_is_kept, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
