/*
 * postgres.c - the PostgreSQL backend of the repository (many instances,
 * one database), through libpq.
 *
 * Each pooled connection is one PGconn. Every statement is a constant
 * string, prepared on the connection the first time it runs (PQprepare) and
 * then executed by name with text parameters: user input is sent as
 * parameters, never spliced into SQL. The listing is prepared per ordering
 * and per set of filters present (8 x 32 shapes at most, built from constant
 * fragments), so each shape gets a plan of its own: the trigram index for q,
 * the ordering's index otherwise; a listing is one statement that returns
 * the count and the page from one snapshot. The unfiltered listings are
 * planned once per connection (force_generic_plan), the filtered ones per
 * call (see enum plan_mode); switching the mode rides in the same round
 * trip as the statement (a pipeline).
 *
 * Transactions are READ COMMITTED. media_get inside a transaction takes the
 * row FOR UPDATE, and variant_put checks the media's version under FOR
 * SHARE, so the domain's read-check-write sequences are serialized per row
 * as SQLite's single writer serializes them all. The outbox is claimed with
 * FOR UPDATE SKIP LOCKED, so instances share the work without waiting on
 * each other. A statement that fails inside a transaction aborts the whole
 * transaction in PostgreSQL, so calls that can fail on a constraint (or
 * write several rows) run under a savepoint there, as repo.h promises.
 *
 * A connection the server closed (a restart, an administrator) is noticed
 * on acquire, by a non-blocking look at its socket, and reconnected.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "db/repo_int.h"
#include "image/transform.h"

/* The advisory lock that serializes migrations: "medialib" in ASCII. */
#define PG_MIGRATE_LOCK "7882834444066916706"
/* How many media rows media_each reads per round trip. */
#define PG_EACH_BATCH 256
/* Row locks wait this long (then "database is locked"), as SQLite's busy timeout. */
#define PG_LOCK_TIMEOUT "5s"
#define PG_MAX_PARAMS 20
#define ML_STR_(x) #x
#define ML_STR(x) ML_STR_(x)
/* How long a connection may take to come up (libpq's connect_timeout for
 * the first one, our own wait for the others). */
#define PG_CONNECT_TIMEOUT_S 10

enum stmt_id {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_PING,
  ST_MEDIA_GET,
  ST_MEDIA_GET_LOCK,
  ST_MEDIA_INSERT,
  ST_MEDIA_UPDATE,
  ST_MEDIA_DELETE,
  ST_MEDIA_EACH,
  ST_KEY_IN_USE,
  ST_VARIANT_GET,
  ST_VARIANT_PUT,
  ST_MEDIA_VERSION_SHARE,
  ST_VARIANT_LIST,
  ST_VARIANT_DELETE_BELOW,
  ST_VARIANT_EACH,
  ST_VARIANT_DELETE,
  ST_JOB_ADD,
  ST_JOB_GET,
  ST_JOB_DELETE,
  ST_JOB_CLAIM,
  ST_JOB_FAIL,
  ST_JOB_EXISTS_KEY,
  ST_JOB_EXISTS_MEDIA,
  ST_JOB_DUE_NOW_MEDIA,
  ST_JOB_STATS,
  ST_JOB_RETRY_NOW,
  ST_JOB_DEPTH_KIND,
  ST_USER_INSERT,
  ST_USER_GET,
  ST_USER_GET_NAME,
  ST_USER_LIST,
  ST_USER_COUNT,
  ST_USER_COUNT_ADMINS,
  ST_USER_UPDATE,
  ST_USER_TOUCH,
  ST_USER_DELETE,
  ST_REFRESH_ADD,
  ST_REFRESH_GET,
  ST_REFRESH_REVOKE,
  ST_REFRESH_REVOKE_USER,
  ST_REFRESH_PRUNE,
  ST__COUNT
};

/* The tags of $6 (comma-joined) as rows of media_tags for the media ids of
 * CTE `m`: empty pieces skipped, repeats once. */
#define TAG_ROWS                                                            \
  "INSERT INTO media_tags (media_id, tag) SELECT DISTINCT m.id, t FROM m, " \
  "unnest(string_to_array($6::text, ',')) AS t WHERE t <> '' ON CONFLICT DO NOTHING"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT ml_repo_call",
    [ST_RELEASE] = "RELEASE ml_repo_call",
    [ST_ROLLBACK_TO] = "ROLLBACK TO ml_repo_call",
    [ST_PING] = "SELECT 1",
    [ST_MEDIA_GET] =
        "SELECT " ML_REPO_MEDIA_COLS " FROM media WHERE id = $1 AND (state = 1 OR $2::int = 1)",
    [ST_MEDIA_GET_LOCK] = "SELECT " ML_REPO_MEDIA_COLS " FROM media WHERE id = $1 AND "
                          "(state = 1 OR $2::int = 1) FOR UPDATE",
    /* The row and its tags in one statement: atomic without a transaction. */
    [ST_MEDIA_INSERT] = "WITH m AS (INSERT INTO media (state, title, alt_text, caption, folder, "
                        "tags, filename, mime_type, size, width, height, sha256, version, "
                        "storage_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                        "$8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id), "
                        "t AS (" TAG_ROWS ") SELECT id FROM m",
    /* Tags: the rows no longer wanted go, the new ones come, the rest stay
     * (one statement cannot delete and re-insert the same row). The second
     * column tells a lost race (the row exists) from a gone row. */
    [ST_MEDIA_UPDATE] = "WITH m AS (UPDATE media SET state = $1, title = $2, alt_text = $3, "
                        "caption = $4, folder = $5, tags = $6, filename = $7, mime_type = $8, "
                        "size = $9, width = $10, height = $11, sha256 = $12, version = $13, "
                        "storage_key = $14, created_at = $15, updated_at = $16 "
                        "WHERE id = $17 AND version = $18 RETURNING id), "
                        "d AS (DELETE FROM media_tags WHERE media_id IN (SELECT id FROM m) AND "
                        "NOT (tag = ANY (string_to_array($6::text, ',')))), "
                        "t AS (" TAG_ROWS ") "
                        "SELECT (SELECT count(*) FROM m), EXISTS (SELECT 1 FROM media "
                        "WHERE id = $17)::int",
    [ST_MEDIA_DELETE] = "DELETE FROM media WHERE id = $1",
    /* Keyset pages: no transaction, no cursor, bounded memory. */
    [ST_MEDIA_EACH] = "SELECT " ML_REPO_MEDIA_COLS " FROM media WHERE id > $1 ORDER BY id LIMIT $2",
    [ST_KEY_IN_USE] = "SELECT (EXISTS (SELECT 1 FROM media WHERE storage_key = $1) "
                      "OR EXISTS (SELECT 1 FROM variants WHERE storage_key = $1))::int",
    [ST_VARIANT_GET] = "SELECT " ML_REPO_VARIANT_COLS " FROM variants WHERE media_id = $1 AND "
                       "version = $2 AND name = $3",
    [ST_VARIANT_PUT] =
        "INSERT INTO variants (" ML_REPO_VARIANT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, "
        "$7, $8, $9, $10) ON CONFLICT (media_id, version, name) DO UPDATE SET "
        "storage_key = excluded.storage_key, mime_type = excluded.mime_type, "
        "size = excluded.size, width = excluded.width, height = excluded.height, "
        "sha256 = excluded.sha256, created_at = excluded.created_at",
    [ST_MEDIA_VERSION_SHARE] = "SELECT version FROM media WHERE id = $1 FOR SHARE",
    [ST_VARIANT_LIST] = "SELECT " ML_REPO_VARIANT_COLS " FROM variants WHERE media_id = $1 "
                        "ORDER BY version, name COLLATE \"C\"",
    [ST_VARIANT_DELETE_BELOW] = "DELETE FROM variants WHERE media_id = $1 AND version < $2",
    /* Keyset pages: (media_id, version, name) after the last row seen. */
    [ST_VARIANT_EACH] = "SELECT " ML_REPO_VARIANT_COLS " FROM variants WHERE (media_id, version, "
                        "name) > ($1, $2, $3) ORDER BY media_id, version, name LIMIT $4",
    [ST_VARIANT_DELETE] = "DELETE FROM variants WHERE media_id = $1 AND version = $2 AND "
                          "name = $3",
    [ST_JOB_ADD] = "INSERT INTO outbox (kind, key, media_id, attempts, next_at, lease_until, "
                   "last_error, created_at, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                   "RETURNING id",
    [ST_JOB_GET] = "SELECT " ML_REPO_JOB_COLS " FROM outbox WHERE id = $1",
    [ST_JOB_DELETE] = "DELETE FROM outbox WHERE id = $1",
    /* Due rows another runner holds locked are skipped, not waited for; a
     * row leased meanwhile is re-checked under its lock (READ COMMITTED
     * re-reads it) and dropped. */
    /* Jobs of one kind and key run one at a time, oldest first (as on
     * SQLite): a job waits while an older one of its kind and key exists. */
    [ST_JOB_CLAIM] =
        "WITH due AS (SELECT id FROM outbox o WHERE next_at <= $1 AND lease_until <= $1 "
        "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.key = o.key AND "
        "p.kind = o.kind AND p.id < o.id) "
        "ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), "
        "m AS (UPDATE outbox o SET lease_until = $2 FROM due WHERE o.id = due.id "
        "RETURNING o.*) SELECT " ML_REPO_JOB_COLS " FROM m ORDER BY next_at, id",
    [ST_JOB_FAIL] = "UPDATE outbox SET attempts = attempts + 1, next_at = $2, last_error = $3, "
                    "lease_until = 0 WHERE id = $1",
    [ST_JOB_EXISTS_KEY] = "SELECT EXISTS (SELECT 1 FROM outbox WHERE key = $1)::int",
    [ST_JOB_EXISTS_MEDIA] = "SELECT EXISTS (SELECT 1 FROM outbox WHERE media_id = $1 AND "
                            "kind = $2)::int",
    [ST_JOB_DUE_NOW_MEDIA] = "UPDATE outbox SET next_at = $3 WHERE media_id = $1 AND kind = $2 "
                             "AND next_at > $3",
    [ST_JOB_STATS] = "SELECT count(*), coalesce(min(created_at), 0) FROM outbox",
    [ST_JOB_RETRY_NOW] = "UPDATE outbox SET next_at = $1 WHERE id IN (SELECT id FROM outbox "
                         "WHERE attempts > 0 AND next_at > $1 AND lease_until <= $1 "
                         "ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    [ST_JOB_DEPTH_KIND] = "SELECT kind, count(*), count(*) FILTER (WHERE attempts > 0) FROM outbox "
                          "GROUP BY kind ORDER BY kind COLLATE \"C\"",
    [ST_USER_INSERT] = "INSERT INTO users (username, password_hash, role, disabled, "
                       "token_version, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, "
                       "$6, $7) RETURNING id",
    [ST_USER_GET] = "SELECT " ML_REPO_USER_COLS " FROM users WHERE id = $1",
    /* The expression of the unique index users_username. */
    [ST_USER_GET_NAME] =
        "SELECT " ML_REPO_USER_COLS " FROM users WHERE lower(username COLLATE \"C\") = "
        "lower($1::text COLLATE \"C\")",
    /* The count and the page from one snapshot (see list_sql). */
    [ST_USER_LIST] = "SELECT c.total, u.* FROM (SELECT count(*) AS total FROM users) c "
                     "LEFT JOIN LATERAL (SELECT " ML_REPO_USER_COLS " FROM users ORDER BY id "
                     "LIMIT $1 OFFSET $2) u ON true ORDER BY u.id",
    [ST_USER_COUNT] = "SELECT count(*) FROM users",
    [ST_USER_COUNT_ADMINS] = "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
    [ST_USER_UPDATE] = "UPDATE users SET password_hash = $2, role = $3, disabled = $4, "
                       "token_version = $5 WHERE id = $1",
    [ST_USER_TOUCH] = "UPDATE users SET last_login_at = $2 WHERE id = $1",
    [ST_USER_DELETE] = "DELETE FROM users WHERE id = $1",
    [ST_REFRESH_ADD] =
        "INSERT INTO refresh_tokens (" ML_REPO_REFRESH_COLS ") VALUES ($1, $2, $3, $4, $5)",
    [ST_REFRESH_GET] = "SELECT " ML_REPO_REFRESH_COLS " FROM refresh_tokens WHERE jti = $1",
    [ST_REFRESH_REVOKE] = "UPDATE refresh_tokens SET revoked = 1 WHERE jti = $1",
    [ST_REFRESH_REVOKE_USER] = "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 "
                               "AND revoked = 0",
    [ST_REFRESH_PRUNE] = "DELETE FROM refresh_tokens WHERE expires_at < $1",
};

