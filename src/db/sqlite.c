/*
 * sqlite.c - the SQLite backend of the repository (the embedded default).
 *
 * Each pooled connection is its own sqlite3 handle in WAL mode, so readers
 * never wait for the one writer, and writers queue on BEGIN IMMEDIATE (with
 * a busy timeout) instead of failing half-way through a transaction. A
 * connection is used by one thread at a time (the pool hands it out), so the
 * handles are opened without SQLite's own mutexes.
 *
 * Every statement is a constant string in stmt_sql[], prepared once per
 * connection on first use and then only reset and rebound: user input is
 * bound, never spliced into SQL. The listing has one statement per ordering,
 * with each filter written as "(?N IS NULL OR ...)", so a request costs a
 * reset, a few binds and an index walk, never a prepare.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "db/repo_int.h"

/* How long a statement waits for another writer's lock before giving up
 * with "database is locked". */
#define SQ_BUSY_TIMEOUT_MS 5000

enum stmt_id {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_PING,
  ST_USER_VERSION,
  ST_MEDIA_GET,
  ST_MEDIA_LIST, /* ML_ORDER__COUNT statements, indexed by enum ml_order */
  ST_MEDIA_COUNT = ST_MEDIA_LIST + ML_ORDER__COUNT,
  ST_MEDIA_COUNT_ALL,
  ST_MEDIA_INSERT,
  ST_MEDIA_UPDATE,
  ST_MEDIA_EXISTS,
  ST_MEDIA_DELETE,
  ST_MEDIA_EACH,
  ST_TAGS_DELETE,
  ST_TAG_INSERT,
  ST_KEY_IN_USE,
  ST_VARIANT_GET,
  ST_VARIANT_PUT,
  ST_MEDIA_VERSION,
  ST_VARIANT_LIST,
  ST_VARIANT_DELETE_BELOW,
  ST_VARIANT_EACH,
  ST_VARIANT_DELETE,
  ST_JOB_ADD,
  ST_JOB_GET,
  ST_JOB_DELETE,
  ST_JOB_DUE,
  ST_JOB_LEASE,
  ST_JOB_FAIL,
  ST_JOB_EXISTS_KEY,
  ST_JOB_STATS,
  ST_JOB_RETRY_NOW,
  ST_JOB_DEPTH_KIND,
  ST_JOB_EXISTS_MEDIA,
  ST_JOB_DUE_NOW_MEDIA,
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

/* The list filters, shared by the eight orderings and the count. A NULL
 * parameter switches its test off, so one statement serves every mix of
 * filters; the planner walks the ordering's index over active rows and
 * checks the filters row by row. ?1 folder, ?2 mime, ?3 mime prefix, ?4 tag,
 * ?5 LIKE pattern (already escaped and wrapped in %). */
#define LIST_FILTER                                                               \
  " FROM media WHERE state = 1"                                                   \
  " AND (?1 IS NULL OR folder = ?1)"                                              \
  " AND (?2 IS NULL OR mime_type = ?2)"                                           \
  " AND (?3 IS NULL OR substr(mime_type, 1, length(?3)) = ?3)"                    \
  " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM media_tags t"                        \
  "      WHERE t.media_id = media.id AND t.tag = ?4))"                            \
  " AND (?5 IS NULL OR title LIKE ?5 ESCAPE '\\' OR alt_text LIKE ?5 ESCAPE '\\'" \
  "      OR caption LIKE ?5 ESCAPE '\\' OR filename LIKE ?5 ESCAPE '\\')"
#define LIST_SQL(order) \
  "SELECT " ML_REPO_MEDIA_COLS LIST_FILTER " ORDER BY " order " LIMIT ?6 OFFSET ?7"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT ml_repo_call",
    [ST_RELEASE] = "RELEASE ml_repo_call",
    [ST_ROLLBACK_TO] = "ROLLBACK TO ml_repo_call",
    [ST_PING] = "SELECT 1",
    [ST_USER_VERSION] = "PRAGMA user_version",
    [ST_MEDIA_GET] = "SELECT " ML_REPO_MEDIA_COLS " FROM media WHERE id = ?1 AND (state = 1 OR ?2)",
    [ST_MEDIA_LIST + ML_ORDER_CREATED_DESC] = LIST_SQL("created_at DESC, id DESC"),
    [ST_MEDIA_LIST + ML_ORDER_CREATED_ASC] = LIST_SQL("created_at ASC, id ASC"),
    [ST_MEDIA_LIST + ML_ORDER_TITLE_ASC] = LIST_SQL("title COLLATE NOCASE ASC, id ASC"),
    [ST_MEDIA_LIST + ML_ORDER_TITLE_DESC] = LIST_SQL("title COLLATE NOCASE DESC, id DESC"),
    [ST_MEDIA_LIST + ML_ORDER_SIZE_ASC] = LIST_SQL("size ASC, id ASC"),
    [ST_MEDIA_LIST + ML_ORDER_SIZE_DESC] = LIST_SQL("size DESC, id DESC"),
    [ST_MEDIA_LIST + ML_ORDER_UPDATED_ASC] = LIST_SQL("updated_at ASC, id ASC"),
    [ST_MEDIA_LIST + ML_ORDER_UPDATED_DESC] = LIST_SQL("updated_at DESC, id DESC"),
    [ST_MEDIA_COUNT] = "SELECT count(*)" LIST_FILTER,
    [ST_MEDIA_COUNT_ALL] = "SELECT active FROM media_count WHERE id = 1",
    [ST_MEDIA_INSERT] = "INSERT INTO media (state, title, alt_text, caption, folder, tags, "
                        "filename, mime_type, size, width, height, sha256, version, "
                        "storage_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                        "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_MEDIA_UPDATE] = "UPDATE media SET state = ?1, title = ?2, alt_text = ?3, caption = ?4, "
                        "folder = ?5, tags = ?6, filename = ?7, mime_type = ?8, size = ?9, "
                        "width = ?10, height = ?11, sha256 = ?12, version = ?13, "
                        "storage_key = ?14, created_at = ?15, updated_at = ?16 "
                        "WHERE id = ?17 AND version = ?18",
    [ST_MEDIA_EXISTS] = "SELECT 1 FROM media WHERE id = ?1",
    [ST_MEDIA_DELETE] = "DELETE FROM media WHERE id = ?1",
    [ST_MEDIA_EACH] = "SELECT " ML_REPO_MEDIA_COLS " FROM media ORDER BY id",
    [ST_TAGS_DELETE] = "DELETE FROM media_tags WHERE media_id = ?1",
    [ST_TAG_INSERT] = "INSERT OR IGNORE INTO media_tags (media_id, tag) VALUES (?1, ?2)",
    [ST_KEY_IN_USE] = "SELECT EXISTS (SELECT 1 FROM media WHERE storage_key = ?1) "
                      "OR EXISTS (SELECT 1 FROM variants WHERE storage_key = ?1)",
    [ST_VARIANT_GET] = "SELECT " ML_REPO_VARIANT_COLS " FROM variants WHERE media_id = ?1 AND "
                       "version = ?2 AND name = ?3",
    /* An upsert, not INSERT OR REPLACE: REPLACE would also delete another
     * variant that holds the same storage key instead of refusing. */
    [ST_VARIANT_PUT] =
        "INSERT INTO variants (" ML_REPO_VARIANT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10) ON CONFLICT (media_id, version, name) DO UPDATE SET "
        "storage_key = excluded.storage_key, mime_type = excluded.mime_type, "
        "size = excluded.size, width = excluded.width, height = excluded.height, "
        "sha256 = excluded.sha256, created_at = excluded.created_at",
    [ST_MEDIA_VERSION] = "SELECT version FROM media WHERE id = ?1",
    [ST_VARIANT_LIST] = "SELECT " ML_REPO_VARIANT_COLS " FROM variants WHERE media_id = ?1 "
                        "ORDER BY version, name",
    [ST_VARIANT_DELETE_BELOW] = "DELETE FROM variants WHERE media_id = ?1 AND version < ?2",
    [ST_VARIANT_EACH] =
        "SELECT " ML_REPO_VARIANT_COLS " FROM variants ORDER BY media_id, version, name",
    [ST_VARIANT_DELETE] = "DELETE FROM variants WHERE media_id = ?1 AND version = ?2 AND "
                          "name = ?3",
    [ST_JOB_ADD] = "INSERT INTO outbox (kind, key, media_id, attempts, next_at, lease_until, "
                   "last_error, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_JOB_GET] = "SELECT " ML_REPO_JOB_COLS " FROM outbox WHERE id = ?1",
    [ST_JOB_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    /* Jobs of one kind and key run one at a time, oldest first: a job waits
     * while an older one of the same kind and key exists (leased, backed
     * off or due). outbox_key (key, kind, rowid) answers it with one seek. */
    [ST_JOB_DUE] = "SELECT " ML_REPO_JOB_COLS " FROM outbox o WHERE next_at <= ?1 AND "
                   "lease_until <= ?1 AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.key = o.key "
                   "AND p.kind = o.kind AND p.id < o.id) ORDER BY next_at, id LIMIT ?2",
    [ST_JOB_LEASE] = "UPDATE outbox SET lease_until = ?2 WHERE id = ?1",
    [ST_JOB_FAIL] = "UPDATE outbox SET attempts = attempts + 1, next_at = ?2, last_error = ?3, "
                    "lease_until = 0 WHERE id = ?1",
    [ST_JOB_EXISTS_KEY] = "SELECT EXISTS (SELECT 1 FROM outbox WHERE key = ?1)",
    [ST_JOB_EXISTS_MEDIA] = "SELECT EXISTS (SELECT 1 FROM outbox WHERE media_id = ?1 AND "
                            "kind = ?2)",
    [ST_JOB_DUE_NOW_MEDIA] = "UPDATE outbox SET next_at = ?3 WHERE media_id = ?1 AND kind = ?2 "
                             "AND next_at > ?3",
    [ST_JOB_STATS] = "SELECT count(*), ifnull(min(created_at), 0) FROM outbox",
    [ST_JOB_RETRY_NOW] = "UPDATE outbox SET next_at = ?1 WHERE id IN (SELECT id FROM outbox "
                         "WHERE attempts > 0 AND next_at > ?1 AND lease_until <= ?1 "
                         "ORDER BY next_at LIMIT ?2)",
    [ST_JOB_DEPTH_KIND] = "SELECT kind, count(*), sum(attempts > 0) FROM outbox GROUP BY kind "
                          "ORDER BY kind",
    [ST_USER_INSERT] = "INSERT INTO users (username, password_hash, role, disabled, "
                       "token_version, created_at, last_login_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                       "?6, ?7)",
    [ST_USER_GET] = "SELECT " ML_REPO_USER_COLS " FROM users WHERE id = ?1",
    /* username has COLLATE NOCASE: the comparison and the index use it. */
    [ST_USER_GET_NAME] = "SELECT " ML_REPO_USER_COLS " FROM users WHERE username = ?1",
    [ST_USER_LIST] = "SELECT " ML_REPO_USER_COLS " FROM users ORDER BY id LIMIT ?1 OFFSET ?2",
    [ST_USER_COUNT] = "SELECT count(*) FROM users",
    [ST_USER_COUNT_ADMINS] = "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
    [ST_USER_UPDATE] = "UPDATE users SET password_hash = ?2, role = ?3, disabled = ?4, "
                       "token_version = ?5 WHERE id = ?1",
    [ST_USER_TOUCH] = "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
    [ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [ST_REFRESH_ADD] =
        "INSERT INTO refresh_tokens (" ML_REPO_REFRESH_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_REFRESH_GET] = "SELECT " ML_REPO_REFRESH_COLS " FROM refresh_tokens WHERE jti = ?1",
    [ST_REFRESH_REVOKE] = "UPDATE refresh_tokens SET revoked = 1 WHERE jti = ?1",
    [ST_REFRESH_REVOKE_USER] = "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?1 "
                               "AND revoked = 0",
    [ST_REFRESH_PRUNE] = "DELETE FROM refresh_tokens WHERE expires_at < ?1",
};

