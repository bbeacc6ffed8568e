/*
 * test_repo_pg.c - the repository contract (repo_contract.c) against the
 * PostgreSQL backend, on a real server, and what only PostgreSQL has: two
 * URL schemes, connection errors, row locks between connections, SKIP
 * LOCKED claims, the trigram index, reconnecting after the server dropped
 * the connections.
 *
 * The server is the one MEDIALIB_TEST_PG_URL names (ctest starts a
 * throwaway cluster with scripts/pg-cluster.sh and sets it); each test gets
 * fresh databases, created through an admin connection and dropped at the
 * end. Without the variable the program fails: a skipped backend must not
 * look like a passing one.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/arena.h"
#include "core/timeutil.h"
#include "db/repo_int.h"
#include "repo_contract.h"

struct pg_fixture {
  PGconn *admin;   /* to the server's maintenance database */
  char base[1024]; /* the server URL's query part, without dbname */
};

/* Runs sql on conn; fails the test unless it succeeds. Returns the first
 * column of the first row as an integer (0 when there is none). */
static int64_t must_exec(PGconn *conn, const char *sql) {
  PGresult *res = PQexec(conn, sql);
  ExecStatusType st = PQresultStatus(res);
  int64_t v = 0;
  if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(conn));
  if(st == PGRES_TUPLES_OK && PQntuples(res) > 0)
    v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return v;
}

/* Appends s percent-encoded (as a URI query value) to out. */
static void url_encode(const char *s, char *out, size_t size) {
  size_t o = strlen(out);
  for(; *s && o + 4 < size; s++) {
    unsigned char ch = (unsigned char)*s;
    if((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
       ch == '-' || ch == '_' || ch == '.' || ch == '/')
      out[o++] = (char)ch;
    else
      o += (size_t)snprintf(out + o, size - o, "%%%02X", ch);
  }
  out[o] = '\0';
}

static int pg_setup(struct rc_fixture *fx) {
  const char *url = getenv("MEDIALIB_TEST_PG_URL");
  struct pg_fixture *pf;
  PQconninfoOption *opts, *o;
  char *err = NULL;
  if(!url || !*url) {
    fprintf(stderr, "test_repo_pg: MEDIALIB_TEST_PG_URL is not set; run it through ctest "
                    "(make test-unit), which starts a cluster with scripts/pg-cluster.sh\n");
    return -1;
  }
  pf = calloc(1, sizeof(*pf));
  if(!pf)
    return -1;
  pf->admin = PQconnectdb(url);
  if(PQstatus(pf->admin) != CONNECTION_OK) {
    fprintf(stderr, "test_repo_pg: cannot connect to %s: %s", url, PQerrorMessage(pf->admin));
    PQfinish(pf->admin);
    free(pf);
    return -1;
  }
  /* Every parameter of the URL but the database name, as URI query. */
  opts = PQconninfoParse(url, &err);
  PQfreemem(err);
  for(o = opts; o && o->keyword; o++) {
    size_t n = strlen(pf->base);
    if(!o->val || !*o->val || !strcmp(o->keyword, "dbname"))
      continue;
    snprintf(pf->base + n, sizeof(pf->base) - n, "%s%s=", n ? "&" : "", o->keyword);
    url_encode(o->val, pf->base, sizeof(pf->base));
  }
  PQconninfoFree(opts);
  fx->data = pf;
  return 0;
}

static void pg_db_name(struct rc_fixture *fx, int seq, char *out, size_t size) {
  snprintf(out, size, "mltest_%d_%d", (int)getpid(), seq);
}

static void pg_done(struct rc_fixture *fx) {
  struct pg_fixture *pf = fx->data;
  int i;
  for(i = 1; i <= fx->seq; i++) {
    char name[64], sql[128];
    pg_db_name(fx, i, name, sizeof(name));
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PQclear(PQexec(pf->admin, sql));
  }
  PQfinish(pf->admin);
  free(pf);
}

/* A new database on the server; alternates the two URL schemes. */
static void pg_new_url(struct rc_fixture *fx, char *url, size_t size) {
  struct pg_fixture *pf = fx->data;
  char name[64], sql[128];
  pg_db_name(fx, ++fx->seq, name, sizeof(name));
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
  must_exec(pf->admin, sql);
  snprintf(url, size, "%s:///%s?%s", fx->seq % 2 ? "postgres" : "postgresql", name, pf->base);
}

#ifdef ML_TEST_HOOKS
static PGconn *handle(struct ml_conn *c) { return (PGconn *)ml_repo_pg_handle(c); }

static int64_t pg_query_int(struct ml_conn *c, const char *sql) {
  return must_exec(handle(c), sql);
}

static void pg_set_schema_version(struct ml_conn *c, int version) {
  char sql[160];
  snprintf(sql, sizeof(sql),
           "INSERT INTO ml_schema_version (version, what, applied_at) VALUES (%d, 'future', 0)",
           version);
  must_exec(handle(c), sql);
}
#endif

static const struct rc_backend pg_backend = {
    .name = "postgres",
    .migrations = 4,
    .setup = pg_setup,
    .done = pg_done,
    .new_url = pg_new_url,
#ifdef ML_TEST_HOOKS
    .query_int = pg_query_int,
    .set_schema_version = pg_set_schema_version,
#endif
};

static int group_setup(void **state) { return rc_group_setup(state, &pg_backend); }

/* The admin connection's URL for a database of this fixture. */
static void db_url(struct rc_fixture *fx, char *url, size_t size) {
  struct pg_fixture *pf = fx->data;
  char name[64];
  pg_db_name(fx, fx->seq, name, sizeof(name));
  snprintf(url, size, "postgresql:///%s?%s", name, pf->base);
}

/* ------------------------------------------------------------------ */

static void test_migrations_count(void **state) {
  assert_int_equal(pg_backend.migrations, ml_repo_pg_migrations_count);
}

/* A server that cannot be reached: ML_ERR_DB at open, with libpq's reason
 * on one line and without the password. */
static void test_connect_errors(void **state) {
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;

  assert_int_equal(
      ml_repo_open("postgres://medialib:s3cr3t-pw@127.0.0.1:1/x?connect_timeout=2", 1, 1, &r, &eb),
      ML_ERR_DB);
  assert_null(r);
  assert_non_null(strstr(eb.msg, "cannot connect to PostgreSQL"));
  assert_non_null(strstr(eb.msg, "127.0.0.1"));
  assert_null(strstr(eb.msg, "s3cr3t"));
  assert_null(strchr(eb.msg, '\n'));
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_open("postgresql://u@/x?host=/nonexistent/dir", 1, 1, &r, &eb),
                   ML_ERR_DB);
  assert_null(strchr(eb.msg, '\n'));
  ml_errbuf_clear(&eb);
  /* A URL libpq cannot parse is a configuration error. */
  assert_int_equal(ml_repo_open("postgres://u@h/db?nosuchoption=1", 1, 1, &r, &eb), ML_ERR_CONFIG);
  assert_null(r);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_open("postgres:x", 1, 1, &r, &eb), ML_ERR_CONFIG);
}