/* The list filters, one bit each; a statement is prepared per combination. */
enum { LF_FOLDER = 1, LF_MIME = 2, LF_PREFIX = 4, LF_TAG = 8, LF_Q = 16, LF__ALL = 32 };

struct pg_backend_repo {
  struct ml_repo base;
  char *url;  /* "postgresql://..." as libpq takes it */
  int opened; /* connections opened so far (see pg_conn_open) */
};

/*
 * The plan cache mode a statement wants. PostgreSQL plans a prepared
 * statement with its parameter values (a custom plan) until it finds the
 * parameter-free plan (the generic one) no costlier; a listing's generic
 * plan never looks so, its LIMIT and OFFSET being unknown (10% of the table
 * each, to the planner), so the unfiltered listings, whose plan is the same
 * whatever the parameters (walk the ordering's index), would be planned
 * anew on every page. They run under force_generic_plan: planned once per
 * connection. The filtered ones keep the planner's choice (auto): the
 * trigram index or the ordering's index depends on how selective q is. The
 * others run under either.
 */
enum plan_mode { PLAN_ANY, PLAN_AUTO, PLAN_GENERIC, PLAN_UNKNOWN };

struct pg_backend_conn {
  struct ml_conn base;
  PGconn *db;
  enum plan_mode plan_mode; /* the session's plan_cache_mode, as last set */
  unsigned char prepared[ST__COUNT];
  uint32_t list_prepared[ML_ORDER__COUNT]; /* bit mask of LF_* combinations */
  int connecting;                          /* started, finished on first acquire */
};

/* Text parameters for one statement; integers are formatted into buf. */
struct pg_params {
  const char *v[PG_MAX_PARAMS];
  char buf[PG_MAX_PARAMS][24];
  int n;
};

static struct pg_backend_conn *pgc(struct ml_conn *c) { return (struct pg_backend_conn *)c; }

static void p_int(struct pg_params *p, int64_t x) {
  snprintf(p->buf[p->n], sizeof(p->buf[0]), "%" PRId64, x);
  p->v[p->n] = p->buf[p->n];
  p->n++;
}

/* NULL is stored as "" (every text column is NOT NULL DEFAULT ''). */
static void p_str(struct pg_params *p, const char *s) { p->v[p->n++] = s ? s : ""; }

/* NULL stays SQL NULL. */
static void p_opt(struct pg_params *p, const char *s) { p->v[p->n++] = s; }

/* A hex digest from a fixed buffer: "" unless terminated within it. */
static void p_sha(struct pg_params *p, const char *sha, size_t size) {
  p->v[p->n++] = strnlen(sha, size) < size ? sha : "";
}

/* Copies s into out (at most size-1 bytes, always terminated), replacing
 * line breaks and tabs with spaces and trimming the end: libpq's messages
 * span lines, log lines and JSON answers must not. */
static void one_line(const char *s, char *out, size_t size) {
  size_t o = 0;
  int space = 0;
  for(; s && *s && o + 1 < size; s++) {
    if(*s == '\n' || *s == '\r' || *s == '\t' || *s == ' ') {
      space = o > 0;
      continue;
    }
    if(space && o + 2 < size)
      out[o++] = ' ';
    space = 0;
    out[o++] = *s;
  }
  out[o] = '\0';
}

/* Maps a failed result (or a NULL one: the connection failed) to an
 * ml_err, with what was being done. */
static ml_err pg_error(struct pg_backend_conn *c, const PGresult *res, const char *what,
                       struct ml_errbuf *eb) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  char line[400];

  if(!msg || !*msg)
    msg = res ? PQresultErrorMessage(res) : NULL;
  if(!msg || !*msg)
    msg = PQerrorMessage(c->db);
  one_line(msg, line, sizeof(line));
  if(!state)
    state = "";
  if(!strcmp(state, "23505"))
    return ml_fail(eb, ML_ERR_CONFLICT, "%s: already exists", what);
  if(!strcmp(state, "23503"))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "%s: the row it belongs to does not exist", what);
  if(!strcmp(state, "23514"))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "%s: value out of range", what);
  if(!strcmp(state, "53100"))
    return ml_fail(eb, ML_ERR_INSUFFICIENT_STORAGE, "%s: database or disk is full (%s)", what,
                   line);
  if(!strcmp(state, "55P03"))
    return ml_fail(eb, ML_ERR_DB, "%s: database is locked (%s)", what, line);
  if(!*line)
    return ml_fail(eb, ML_ERR_DB, "%s: %s", what,
                   PQstatus(c->db) == CONNECTION_BAD ? "connection lost" : "unknown error");
  return ml_fail(eb, ML_ERR_DB, "%s: %s", what, line);
}