struct sq_repo {
  struct ml_repo base;
  char *path; /* the database file, as sqlite3_open_v2 takes it */
};

struct sq_conn {
  struct ml_conn base;
  sqlite3 *db;
  sqlite3_stmt *stmt[ST__COUNT]; /* prepared on first use */
};

static struct sq_conn *sq(struct ml_conn *c) { return (struct sq_conn *)c; }

/* Maps an SQLite result code to an ml_err, with what was being done. */
static ml_err sq_error(struct sq_conn *c, int src, const char *what, struct ml_errbuf *eb) {
  switch(src & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return ml_fail(eb, ML_ERR_DB, "%s: database is locked", what);
  case SQLITE_FULL:
    return ml_fail(eb, ML_ERR_INSUFFICIENT_STORAGE, "%s: database or disk is full", what);
  case SQLITE_NOMEM: return ml_fail(eb, ML_ERR_NOMEM, "%s: out of memory in SQLite", what);
  default:
    /* The handle's message is more precise, when it is about this error. */
    if(c && c->db && sqlite3_errcode(c->db) == src)
      return ml_fail(eb, ML_ERR_DB, "%s: %s", what, sqlite3_errmsg(c->db));
    return ml_fail(eb, ML_ERR_DB, "%s: %s", what, sqlite3_errstr(src));
  }
}

static ml_err stmt_get(struct sq_conn *c, enum stmt_id id, sqlite3_stmt **out,
                       struct ml_errbuf *eb) {
  *out = NULL;
  if(!c->stmt[id]) {
    int src =
        sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL);
    if(src != SQLITE_OK) {
      ml_err rc = sq_error(c, src, "prepare", eb);
      sqlite3_finalize(c->stmt[id]);
      c->stmt[id] = NULL;
      return rc;
    }
  }
  *out = c->stmt[id];
  return ML_OK;
}

/* Ends a use of a cached statement: the reset also ends the implicit read
 * transaction that an unfinished SELECT keeps open. */
