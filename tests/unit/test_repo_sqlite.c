/*
 * test_repo_sqlite.c - the repository contract (repo_contract.c) against
 * the SQLite backend, on real database files in a temporary directory, and
 * what only SQLite has: file paths, pragmas, query plans, a full database.
 * Tests that need the raw sqlite3 handle run only in builds with
 * ML_TEST_HOOKS.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/timeutil.h"
#include "db/repo_int.h"
#include "repo_contract.h"

/* A fresh database file per call. */
static void sq_new_url(struct rc_fixture *fx, char *url, size_t size) {
  snprintf(url, size, "sqlite://%s/t%d.db", fx->dir, ++fx->seq);
}

#ifdef ML_TEST_HOOKS
static int64_t sq_query_int(struct ml_conn *c, const char *sql) {
  sqlite3_stmt *st = NULL;
  int64_t v;
  assert_int_equal(sqlite3_prepare_v2((sqlite3 *)ml_repo_sqlite_handle(c), sql, -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void sq_set_schema_version(struct ml_conn *c, int version) {
  char sql[64];
  snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
  assert_int_equal(sqlite3_exec((sqlite3 *)ml_repo_sqlite_handle(c), sql, NULL, NULL, NULL),
                   SQLITE_OK);
}
#endif

static const struct rc_backend sqlite_backend = {
    .name = "sqlite",
    .migrations = 4,
    .new_url = sq_new_url,
#ifdef ML_TEST_HOOKS
    .query_int = sq_query_int,
    .set_schema_version = sq_set_schema_version,
#endif
};

static int group_setup(void **state) { return rc_group_setup(state, &sqlite_backend); }

/* The contract counts the steps the backend says it has. */
static void test_migrations_count(void **state) {
  assert_int_equal(sqlite_backend.migrations, ml_repo_sqlite_migrations_count);
}

/* ------------------------------------------------------------------ */
/* What only SQLite has */

static void test_open_relative_paths(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  char cwd[PATH_MAX], url[160];
  struct stat sb;

  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(fx->dir), 0);
  assert_int_equal(ml_repo_open("sqlite://./data/x.db", 1, 1, &r, &eb), ML_OK);
  ml_repo_close(&r);
  assert_int_equal(ml_repo_open("sqlite://data2/sub/y.db", 1, 1, &r, &eb), ML_OK);
  ml_repo_close(&r);
  assert_int_equal(stat("data/x.db", &sb), 0);
  assert_int_equal(stat("data2/sub/y.db", &sb), 0);
  assert_int_equal(chdir(cwd), 0);

  /* Missing directories are made for absolute paths too. */
  snprintf(url, sizeof(url), "sqlite://%s/deep/er/x.db", fx->dir);
  assert_int_equal(ml_repo_open(url, 1, 1, &r, &eb), ML_OK);
  ml_repo_close(&r);
  snprintf(url, sizeof(url), "%s/deep/er/x.db", fx->dir);
  assert_int_equal(stat(url, &sb), 0);
}

static void test_open_bad_urls(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  char url[160];
  int fd;

  assert_int_equal(ml_repo_open("mysql://x", 1, 1, &r, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "unsupported database URL"));
  assert_int_equal(ml_repo_open("", 1, 1, &r, &eb), ML_ERR_CONFIG);
  assert_int_equal(ml_repo_open("sqlite://", 1, 1, &r, &eb), ML_ERR_CONFIG);
  assert_int_equal(ml_repo_open("sqlite://:memory:", 1, 1, &r, &eb), ML_ERR_CONFIG);
  snprintf(url, sizeof(url), "sqlite://%s/p.db", fx->dir);
  assert_int_equal(ml_repo_open(url, 0, 1, &r, &eb), ML_ERR_CONFIG);
  assert_null(r);

  /* A file that is not a database fails at open, not on the first request. */
  snprintf(url, sizeof(url), "%s/garbage.db", fx->dir);
  fd = open(url, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "this is not an SQLite database, not at all....", 46), 46);
  close(fd);
  snprintf(url, sizeof(url), "sqlite://%s/garbage.db", fx->dir);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_open(url, 1, 1, &r, &eb), ML_ERR_DB);
  assert_non_null(strstr(eb.msg, "not a database"));
  assert_null(r);
}
#ifdef ML_TEST_HOOKS
/* A second writer waits for the busy timeout, then gets "locked" (timeout
 * shortened on its handle to keep the test quick). */