/* Prepares statement `name` on this connection. */
static ml_err prepare(struct pg_backend_conn *c, const char *name, const char *sql,
                      struct ml_errbuf *eb) {
  PGresult *res = PQprepare(c->db, name, sql, 0, NULL);
  ml_err rc = ML_OK;
  if(PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = pg_error(c, res, "prepare", eb);
  PQclear(res);
  return rc;
}

/*
 * Sets the session's plan_cache_mode to `want` and runs prepared statement
 * `name`, both in one round trip (a pipeline). The two share the implicit
 * transaction of the pipeline: when the statement fails, the setting is
 * undone with it, so the mode is known only when both succeeded. On success
 * *res gets the statement's result.
 */
static ml_err run_switched(struct pg_backend_conn *c, const char *name, const struct pg_params *p,
                           enum plan_mode want, PGresult **res, const char *what,
                           struct ml_errbuf *eb) {
  const char *set = want == PLAN_GENERIC ? "SET plan_cache_mode = force_generic_plan"
                                         : "SET plan_cache_mode = auto";
  PGresult *r;
  ml_err rc = ML_OK;
  int i, sent, got_set = 0, set_ok = 0, synced = 0;

  *res = NULL;
  c->plan_mode = PLAN_UNKNOWN;
  if(!PQenterPipelineMode(c->db))
    return pg_error(c, NULL, what, eb);
  sent = PQsendQueryParams(c->db, set, 0, NULL, NULL, NULL, NULL, 0) &&
         PQsendQueryPrepared(c->db, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0) &&
         PQpipelineSync(c->db);
  if(!sent)
    rc = pg_error(c, NULL, what, eb);
  /* The setting's result, NULL, the statement's, NULL, the sync, read to
   * the end whatever failed (a failed setting aborts the statement); a few
   * more tries than that, in case the connection broke on the way. A
   * connection left in pipeline mode is reset on its next acquire. */
  for(i = 0; sent && i < 8 && !synced; i++) {
    ExecStatusType st;
    r = PQgetResult(c->db);
    if(!r) {
      if(PQstatus(c->db) == CONNECTION_BAD)
        break;
      continue;
    }
    st = PQresultStatus(r);
    if(st == PGRES_PIPELINE_SYNC)
      synced = 1;
    else if(!got_set) {
      got_set = 1;
      set_ok = st == PGRES_COMMAND_OK;
      if(!set_ok && !rc)
        rc = pg_error(c, r, what, eb);
    } else if(!*res) {
      *res = r;
      r = NULL;
      if(st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && !rc)
        rc = pg_error(c, *res, what, eb);
    }
    PQclear(r);
  }
  if(!rc && !synced)
    rc = pg_error(c, *res, what, eb);
  if(!rc && !*res)
    rc = ml_fail(eb, ML_ERR_DB, "%s: no result", what);
  if(synced)
    PQexitPipelineMode(c->db);
  if(rc) {
    PQclear(*res);
    *res = NULL;
  } else if(set_ok)
    c->plan_mode = want;
  return rc;
}

/* Runs a prepared statement (preparing it first if this connection has not
 * yet) under the plan cache mode it wants; the mode is switched outside a
 * transaction only (a rollback would undo the switch unseen), inside one
 * the statement runs under the mode there is. On success *out (may be
 * NULL: cleared) gets the result. */
static ml_err run_named(struct pg_backend_conn *c, const char *name, const struct pg_params *p,
                        enum plan_mode want, PGresult **out, const char *what,
                        struct ml_errbuf *eb) {
  PGresult *res = NULL;
  ExecStatusType st;
  ml_err rc = ML_OK;

  if(out)
    *out = NULL;
  if(want != PLAN_ANY && want != c->plan_mode && PQtransactionStatus(c->db) == PQTRANS_IDLE) {
    rc = run_switched(c, name, p, want, &res, what, eb);
    if(!rc && out)
      *out = res;
    else
      PQclear(res);
    return rc;
  }
  res = PQexecPrepared(c->db, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
  st = PQresultStatus(res);
  if(st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    rc = pg_error(c, res, what, eb);
    PQclear(res);
    return rc;
  }
  if(out)
    *out = res;
  else
    PQclear(res);
  return ML_OK;
}

/* The statements whose plan depends on their parameters' values (a range,
 * a LIMIT) keep the planner's choice; the others take either plan. */
static enum plan_mode stmt_plan(enum stmt_id id) {
  switch(id) {
  case ST_MEDIA_EACH:
  case ST_VARIANT_EACH:
  case ST_JOB_CLAIM:
  case ST_JOB_RETRY_NOW:
  case ST_REFRESH_PRUNE: return PLAN_AUTO;
  default: return PLAN_ANY;
  }
}

static ml_err run(struct pg_backend_conn *c, enum stmt_id id, const struct pg_params *p,
                  PGresult **out, const char *what, struct ml_errbuf *eb) {
  char name[16];
  snprintf(name, sizeof(name), "s%d", (int)id);
  if(out)
    *out = NULL;
  if(!c->prepared[id]) {
    ml_err rc = prepare(c, name, stmt_sql[id], eb);
    if(rc)
      return rc;
    c->prepared[id] = 1;
  }
  return run_named(c, name, p, stmt_plan(id), out, what, eb);
}

/* The number of rows an UPDATE or DELETE changed. */
static int64_t changed_rows(PGresult *res) {
  const char *t = PQcmdTuples(res);
  return t && *t ? strtoll(t, NULL, 10) : 0;
}

static int64_t get_i64(const PGresult *res, int row, int col) {
  return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A text column, copied into the arena; with no arena, a pointer into the
 * result (valid until it is cleared). */
static ml_err get_str(const PGresult *res, int row, int col, struct ml_arena *a, const char **out) {
  const char *t = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  char *d;
  if(!t || len <= 0) {
    *out = "";
    return ML_OK;
  }
  if(!a) {
    *out = t;
    return ML_OK;
  }
  d = ml_arena_strndup(a, t, (size_t)len);
  if(!d)
    return ML_ERR_NOMEM;
  *out = d;
  return ML_OK;
}

static void get_sha(const PGresult *res, int row, int col, char *out, size_t size) {
  const char *t = PQgetvalue(res, row, col);
  size_t n = (size_t)PQgetlength(res, row, col);
  if(n > size - 1)
    n = size - 1;
  memcpy(out, t, n);
  out[n] = '\0';
}

/* A row of ML_REPO_MEDIA_COLS starting at column `at`. */
static ml_err read_media(const PGresult *res, int row, int at, struct ml_arena *a,
                         struct ml_media *m) {
  ml_err rc = ML_OK;
  memset(m, 0, sizeof(*m));
  m->id = get_i64(res, row, at + 0);
  m->state = (int)get_i64(res, row, at + 1);
  if(!rc)
    rc = get_str(res, row, at + 2, a, &m->title);
  if(!rc)
    rc = get_str(res, row, at + 3, a, &m->alt_text);
  if(!rc)
    rc = get_str(res, row, at + 4, a, &m->caption);
  if(!rc)
    rc = get_str(res, row, at + 5, a, &m->folder);
  if(!rc)
    rc = get_str(res, row, at + 6, a, &m->tags);
  if(!rc)
    rc = get_str(res, row, at + 7, a, &m->filename);
  if(!rc)
    rc = get_str(res, row, at + 8, a, &m->mime_type);
  m->size = get_i64(res, row, at + 9);
  m->width = get_i64(res, row, at + 10);
  m->height = get_i64(res, row, at + 11);
  get_sha(res, row, at + 12, m->sha256, sizeof(m->sha256));
  m->version = get_i64(res, row, at + 13);
  if(!rc)
    rc = get_str(res, row, at + 14, a, &m->storage_key);
  m->created_at = get_i64(res, row, at + 15);
  m->updated_at = get_i64(res, row, at + 16);
  return rc;
}

static ml_err read_job(const PGresult *res, int row, struct ml_arena *a, struct ml_job *j) {
  ml_err rc;
  memset(j, 0, sizeof(*j));
  j->id = get_i64(res, row, 0);
  rc = get_str(res, row, 1, a, &j->kind);
  if(!rc)
    rc = get_str(res, row, 2, a, &j->key);
  j->media_id = get_i64(res, row, 3);
  j->attempts = get_i64(res, row, 4);
  j->next_at = get_i64(res, row, 5);
  j->lease_until = get_i64(res, row, 6);
  if(!rc)
    rc = get_str(res, row, 7, a, &j->last_error);
  j->created_at = get_i64(res, row, 8);
  if(!rc)
    rc = get_str(res, row, 9, a, &j->payload);
  return rc;
}

static ml_err read_variant(const PGresult *res, int row, struct ml_arena *a, struct ml_variant *v) {
  ml_err rc;
  memset(v, 0, sizeof(*v));
  v->media_id = get_i64(res, row, 0);
  v->version = get_i64(res, row, 1);
  rc = get_str(res, row, 2, a, &v->name);
  if(!rc)
    rc = get_str(res, row, 3, a, &v->storage_key);
  if(!rc)
    rc = get_str(res, row, 4, a, &v->mime_type);
  v->size = get_i64(res, row, 5);
  v->width = get_i64(res, row, 6);
  v->height = get_i64(res, row, 7);
  get_sha(res, row, 8, v->sha256, sizeof(v->sha256));
  v->created_at = get_i64(res, row, 9);
  return rc;
}

/* A row of ML_REPO_USER_COLS starting at column `at`. */
static ml_err read_user(const PGresult *res, int row, int at, struct ml_arena *a,
                        struct ml_user *u) {
  ml_err rc;
  memset(u, 0, sizeof(*u));
  u->id = get_i64(res, row, at + 0);
  rc = get_str(res, row, at + 1, a, &u->username);
  if(!rc)
    rc = get_str(res, row, at + 2, a, &u->password_hash);
  if(!rc)
    rc = get_str(res, row, at + 3, a, &u->role);
  u->disabled = get_i64(res, row, at + 4) != 0;
  u->token_version = get_i64(res, row, at + 5);
  u->created_at = get_i64(res, row, at + 6);
  u->last_login_at = get_i64(res, row, at + 7);
  return rc;
}

/*
 * Calls that must be atomic, or must not spoil the caller's transaction when
 * they fail, run under a savepoint inside one; outside one, those that are
 * several statements take their own transaction (own = 1), single
 * statements are atomic already.
 */
enum tx_mode { TX_NONE, TX_OWN, TX_SAVEPOINT };

static ml_err tx_enter(struct pg_backend_conn *c, int own, enum tx_mode *mode,
                       struct ml_errbuf *eb) {
  ml_err rc = ML_OK;
  *mode = TX_NONE;
  switch(PQtransactionStatus(c->db)) {
  case PQTRANS_IDLE:
    if(own) {
      rc = run(c, ST_BEGIN, NULL, NULL, "begin", eb);
      if(!rc)
        *mode = TX_OWN;
    }
    break;
  case PQTRANS_INTRANS:
    rc = run(c, ST_SAVEPOINT, NULL, NULL, "savepoint", eb);
    if(!rc)
      *mode = TX_SAVEPOINT;
    break;
  case PQTRANS_INERROR:
    rc = ml_fail(eb, ML_ERR_DB, "the transaction was aborted by an earlier error");
    break;
  default: rc = pg_error(c, NULL, "database connection", eb); break;
  }
  return rc;
}

static ml_err tx_leave(struct pg_backend_conn *c, enum tx_mode mode, ml_err rc,
                       struct ml_errbuf *eb) {
  if(mode == TX_OWN) {
    if(!rc)
      rc = run(c, ST_COMMIT, NULL, NULL, "commit", eb);
    if(rc && PQtransactionStatus(c->db) != PQTRANS_IDLE)
      run(c, ST_ROLLBACK, NULL, NULL, "rollback", NULL);
  } else if(mode == TX_SAVEPOINT) {
    if(rc)
      run(c, ST_ROLLBACK_TO, NULL, NULL, "rollback to savepoint", NULL);
    if(PQtransactionStatus(c->db) == PQTRANS_INTRANS) {
      ml_err rrc = run(c, ST_RELEASE, NULL, NULL, "release savepoint", eb);
      if(!rc)
        rc = rrc;
    }
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Opening, connections, migrations */

static ml_err pg_open(const char *target, struct ml_repo **out, struct ml_errbuf *eb) {
  struct pg_backend_repo *r = NULL;
  ml_err rc = ML_OK;
  size_t len = strlen(target) + sizeof("postgresql://");

  *out = NULL;
  r = ml_calloc(1, sizeof(*r));
  if(!r) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    goto out;
  }
  r->base.ops = &ml_repo_pg_ops;
  /* Whichever scheme was given, libpq takes this one. */
  r->url = ml_malloc(len);
  if(!r->url) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    goto out;
  }
  snprintf(r->url, len, "postgresql://%s", target);
  *out = &r->base;
  r = NULL;

out:
  if(r) {
    ml_free(r->url);
    ml_free(r);
  }
  return rc;
}

static void pg_close(struct ml_repo *repo) {
  struct pg_backend_repo *r = (struct pg_backend_repo *)repo;
  ml_free(r->url);
  ml_free(r);
}

static void pg_conn_close(struct ml_conn *conn) {
  struct pg_backend_conn *c = pgc(conn);
  if(!c)
    return;
  PQfinish(c->db);
  ml_free(c);
}

/* Notices (NOTICE: relation already exists, skipping) are not errors and
 * must not reach stderr. */
static void pg_quiet(void *arg, const char *message) {}

/* Session settings, after every (re)connect. */
static ml_err session_setup(struct pg_backend_conn *c, struct ml_errbuf *eb) {
  PGresult *res;
  ml_err rc = ML_OK;
  PQsetNoticeProcessor(c->db, pg_quiet, NULL);
  memset(c->prepared, 0, sizeof(c->prepared));
  memset(c->list_prepared, 0, sizeof(c->list_prepared));
  c->plan_mode = PLAN_UNKNOWN; /* whatever the server or the role sets */
  res = PQexec(c->db, "SET lock_timeout = '" PG_LOCK_TIMEOUT "'");
  if(PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = pg_error(c, res, "connection setup", eb);
  PQclear(res);
  return rc;
}

/* The message of a connection that did not come up. */
static ml_err connect_error(struct pg_backend_conn *c, struct ml_errbuf *eb) {
  char line[400];
  /* libpq's message names host, port and user, never the password. */
  one_line(PQerrorMessage(c->db), line, sizeof(line));
  if(!*line)
    snprintf(line, sizeof(line), "no answer within %d s", PG_CONNECT_TIMEOUT_S);
  return ml_fail(eb, strstr(line, "invalid") || strstr(line, "missing") ? ML_ERR_CONFIG : ML_ERR_DB,
                 "cannot connect to PostgreSQL: %s", line);
}

/* Drives a connection begun with PQconnectStartParams to its end. */
static ml_err finish_connect(struct pg_backend_conn *c, struct ml_errbuf *eb) {
  PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
  uint64_t deadline = ml_mono_ns() + (uint64_t)PG_CONNECT_TIMEOUT_S * 1000000000u;
  c->connecting = 0;
  while(ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
    struct pollfd pfd;
    uint64_t now = ml_mono_ns();
    pfd.fd = PQsocket(c->db);
    pfd.events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    pfd.revents = 0;
    if(pfd.fd < 0 || now >= deadline)
      break;
    if(poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) == 0)
      continue; /* the deadline check ends it */
    ps = PQconnectPoll(c->db);
  }
  if(PQstatus(c->db) != CONNECTION_OK)
    return connect_error(c, eb);
  return session_setup(c, eb);
}

/*
 * The first connection of the pool is made now, so a wrong URL or an
 * unreachable server fails the open. The others are only started: the
 * server sets them up in parallel (a backend process each) while this
 * returns, and each is finished when it is first acquired. A pool of a
 * dozen then starts in the time of one connection instead of twelve.
 */
static ml_err pg_conn_open(struct ml_repo *repo, struct ml_conn **out, struct ml_errbuf *eb) {
  struct pg_backend_repo *r = (struct pg_backend_repo *)repo;
  /* Keywords before dbname are defaults the URL may override; dbname is
   * the URL itself (expand_dbname). */
  const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
  const char *const vals[] = {ML_STR(PG_CONNECT_TIMEOUT_S), "medialib", r->url, NULL};
  struct pg_backend_conn *c;
  ml_err rc = ML_OK;
  int first = r->opened == 0;

  *out = NULL;
  c = ml_calloc(1, sizeof(*c));
  if(!c)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  c->db = first ? PQconnectdbParams(keys, vals, 1) : PQconnectStartParams(keys, vals, 1);
  if(!c->db) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory connecting to PostgreSQL");
    goto out;
  }
  if(PQstatus(c->db) == CONNECTION_BAD || (first && PQstatus(c->db) != CONNECTION_OK)) {
    rc = connect_error(c, eb);
    goto out;
  }
  if(first)
    rc = session_setup(c, eb);
  else
    c->connecting = 1;
  if(rc)
    goto out;
  r->opened++;
  *out = &c->base;
  c = NULL;

out:
  pg_conn_close(c ? &c->base : NULL);
  return rc;
}

/* Is the connection still there? An idle connection has nothing to read:
 * the server sends nothing unasked (no LISTEN here) but a termination
 * notice before it hangs up (a restart, pg_terminate_backend). So a
 * readable socket, or a connection libpq already knows is broken, is
 * reconnected before use. */
static ml_err pg_conn_check(struct ml_conn *conn, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  char line[400];

  if(c->connecting)
    return finish_connect(c, eb);
  if(PQstatus(c->db) == CONNECTION_OK && PQtransactionStatus(c->db) == PQTRANS_IDLE &&
     PQpipelineStatus(c->db) == PQ_PIPELINE_OFF) {
    struct pollfd pfd;
    pfd.fd = PQsocket(c->db);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if(pfd.fd >= 0 && poll(&pfd, 1, 0) == 0)
      return ML_OK;
  }
  PQreset(c->db);
  if(PQstatus(c->db) != CONNECTION_OK) {
    one_line(PQerrorMessage(c->db), line, sizeof(line));
    return ml_fail(eb, ML_ERR_DB, "cannot reconnect to PostgreSQL: %s", line);
  }
  return session_setup(c, eb);
}

static void pg_rollback(struct ml_conn *conn) {
  struct pg_backend_conn *c = pgc(conn);
  PGTransactionStatusType ts = PQtransactionStatus(c->db);
  if(ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
    run(c, ST_ROLLBACK, NULL, NULL, "rollback", NULL);
}

static void pg_conn_reset(struct ml_conn *conn) { pg_rollback(conn); }

/* Runs one or more statements of constant SQL (not prepared: migrations). */
static ml_err exec_sql(struct pg_backend_conn *c, const char *sql, PGresult **out, const char *what,
                       struct ml_errbuf *eb) {
  PGresult *res = PQexec(c->db, sql);
  ExecStatusType st = PQresultStatus(res);
  ml_err rc = ML_OK;
  if(out)
    *out = NULL;
  if(st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    rc = pg_error(c, res, what, eb);
    PQclear(res);
  } else if(out)
    *out = res;
  else
    PQclear(res);
  return rc;
}

/* Steps applied so far: 0 when the version table does not exist yet. */
static ml_err read_version(struct pg_backend_conn *c, int *version, struct ml_errbuf *eb) {
  PGresult *res = NULL;
  ml_err rc;
  *version = 0;
  rc = exec_sql(c, "SELECT to_regclass('ml_schema_version') IS NOT NULL", &res, "schema version",
                eb);
  if(rc)
    return rc;
  if(PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't') {
    PQclear(res);
    rc = exec_sql(c, "SELECT coalesce(max(version), 0) FROM ml_schema_version", &res,
                  "schema version", eb);
    if(rc)
      return rc;
    *version = (int)get_i64(res, 0, 0);
  }
  PQclear(res);
  return ML_OK;
}

static ml_err pg_schema_version(struct ml_conn *conn, int *version, struct ml_errbuf *eb) {
  return read_version(pgc(conn), version, eb);
}

/* Applies step `version` (0-based) inside the open transaction. */
static ml_err apply_step(struct pg_backend_conn *c, int version, struct ml_errbuf *eb) {
  const struct ml_repo_pg_migration *m = &ml_repo_pg_migrations[version];
  struct pg_params p = {.n = 0};
  char what[160];
  PGresult *res;
  ml_err rc;

  snprintf(what, sizeof(what), "migration %d (%s)", version + 1, m->what);
  rc = exec_sql(c, m->sql, NULL, what, eb);
  if(rc) {
    /* The one step that needs more than owning the database. */
    if(strstr(eb ? eb->msg : "", "pg_trgm") || strstr(eb ? eb->msg : "", "permission denied"))
      rc = ml_fail(eb, rc,
                   "%s; the pg_trgm extension must be available (Debian: postgresql-contrib) "
                   "and creatable by this role (the database owner can in PostgreSQL 13+; or "
                   "have a superuser run CREATE EXTENSION pg_trgm in this database first)",
                   eb->msg);
    return rc;
  }
  p_int(&p, version + 1);
  p_str(&p, m->what);
  res = PQexecParams(c->db,
                     "INSERT INTO ml_schema_version (version, what, applied_at) VALUES "
                     "($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                     p.n, NULL, p.v, NULL, NULL, 0);
  if(PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = pg_error(c, res, what, eb);
  PQclear(res);
  return rc;
}

static ml_err pg_migrate(struct ml_conn *conn, int *applied, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  int version = 0, done = 0, in_tx = 0;
  ml_err rc;

  rc = read_version(c, &version, eb);
  while(!rc && version < ml_repo_pg_migrations_count) {
    rc = exec_sql(c, "BEGIN", NULL, "begin migration", eb);
    if(rc)
      break;
    in_tx = 1;
    /* Held until this step commits: another instance waits here, then
     * reads the version this one wrote. */
    rc = exec_sql(c,
                  "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ");"
                  "CREATE TABLE IF NOT EXISTS ml_schema_version ("
                  "  version INTEGER PRIMARY KEY,"
                  "  what TEXT NOT NULL,"
                  "  applied_at BIGINT NOT NULL)",
                  NULL, "lock for migration", eb);
    if(!rc)
      rc = read_version(c, &version, eb);
    if(rc || version >= ml_repo_pg_migrations_count)
      break;
    rc = apply_step(c, version, eb);
    if(!rc)
      rc = exec_sql(c, "COMMIT", NULL, "commit migration", eb);
    if(rc)
      break;
    in_tx = 0;
    version++;
    done++;
  }
  if(in_tx) {
    if(rc)
      pg_rollback(conn);
    else
      rc = exec_sql(c, "COMMIT", NULL, "commit", eb);
  }
  if(!rc && version > ml_repo_pg_migrations_count)
    rc = ml_fail(eb, ML_ERR_CONFIG, "database schema version %d is newer than this build (%d)",
                 version, ml_repo_pg_migrations_count);
  if(applied)
    *applied = done;
  return rc;
}

/* ------------------------------------------------------------------ */
/* Transactions */

static ml_err pg_begin(struct ml_conn *conn, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  /* PostgreSQL only warns about a nested BEGIN; the contract refuses it. */
  if(PQtransactionStatus(c->db) != PQTRANS_IDLE)
    return ml_fail(eb, ML_ERR_DB, "begin: a transaction is already open on this connection");
  return run(c, ST_BEGIN, NULL, NULL, "begin", eb);
}

static ml_err pg_commit(struct ml_conn *conn, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  PGresult *res = NULL;
  ml_err rc;
  /* COMMIT of an aborted transaction "succeeds" as a ROLLBACK. */
  if(PQtransactionStatus(c->db) == PQTRANS_INERROR) {
    pg_rollback(conn);
    return ml_fail(eb, ML_ERR_DB, "commit: the transaction was aborted by an earlier error");
  }
  rc = run(c, ST_COMMIT, NULL, &res, "commit", eb);
  if(!rc && !strcmp(PQcmdStatus(res), "ROLLBACK"))
    rc = ml_fail(eb, ML_ERR_DB, "commit: the transaction was rolled back");
  PQclear(res);
  return rc;
}

static ml_err pg_ping(struct ml_conn *conn, struct ml_errbuf *eb) {
  return run(pgc(conn), ST_PING, NULL, NULL, "ping", eb);
}

/* ------------------------------------------------------------------ */
/* Media */

static ml_err pg_media_get(struct ml_conn *conn, int64_t id, int include_pending,
                           struct ml_arena *a, struct ml_media *out, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;
  /* Inside a transaction the row stays locked until it ends. */
  int lock = PQtransactionStatus(c->db) == PQTRANS_INTRANS;

  p_int(&p, id);
  p_int(&p, include_pending ? 1 : 0);
  rc = run(c, lock ? ST_MEDIA_GET_LOCK : ST_MEDIA_GET, &p, &res, "get media", eb);
  if(rc)
    return rc;
  if(PQntuples(res) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " does not exist", id);
  else if(read_media(res, 0, 0, a, out))
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory reading media %" PRId64, id);
  PQclear(res);
  return rc;
}

/* The ORDER BY of an ordering, its columns prefixed with `t` ("" or "m."). */
static void order_sql(enum ml_order o, const char *t, char *out, size_t size) {
  static const struct {
    const char *col, *dir;
  } orders[ML_ORDER__COUNT] = {
      [ML_ORDER_CREATED_DESC] = {"%screated_at", "DESC"},
      [ML_ORDER_CREATED_ASC] = {"%screated_at", "ASC"},
      [ML_ORDER_TITLE_ASC] = {"lower(%stitle COLLATE \"C\")", "ASC"},
      [ML_ORDER_TITLE_DESC] = {"lower(%stitle COLLATE \"C\")", "DESC"},
      [ML_ORDER_SIZE_ASC] = {"%ssize", "ASC"},
      [ML_ORDER_SIZE_DESC] = {"%ssize", "DESC"},
      [ML_ORDER_UPDATED_ASC] = {"%supdated_at", "ASC"},
      [ML_ORDER_UPDATED_DESC] = {"%supdated_at", "DESC"},
  };
  char col[64];
  snprintf(col, sizeof(col), orders[o].col, t);
  snprintf(out, size, "%s %s, %sid %s", col, orders[o].dir, t, orders[o].dir);
}

/*
 * The listing of ordering o with the filters of mask present, as one
 * statement: a one-row count joined to the page, so both come from one
 * snapshot in one round trip (an empty page still returns the count, with
 * NULL columns). The unfiltered count is the trigger-kept media_count.
 * Parameters: the filters present in LF_* order, then limit and offset.
 */
static void list_sql(enum ml_order o, unsigned mask, char *out, size_t size) {
  char where[1024], inner[128], outer[128];
  size_t w = 0;
  int n = 0;

  w += (size_t)snprintf(where + w, sizeof(where) - w, "state = 1");
  if(mask & LF_FOLDER)
    w += (size_t)snprintf(where + w, sizeof(where) - w, " AND folder = $%d", ++n);
  if(mask & LF_MIME)
    w += (size_t)snprintf(where + w, sizeof(where) - w, " AND mime_type = $%d", ++n);
  if(mask & LF_PREFIX) {
    ++n;
    w += (size_t)snprintf(where + w, sizeof(where) - w,
                          " AND left(mime_type, length($%d::text)) = $%d", n, n);
  }
  if(mask & LF_TAG)
    w += (size_t)snprintf(where + w, sizeof(where) - w,
                          " AND EXISTS (SELECT 1 FROM media_tags t WHERE t.media_id = media.id"
                          " AND t.tag = $%d)",
                          ++n);
  if(mask & LF_Q) {
    /* Each ILIKE is answered by the trigram index (media_search). */
    ++n;
    snprintf(where + w, sizeof(where) - w,
             " AND (title ILIKE $%d OR alt_text ILIKE $%d OR caption ILIKE $%d"
             " OR filename ILIKE $%d)",
             n, n, n, n);
  }
  order_sql(o, "", inner, sizeof(inner));
  order_sql(o, "m.", outer, sizeof(outer));
  if(mask)
    snprintf(out, size,
             "SELECT c.total, m.* FROM (SELECT count(*) AS total FROM media WHERE %s) c "
             "LEFT JOIN LATERAL (SELECT " ML_REPO_MEDIA_COLS " FROM media WHERE %s ORDER BY %s "
             "LIMIT $%d OFFSET $%d) m ON true ORDER BY %s",
             where, where, inner, n + 1, n + 2, outer);
  else
    snprintf(out, size,
             "SELECT c.total, m.* FROM (SELECT coalesce(sum(active), 0)::bigint AS total "
             "FROM media_count) c "
             "LEFT JOIN LATERAL (SELECT " ML_REPO_MEDIA_COLS " FROM media WHERE %s ORDER BY %s "
             "LIMIT $%d OFFSET $%d) m ON true ORDER BY %s",
             where, inner, n + 1, n + 2, outer);
}

static ml_err pg_media_list(struct ml_conn *conn, const struct ml_media_filter *f,
                            struct ml_arena *a, struct ml_media **items, size_t *n, int64_t *count,
                            struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  struct ml_media *rows = NULL;
  PGresult *res = NULL;
  const char *pattern = NULL;
  unsigned mask = 0;
  char name[24];
  int i, nt;
  size_t got = 0;
  ml_err rc = ML_OK;

  *items = NULL;
  *n = 0;
  *count = 0;
  if((unsigned)f->order >= ML_ORDER__COUNT || f->limit < 1 || f->limit > 100 || f->offset < 0)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "list: bad ordering, limit or offset");
  if(f->q) {
    pattern = ml_repo_like_pattern(a, f->q);
    if(!pattern)
      return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  }
  rows = ml_arena_alloc(a, sizeof(*rows) * (size_t)f->limit);
  if(!rows)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  if(f->folder) {
    mask |= LF_FOLDER;
    p_str(&p, f->folder);
  }
  if(f->mime) {
    mask |= LF_MIME;
    p_str(&p, f->mime);
  }
  if(f->mime_prefix) {
    mask |= LF_PREFIX;
    p_str(&p, f->mime_prefix);
  }
  if(f->tag) {
    mask |= LF_TAG;
    p_str(&p, f->tag);
  }
  if(pattern) {
    mask |= LF_Q;
    p_str(&p, pattern);
  }
  p_int(&p, f->limit);
  p_int(&p, f->offset);

  snprintf(name, sizeof(name), "l%d_%u", (int)f->order, mask);
  if(!(c->list_prepared[f->order] & (1u << mask))) {
    char sql[4096];
    list_sql(f->order, mask, sql, sizeof(sql));
    rc = prepare(c, name, sql, eb);
    if(rc)
      return rc;
    c->list_prepared[f->order] |= 1u << mask;
  }
  rc = run_named(c, name, &p, mask ? PLAN_AUTO : PLAN_GENERIC, &res, "list media", eb);
  if(rc)
    return rc;
  nt = PQntuples(res);
  if(nt < 1) {
    rc = ml_fail(eb, ML_ERR_DB, "list media: no count returned");
    goto out;
  }
  *count = get_i64(res, 0, 0);
  for(i = 0; i < nt && got < (size_t)f->limit; i++) {
    if(PQgetisnull(res, i, 1))
      continue; /* the page is empty */
    if(read_media(res, i, 1, a, &rows[got])) {
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
      goto out;
    }
    got++;
  }
  *items = rows;
  *n = got;

out:
  PQclear(res);
  if(rc)
    *count = 0;
  return rc;
}

/* The 16 written columns of media, in ST_MEDIA_INSERT's order. */
static void params_media(struct pg_params *p, const struct ml_media *m) {
  p_int(p, m->state);
  p_str(p, m->title);
  p_str(p, m->alt_text);
  p_str(p, m->caption);
  p_str(p, m->folder);
  p_str(p, m->tags);
  p_str(p, m->filename);
  p_str(p, m->mime_type);
  p_int(p, m->size);
  p_int(p, m->width);
  p_int(p, m->height);
  p_sha(p, m->sha256, sizeof(m->sha256));
  p_int(p, m->version);
  p_str(p, m->storage_key);
  p_int(p, m->created_at);
  p_int(p, m->updated_at);
}

static ml_err pg_media_insert(struct ml_conn *conn, struct ml_media *m, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  enum tx_mode mode;
  PGresult *res = NULL;
  int64_t id = 0;
  ml_err rc;

  params_media(&p, m);
  rc = tx_enter(c, 0, &mode, eb);
  if(rc)
    return rc;
  rc = run(c, ST_MEDIA_INSERT, &p, &res, "insert media", eb);
  if(!rc)
    id = get_i64(res, 0, 0);
  PQclear(res);
  rc = tx_leave(c, mode, rc, eb);
  if(!rc)
    m->id = id;
  return rc;
}

static ml_err pg_media_update(struct ml_conn *conn, const struct ml_media *m,
                              int64_t expect_version, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  enum tx_mode mode;
  PGresult *res = NULL;
  ml_err rc;

  params_media(&p, m);
  p_int(&p, m->id);
  p_int(&p, expect_version);
  rc = tx_enter(c, 0, &mode, eb);
  if(rc)
    return rc;
  rc = run(c, ST_MEDIA_UPDATE, &p, &res, "update media", eb);
  if(!rc && get_i64(res, 0, 0) == 0) {
    if(get_i64(res, 0, 1))
      rc = ml_fail(eb, ML_ERR_CONFLICT, "media %" PRId64 " changed (version is not %" PRId64 ")",
                   m->id, expect_version);
    else
      rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " does not exist", m->id);
  }
  PQclear(res);
  return tx_leave(c, mode, rc, eb);
}

/* Runs a statement bound to one integer (?1) that changes rows: *n (may
 * be NULL) gets how many; `missing` (may be NULL) makes none NOT_FOUND. */
static ml_err change_rows(struct pg_backend_conn *c, enum stmt_id id, struct pg_params *p,
                          int64_t *n, const char *what, const char *missing, struct ml_errbuf *eb) {
  PGresult *res = NULL;
  int64_t changed;
  ml_err rc;
  if(n)
    *n = 0;
  rc = run(c, id, p, &res, what, eb);
  if(rc)
    return rc;
  changed = changed_rows(res);
  PQclear(res);
  if(n)
    *n = changed;
  if(missing && changed == 0)
    return ml_fail(eb, ML_ERR_NOT_FOUND, "%s", missing);
  return ML_OK;
}

/* The tag rows and variants go by ON DELETE CASCADE. */
static ml_err pg_media_delete(struct ml_conn *conn, int64_t id, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  char missing[64];
  snprintf(missing, sizeof(missing), "media %" PRId64 " does not exist", id);
  p_int(&p, id);
  return change_rows(pgc(conn), ST_MEDIA_DELETE, &p, NULL, "delete media", missing, eb);
}

/* Pages of PG_EACH_BATCH rows by id; each m points into the page's result. */
static ml_err pg_media_each(struct ml_conn *conn, struct ml_arena *a,
                            int (*cb)(void *ctx, const struct ml_media *m), void *ctx,
                            struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  int64_t after = 0;
  ml_err rc = ML_OK;

  for(;;) {
    struct pg_params p = {.n = 0};
    PGresult *res = NULL;
    int i, nt, stop = 0;
    p_int(&p, after);
    p_int(&p, PG_EACH_BATCH);
    rc = run(c, ST_MEDIA_EACH, &p, &res, "walk media", eb);
    if(rc)
      return rc;
    nt = PQntuples(res);
    for(i = 0; i < nt && !stop; i++) {
      struct ml_media m;
      read_media(res, i, 0, NULL, &m); /* cannot fail without an arena */
      after = m.id;
      stop = cb(ctx, &m);
    }
    PQclear(res);
    if(stop || nt < PG_EACH_BATCH)
      return ML_OK;
  }
}

/* A one-row, one-integer SELECT bound to one text parameter. */
static ml_err query_key_int(struct pg_backend_conn *c, enum stmt_id id, const char *key, int *out,
                            const char *what, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;
  *out = 0;
  p_str(&p, key);
  rc = run(c, id, &p, &res, what, eb);
  if(!rc)
    *out = (int)get_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static ml_err pg_key_in_use(struct ml_conn *conn, const char *key, int *in_use,
                            struct ml_errbuf *eb) {
  return query_key_int(pgc(conn), ST_KEY_IN_USE, key, in_use, "look up storage key", eb);
}

/* ------------------------------------------------------------------ */
/* Variants */

static ml_err pg_variant_get(struct ml_conn *conn, int64_t media_id, int64_t version,
                             const char *name, struct ml_arena *a, struct ml_variant *out,
                             struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;

  p_int(&p, media_id);
  p_int(&p, version);
  p_str(&p, name);
  rc = run(c, ST_VARIANT_GET, &p, &res, "get variant", eb);
  if(rc)
    return rc;
  if(PQntuples(res) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " v%" PRId64 " has no variant %s", media_id,
                 version, name);
  else if(read_variant(res, 0, a, out))
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory reading a variant");
  PQclear(res);
  return rc;
}

/* The media's version is read under FOR SHARE: a replace or delete (which
 * lock the row FOR UPDATE) waits for this transaction, or this waits for it
 * and then reads the new version. */
static ml_err pg_variant_put(struct ml_conn *conn, const struct ml_variant *v,
                             struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  enum tx_mode mode;
  PGresult *res = NULL;
  ml_err rc;

  rc = tx_enter(c, 1, &mode, eb);
  if(rc)
    return rc;
  p_int(&p, v->media_id);
  rc = run(c, ST_MEDIA_VERSION_SHARE, &p, &res, "record variant", eb);
  if(!rc && PQntuples(res) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "record variant: media %" PRId64 " does not exist",
                 v->media_id);
  else if(!rc && get_i64(res, 0, 0) != v->version)
    rc = ml_fail(eb, ML_ERR_CONFLICT, "record variant: media %" PRId64 " is no longer at v%" PRId64,
                 v->media_id, v->version);
  PQclear(res);
  if(!rc) {
    p.n = 0;
    p_int(&p, v->media_id);
    p_int(&p, v->version);
    p_str(&p, v->name);
    p_str(&p, v->storage_key);
    p_str(&p, v->mime_type);
    p_int(&p, v->size);
    p_int(&p, v->width);
    p_int(&p, v->height);
    p_sha(&p, v->sha256, sizeof(v->sha256));
    p_int(&p, v->created_at);
    rc = run(c, ST_VARIANT_PUT, &p, NULL, "record variant", eb);
  }
  return tx_leave(c, mode, rc, eb);
}

static ml_err pg_variant_list(struct ml_conn *conn, int64_t media_id, struct ml_arena *a,
                              struct ml_variant **items, size_t *n, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  struct ml_variant *rows = NULL;
  PGresult *res = NULL;
  int i, nt;
  ml_err rc;

  *items = NULL;
  *n = 0;
  p_int(&p, media_id);
  rc = run(c, ST_VARIANT_LIST, &p, &res, "list variants", eb);
  if(rc)
    return rc;
  nt = PQntuples(res);
  if(nt > 0) {
    rows = ml_arena_alloc(a, (size_t)nt * sizeof(*rows));
    if(!rows)
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory listing variants");
  }
  for(i = 0; !rc && i < nt; i++)
    if(read_variant(res, i, a, &rows[i]))
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory listing variants");
  PQclear(res);
  if(!rc) {
    *items = rows;
    *n = (size_t)nt;
  }
  return rc;
}

static ml_err pg_variant_delete_below(struct ml_conn *conn, int64_t media_id, int64_t below,
                                      int64_t *n, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, media_id);
  p_int(&p, below);
  return change_rows(pgc(conn), ST_VARIANT_DELETE_BELOW, &p, n, "delete variants", NULL, eb);
}

/* Pages of PG_EACH_BATCH rows; each v points into the page's result. */
static ml_err pg_variant_each(struct ml_conn *conn, struct ml_arena *a,
                              int (*cb)(void *ctx, const struct ml_variant *v), void *ctx,
                              struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  int64_t after_id = 0, after_version = 0;
  char after_name[ML_TRANSFORM_CANONICAL_MAX] = "";
  (void)a;
  for(;;) {
    struct pg_params p = {.n = 0};
    PGresult *res = NULL;
    int i, nt, stop = 0;
    ml_err rc;
    p_int(&p, after_id);
    p_int(&p, after_version);
    p_str(&p, after_name);
    p_int(&p, PG_EACH_BATCH);
    rc = run(c, ST_VARIANT_EACH, &p, &res, "walk variants", eb);
    if(rc)
      return rc;
    nt = PQntuples(res);
    for(i = 0; i < nt && !stop; i++) {
      struct ml_variant v;
      read_variant(res, i, NULL, &v); /* cannot fail without an arena */
      after_id = v.media_id;
      after_version = v.version;
      snprintf(after_name, sizeof(after_name), "%s", v.name);
      stop = cb(ctx, &v);
    }
    PQclear(res);
    if(stop || nt < PG_EACH_BATCH)
      return ML_OK;
  }
}

static ml_err pg_variant_delete(struct ml_conn *conn, int64_t media_id, int64_t version,
                                const char *name, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  char missing[96];
  snprintf(missing, sizeof(missing), "no variant %.40s of media %" PRId64, name, media_id);
  p_int(&p, media_id);
  p_int(&p, version);
  p_str(&p, name);
  return change_rows(pgc(conn), ST_VARIANT_DELETE, &p, NULL, "delete variant", missing, eb);
}

/* ------------------------------------------------------------------ */
/* Outbox */

static ml_err pg_job_add(struct ml_conn *conn, struct ml_job *j, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;

  p_str(&p, j->kind);
  p_str(&p, j->key);
  p_int(&p, j->media_id);
  p_int(&p, j->attempts);
  p_int(&p, j->next_at);
  p_int(&p, j->lease_until);
  p_str(&p, j->last_error);
  p_int(&p, j->created_at);
  p_str(&p, j->payload);
  rc = run(c, ST_JOB_ADD, &p, &res, "add job", eb);
  if(!rc)
    j->id = get_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static ml_err pg_job_get(struct ml_conn *conn, int64_t id, struct ml_arena *a, struct ml_job *out,
                         struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;

  p_int(&p, id);
  rc = run(c, ST_JOB_GET, &p, &res, "get job", eb);
  if(rc)
    return rc;
  if(PQntuples(res) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "job %" PRId64 " does not exist", id);
  else if(read_job(res, 0, a, out))
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory reading job %" PRId64, id);
  PQclear(res);
  return rc;
}

static ml_err job_change(struct pg_backend_conn *c, enum stmt_id id, struct pg_params *p,
                         int64_t job_id, const char *what, struct ml_errbuf *eb) {
  char missing[64];
  snprintf(missing, sizeof(missing), "job %" PRId64 " does not exist", job_id);
  return change_rows(c, id, p, NULL, what, missing, eb);
}

static ml_err pg_job_delete(struct ml_conn *conn, int64_t id, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, id);
  return job_change(pgc(conn), ST_JOB_DELETE, &p, id, "delete job", eb);
}

static ml_err pg_job_fail(struct ml_conn *conn, int64_t id, int64_t next_at, const char *error,
                          struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, id);
  p_int(&p, next_at);
  p_str(&p, error);
  return job_change(pgc(conn), ST_JOB_FAIL, &p, id, "record job failure", eb);
}

/* One statement: select due rows FOR UPDATE SKIP LOCKED and lease them. */
static ml_err pg_job_claim(struct ml_conn *conn, int64_t now, int64_t lease_ms, size_t max,
                           struct ml_arena *a, struct ml_job **jobs, size_t *n,
                           struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  struct ml_job *list = NULL;
  enum tx_mode mode;
  PGresult *res = NULL;
  int i, nt = 0;
  ml_err rc;

  *jobs = NULL;
  *n = 0;
  if(max == 0)
    return ML_OK;
  if(max > INT32_MAX)
    max = INT32_MAX;
  p_int(&p, now);
  p_int(&p, now + lease_ms);
  p_int(&p, (int64_t)max);
  rc = tx_enter(c, 0, &mode, eb);
  if(rc)
    return rc;
  rc = run(c, ST_JOB_CLAIM, &p, &res, "claim jobs", eb);
  if(!rc) {
    nt = PQntuples(res);
    if(nt > 0) {
      list = ml_arena_alloc(a, (size_t)nt * sizeof(*list));
      if(!list)
        rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    }
    for(i = 0; !rc && i < nt; i++)
      if(read_job(res, i, a, &list[i]))
        rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  }
  PQclear(res);
  rc = tx_leave(c, mode, rc, eb);
  if(!rc) {
    *jobs = list;
    *n = (size_t)nt;
  }
  return rc;
}

static ml_err pg_job_exists_for_media(struct ml_conn *conn, const char *kind, int64_t media_id,
                                      int *exists, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;
  *exists = 0;
  p_int(&p, media_id);
  p_str(&p, kind);
  rc = run(pgc(conn), ST_JOB_EXISTS_MEDIA, &p, &res, "look up jobs of a media", eb);
  if(!rc)
    *exists = (int)get_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static ml_err pg_job_exists_for_key(struct ml_conn *conn, const char *key, int *exists,
                                    struct ml_errbuf *eb) {
  return query_key_int(pgc(conn), ST_JOB_EXISTS_KEY, key, exists, "look up job key", eb);
}

static ml_err pg_job_stats(struct ml_conn *conn, int64_t *depth, int64_t *oldest_created,
                           struct ml_errbuf *eb) {
  PGresult *res = NULL;
  ml_err rc;
  *depth = 0;
  *oldest_created = 0;
  rc = run(pgc(conn), ST_JOB_STATS, NULL, &res, "job stats", eb);
  if(!rc) {
    *depth = get_i64(res, 0, 0);
    *oldest_created = get_i64(res, 0, 1);
  }
  PQclear(res);
  return rc;
}

static ml_err pg_job_due_now_for_media(struct ml_conn *conn, const char *kind, int64_t media_id,
                                       int64_t now, int64_t *changed, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, media_id);
  p_str(&p, kind);
  p_int(&p, now);
  return change_rows(pgc(conn), ST_JOB_DUE_NOW_MEDIA, &p, changed, "make a media's jobs due", NULL,
                     eb);
}

static ml_err pg_job_retry_now(struct ml_conn *conn, int64_t now, int64_t limit, int64_t *changed,
                               struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, now);
  if(limit > 0)
    p_int(&p, limit);
  else
    p_opt(&p, NULL); /* LIMIT NULL: all */
  return change_rows(pgc(conn), ST_JOB_RETRY_NOW, &p, changed, "reschedule jobs", NULL, eb);
}