/* The server dropped every connection (a restart does that): the next
 * acquire notices and reconnects, with nothing left over. */
static void test_reconnect(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 2);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c1 = NULL, *c2 = NULL;
  struct ml_media m = rc_sample_media("before", "a");
  struct ml_media_filter f = rc_all_filter();
  char url[1200];
  PGconn *peer;
  int i;

  assert_int_equal(ml_repo_acquire(r, &c1, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &c2, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c1, &m, &eb), ML_OK);
  assert_int_equal(rc_list_count(c2, &f), 1); /* statements prepared on both */
  ml_repo_release(&c1);
  ml_repo_release(&c2);

  db_url(fx, url, sizeof(url));
  peer = PQconnectdb(url);
  assert_int_equal(PQstatus(peer), CONNECTION_OK);
  assert_int_equal(must_exec(peer,
                             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"),
                   2);
  /* Give the server a moment to close the sockets. */
  for(i = 0; i < 50 && must_exec(peer, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "current_database() AND pid <> pg_backend_pid()") > 0;
      i++)
    rc_sleep_ms(20);

  /* Both pooled connections come back working, prepared statements too. */
  assert_int_equal(ml_repo_acquire(r, &c1, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &c2, &eb), ML_OK);
  assert_int_equal(ml_repo_ping(c1, &eb), ML_OK);
  assert_int_equal(rc_list_count(c1, &f), 1);
  assert_int_equal(rc_list_count(c2, &f), 1);
  m = rc_sample_media("after", "b");
  assert_int_equal(ml_repo_media_insert(c2, &m, &eb), ML_OK);
  assert_int_equal(rc_list_count(c1, &f), 2);
  ml_repo_release(&c1);
  ml_repo_release(&c2);
  PQfinish(peer);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* Locks between connections */

struct race_ctx {
  struct ml_repo *r;
  int64_t id;
  long hold_ms; /* how long to sit on the row between read and write */
  ml_err rc;
  struct ml_variant v; /* for the variant race */
};

/* The domain's read-check-write: read the row in a transaction, derive the
 * next value from what was read, write it back at the version read. */
static void *increment_thread(void *arg) {
  struct race_ctx *rx = arg;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m;
  char title[32];
  ml_err rc = a ? ml_repo_acquire(rx->r, &c, &eb) : ML_ERR_NOMEM;
  if(!rc)
    rc = ml_repo_begin(c, &eb);
  if(!rc)
    rc = ml_repo_media_get(c, rx->id, 0, a, &m, &eb);
  if(!rc) {
    rc_sleep_ms(rx->hold_ms);
    snprintf(title, sizeof(title), "%ld", strtol(m.title, NULL, 10) + 1);
    m.title = title;
    rc = ml_repo_media_update(c, &m, m.version, &eb);
  }
  if(c)
    rc = ml_repo_end(c, rc, &eb);
  rx->rc = rc;
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  return NULL;
}

static void test_media_get_locks_in_transaction(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 3);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("0", "");
  struct race_ctx rx[2];
  pthread_t t[2];
  int i;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  memset(rx, 0, sizeof(rx));
  for(i = 0; i < 2; i++) {
    rx[i].r = r;
    rx[i].id = m.id;
    rx[i].hold_ms = 200;
    assert_int_equal(pthread_create(&t[i], NULL, increment_thread, &rx[i]), 0);
  }
  for(i = 0; i < 2; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(rx[i].rc, ML_OK);
  }
  /* Serialized: the second read what the first wrote. Without the row
   * lock both would read "0" and write "1". */
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &m, &eb), ML_OK);
  assert_string_equal(m.title, "2");
  /* Outside a transaction a get takes no lock. */
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &m, &eb), ML_OK);
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

