/*
 * repo_int.h - private layout of the repository backends (curl's vtls_int.h).
 *
 * repo.c owns what every backend shares: choosing the backend by URL scheme,
 * the connection pool (a mutex, a condition variable and a stack of idle
 * connections) and the dispatch of every public function through an ops
 * table. A backend (sqlite.c, postgres.c) is one file that
 * fills one struct ml_repo_ops and embeds struct ml_repo and struct ml_conn
 * as the first member of its own structs, so repo.c can hand them around
 * without knowing their size.
 *
 * Only the files of src/db and the unit tests include this header.
 */
#ifndef ML_DB_REPO_INT_H
#define ML_DB_REPO_INT_H

#include <pthread.h>

#include "db/repo.h"

/* How long acquire waits for an idle connection before ML_ERR_BUSY. */
#define ML_REPO_ACQUIRE_TIMEOUT_MS 5000

struct ml_repo_ops {
  const char *name;   /* "sqlite" */
  const char *scheme; /* URL prefix it serves, "sqlite://" */
  const char *alias;  /* another prefix it serves ("postgresql://"), or NULL */

  /* Parses target (the URL after the scheme), allocates the backend's
   * struct with struct ml_repo first, sets ops and returns it. repo.c then
   * initialises the pool fields. No connection is opened yet. */
  ml_err (*open)(const char *target, struct ml_repo **out, struct ml_errbuf *eb);
  /* Frees what open allocated; every connection is already closed. */
  void (*close)(struct ml_repo *r);

  /* One connection, set up and ready (pragmas, session settings). repo.c
   * fills in (*out)->repo. conn_close frees it, prepared statements and all. */
  ml_err (*conn_open)(struct ml_repo *r, struct ml_conn **out, struct ml_errbuf *eb);
  void (*conn_close)(struct ml_conn *c);
  /* Called on release, before the connection goes back to the pool: rolls
   * back a transaction left open. */
  void (*conn_reset)(struct ml_conn *c);
  /* Optional (NULL: nothing to check). Called by acquire, outside the pool
   * lock, before the connection is handed out: a client-server backend
   * notices a connection the server closed (a restart) and reconnects. On
   * error the connection goes back to the pool and acquire fails with it. */
  ml_err (*conn_check)(struct ml_conn *c, struct ml_errbuf *eb);

  ml_err (*migrate)(struct ml_conn *c, int *applied, struct ml_errbuf *eb);
  ml_err (*schema_version)(struct ml_conn *c, int *version, struct ml_errbuf *eb);

  ml_err (*begin)(struct ml_conn *c, struct ml_errbuf *eb);
  ml_err (*commit)(struct ml_conn *c, struct ml_errbuf *eb);
  void (*rollback)(struct ml_conn *c);
  ml_err (*ping)(struct ml_conn *c, struct ml_errbuf *eb);

  ml_err (*media_get)(struct ml_conn *c, int64_t id, int include_pending, struct ml_arena *a,
                      struct ml_media *out, struct ml_errbuf *eb);
  ml_err (*media_list)(struct ml_conn *c, const struct ml_media_filter *f, struct ml_arena *a,
                       struct ml_media **items, size_t *n, int64_t *count, struct ml_errbuf *eb);
  ml_err (*media_insert)(struct ml_conn *c, struct ml_media *m, struct ml_errbuf *eb);
  ml_err (*media_update)(struct ml_conn *c, const struct ml_media *m, int64_t expect_version,
                         struct ml_errbuf *eb);
  ml_err (*media_delete)(struct ml_conn *c, int64_t id, struct ml_errbuf *eb);
  ml_err (*media_each)(struct ml_conn *c, struct ml_arena *a,
                       int (*cb)(void *ctx, const struct ml_media *m), void *ctx,
                       struct ml_errbuf *eb);
  ml_err (*key_in_use)(struct ml_conn *c, const char *key, int *in_use, struct ml_errbuf *eb);