static ml_err pg_job_depth_by_kind(struct ml_conn *conn,
                                   void (*cb)(void *ctx, const char *kind, int64_t depth,
                                              int64_t failing),
                                   void *ctx, struct ml_errbuf *eb) {
  PGresult *res = NULL;
  int i, nt;
  ml_err rc = run(pgc(conn), ST_JOB_DEPTH_KIND, NULL, &res, "job depth by kind", eb);
  if(rc)
    return rc;
  nt = PQntuples(res);
  for(i = 0; i < nt; i++)
    cb(ctx, PQgetvalue(res, i, 0), get_i64(res, i, 1), get_i64(res, i, 2));
  PQclear(res);
  return ML_OK;
}

/* ------------------------------------------------------------------ */
/* Users and refresh tokens */

/* A single-statement write that can break a constraint: under a savepoint
 * inside a transaction, so a conflict leaves the transaction usable. */
static ml_err guarded_write(struct pg_backend_conn *c, enum stmt_id id, struct pg_params *p,
                            PGresult **out, const char *what, struct ml_errbuf *eb) {
  enum tx_mode mode;
  ml_err rc = tx_enter(c, 0, &mode, eb);
  if(rc)
    return rc;
  rc = run(c, id, p, out, what, eb);
  rc = tx_leave(c, mode, rc, eb);
  if(rc && out) {
    PQclear(*out);
    *out = NULL;
  }
  return rc;
}