static void stmt_done(sqlite3_stmt *st) {
  if(st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
}

/* Runs a cached statement that returns no rows. */
static ml_err stmt_exec(struct sq_conn *c, enum stmt_id id, const char *what,
                        struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc = stmt_get(c, id, &st, eb);
  int src;
  if(rc)
    return rc;
  src = sqlite3_step(st);
  if(src != SQLITE_DONE && src != SQLITE_ROW)
    rc = sq_error(c, src, what, eb);
  stmt_done(st);
  return rc;
}

static ml_err write_error(struct sq_conn *c, int src, const char *what, struct ml_errbuf *eb);

static int bind_str(sqlite3_stmt *st, int i, const char *s) {
  return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

/* NULL stays SQL NULL (the binding is cleared after every use). */
static int bind_opt(sqlite3_stmt *st, int i, const char *s) {
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : SQLITE_OK;
}

/* Copies a text column into the arena; with no arena, points into SQLite's
 * row buffer (valid until the next step). NULL and empty become "". */
static ml_err col_str(sqlite3_stmt *st, int i, struct ml_arena *a, const char **out) {
  const unsigned char *t = sqlite3_column_text(st, i);
  int len = sqlite3_column_bytes(st, i);
  char *d;
  if(!t || len <= 0) {
    *out = "";
    return ML_OK;
  }
  if(!a) {
    *out = (const char *)t;
    return ML_OK;
  }
  d = ml_arena_strndup(a, (const char *)t, (size_t)len);
  if(!d)
    return ML_ERR_NOMEM;
  *out = d;
  return ML_OK;
}

/* Reads a row of ML_REPO_MEDIA_COLS. */
static ml_err read_media(sqlite3_stmt *st, struct ml_arena *a, struct ml_media *m) {
  const unsigned char *sha;
  int sha_len;
  ml_err rc = ML_OK;

  memset(m, 0, sizeof(*m));
  m->id = sqlite3_column_int64(st, 0);
  m->state = sqlite3_column_int(st, 1);
  if(!rc)
    rc = col_str(st, 2, a, &m->title);
  if(!rc)
    rc = col_str(st, 3, a, &m->alt_text);
  if(!rc)
    rc = col_str(st, 4, a, &m->caption);
  if(!rc)
    rc = col_str(st, 5, a, &m->folder);
  if(!rc)
    rc = col_str(st, 6, a, &m->tags);
  if(!rc)
    rc = col_str(st, 7, a, &m->filename);
  if(!rc)
    rc = col_str(st, 8, a, &m->mime_type);
  m->size = sqlite3_column_int64(st, 9);
  m->width = sqlite3_column_int64(st, 10);
  m->height = sqlite3_column_int64(st, 11);
  sha = sqlite3_column_text(st, 12);
  sha_len = sqlite3_column_bytes(st, 12);
  if(sha && sha_len > 0) {
    size_t n = (size_t)sha_len < sizeof(m->sha256) - 1 ? (size_t)sha_len : sizeof(m->sha256) - 1;
    memcpy(m->sha256, sha, n);
    m->sha256[n] = '\0';
  }
  m->version = sqlite3_column_int64(st, 13);
  if(!rc)
    rc = col_str(st, 14, a, &m->storage_key);
  m->created_at = sqlite3_column_int64(st, 15);
  m->updated_at = sqlite3_column_int64(st, 16);
  return rc;
}

/* Reads a row of ML_REPO_JOB_COLS. */
static ml_err read_job(sqlite3_stmt *st, struct ml_arena *a, struct ml_job *j) {
  ml_err rc = ML_OK;
  memset(j, 0, sizeof(*j));
  j->id = sqlite3_column_int64(st, 0);
  if(!rc)
    rc = col_str(st, 1, a, &j->kind);
  if(!rc)
    rc = col_str(st, 2, a, &j->key);
  j->media_id = sqlite3_column_int64(st, 3);
  j->attempts = sqlite3_column_int64(st, 4);
  j->next_at = sqlite3_column_int64(st, 5);
  j->lease_until = sqlite3_column_int64(st, 6);
  if(!rc)
    rc = col_str(st, 7, a, &j->last_error);
  j->created_at = sqlite3_column_int64(st, 8);
  if(!rc)
    rc = col_str(st, 9, a, &j->payload);
  return rc;
}

/* Binds the 16 written columns of media, in ST_MEDIA_INSERT's order. */
static int bind_media(sqlite3_stmt *st, const struct ml_media *m) {
  int src = sqlite3_bind_int(st, 1, m->state);
  if(!src)
    src = bind_str(st, 2, m->title);
  if(!src)
    src = bind_str(st, 3, m->alt_text);
  if(!src)
    src = bind_str(st, 4, m->caption);
  if(!src)
    src = bind_str(st, 5, m->folder);
  if(!src)
    src = bind_str(st, 6, m->tags);
  if(!src)
    src = bind_str(st, 7, m->filename);
  if(!src)
    src = bind_str(st, 8, m->mime_type);
  if(!src)
    src = sqlite3_bind_int64(st, 9, m->size);
  if(!src)
    src = sqlite3_bind_int64(st, 10, m->width);
  if(!src)
    src = sqlite3_bind_int64(st, 11, m->height);
  if(!src)
    src = sqlite3_bind_text(st, 12, m->sha256, (int)strnlen(m->sha256, sizeof(m->sha256)),
                            SQLITE_STATIC);
  if(!src)
    src = sqlite3_bind_int64(st, 13, m->version);
  if(!src)
    src = bind_str(st, 14, m->storage_key);
  if(!src)
    src = sqlite3_bind_int64(st, 15, m->created_at);
  if(!src)
    src = sqlite3_bind_int64(st, 16, m->updated_at);
  return src;
}

/*
 * Writes that touch several rows must be atomic. Inside the caller's
 * transaction they run under a savepoint, so a failure undoes only this call
 * and leaves the caller's transaction usable; with no transaction open they
 * take their own BEGIN IMMEDIATE.
 */
enum tx_mode { TX_NONE, TX_OWN, TX_SAVEPOINT };

static ml_err tx_enter(struct sq_conn *c, enum tx_mode *mode, struct ml_errbuf *eb) {
  ml_err rc;
  *mode = TX_NONE;
  if(sqlite3_get_autocommit(c->db)) {
    rc = stmt_exec(c, ST_BEGIN, "begin", eb);
    if(!rc)
      *mode = TX_OWN;
  } else {
    rc = stmt_exec(c, ST_SAVEPOINT, "savepoint", eb);
    if(!rc)
      *mode = TX_SAVEPOINT;
  }
  return rc;
}

/* Ends what tx_enter began: commits when rc is ML_OK, undoes otherwise.
 * Returns rc, or the commit's error. */
static ml_err tx_leave(struct sq_conn *c, enum tx_mode mode, ml_err rc, struct ml_errbuf *eb) {
  if(mode == TX_OWN) {
    if(!rc)
      rc = stmt_exec(c, ST_COMMIT, "commit", eb);
    /* SQLite may already have rolled back on its own (SQLITE_FULL, IOERR). */
    if(rc && !sqlite3_get_autocommit(c->db))
      stmt_exec(c, ST_ROLLBACK, "rollback", NULL);
  } else if(mode == TX_SAVEPOINT) {
    if(rc && !sqlite3_get_autocommit(c->db))
      stmt_exec(c, ST_ROLLBACK_TO, "rollback to savepoint", NULL);
    if(!sqlite3_get_autocommit(c->db)) {
      ml_err rrc = stmt_exec(c, ST_RELEASE, "release savepoint", eb);
      if(!rc)
        rc = rrc;
    }
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Opening, connections, migrations */

/* mkdir -p of the directory part of path. */
static ml_err make_parent_dirs(const char *path, struct ml_errbuf *eb) {
  char *dir = ml_strdup(path);
  char *p;
  ml_err rc = ML_OK;
  if(!dir)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  for(p = dir + 1; *p; p++) {
    if(*p != '/')
      continue;
    *p = '\0';
    if(mkdir(dir, 0755) != 0 && errno != EEXIST) {
      char msg[128];
      rc = ml_fail(eb, ML_ERR_IO, "cannot create directory %s: %s", dir,
                   strerror_r(errno, msg, sizeof(msg)));
      goto out;
    }
    *p = '/';
  }

out:
  ml_free(dir);
  return rc;
}

static ml_err sq_open(const char *target, struct ml_repo **out, struct ml_errbuf *eb) {
  struct sq_repo *r = NULL;
  ml_err rc = ML_OK;

  *out = NULL;
  /* Everything after "sqlite://" is the path: "/abs/x.db" is absolute,
   * "./x.db" and "x.db" are relative to the working directory. */
  if(!*target) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "sqlite URL has no path (want sqlite://PATH)");
    goto out;
  }
  /* A pool of private in-memory databases would silently be N different
   * databases, and URI filenames would bypass the checks above. */
  if(!strcmp(target, ":memory:") || !strncmp(target, "file:", 5)) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "sqlite URL must name a file path");
    goto out;
  }
  r = ml_calloc(1, sizeof(*r));
  if(!r) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    goto out;
  }
  r->base.ops = &ml_repo_sqlite_ops;
  r->path = ml_strdup(target);
  if(!r->path) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    goto out;
  }
  rc = make_parent_dirs(r->path, eb);
  if(rc)
    goto out;
  *out = &r->base;
  r = NULL;

out:
  if(r) {
    ml_free(r->path);
    ml_free(r);
  }
  return rc;
}

static void sq_close(struct ml_repo *repo) {
  struct sq_repo *r = (struct sq_repo *)repo;
  ml_free(r->path);
  ml_free(r);
}

static void sq_conn_close(struct ml_conn *conn) {
  struct sq_conn *c = sq(conn);
  int i;
  if(!c)
    return;
  for(i = 0; i < ST__COUNT; i++)
    sqlite3_finalize(c->stmt[i]);
  sqlite3_close_v2(c->db);
  ml_free(c);
}

/*
 * Switches the file to WAL (a no-op when it already is). Taking the lock for
 * that change does not go through the busy handler, so when several
 * processes open a new file at once some get SQLITE_BUSY at once: retry,
 * for as long as the busy timeout would have waited.
 */
static ml_err set_wal(struct sq_conn *c, const char *path, struct ml_errbuf *eb) {
  uint64_t give_up = ml_mono_ns() + (uint64_t)SQ_BUSY_TIMEOUT_MS * 1000000u;
  sqlite3_stmt *st = NULL;
  const unsigned char *mode;
  ml_err rc = ML_OK;
  int src;

  src = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if(src != SQLITE_OK) {
    rc = sq_error(c, src, "set WAL mode", eb);
    goto out;
  }
  for(;;) {
    struct timespec pause = {0, 2000000L};
    src = sqlite3_step(st);
    if(src == SQLITE_ROW)
      break;
    if(((src & 0xff) != SQLITE_BUSY && (src & 0xff) != SQLITE_LOCKED) || ml_mono_ns() >= give_up) {
      rc = sq_error(c, src, "set WAL mode", eb);
      goto out;
    }
    sqlite3_reset(st);
    nanosleep(&pause, NULL);
  }
  /* journal_mode answers the mode it got: a file system without shared
   * memory support silently stays in rollback mode, where readers block. */
  mode = sqlite3_column_text(st, 0);
  if(!mode || strcasecmp((const char *)mode, "wal"))
    rc = ml_fail(eb, ML_ERR_DB, "cannot use WAL mode on %s (got %s)", path,
                 mode ? (const char *)mode : "nothing");

out:
  sqlite3_finalize(st);
  return rc;
}