static void *variant_put_thread(void *arg) {
  struct race_ctx *rx = arg;
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  ml_err rc = ml_repo_acquire(rx->r, &c, &eb);
  if(!rc)
    rc = ml_repo_begin(c, &eb);
  if(!rc)
    rc = ml_repo_end(c, ml_repo_variant_put(c, &rx->v, &eb), &eb);
  rx->rc = rc;
  ml_repo_release(&c);
  return NULL;
}

/* A replace holds the row; a variant of the old version recorded meanwhile
 * waits for it and is then refused (it would otherwise be an orphan that
 * the replace did not see). */
static void test_variant_put_waits_for_replace(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 3);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *w = NULL;
  struct ml_media m = rc_sample_media("v", ""), got;
  struct race_ctx rx;
  pthread_t t;
  uint64_t t0;

  assert_int_equal(ml_repo_acquire(r, &w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(w, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(w, m.id, 0, a, &got, &eb), ML_OK);
  memset(&rx, 0, sizeof(rx));
  rx.r = r;
  rx.v = rc_sample_variant(m.id, 1, "f_png,w_10", "m/1/v1-a/f_png,w_10.png");
  t0 = ml_mono_ns();
  assert_int_equal(pthread_create(&t, NULL, variant_put_thread, &rx), 0);
  rc_sleep_ms(300);
  got.version = 2;
  assert_int_equal(ml_repo_media_update(w, &got, 1, &eb), ML_OK);
  assert_int_equal(ml_repo_commit(w, &eb), ML_OK);
  pthread_join(t, NULL);
  assert_int_equal(rx.rc, ML_ERR_CONFLICT);
  assert_true(ml_mono_ns() - t0 >= 250000000ull); /* it waited for the replace */
  ml_repo_release(&w);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* A claim inside an open transaction keeps its rows locked; another
 * connection's claim skips them without waiting and takes the others. */
static void test_claim_skips_locked(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 2);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c1 = NULL, *c2 = NULL;
  struct ml_job *j1 = NULL, *j2 = NULL;
  size_t n1 = 0, n2 = 0, i, k;
  uint64_t t0;

  assert_int_equal(ml_repo_acquire(r, &c1, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &c2, &eb), ML_OK);
  for(i = 0; i < 6; i++) {
    /* distinct keys: jobs of one kind and key are claimed one at a time */
    static const char *const keys[] = {"k0", "k1", "k2", "k3", "k4", "k5"};
    struct ml_job j = rc_make_job(keys[i], (int64_t)i, 1);
    assert_int_equal(ml_repo_job_add(c1, &j, &eb), ML_OK);
  }
  assert_int_equal(ml_repo_begin(c1, &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(c1, 100, 1000, 3, a, &j1, &n1, &eb), ML_OK);
  assert_int_equal(n1, 3);
  t0 = ml_mono_ns();
  assert_int_equal(ml_repo_job_claim(c2, 100, 1000, 10, a, &j2, &n2, &eb), ML_OK);
  assert_true(ml_mono_ns() - t0 < 1000000000ull);
  assert_int_equal(n2, 3);
  for(i = 0; i < n1; i++)
    for(k = 0; k < n2; k++)
      assert_true(j1[i].id != j2[k].id);
  /* Rolled back, c1's claim never happened: its jobs are due again. */
  ml_repo_rollback(c1);
  assert_int_equal(ml_repo_job_claim(c2, 100, 1000, 10, a, &j2, &n2, &eb), ML_OK);
  assert_int_equal(n2, 3);
  assert_int_equal(j2[0].id, j1[0].id);
  ml_repo_release(&c1);
  ml_repo_release(&c2);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* Query plans (test builds: EXPLAIN on the backend's own connection) */

#ifdef ML_TEST_HOOKS
/* The plan of a prepared statement of c, one line per row. */
static char *explain(struct ml_conn *c, const char *execute) {
  char sql[512];
  PGresult *res;
  size_t len = 0, cap = 8192;
  char *out = malloc(cap);
  int i;
  assert_non_null(out);
  out[0] = '\0';
  snprintf(sql, sizeof(sql), "EXPLAIN (COSTS OFF) %s", execute);
  res = PQexec(handle(c), sql);
  if(PQresultStatus(res) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(handle(c)));
  for(i = 0; i < PQntuples(res); i++)
    len += (size_t)snprintf(out + len, cap - len, "%s\n", PQgetvalue(res, i, 0));
  PQclear(res);
  assert_true(len < cap);
  return out;
}

/* q is answered by the trigram index, in the count and in the page, not by
 * reading every row. A planner rightly scans a table of a few pages, so the
 * table gets 20,000 rows first (written in one statement, to be quick). */
static void test_search_uses_trigram_index(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
  struct ml_media *items = NULL;
  size_t n = 0;
  int64_t count = 0;
  char *plan;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  must_exec(handle(c), "INSERT INTO media (state, title, caption, filename, created_at, "
                       "updated_at) SELECT 1, CASE WHEN i % 4000 = 0 THEN 'Needle_' || i "
                       "ELSE 'Photo ' || i || ' of the tour' END, 'caption', 'img.jpg', i, i "
                       "FROM generate_series(1, 20000) AS i");
  must_exec(handle(c), "ANALYZE media");

  f.q = "needle_";
  f.limit = 20;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(count, 5);
  assert_int_equal(n, 5);
  assert_string_equal(items[0].title, "Needle_20000");
  /* The statement the call used: (created desc, q only), same parameters. */
  plan = explain(c, "EXECUTE l0_16('%needle\\_%', 20, 0)");
  if(!strstr(plan, "Bitmap Index Scan on media_search") || strstr(plan, "Seq Scan on media\n"))
    fail_msg("the q filter does not use the trigram index:\n%s", plan);
  free(plan);
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* Every unfiltered listing walks its ordering's index and reads the count
 * from media_count: no scan of media, no sort of the table. */
static void test_list_query_plans(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
  int o;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  for(o = 0; o < ML_ORDER__COUNT; o++) {
    char exec[64], *plan;
    f.order = (enum ml_order)o;
    rc_list_count(c, &f); /* prepares it */
    snprintf(exec, sizeof(exec), "EXECUTE l%d_0(20, 80)", o);
    must_exec(handle(c), "SET enable_seqscan = off");
    plan = explain(c, exec);
    must_exec(handle(c), "RESET enable_seqscan");
    if(!strstr(plan, "using media_list_") || !strstr(plan, "Seq Scan on media_count") ||
       strstr(plan, "Seq Scan on media\n"))
      fail_msg("order %d does not walk its index:\n%s", o, plan);
    free(plan);
  }
  ml_repo_release(&c);
  ml_repo_close(&r);
}
#endif

int main(void) {
  const struct CMUnitTest own[] = {
      cmocka_unit_test(test_migrations_count),
      cmocka_unit_test(test_connect_errors),
      cmocka_unit_test(test_reconnect),
      cmocka_unit_test(test_media_get_locks_in_transaction),
      cmocka_unit_test(test_variant_put_waits_for_replace),
      cmocka_unit_test(test_claim_skips_locked),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_search_uses_trigram_index),
      cmocka_unit_test(test_list_query_plans),
#endif
  };
  return rc_run("repo_pg", own, sizeof(own) / sizeof(own[0]), group_setup, rc_group_teardown);
}