static ml_err pg_user_insert(struct ml_conn *conn, struct ml_user *u, struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;

  p_str(&p, u->username);
  p_str(&p, u->password_hash);
  p_str(&p, u->role);
  p_int(&p, u->disabled ? 1 : 0);
  p_int(&p, u->token_version);
  p_int(&p, u->created_at);
  p_int(&p, u->last_login_at);
  rc = guarded_write(c, ST_USER_INSERT, &p, &res, "insert user", eb);
  if(!rc)
    u->id = get_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static ml_err user_get(struct pg_backend_conn *c, int64_t id, const char *name, struct ml_arena *a,
                       struct ml_user *out, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;

  if(name)
    p_str(&p, name);
  else
    p_int(&p, id);
  rc = run(c, name ? ST_USER_GET_NAME : ST_USER_GET, &p, &res, "get user", eb);
  if(rc)
    return rc;
  if(PQntuples(res) == 0)
    rc = name ? ml_fail(eb, ML_ERR_NOT_FOUND, "no such user")
              : ml_fail(eb, ML_ERR_NOT_FOUND, "user %" PRId64 " does not exist", id);
  else if(read_user(res, 0, 0, a, out))
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory reading a user");
  PQclear(res);
  return rc;
}

static ml_err pg_user_get(struct ml_conn *conn, int64_t id, struct ml_arena *a, struct ml_user *out,
                          struct ml_errbuf *eb) {
  return user_get(pgc(conn), id, NULL, a, out, eb);
}

static ml_err pg_user_get_by_name(struct ml_conn *conn, const char *username, struct ml_arena *a,
                                  struct ml_user *out, struct ml_errbuf *eb) {
  return user_get(pgc(conn), 0, username ? username : "", a, out, eb);
}

static ml_err pg_user_list(struct ml_conn *conn, int64_t offset, int64_t limit, struct ml_arena *a,
                           struct ml_user **items, size_t *n, int64_t *count,
                           struct ml_errbuf *eb) {
  struct pg_backend_conn *c = pgc(conn);
  struct pg_params p = {.n = 0};
  struct ml_user *rows = NULL;
  PGresult *res = NULL;
  size_t got = 0;
  int i, nt;
  ml_err rc;

  *items = NULL;
  *n = 0;
  *count = 0;
  if(limit < 1 || limit > 1000 || offset < 0)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "user list: limit or offset out of range");
  rows = ml_arena_alloc(a, (size_t)limit * sizeof(*rows));
  if(!rows)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  p_int(&p, limit);
  p_int(&p, offset);
  rc = run(c, ST_USER_LIST, &p, &res, "list users", eb);
  if(rc)
    return rc;
  nt = PQntuples(res);
  for(i = 0; !rc && i < nt && got < (size_t)limit; i++) {
    if(PQgetisnull(res, i, 1))
      continue;
    if(read_user(res, i, 1, a, &rows[got]))
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    else
      got++;
  }
  if(!rc && nt > 0) {
    *count = get_i64(res, 0, 0);
    *items = rows;
    *n = got;
  }
  PQclear(res);
  return rc;
}