  ml_err (*variant_get)(struct ml_conn *c, int64_t media_id, int64_t version, const char *name,
                        struct ml_arena *a, struct ml_variant *out, struct ml_errbuf *eb);
  ml_err (*variant_put)(struct ml_conn *c, const struct ml_variant *v, struct ml_errbuf *eb);
  ml_err (*variant_list)(struct ml_conn *c, int64_t media_id, struct ml_arena *a,
                         struct ml_variant **items, size_t *n, struct ml_errbuf *eb);
  ml_err (*variant_delete_below)(struct ml_conn *c, int64_t media_id, int64_t below, int64_t *n,
                                 struct ml_errbuf *eb);
  ml_err (*variant_each)(struct ml_conn *c, struct ml_arena *a,
                         int (*cb)(void *ctx, const struct ml_variant *v), void *ctx,
                         struct ml_errbuf *eb);
  ml_err (*variant_delete)(struct ml_conn *c, int64_t media_id, int64_t version, const char *name,
                           struct ml_errbuf *eb);

  ml_err (*job_add)(struct ml_conn *c, struct ml_job *j, struct ml_errbuf *eb);
  ml_err (*job_get)(struct ml_conn *c, int64_t id, struct ml_arena *a, struct ml_job *out,
                    struct ml_errbuf *eb);
  ml_err (*job_delete)(struct ml_conn *c, int64_t id, struct ml_errbuf *eb);
  ml_err (*job_claim)(struct ml_conn *c, int64_t now, int64_t lease_ms, size_t max,
                      struct ml_arena *a, struct ml_job **jobs, size_t *n, struct ml_errbuf *eb);
  ml_err (*job_fail)(struct ml_conn *c, int64_t id, int64_t next_at, const char *error,
                     struct ml_errbuf *eb);
  ml_err (*job_exists_for_key)(struct ml_conn *c, const char *key, int *exists,
                               struct ml_errbuf *eb);
  ml_err (*job_exists_for_media)(struct ml_conn *c, const char *kind, int64_t media_id, int *exists,
                                 struct ml_errbuf *eb);
  ml_err (*job_stats)(struct ml_conn *c, int64_t *depth, int64_t *oldest_created,
                      struct ml_errbuf *eb);
  ml_err (*job_due_now_for_media)(struct ml_conn *c, const char *kind, int64_t media_id,
                                  int64_t now, int64_t *changed, struct ml_errbuf *eb);
  ml_err (*job_retry_now)(struct ml_conn *c, int64_t now, int64_t limit, int64_t *changed,
                          struct ml_errbuf *eb);
  ml_err (*job_depth_by_kind)(struct ml_conn *c,
                              void (*cb)(void *ctx, const char *kind, int64_t depth,
                                         int64_t failing),
                              void *ctx, struct ml_errbuf *eb);

  ml_err (*user_insert)(struct ml_conn *c, struct ml_user *u, struct ml_errbuf *eb);
  ml_err (*user_get)(struct ml_conn *c, int64_t id, struct ml_arena *a, struct ml_user *out,
                     struct ml_errbuf *eb);
  ml_err (*user_get_by_name)(struct ml_conn *c, const char *username, struct ml_arena *a,
                             struct ml_user *out, struct ml_errbuf *eb);
  ml_err (*user_list)(struct ml_conn *c, int64_t offset, int64_t limit, struct ml_arena *a,
                      struct ml_user **items, size_t *n, int64_t *count, struct ml_errbuf *eb);
  ml_err (*user_update)(struct ml_conn *c, const struct ml_user *u, struct ml_errbuf *eb);
  ml_err (*user_touch_login)(struct ml_conn *c, int64_t id, int64_t now, struct ml_errbuf *eb);
  ml_err (*user_delete)(struct ml_conn *c, int64_t id, struct ml_errbuf *eb);
  ml_err (*user_count)(struct ml_conn *c, int admins_only, int64_t *n, struct ml_errbuf *eb);
  ml_err (*refresh_add)(struct ml_conn *c, const struct ml_refresh *t, struct ml_errbuf *eb);
  ml_err (*refresh_get)(struct ml_conn *c, const char *jti, struct ml_arena *a,
                        struct ml_refresh *out, struct ml_errbuf *eb);
  ml_err (*refresh_revoke)(struct ml_conn *c, const char *jti, struct ml_errbuf *eb);
  ml_err (*refresh_revoke_user)(struct ml_conn *c, int64_t user_id, int64_t *n,
                                struct ml_errbuf *eb);
  ml_err (*refresh_prune)(struct ml_conn *c, int64_t before, int64_t *n, struct ml_errbuf *eb);
};