static void test_second_writer_locked(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 2);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *w = NULL, *rd = NULL;
  struct ml_media m = rc_sample_media("first", ""), m3 = rc_sample_media("blocked", "");
  sqlite3 *db;
  uint64_t t0;

  assert_int_equal(ml_repo_acquire(r, &w, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &rd, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(w, &m, &eb), ML_OK);
  db = (sqlite3 *)ml_repo_sqlite_handle(rd);
  sqlite3_busy_timeout(db, 100);
  ml_errbuf_clear(&eb);
  t0 = ml_mono_ns();
  assert_int_equal(ml_repo_begin(rd, &eb), ML_ERR_DB);
  assert_true(ml_mono_ns() - t0 >= 50000000ull);
  assert_non_null(strstr(eb.msg, "database is locked"));
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_media_insert(rd, &m3, &eb), ML_ERR_DB);
  assert_non_null(strstr(eb.msg, "database is locked"));
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(ml_repo_commit(w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(rd, &m3, &eb), ML_OK);
  ml_repo_release(&w);
  ml_repo_release(&rd);
  ml_repo_close(&r);
}

static void test_pragmas(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  sqlite3 *db;
  sqlite3_stmt *st = NULL;
  static const struct {
    const char *sql;
    const char *want;
  } checks[] = {{"PRAGMA journal_mode", "wal"},
                {"PRAGMA synchronous", "2"},
                {"PRAGMA foreign_keys", "1"},
                {"PRAGMA busy_timeout", "5000"}};
  size_t i;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  db = (sqlite3 *)ml_repo_sqlite_handle(c);
  for(i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
    assert_int_equal(sqlite3_prepare_v2(db, checks[i].sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), checks[i].want);
    sqlite3_finalize(st);
  }
  ml_repo_release(&c);
  ml_repo_close(&r);
}

/* Every list statement walks its ordering's index: no sort step, no scan
 * of the table. Found through the connection's own prepared statements. */
static void test_list_query_plans(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
  sqlite3 *db;
  sqlite3_stmt *p;
  int o, checked = 0;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  for(o = 0; o < ML_ORDER__COUNT; o++) {
    f.order = (enum ml_order)o;
    rc_list_count(c, &f);
  }
  db = (sqlite3 *)ml_repo_sqlite_handle(c);
  for(p = sqlite3_next_stmt(db, NULL); p; p = sqlite3_next_stmt(db, p)) {
    const char *sql = sqlite3_sql(p);
    char eqp[4096];
    sqlite3_stmt *st = NULL;
    if(strncmp(sql, "SELECT id,", 10) || !strstr(sql, "ORDER BY"))
      continue;
    snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &st, NULL), SQLITE_OK);
    while(sqlite3_step(st) == SQLITE_ROW) {
      const char *detail = (const char *)sqlite3_column_text(st, 3);
      if(strstr(detail, "TEMP B-TREE") || !strncmp(detail, "SCAN", 4) ||
         (!strncmp(detail, "SEARCH media ", 13) && !strstr(detail, "USING INDEX media_list_")))
        fail_msg("plan of %s: %s", sql, detail);
    }
    sqlite3_finalize(st);
    checked++;
  }
  assert_int_equal(checked, ML_ORDER__COUNT);
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

static void test_database_full(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
  char *big = malloc(200000);
  sqlite3 *db;

  assert_non_null(big);
  memset(big, 'y', 199999);
  big[199999] = '\0';
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  db = (sqlite3 *)ml_repo_sqlite_handle(c);
  assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 20", NULL, NULL, NULL), SQLITE_OK);
  {
    struct ml_media m = rc_sample_media(big, "a,b");
    ml_errbuf_clear(&eb);
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_ERR_INSUFFICIENT_STORAGE);
    assert_non_null(strstr(eb.msg, "full"));
  }
  /* Nothing half-written, and the connection is usable. */
  assert_int_equal(rc_list_count(c, &f), 0);
  assert_int_equal(ml_repo_ping(c, &eb), ML_OK);
  {
    struct ml_media m = rc_sample_media("small", "a");
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  }
  free(big);
  ml_repo_release(&c);
  ml_repo_close(&r);
}

#endif

int main(void) {
  const struct CMUnitTest own[] = {
      cmocka_unit_test(test_migrations_count),     cmocka_unit_test(test_open_relative_paths),
      cmocka_unit_test(test_open_bad_urls),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_second_writer_locked), cmocka_unit_test(test_pragmas),
      cmocka_unit_test(test_list_query_plans),     cmocka_unit_test(test_database_full),
#endif
  };
  return rc_run("repo_sqlite", own, sizeof(own) / sizeof(own[0]), group_setup, rc_group_teardown);
}