static ml_err pg_user_count(struct ml_conn *conn, int admins_only, int64_t *n,
                            struct ml_errbuf *eb) {
  PGresult *res = NULL;
  ml_err rc = run(pgc(conn), admins_only ? ST_USER_COUNT_ADMINS : ST_USER_COUNT, NULL, &res,
                  "count users", eb);
  *n = rc ? 0 : get_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static ml_err pg_user_update(struct ml_conn *conn, const struct ml_user *u, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, u->id);
  p_str(&p, u->password_hash);
  p_str(&p, u->role);
  p_int(&p, u->disabled ? 1 : 0);
  p_int(&p, u->token_version);
  return change_rows(pgc(conn), ST_USER_UPDATE, &p, NULL, "update user", "no such user", eb);
}

static ml_err pg_user_touch_login(struct ml_conn *conn, int64_t id, int64_t now,
                                  struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, id);
  p_int(&p, now);
  return change_rows(pgc(conn), ST_USER_TOUCH, &p, NULL, "record login", "no such user", eb);
}

/* The refresh tokens go by ON DELETE CASCADE. */
static ml_err pg_user_delete(struct ml_conn *conn, int64_t id, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, id);
  return change_rows(pgc(conn), ST_USER_DELETE, &p, NULL, "delete user", "no such user", eb);
}