static ml_err sq_conn_open(struct ml_repo *repo, struct ml_conn **out, struct ml_errbuf *eb) {
  struct sq_repo *r = (struct sq_repo *)repo;
  struct sq_conn *c;
  ml_err rc = ML_OK;
  int src;

  *out = NULL;
  c = ml_calloc(1, sizeof(*c));
  if(!c)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  src = sqlite3_open_v2(r->path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if(src != SQLITE_OK) {
    rc = c->db ? ml_fail(eb, ML_ERR_DB, "cannot open %s: %s", r->path, sqlite3_errmsg(c->db))
               : ml_fail(eb, ML_ERR_NOMEM, "cannot open %s: out of memory", r->path);
    goto out;
  }
  /* First, so that the pragmas below also wait for another process. */
  sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);

  rc = set_wal(c, r->path, eb);
  if(rc)
    goto out;

  /* FULL: a commit the API has acknowledged survives a power cut. */
  src =
      sqlite3_exec(c->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL, NULL);
  if(src != SQLITE_OK) {
    rc = sq_error(c, src, "connection setup", eb);
    goto out;
  }
  *out = &c->base;
  c = NULL;

out:
  sq_conn_close(c ? &c->base : NULL);
  return rc;
}

static void sq_rollback(struct ml_conn *conn) {
  struct sq_conn *c = sq(conn);
  if(!sqlite3_get_autocommit(c->db))
    stmt_exec(c, ST_ROLLBACK, "rollback", NULL);
}

static void sq_conn_reset(struct ml_conn *conn) { sq_rollback(conn); }

static ml_err read_user_version(struct sq_conn *c, int *version, struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc = stmt_get(c, ST_USER_VERSION, &st, eb);
  int src;
  if(rc)
    return rc;
  src = sqlite3_step(st);
  if(src == SQLITE_ROW)
    *version = sqlite3_column_int(st, 0);
  else
    rc = sq_error(c, src, "read schema version", eb);
  stmt_done(st);
  return rc;
}

static ml_err sq_schema_version(struct ml_conn *conn, int *version, struct ml_errbuf *eb) {
  *version = 0;
  return read_user_version(sq(conn), version, eb);
}

static ml_err sq_migrate(struct ml_conn *conn, int *applied, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  int version = 0, done = 0, in_tx = 0, src;
  char bump[64];
  ml_err rc;

  rc = read_user_version(c, &version, eb);
  while(!rc && version < ml_repo_sqlite_migrations_count) {
    rc = stmt_exec(c, ST_BEGIN, "begin migration", eb);
    if(rc)
      break;
    in_tx = 1;
    /* Again under the write lock: another process may have migrated
     * between our first look and now. */
    rc = read_user_version(c, &version, eb);
    if(rc || version >= ml_repo_sqlite_migrations_count)
      break;
    /* Constant SQL from migrations_sqlite.c, several statements each. */
    src = sqlite3_exec(c->db, ml_repo_sqlite_migrations[version].sql, NULL, NULL, NULL);
    if(src == SQLITE_OK) {
      snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
      src = sqlite3_exec(c->db, bump, NULL, NULL, NULL);
    }
    if(src != SQLITE_OK) {
      char what[160];
      snprintf(what, sizeof(what), "migration %d (%s)", version + 1,
               ml_repo_sqlite_migrations[version].what);
      rc = sq_error(c, src, what, eb);
      break;
    }
    rc = stmt_exec(c, ST_COMMIT, "commit migration", eb);
    if(rc)
      break;
    in_tx = 0;
    version++;
    done++;
  }
  if(in_tx) {
    if(rc)
      sq_rollback(conn);
    else
      rc = stmt_exec(c, ST_COMMIT, "commit", eb);
  }
  if(!rc && version > ml_repo_sqlite_migrations_count)
    rc = ml_fail(eb, ML_ERR_CONFIG, "database schema version %d is newer than this build (%d)",
                 version, ml_repo_sqlite_migrations_count);
  if(applied)
    *applied = done;
  return rc;
}

/* ------------------------------------------------------------------ */
/* Transactions */

static ml_err sq_begin(struct ml_conn *conn, struct ml_errbuf *eb) {
  return stmt_exec(sq(conn), ST_BEGIN, "begin", eb);
}

static ml_err sq_commit(struct ml_conn *conn, struct ml_errbuf *eb) {
  return stmt_exec(sq(conn), ST_COMMIT, "commit", eb);
}

static ml_err sq_ping(struct ml_conn *conn, struct ml_errbuf *eb) {
  return stmt_exec(sq(conn), ST_PING, "ping", eb);
}

/* ------------------------------------------------------------------ */
/* Media */

static ml_err sq_media_get(struct ml_conn *conn, int64_t id, int include_pending,
                           struct ml_arena *a, struct ml_media *out, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_MEDIA_GET, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, id);
  if(!src)
    src = sqlite3_bind_int(st, 2, include_pending ? 1 : 0);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW) {
    rc = read_media(st, a, out);
    if(rc)
      rc = ml_fail(eb, rc, "out of memory reading media %" PRId64, id);
  } else if(src == SQLITE_DONE)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " does not exist", id);
  else
    rc = sq_error(c, src, "get media", eb);

out:
  stmt_done(st);
  return rc;
}

static int bind_filter(sqlite3_stmt *st, const struct ml_media_filter *f, const char *pattern) {
  int src = bind_opt(st, 1, f->folder);
  if(!src)
    src = bind_opt(st, 2, f->mime);
  if(!src)
    src = bind_opt(st, 3, f->mime_prefix);
  if(!src)
    src = bind_opt(st, 4, f->tag);
  if(!src)
    src = bind_opt(st, 5, pattern);
  return src;
}

static ml_err sq_media_list(struct ml_conn *conn, const struct ml_media_filter *f,
                            struct ml_arena *a, struct ml_media **items, size_t *n, int64_t *count,
                            struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *cst = NULL, *st = NULL;
  struct ml_media *rows = NULL;
  const char *pattern = NULL;
  size_t got = 0;
  int filtered, src;
  ml_err rc = ML_OK;

  *items = NULL;
  *n = 0;
  *count = 0;
  if((unsigned)f->order >= ML_ORDER__COUNT || f->limit < 1 || f->limit > 100 || f->offset < 0) {
    rc = ml_fail(eb, ML_ERR_BAD_REQUEST, "list: bad ordering, limit or offset");
    goto out;
  }
  if(f->q) {
    pattern = ml_repo_like_pattern(a, f->q);
    if(!pattern) {
      rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
      goto out;
    }
  }
  rows = ml_arena_alloc(a, sizeof(*rows) * (size_t)f->limit);
  if(!rows) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    goto out;
  }

  /* The count runs first and is left on its row, unreset. SQLite ends an
   * implicit read transaction only when the last active statement is reset,
   * so the page below reads the same WAL snapshot: count and page agree
   * even while writers commit, without a BEGIN/COMMIT round trip. The
   * unfiltered count is one row kept by triggers (migration 1), since a
   * count(*) over the active rows would cost more than the page itself. */
  filtered = f->q || f->mime || f->mime_prefix || f->folder || f->tag;
  rc = stmt_get(c, filtered ? ST_MEDIA_COUNT : ST_MEDIA_COUNT_ALL, &cst, eb);
  if(rc)
    goto out;
  src = filtered ? bind_filter(cst, f, pattern) : SQLITE_OK;
  if(!src)
    src = sqlite3_step(cst);
  if(src != SQLITE_ROW) {
    rc = sq_error(c, src == SQLITE_DONE ? SQLITE_CORRUPT : src, "count media", eb);
    goto out;
  }
  *count = sqlite3_column_int64(cst, 0);

  rc = stmt_get(c, ST_MEDIA_LIST + f->order, &st, eb);
  if(rc)
    goto out;
  src = bind_filter(st, f, pattern);
  if(!src)
    src = sqlite3_bind_int64(st, 6, f->limit);
  if(!src)
    src = sqlite3_bind_int64(st, 7, f->offset);
  while(!src && got < (size_t)f->limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
    rc = read_media(st, a, &rows[got]);
    if(rc) {
      rc = ml_fail(eb, rc, "out of memory");
      goto out;
    }
    got++;
    src = SQLITE_OK;
  }
  if(src != SQLITE_OK && src != SQLITE_DONE) {
    rc = sq_error(c, src, "list media", eb);
    goto out;
  }
  *items = rows;
  *n = got;