/* The base of every backend's repository struct. The pool fields belong to
 * repo.c; a backend touches only ops. */
struct ml_repo {
  const struct ml_repo_ops *ops;
  pthread_mutex_t lock;
  pthread_cond_t freed;  /* signalled when a connection goes back idle */
  struct ml_conn **idle; /* stack of idle connections, pool_size slots */
  int pool_size;
  int nidle;
  int acquire_timeout_ms; /* ML_REPO_ACQUIRE_TIMEOUT_MS; tests shorten it */
  int pool_ready;         /* lock and freed are initialised */
};

/* The base of every backend's connection struct. */
struct ml_conn {
  struct ml_repo *repo;
};

/* The columns of each table in the order the backends read them (their
 * read_* functions index the result by position). */
#define ML_REPO_MEDIA_COLS                                                                \
  "id, state, title, alt_text, caption, folder, tags, filename, mime_type, size, width, " \
  "height, sha256, version, storage_key, created_at, updated_at"
#define ML_REPO_JOB_COLS \
  "id, kind, key, media_id, attempts, next_at, lease_until, last_error, created_at, payload"
#define ML_REPO_USER_COLS \
  "id, username, password_hash, role, disabled, token_version, created_at, last_login_at"
#define ML_REPO_REFRESH_COLS "jti, user_id, expires_at, revoked, created_at"
#define ML_REPO_VARIANT_COLS \
  "media_id, version, name, storage_key, mime_type, size, width, height, sha256, created_at"

/* "%" q "%" with LIKE's wildcards and escape character in q escaped by
 * '\\', so q matches literally (ESCAPE '\\'); NULL when a is exhausted. */
char *ml_repo_like_pattern(struct ml_arena *a, const char *q);

/* The backends compiled in. */
extern const struct ml_repo_ops ml_repo_sqlite_ops;
extern const struct ml_repo_ops ml_repo_pg_ops;

/* SQLite schema migrations (migrations_sqlite.c). Step i takes the schema
 * from user_version i to i + 1; steps are append-only: a released step is
 * never edited, a fix is a new step. */
struct ml_repo_sqlite_migration {
  const char *what; /* one line, for error messages */
  const char *sql;  /* one or more statements, run in one transaction */
};
extern const struct ml_repo_sqlite_migration ml_repo_sqlite_migrations[];
extern const int ml_repo_sqlite_migrations_count;

/* PostgreSQL schema migrations (migrations_pg.c): step i takes the schema
 * from version i to i + 1, the same steps as SQLite's; append-only too. */
struct ml_repo_pg_migration {
  const char *what; /* one line, for error messages */
  const char *sql;  /* one or more statements, run in one transaction */
};
extern const struct ml_repo_pg_migration ml_repo_pg_migrations[];
extern const int ml_repo_pg_migrations_count;

#ifdef ML_TEST_HOOKS
struct pg_conn;
/* Test builds only: the libpq handle (PGconn *) of a connection of the
 * PostgreSQL backend (for EXPLAIN of its prepared statements). */
struct pg_conn *ml_repo_pg_handle(struct ml_conn *c);
struct sqlite3;
/* Test builds only: the sqlite3 handle of a connection of the SQLite backend
 * (for query plans and fault pragmas such as max_page_count). */
struct sqlite3 *ml_repo_sqlite_handle(struct ml_conn *c);
#endif

#endif