static ml_err pg_refresh_add(struct ml_conn *conn, const struct ml_refresh *t,
                             struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_str(&p, t->jti);
  p_int(&p, t->user_id);
  p_int(&p, t->expires_at);
  p_int(&p, t->revoked ? 1 : 0);
  p_int(&p, t->created_at);
  return guarded_write(pgc(conn), ST_REFRESH_ADD, &p, NULL, "add refresh token", eb);
}

static ml_err pg_refresh_get(struct ml_conn *conn, const char *jti, struct ml_arena *a,
                             struct ml_refresh *out, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  PGresult *res = NULL;
  ml_err rc;

  memset(out, 0, sizeof(*out));
  p_str(&p, jti);
  rc = run(pgc(conn), ST_REFRESH_GET, &p, &res, "get refresh token", eb);
  if(rc)
    return rc;
  if(PQntuples(res) == 0) {
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "no such refresh token");
  } else {
    if(get_str(res, 0, 0, a, &out->jti))
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory reading a refresh token");
    out->user_id = get_i64(res, 0, 1);
    out->expires_at = get_i64(res, 0, 2);
    out->revoked = get_i64(res, 0, 3) != 0;
    out->created_at = get_i64(res, 0, 4);
  }
  PQclear(res);
  return rc;
}