out:
  stmt_done(st);
  stmt_done(cst);
  if(rc)
    *count = 0;
  return rc;
}

/* Rewrites the media_tags rows of id from the comma-joined tags. Empty
 * pieces are skipped and repeats stored once. */
static ml_err write_tags(struct sq_conn *c, int64_t id, const char *tags, int replace,
                         struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  const char *p = tags ? tags : "";
  ml_err rc = ML_OK;
  int src;

  if(replace) {
    rc = stmt_get(c, ST_TAGS_DELETE, &st, eb);
    if(rc)
      goto out;
    src = sqlite3_bind_int64(st, 1, id);
    if(!src)
      src = sqlite3_step(st);
    if(src != SQLITE_DONE) {
      rc = sq_error(c, src, "delete tags", eb);
      goto out;
    }
    stmt_done(st);
    st = NULL;
  }
  while(*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if(len > 0) {
      if(!st) {
        rc = stmt_get(c, ST_TAG_INSERT, &st, eb);
        if(rc)
          goto out;
      }
      src = sqlite3_bind_int64(st, 1, id);
      if(!src)
        src = sqlite3_bind_text(st, 2, p, (int)len, SQLITE_STATIC);
      if(!src)
        src = sqlite3_step(st);
      if(src != SQLITE_DONE) {
        rc = sq_error(c, src, "insert tag", eb);
        goto out;
      }
      sqlite3_reset(st);
    }
    p += len;
    if(*p == ',')
      p++;
  }

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_media_insert(struct ml_conn *conn, struct ml_media *m, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  enum tx_mode mode = TX_NONE;
  int64_t id = 0;
  ml_err rc;
  int src;

  rc = tx_enter(c, &mode, eb);
  if(rc)
    goto out;
  rc = stmt_get(c, ST_MEDIA_INSERT, &st, eb);
  if(rc)
    goto out;
  src = bind_media(st, m);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE) {
    rc = sq_error(c, src, "insert media", eb);
    goto out;
  }
  id = sqlite3_last_insert_rowid(c->db);
  stmt_done(st);
  st = NULL;
  rc = write_tags(c, id, m->tags, 0, eb);

out:
  stmt_done(st);
  rc = tx_leave(c, mode, rc, eb);
  if(!rc)
    m->id = id;
  return rc;
}

static ml_err sq_media_update(struct ml_conn *conn, const struct ml_media *m,
                              int64_t expect_version, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  enum tx_mode mode = TX_NONE;
  ml_err rc;
  int src;

  rc = tx_enter(c, &mode, eb);
  if(rc)
    goto out;
  rc = stmt_get(c, ST_MEDIA_UPDATE, &st, eb);
  if(rc)
    goto out;
  src = bind_media(st, m);
  if(!src)
    src = sqlite3_bind_int64(st, 17, m->id);
  if(!src)
    src = sqlite3_bind_int64(st, 18, expect_version);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE) {
    rc = sq_error(c, src, "update media", eb);
    goto out;
  }
  stmt_done(st);
  st = NULL;
  if(sqlite3_changes(c->db) == 0) {
    /* Nothing matched id and version: tell a lost race from a gone row. */
    rc = stmt_get(c, ST_MEDIA_EXISTS, &st, eb);
    if(rc)
      goto out;
    src = sqlite3_bind_int64(st, 1, m->id);
    if(!src)
      src = sqlite3_step(st);
    if(src == SQLITE_ROW)
      rc = ml_fail(eb, ML_ERR_CONFLICT, "media %" PRId64 " changed (version is not %" PRId64 ")",
                   m->id, expect_version);
    else if(src == SQLITE_DONE)
      rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " does not exist", m->id);
    else
      rc = sq_error(c, src, "update media", eb);
    goto out;
  }
  rc = write_tags(c, m->id, m->tags, 1, eb);

out:
  stmt_done(st);
  return tx_leave(c, mode, rc, eb);
}

/* One statement, so atomic alone; the tag rows go by ON DELETE CASCADE. */
static ml_err sq_media_delete(struct ml_conn *conn, int64_t id, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_MEDIA_DELETE, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, id);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, "delete media", eb);
  else if(sqlite3_changes(c->db) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " does not exist", id);

out:
  stmt_done(st);
  return rc;
}

/* The rows are not copied: each m points into SQLite's row buffer and lives
 * until the next row, so a walk over a million rows needs no memory. */
static ml_err sq_media_each(struct ml_conn *conn, struct ml_arena *a,
                            int (*cb)(void *ctx, const struct ml_media *m), void *ctx,
                            struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  struct ml_media m;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_MEDIA_EACH, &st, eb);
  if(rc)
    goto out;
  while((src = sqlite3_step(st)) == SQLITE_ROW) {
    read_media(st, NULL, &m); /* cannot fail without an arena */
    if(cb(ctx, &m))
      goto out;
  }
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, "walk media", eb);

out:
  stmt_done(st);
  return rc;
}

/* Runs a one-row, one-integer SELECT bound to a key. */
static ml_err query_key_int(struct sq_conn *c, enum stmt_id id, const char *key, int *out,
                            const char *what, struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  *out = 0;
  rc = stmt_get(c, id, &st, eb);
  if(rc)
    goto out;
  src = bind_str(st, 1, key);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW)
    *out = sqlite3_column_int(st, 0);
  else
    rc = sq_error(c, src == SQLITE_DONE ? SQLITE_CORRUPT : src, what, eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_key_in_use(struct ml_conn *conn, const char *key, int *in_use,
                            struct ml_errbuf *eb) {
  return query_key_int(sq(conn), ST_KEY_IN_USE, key, in_use, "look up storage key", eb);
}

/* ------------------------------------------------------------------ */
/* Variants */

/* Reads a row of ML_REPO_VARIANT_COLS (strings copied into a). */
static ml_err read_variant(sqlite3_stmt *st, struct ml_arena *a, struct ml_variant *v) {
  const unsigned char *sha;
  int sha_len;
  ml_err rc;
  memset(v, 0, sizeof(*v));
  v->media_id = sqlite3_column_int64(st, 0);
  v->version = sqlite3_column_int64(st, 1);
  rc = col_str(st, 2, a, &v->name);
  if(!rc)
    rc = col_str(st, 3, a, &v->storage_key);
  if(!rc)
    rc = col_str(st, 4, a, &v->mime_type);
  v->size = sqlite3_column_int64(st, 5);
  v->width = sqlite3_column_int64(st, 6);
  v->height = sqlite3_column_int64(st, 7);
  sha = sqlite3_column_text(st, 8);
  sha_len = sqlite3_column_bytes(st, 8);
  if(sha && sha_len > 0) {
    size_t n = (size_t)sha_len < sizeof(v->sha256) - 1 ? (size_t)sha_len : sizeof(v->sha256) - 1;
    memcpy(v->sha256, sha, n);
  }
  v->created_at = sqlite3_column_int64(st, 9);
  return rc;
}

static ml_err sq_variant_get(struct ml_conn *conn, int64_t media_id, int64_t version,
                             const char *name, struct ml_arena *a, struct ml_variant *out,
                             struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_VARIANT_GET, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, media_id);
  if(!src)
    src = sqlite3_bind_int64(st, 2, version);
  if(!src)
    src = bind_str(st, 3, name);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW) {
    rc = read_variant(st, a, out);
    if(rc)
      rc = ml_fail(eb, rc, "out of memory reading a variant");
  } else if(src == SQLITE_DONE)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "media %" PRId64 " v%" PRId64 " has no variant %s", media_id,
                 version, name);
  else
    rc = sq_error(c, src, "get variant", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_variant_put(struct ml_conn *conn, const struct ml_variant *v,
                             struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  /* The media must still be at this version (the caller's write
   * transaction holds SQLite's write lock: nothing changes in between). */
  rc = stmt_get(c, ST_MEDIA_VERSION, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, v->media_id);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_DONE)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "record variant: media %" PRId64 " does not exist",
                 v->media_id);
  else if(src != SQLITE_ROW)
    rc = sq_error(c, src, "record variant", eb);
  else if(sqlite3_column_int64(st, 0) != v->version)
    rc = ml_fail(eb, ML_ERR_CONFLICT, "record variant: media %" PRId64 " is no longer at v%" PRId64,
                 v->media_id, v->version);
  stmt_done(st);
  st = NULL;
  if(rc)
    goto out;
  rc = stmt_get(c, ST_VARIANT_PUT, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, v->media_id);
  if(!src)
    src = sqlite3_bind_int64(st, 2, v->version);
  if(!src)
    src = bind_str(st, 3, v->name);
  if(!src)
    src = bind_str(st, 4, v->storage_key);
  if(!src)
    src = bind_str(st, 5, v->mime_type);
  if(!src)
    src = sqlite3_bind_int64(st, 6, v->size);
  if(!src)
    src = sqlite3_bind_int64(st, 7, v->width);
  if(!src)
    src = sqlite3_bind_int64(st, 8, v->height);
  if(!src)
    src = sqlite3_bind_text(st, 9, v->sha256, (int)strnlen(v->sha256, sizeof(v->sha256)),
                            SQLITE_STATIC);
  if(!src)
    src = sqlite3_bind_int64(st, 10, v->created_at);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = write_error(c, src, "record variant", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_variant_list(struct ml_conn *conn, int64_t media_id, struct ml_arena *a,
                              struct ml_variant **items, size_t *n, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  struct ml_variant *rows = NULL;
  size_t got = 0, cap = 0;
  ml_err rc;
  int src;

  *items = NULL;
  *n = 0;
  rc = stmt_get(c, ST_VARIANT_LIST, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, media_id);
  while(!src && (src = sqlite3_step(st)) == SQLITE_ROW) {
    if(got == cap) { /* grows by doubling; the arena keeps the old copy */
      size_t ncap = cap ? 2 * cap : 8;
      struct ml_variant *bigger = ml_arena_alloc(a, ncap * sizeof(*bigger));
      if(!bigger) {
        rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory listing variants");
        goto out;
      }
      if(got)
        memcpy(bigger, rows, got * sizeof(*rows));
      rows = bigger;
      cap = ncap;
    }
    rc = read_variant(st, a, &rows[got]);
    if(rc) {
      rc = ml_fail(eb, rc, "out of memory listing variants");
      goto out;
    }
    got++;
    src = SQLITE_OK;
  }
  if(src != SQLITE_OK && src != SQLITE_DONE) {
    rc = sq_error(c, src, "list variants", eb);
    goto out;
  }
  *items = rows;
  *n = got;

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_variant_delete_below(struct ml_conn *conn, int64_t media_id, int64_t below,
                                      int64_t *n, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  if(n)
    *n = 0;
  rc = stmt_get(c, ST_VARIANT_DELETE_BELOW, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, media_id);
  if(!src)
    src = sqlite3_bind_int64(st, 2, below);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = write_error(c, src, "delete variants", eb);
  else if(n)
    *n = sqlite3_changes(c->db);

out:
  stmt_done(st);
  return rc;
}

/* Rows point into SQLite's buffers (read_variant without an arena), as
 * media_each does. */
static ml_err sq_variant_each(struct ml_conn *conn, struct ml_arena *a,
                              int (*cb)(void *ctx, const struct ml_variant *v), void *ctx,
                              struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  struct ml_variant v;
  ml_err rc;
  int src;
  (void)a;

  rc = stmt_get(c, ST_VARIANT_EACH, &st, eb);
  if(rc)
    goto out;
  while((src = sqlite3_step(st)) == SQLITE_ROW) {
    read_variant(st, NULL, &v); /* cannot fail without an arena */
    if(cb(ctx, &v))
      goto out;
  }
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, "walk variants", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_variant_delete(struct ml_conn *conn, int64_t media_id, int64_t version,
                                const char *name, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_VARIANT_DELETE, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, media_id);
  if(!src)
    src = sqlite3_bind_int64(st, 2, version);
  if(!src)
    src = bind_str(st, 3, name);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = write_error(c, src, "delete variant", eb);
  else if(sqlite3_changes(c->db) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "no variant %s of media %" PRId64, name, media_id);

out:
  stmt_done(st);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Outbox */

static ml_err sq_job_add(struct ml_conn *conn, struct ml_job *j, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_JOB_ADD, &st, eb);
  if(rc)
    goto out;
  src = bind_str(st, 1, j->kind);
  if(!src)
    src = bind_str(st, 2, j->key);
  if(!src)
    src = sqlite3_bind_int64(st, 3, j->media_id);
  if(!src)
    src = sqlite3_bind_int64(st, 4, j->attempts);
  if(!src)
    src = sqlite3_bind_int64(st, 5, j->next_at);
  if(!src)
    src = sqlite3_bind_int64(st, 6, j->lease_until);
  if(!src)
    src = bind_str(st, 7, j->last_error);
  if(!src)
    src = sqlite3_bind_int64(st, 8, j->created_at);
  if(!src)
    src = bind_str(st, 9, j->payload);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE) {
    rc = sq_error(c, src, "add job", eb);
    goto out;
  }
  j->id = sqlite3_last_insert_rowid(c->db);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_job_get(struct ml_conn *conn, int64_t id, struct ml_arena *a, struct ml_job *out,
                         struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_JOB_GET, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, id);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW) {
    rc = read_job(st, a, out);
    if(rc)
      rc = ml_fail(eb, rc, "out of memory reading job %" PRId64, id);
  } else if(src == SQLITE_DONE)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "job %" PRId64 " does not exist", id);
  else
    rc = sq_error(c, src, "get job", eb);

out:
  stmt_done(st);
  return rc;
}

/* Runs a statement on one job id (?1) and reports a missing row. */
static ml_err job_change(struct sq_conn *c, enum stmt_id sid, int64_t id, int64_t arg2,
                         const char *arg3, const char *what, struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, sid, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, id);
  if(!src && sqlite3_bind_parameter_count(st) >= 2)
    src = sqlite3_bind_int64(st, 2, arg2);
  if(!src && sqlite3_bind_parameter_count(st) >= 3)
    src = bind_str(st, 3, arg3);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, what, eb);
  else if(sqlite3_changes(c->db) == 0)
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "job %" PRId64 " does not exist", id);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_job_delete(struct ml_conn *conn, int64_t id, struct ml_errbuf *eb) {
  return job_change(sq(conn), ST_JOB_DELETE, id, 0, NULL, "delete job", eb);
}

static ml_err sq_job_fail(struct ml_conn *conn, int64_t id, int64_t next_at, const char *error,
                          struct ml_errbuf *eb) {
  return job_change(sq(conn), ST_JOB_FAIL, id, next_at, error, "record job failure", eb);
}

/* Select and lease in one write transaction: BEGIN IMMEDIATE holds the
 * database's single write lock from before the SELECT, so no other
 * connection or process can pick the same rows in between. */
static ml_err sq_job_claim(struct ml_conn *conn, int64_t now, int64_t lease_ms, size_t max,
                           struct ml_arena *a, struct ml_job **jobs, size_t *n,
                           struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  enum tx_mode mode = TX_NONE;
  struct ml_job *list = NULL;
  size_t got = 0, cap = 0, i;
  int64_t lease_until = now + lease_ms;
  ml_err rc = ML_OK;
  int src;

  *jobs = NULL;
  *n = 0;
  if(max == 0)
    return ML_OK;
  if(max > INT32_MAX)
    max = INT32_MAX;
  rc = tx_enter(c, &mode, eb);
  if(rc)
    goto out;
  rc = stmt_get(c, ST_JOB_DUE, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, now);
  if(!src)
    src = sqlite3_bind_int64(st, 2, (int64_t)max);
  while(!src && (src = sqlite3_step(st)) == SQLITE_ROW) {
    if(got == cap) {
      /* max may be large and the due rows few: grow as rows come. */
      size_t ncap = cap ? cap * 2 : (max < 16 ? max : 16);
      struct ml_job *grown;
      if(ncap > max)
        ncap = max;
      grown = ml_arena_alloc(a, ncap * sizeof(*grown));
      if(!grown) {
        rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
        goto out;
      }
      if(got)
        memcpy(grown, list, got * sizeof(*grown));
      list = grown;
      cap = ncap;
    }
    rc = read_job(st, a, &list[got]);
    if(rc) {
      rc = ml_fail(eb, rc, "out of memory");
      goto out;
    }
    list[got].lease_until = lease_until;
    got++;
    src = SQLITE_OK;
  }
  if(src != SQLITE_OK && src != SQLITE_DONE) {
    rc = sq_error(c, src, "claim jobs", eb);
    goto out;
  }
  stmt_done(st);
  st = NULL;

  rc = stmt_get(c, ST_JOB_LEASE, &st, eb);
  for(i = 0; !rc && i < got; i++) {
    src = sqlite3_bind_int64(st, 1, list[i].id);
    if(!src)
      src = sqlite3_bind_int64(st, 2, lease_until);
    if(!src)
      src = sqlite3_step(st);
    if(src != SQLITE_DONE)
      rc = sq_error(c, src, "lease job", eb);
    sqlite3_reset(st);
  }

out:
  stmt_done(st);
  rc = tx_leave(c, mode, rc, eb);
  if(!rc) {
    *jobs = list;
    *n = got;
  }
  return rc;
}