static ml_err pg_refresh_revoke(struct ml_conn *conn, const char *jti, struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_str(&p, jti);
  return change_rows(pgc(conn), ST_REFRESH_REVOKE, &p, NULL, "revoke refresh token",
                     "no such refresh token", eb);
}

static ml_err pg_refresh_revoke_user(struct ml_conn *conn, int64_t user_id, int64_t *n,
                                     struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, user_id);
  return change_rows(pgc(conn), ST_REFRESH_REVOKE_USER, &p, n, "revoke refresh tokens", NULL, eb);
}

static ml_err pg_refresh_prune(struct ml_conn *conn, int64_t before, int64_t *n,
                               struct ml_errbuf *eb) {
  struct pg_params p = {.n = 0};
  p_int(&p, before);
  return change_rows(pgc(conn), ST_REFRESH_PRUNE, &p, n, "prune refresh tokens", NULL, eb);
}

#ifdef ML_TEST_HOOKS
struct pg_conn *ml_repo_pg_handle(struct ml_conn *c) {
  return pgc(c)->db;
}
#endif

const struct ml_repo_ops ml_repo_pg_ops = {
    .name = "postgres",
    .scheme = "postgres://",
    .alias = "postgresql://",
    .open = pg_open,
    .close = pg_close,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .conn_reset = pg_conn_reset,
    .conn_check = pg_conn_check,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .ping = pg_ping,
    .media_get = pg_media_get,
    .media_list = pg_media_list,
    .media_insert = pg_media_insert,
    .media_update = pg_media_update,
    .media_delete = pg_media_delete,
    .media_each = pg_media_each,
    .key_in_use = pg_key_in_use,
    .variant_get = pg_variant_get,
    .variant_put = pg_variant_put,
    .variant_list = pg_variant_list,
    .variant_delete_below = pg_variant_delete_below,
    .variant_each = pg_variant_each,
    .variant_delete = pg_variant_delete,
    .job_add = pg_job_add,
    .job_get = pg_job_get,
    .job_delete = pg_job_delete,
    .job_claim = pg_job_claim,
    .job_fail = pg_job_fail,
    .job_exists_for_key = pg_job_exists_for_key,
    .job_exists_for_media = pg_job_exists_for_media,
    .job_stats = pg_job_stats,
    .job_due_now_for_media = pg_job_due_now_for_media,
    .job_retry_now = pg_job_retry_now,
    .job_depth_by_kind = pg_job_depth_by_kind,
    .user_insert = pg_user_insert,
    .user_get = pg_user_get,
    .user_get_by_name = pg_user_get_by_name,
    .user_list = pg_user_list,
    .user_update = pg_user_update,
    .user_touch_login = pg_user_touch_login,
    .user_delete = pg_user_delete,
    .user_count = pg_user_count,
    .refresh_add = pg_refresh_add,
    .refresh_get = pg_refresh_get,
    .refresh_revoke = pg_refresh_revoke,
    .refresh_revoke_user = pg_refresh_revoke_user,
    .refresh_prune = pg_refresh_prune,
};