static ml_err sq_job_exists_for_key(struct ml_conn *conn, const char *key, int *exists,
                                    struct ml_errbuf *eb) {
  return query_key_int(sq(conn), ST_JOB_EXISTS_KEY, key, exists, "look up job key", eb);
}

static ml_err sq_job_exists_for_media(struct ml_conn *conn, const char *kind, int64_t media_id,
                                      int *exists, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  *exists = 0;
  rc = stmt_get(c, ST_JOB_EXISTS_MEDIA, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, media_id);
  if(!src)
    src = bind_str(st, 2, kind);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW)
    *exists = sqlite3_column_int(st, 0);
  else
    rc = sq_error(c, src == SQLITE_DONE ? SQLITE_CORRUPT : src, "look up jobs of a media", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_job_stats(struct ml_conn *conn, int64_t *depth, int64_t *oldest_created,
                           struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  *depth = 0;
  *oldest_created = 0;
  rc = stmt_get(c, ST_JOB_STATS, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_step(st);
  if(src == SQLITE_ROW) {
    *depth = sqlite3_column_int64(st, 0);
    *oldest_created = sqlite3_column_int64(st, 1);
  } else
    rc = sq_error(c, src == SQLITE_DONE ? SQLITE_CORRUPT : src, "job stats", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_job_due_now_for_media(struct ml_conn *conn, const char *kind, int64_t media_id,
                                       int64_t now, int64_t *changed, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  *changed = 0;
  rc = stmt_get(c, ST_JOB_DUE_NOW_MEDIA, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, media_id);
  if(!src)
    src = bind_str(st, 2, kind);
  if(!src)
    src = sqlite3_bind_int64(st, 3, now);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, "make a media's jobs due", eb);
  else
    *changed = sqlite3_changes(c->db);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_job_retry_now(struct ml_conn *conn, int64_t now, int64_t limit, int64_t *changed,
                               struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  *changed = 0;
  rc = stmt_get(c, ST_JOB_RETRY_NOW, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, now);
  if(!src)
    src = sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, "reschedule jobs", eb);
  else
    *changed = sqlite3_changes(c->db);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_job_depth_by_kind(struct ml_conn *conn,
                                   void (*cb)(void *ctx, const char *kind, int64_t depth,
                                              int64_t failing),
                                   void *ctx, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_JOB_DEPTH_KIND, &st, eb);
  if(rc)
    goto out;
  while((src = sqlite3_step(st)) == SQLITE_ROW)
    cb(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
       sqlite3_column_int64(st, 2));
  if(src != SQLITE_DONE)
    rc = sq_error(c, src, "job depth by kind", eb);

out:
  stmt_done(st);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Users and refresh tokens */

/* Reads a row of ML_REPO_USER_COLS. */
static ml_err read_user(sqlite3_stmt *st, struct ml_arena *a, struct ml_user *u) {
  ml_err rc = ML_OK;
  memset(u, 0, sizeof(*u));
  u->id = sqlite3_column_int64(st, 0);
  if(!rc)
    rc = col_str(st, 1, a, &u->username);
  if(!rc)
    rc = col_str(st, 2, a, &u->password_hash);
  if(!rc)
    rc = col_str(st, 3, a, &u->role);
  u->disabled = sqlite3_column_int(st, 4) != 0;
  u->token_version = sqlite3_column_int64(st, 5);
  u->created_at = sqlite3_column_int64(st, 6);
  u->last_login_at = sqlite3_column_int64(st, 7);
  return rc;
}

/* A failed write: constraint violations become the errors the repository
 * promises (a taken username or jti is a conflict, a missing user a
 * not-found, a role outside the CHECK a bad request); anything else is
 * mapped as usual. */
static ml_err write_error(struct sq_conn *c, int src, const char *what, struct ml_errbuf *eb) {
  if((src & 0xff) == SQLITE_CONSTRAINT) {
    switch(sqlite3_extended_errcode(c->db)) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return ml_fail(eb, ML_ERR_CONFLICT, "%s: already exists", what);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return ml_fail(eb, ML_ERR_NOT_FOUND, "%s: the row it belongs to does not exist", what);
    case SQLITE_CONSTRAINT_CHECK:
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "%s: value out of range", what);
    default: break;
    }
  }
  return sq_error(c, src, what, eb);
}

static ml_err sq_user_insert(struct ml_conn *conn, struct ml_user *u, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_USER_INSERT, &st, eb);
  if(rc)
    goto out;
  src = bind_str(st, 1, u->username);
  if(!src)
    src = bind_str(st, 2, u->password_hash);
  if(!src)
    src = bind_str(st, 3, u->role);
  if(!src)
    src = sqlite3_bind_int(st, 4, u->disabled ? 1 : 0);
  if(!src)
    src = sqlite3_bind_int64(st, 5, u->token_version);
  if(!src)
    src = sqlite3_bind_int64(st, 6, u->created_at);
  if(!src)
    src = sqlite3_bind_int64(st, 7, u->last_login_at);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE) {
    rc = write_error(c, src, "insert user", eb);
    goto out;
  }
  u->id = sqlite3_last_insert_rowid(c->db);

out:
  stmt_done(st);
  return rc;
}

/* One user by id (name NULL) or by name. */
static ml_err user_get(struct sq_conn *c, int64_t id, const char *name, struct ml_arena *a,
                       struct ml_user *out, struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, name ? ST_USER_GET_NAME : ST_USER_GET, &st, eb);
  if(rc)
    goto out;
  src = name ? bind_str(st, 1, name) : sqlite3_bind_int64(st, 1, id);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW) {
    rc = read_user(st, a, out);
    if(rc)
      rc = ml_fail(eb, rc, "out of memory reading a user");
  } else if(src == SQLITE_DONE) {
    rc = name ? ml_fail(eb, ML_ERR_NOT_FOUND, "no such user")
              : ml_fail(eb, ML_ERR_NOT_FOUND, "user %" PRId64 " does not exist", id);
  } else {
    rc = sq_error(c, src, "get user", eb);
  }

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_user_get(struct ml_conn *conn, int64_t id, struct ml_arena *a, struct ml_user *out,
                          struct ml_errbuf *eb) {
  return user_get(sq(conn), id, NULL, a, out, eb);
}

static ml_err sq_user_get_by_name(struct ml_conn *conn, const char *username, struct ml_arena *a,
                                  struct ml_user *out, struct ml_errbuf *eb) {
  return user_get(sq(conn), 0, username ? username : "", a, out, eb);
}

/* Runs a one-row, one-integer SELECT with no parameters. */
static ml_err query_int64(struct sq_conn *c, enum stmt_id id, int64_t *out, const char *what,
                          struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  *out = 0;
  rc = stmt_get(c, id, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_step(st);
  if(src == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  else
    rc = sq_error(c, src == SQLITE_DONE ? SQLITE_CORRUPT : src, what, eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_user_count(struct ml_conn *conn, int admins_only, int64_t *n,
                            struct ml_errbuf *eb) {
  return query_int64(sq(conn), admins_only ? ST_USER_COUNT_ADMINS : ST_USER_COUNT, n, "count users",
                     eb);
}

/* As media_list: the count statement is left on its row, unreset, so the
 * page reads the same snapshot and the two agree. */
static ml_err sq_user_list(struct ml_conn *conn, int64_t offset, int64_t limit, struct ml_arena *a,
                           struct ml_user **items, size_t *n, int64_t *count,
                           struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *cst = NULL, *st = NULL;
  struct ml_user *rows = NULL;
  size_t got = 0;
  ml_err rc;
  int src;

  *items = NULL;
  *n = 0;
  *count = 0;
  if(limit < 1 || limit > 1000 || offset < 0)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "user list: limit or offset out of range");
  rows = ml_arena_alloc(a, (size_t)limit * sizeof(*rows));
  if(!rows)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  rc = stmt_get(c, ST_USER_COUNT, &cst, eb);
  if(rc)
    goto out;
  src = sqlite3_step(cst);
  if(src != SQLITE_ROW) {
    rc = sq_error(c, src == SQLITE_DONE ? SQLITE_CORRUPT : src, "count users", eb);
    goto out;
  }
  *count = sqlite3_column_int64(cst, 0);
  rc = stmt_get(c, ST_USER_LIST, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, limit);
  if(!src)
    src = sqlite3_bind_int64(st, 2, offset);
  while(!src && got < (size_t)limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
    rc = read_user(st, a, &rows[got]);
    if(rc) {
      rc = ml_fail(eb, rc, "out of memory");
      goto out;
    }
    got++;
    src = SQLITE_OK;
  }
  if(src != SQLITE_OK && src != SQLITE_DONE) {
    rc = sq_error(c, src, "list users", eb);
    goto out;
  }
  *items = rows;
  *n = got;

out:
  stmt_done(st);
  stmt_done(cst);
  if(rc)
    *count = 0;
  return rc;
}

/* Runs an UPDATE or DELETE of one row (?1 = id) and reports a missing row. */
static ml_err change_one(struct sq_conn *c, sqlite3_stmt *st, const char *what, const char *missing,
                         struct ml_errbuf *eb) {
  int src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    return write_error(c, src, what, eb);
  if(sqlite3_changes(c->db) == 0)
    return ml_fail(eb, ML_ERR_NOT_FOUND, "%s", missing);
  return ML_OK;
}

static ml_err sq_user_update(struct ml_conn *conn, const struct ml_user *u, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_USER_UPDATE, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, u->id);
  if(!src)
    src = bind_str(st, 2, u->password_hash);
  if(!src)
    src = bind_str(st, 3, u->role);
  if(!src)
    src = sqlite3_bind_int(st, 4, u->disabled ? 1 : 0);
  if(!src)
    src = sqlite3_bind_int64(st, 5, u->token_version);
  if(src) {
    rc = sq_error(c, src, "update user", eb);
    goto out;
  }
  rc = change_one(c, st, "update user", "no such user", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_user_touch_login(struct ml_conn *conn, int64_t id, int64_t now,
                                  struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_USER_TOUCH, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, id);
  if(!src)
    src = sqlite3_bind_int64(st, 2, now);
  if(src) {
    rc = sq_error(c, src, "record login", eb);
    goto out;
  }
  rc = change_one(c, st, "record login", "no such user", eb);

out:
  stmt_done(st);
  return rc;
}

/* One statement; the refresh tokens go by ON DELETE CASCADE. */
static ml_err sq_user_delete(struct ml_conn *conn, int64_t id, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_USER_DELETE, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, id);
  if(src) {
    rc = sq_error(c, src, "delete user", eb);
    goto out;
  }
  rc = change_one(c, st, "delete user", "no such user", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_refresh_add(struct ml_conn *conn, const struct ml_refresh *t,
                             struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_REFRESH_ADD, &st, eb);
  if(rc)
    goto out;
  src = bind_str(st, 1, t->jti);
  if(!src)
    src = sqlite3_bind_int64(st, 2, t->user_id);
  if(!src)
    src = sqlite3_bind_int64(st, 3, t->expires_at);
  if(!src)
    src = sqlite3_bind_int(st, 4, t->revoked ? 1 : 0);
  if(!src)
    src = sqlite3_bind_int64(st, 5, t->created_at);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = write_error(c, src, "add refresh token", eb);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_refresh_get(struct ml_conn *conn, const char *jti, struct ml_arena *a,
                             struct ml_refresh *out, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  memset(out, 0, sizeof(*out));
  rc = stmt_get(c, ST_REFRESH_GET, &st, eb);
  if(rc)
    goto out;
  src = bind_str(st, 1, jti);
  if(!src)
    src = sqlite3_step(st);
  if(src == SQLITE_ROW) {
    rc = col_str(st, 0, a, &out->jti);
    if(rc)
      rc = ml_fail(eb, rc, "out of memory reading a refresh token");
    out->user_id = sqlite3_column_int64(st, 1);
    out->expires_at = sqlite3_column_int64(st, 2);
    out->revoked = sqlite3_column_int(st, 3) != 0;
    out->created_at = sqlite3_column_int64(st, 4);
  } else if(src == SQLITE_DONE) {
    rc = ml_fail(eb, ML_ERR_NOT_FOUND, "no such refresh token");
  } else {
    rc = sq_error(c, src, "get refresh token", eb);
  }

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_refresh_revoke(struct ml_conn *conn, const char *jti, struct ml_errbuf *eb) {
  struct sq_conn *c = sq(conn);
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  rc = stmt_get(c, ST_REFRESH_REVOKE, &st, eb);
  if(rc)
    goto out;
  src = bind_str(st, 1, jti);
  if(src) {
    rc = sq_error(c, src, "revoke refresh token", eb);
    goto out;
  }
  rc = change_one(c, st, "revoke refresh token", "no such refresh token", eb);

out:
  stmt_done(st);
  return rc;
}

/* Runs a statement bound to one integer (?1) and counts the changed rows. */
static ml_err change_many(struct sq_conn *c, enum stmt_id sid, int64_t arg, int64_t *n,
                          const char *what, struct ml_errbuf *eb) {
  sqlite3_stmt *st = NULL;
  ml_err rc;
  int src;

  if(n)
    *n = 0;
  rc = stmt_get(c, sid, &st, eb);
  if(rc)
    goto out;
  src = sqlite3_bind_int64(st, 1, arg);
  if(!src)
    src = sqlite3_step(st);
  if(src != SQLITE_DONE)
    rc = write_error(c, src, what, eb);
  else if(n)
    *n = sqlite3_changes(c->db);

out:
  stmt_done(st);
  return rc;
}

static ml_err sq_refresh_revoke_user(struct ml_conn *conn, int64_t user_id, int64_t *n,
                                     struct ml_errbuf *eb) {
  return change_many(sq(conn), ST_REFRESH_REVOKE_USER, user_id, n, "revoke refresh tokens", eb);
}

static ml_err sq_refresh_prune(struct ml_conn *conn, int64_t before, int64_t *n,
                               struct ml_errbuf *eb) {
  return change_many(sq(conn), ST_REFRESH_PRUNE, before, n, "prune refresh tokens", eb);
}

#ifdef ML_TEST_HOOKS
struct sqlite3 *ml_repo_sqlite_handle(struct ml_conn *c) {
  return sq(c)->db;
}
#endif

const struct ml_repo_ops ml_repo_sqlite_ops = {
    .name = "sqlite",
    .scheme = "sqlite://",
    .open = sq_open,
    .close = sq_close,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .conn_reset = sq_conn_reset,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .ping = sq_ping,
    .media_get = sq_media_get,
    .media_list = sq_media_list,
    .media_insert = sq_media_insert,
    .media_update = sq_media_update,
    .media_delete = sq_media_delete,
    .media_each = sq_media_each,
    .key_in_use = sq_key_in_use,
    .variant_get = sq_variant_get,
    .variant_put = sq_variant_put,
    .variant_list = sq_variant_list,
    .variant_delete_below = sq_variant_delete_below,
    .variant_each = sq_variant_each,
    .variant_delete = sq_variant_delete,
    .job_add = sq_job_add,
    .job_get = sq_job_get,
    .job_delete = sq_job_delete,
    .job_claim = sq_job_claim,
    .job_fail = sq_job_fail,
    .job_exists_for_key = sq_job_exists_for_key,
    .job_exists_for_media = sq_job_exists_for_media,
    .job_stats = sq_job_stats,
    .job_due_now_for_media = sq_job_due_now_for_media,
    .job_retry_now = sq_job_retry_now,
    .job_depth_by_kind = sq_job_depth_by_kind,
    .user_insert = sq_user_insert,
    .user_get = sq_user_get,
    .user_get_by_name = sq_user_get_by_name,
    .user_list = sq_user_list,
    .user_update = sq_user_update,
    .user_touch_login = sq_user_touch_login,
    .user_delete = sq_user_delete,
    .user_count = sq_user_count,
    .refresh_add = sq_refresh_add,
    .refresh_get = sq_refresh_get,
    .refresh_revoke = sq_refresh_revoke,
    .refresh_revoke_user = sq_refresh_revoke_user,
    .refresh_prune = sq_refresh_prune,
};
