/*
 * repo.h - the repository: media rows, tags, the outbox, users and refresh
 * tokens, migrations.
 *
 * One interface, several backends (SQLite, PostgreSQL), chosen by URL at
 * start. The repository hands out connections from a pool; a
 * connection runs one transaction at a time. Handlers never see SQL: the
 * domain (src/media) calls these functions.
 *
 * Strings in returned structs are allocated from the caller's arena and live
 * as long as it does. Every function returns ML_OK or an error and, on
 * error, writes why into eb (when not NULL):
 *   ML_ERR_NOT_FOUND   no such row
 *   ML_ERR_CONFLICT    a concurrent change won (version mismatch)
 *   ML_ERR_DB          the database failed (locked past the busy timeout,
 *                      I/O error, corrupt, full: eb says which)
 *   ML_ERR_INSUFFICIENT_STORAGE  the database file system is full
 *   ML_ERR_NOMEM       out of memory (including the caller's arena)
 *   ML_ERR_BAD_REQUEST a filter outside its documented range (list)
 *
 * Writes that touch several rows (media insert/update with their tag rows,
 * job_claim) are atomic on their own: inside the caller's transaction they
 * run under a savepoint, so a failed call undoes only itself and leaves the
 * transaction usable; outside one they take their own write transaction.
 */
#ifndef ML_DB_REPO_H
#define ML_DB_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct ml_repo;
struct ml_conn;

enum ml_media_state {
  ML_MEDIA_PENDING = 0, /* upload reserved, blob not yet committed: invisible */
  ML_MEDIA_ACTIVE = 1,
  ML_MEDIA_MISSING = 2 /* fsck found its blob gone: invisible, kept for the record */
};

struct ml_media {
  int64_t id;
  int state;         /* enum ml_media_state */
  const char *title; /* never NULL ("" when empty) */
  const char *alt_text;
  const char *caption;
  const char *folder;
  const char *tags;        /* tags joined by ',' ("" for none); tags never contain ',' */
  const char *filename;    /* cleaned display name */
  const char *mime_type;   /* sniffed */
  int64_t size;            /* bytes */
  int64_t width, height;   /* pixels, 0 when unknown or not an image */
  char sha256[65];         /* lowercase hex, "" while pending */
  int64_t version;         /* 1, then +1 per replacement */
  const char *storage_key; /* blob key of the current version ("" while pending) */
  int64_t created_at;      /* epoch ms */
  int64_t updated_at;      /* epoch ms */
};

enum ml_order {
  ML_ORDER_CREATED_DESC = 0, /* the default: newest first */
  ML_ORDER_CREATED_ASC,
  ML_ORDER_TITLE_ASC,
  ML_ORDER_TITLE_DESC,
  ML_ORDER_SIZE_ASC,
  ML_ORDER_SIZE_DESC,
  ML_ORDER_UPDATED_ASC,
  ML_ORDER_UPDATED_DESC,
  ML_ORDER__COUNT
};

struct ml_media_filter {
  const char *q;           /* substring of title, alt text, caption or filename; NULL = any */
  const char *mime;        /* exact type; NULL = any */
  const char *mime_prefix; /* "image/" for the filter image/(any); NULL = any */
  const char *folder;      /* exact folder; NULL = any */
  const char *tag;         /* has this tag; NULL = any */
  enum ml_order order;     /* ties broken by id in the same direction */
  int64_t offset;
  int64_t limit; /* 1..100 */
};

/* A rendered variant (derived image) of one version of a media. */
struct ml_variant {
  int64_t media_id;
  int64_t version;
  const char *name;        /* canonical transform with its concrete format */
  const char *storage_key; /* under the version's key prefix */
  const char *mime_type;
  int64_t size;          /* bytes */
  int64_t width, height; /* pixels */
  char sha256[65];       /* lowercase hex */
  int64_t created_at;    /* epoch ms */
};

/* An outbox job. kind is e.g. "remove_blob"; key is the blob key (other
 * kinds prefix theirs: "purge:/media/42", "webhook:<endpoint>:42"). */
struct ml_job {
  int64_t id;
  const char *kind;
  const char *key;
  int64_t media_id; /* 0 when none */
  int64_t attempts;
  int64_t next_at;        /* epoch ms: not to run before */
  int64_t lease_until;    /* epoch ms: claimed by someone until then */
  const char *last_error; /* "" when none */
  int64_t created_at;     /* epoch ms */
  const char *payload;    /* what the job carries besides its key ("" when none;
                           * a webhook's event body) */
};

/* A user who may log in (src/auth decides what the fields mean). */
struct ml_user {
  int64_t id;
  const char *username;      /* unique, compared case-insensitively */
  const char *password_hash; /* libsodium Argon2id string */
  const char *role;          /* "viewer", "editor" or "admin" */
  int disabled;              /* 1: may not log in, tokens refused */
  int64_t token_version;     /* bumped to revoke every token of the user */
  int64_t created_at;        /* epoch ms */
  int64_t last_login_at;     /* epoch ms, 0 when never */
};

/* A refresh token the server issued: its jti is the key. */
struct ml_refresh {
  const char *jti;
  int64_t user_id;
  int64_t expires_at; /* epoch ms */
  int revoked;
  int64_t created_at; /* epoch ms */
};

/* Opens the backend named by url ("sqlite:///abs/path.db", "sqlite://rel/path.db",
 * "sqlite://./rel/path.db"; the file's directory is created if missing; or
 * "postgres://user:password@host:port/dbname?sslmode=..." or the same with
 * "postgresql://", handed to libpq as it is), with a pool of pool_size
 * (1..1024) connections, all opened now, and applies pending migrations when
 * migrate is non-zero. ML_ERR_CONFIG for an unsupported or malformed URL, a
 * bad pool size, or a schema newer than this build; ML_ERR_IO when the
 * directory cannot be created; ML_ERR_DB when the file cannot be opened as a
 * database in WAL mode, or the server cannot be reached (eb has libpq's
 * reason on one line, never the password). */
ml_err ml_repo_open(const char *url, int pool_size, int migrate, struct ml_repo **out,
                    struct ml_errbuf *eb);
/* Every connection must have been released. Sets *r NULL; NULL is a no-op. */
void ml_repo_close(struct ml_repo **r);
/* Applies pending migrations; *applied gets how many ran (may be NULL). */
ml_err ml_repo_migrate(struct ml_repo *r, int *applied, struct ml_errbuf *eb);
/* Current schema version. */
ml_err ml_repo_schema_version(struct ml_repo *r, int *version, struct ml_errbuf *eb);

/* Takes a connection from the pool, waiting up to 5 seconds (ML_ERR_BUSY
 * after that). A connection is used by one thread at a time. A PostgreSQL
 * connection the server closed (a restart) is reconnected here; ML_ERR_DB
 * when that fails. release rolls back an unfinished transaction and sets *c
 * NULL (NULL is a no-op). */
ml_err ml_repo_acquire(struct ml_repo *r, struct ml_conn **c, struct ml_errbuf *eb);
void ml_repo_release(struct ml_conn **c);

/* Write transactions (SQLite: BEGIN IMMEDIATE, waiting up to 5 s for another
 * writer, then ML_ERR_DB "database is locked"; PostgreSQL: READ COMMITTED,
 * a row lock waited on for up to 5 s, then the same); no nesting. Reads need no
 * transaction; rollback without one is a no-op. */
ml_err ml_repo_begin(struct ml_conn *c, struct ml_errbuf *eb);
ml_err ml_repo_commit(struct ml_conn *c, struct ml_errbuf *eb);
void ml_repo_rollback(struct ml_conn *c);
/* Ends a transaction by its outcome: commits when rc is ML_OK, otherwise
 * (or when the commit fails) rolls back. Returns the final outcome. */
ml_err ml_repo_end(struct ml_conn *c, ml_err rc, struct ml_errbuf *eb);

/* A cheap round trip (readiness). */
ml_err ml_repo_ping(struct ml_conn *c, struct ml_errbuf *eb);

/* Media. get returns ML_ERR_NOT_FOUND for an absent row; a row that is not
 * active (pending, or ML_MEDIA_MISSING) is returned only when include_pending
 * is set. Inside a transaction, get locks the row until the transaction ends
 * (SQLite's write transactions are serialized anyway; PostgreSQL takes FOR
 * UPDATE), so the read-check-write sequences of the domain are atomic. */
ml_err ml_repo_media_get(struct ml_conn *c, int64_t id, int include_pending, struct ml_arena *a,
                         struct ml_media *out, struct ml_errbuf *eb);
/* Active rows only. *items is an arena array of *n rows; *count is the total
 * matching the filter (ignoring offset and limit), read from the same
 * snapshot as the rows. Title ordering folds ASCII case (SQLite NOCASE); q
 * matches literally (% and _ are not wildcards), ASCII case-insensitively.
 * ML_ERR_BAD_REQUEST for limit outside 1..100, offset < 0 or an unknown
 * order. Cost: an index walk of offset + limit rows; a filter makes it a
 * walk of the active rows, checked one by one. */
ml_err ml_repo_media_list(struct ml_conn *c, const struct ml_media_filter *f, struct ml_arena *a,
                          struct ml_media **items, size_t *n, int64_t *count, struct ml_errbuf *eb);
/* Inserts every column but id (assigned into m->id, only on success; ids are
 * never reused); writes the tag rows (empty pieces skipped, repeats once). */
ml_err ml_repo_media_insert(struct ml_conn *c, struct ml_media *m, struct ml_errbuf *eb);
/* Writes every column of row m->id when its version is still expect_version
 * (ML_ERR_CONFLICT otherwise, ML_ERR_NOT_FOUND when gone); rewrites tag rows. */
ml_err ml_repo_media_update(struct ml_conn *c, const struct ml_media *m, int64_t expect_version,
                            struct ml_errbuf *eb);
/* Deletes the row and its tag rows; ML_ERR_NOT_FOUND when missing. */
ml_err ml_repo_media_delete(struct ml_conn *c, int64_t id, struct ml_errbuf *eb);

/* Outbox. add stores every field as given (id aside) and assigns j->id;
 * NULL strings are stored as "". get: ML_ERR_NOT_FOUND when missing. */
ml_err ml_repo_job_add(struct ml_conn *c, struct ml_job *j, struct ml_errbuf *eb);
ml_err ml_repo_job_get(struct ml_conn *c, int64_t id, struct ml_arena *a, struct ml_job *out,
                       struct ml_errbuf *eb);
/* ML_ERR_NOT_FOUND when missing (another runner may have finished it). */
ml_err ml_repo_job_delete(struct ml_conn *c, int64_t id, struct ml_errbuf *eb);
/* Claims up to max due jobs (next_at <= now and lease_until <= now), oldest
 * next_at first, by setting lease_until = now + lease_ms, atomically, so two
 * runners (threads or processes) never hold the same job. Jobs of the same
 * kind and key run in id order, one at a time: a job is not claimed while an
 * older job of its kind and key exists (leased, backed off or due), so a key
 * is a FIFO queue (webhooks use one per endpoint and media). Returns them in
 * *jobs (arena), lease_until already updated. */
ml_err ml_repo_job_claim(struct ml_conn *c, int64_t now, int64_t lease_ms, size_t max,
                         struct ml_arena *a, struct ml_job **jobs, size_t *n, struct ml_errbuf *eb);
/* Records a failed attempt: attempts+1, next_at, last_error (NULL: ""),
 * lease cleared. ML_ERR_NOT_FOUND when the job is gone. */
ml_err ml_repo_job_fail(struct ml_conn *c, int64_t id, int64_t next_at, const char *error,
                        struct ml_errbuf *eb);
/* Is there a job of any kind for this key? (fsck: a blob with a pending
 * removal is not an orphan.) */
ml_err ml_repo_job_exists_for_key(struct ml_conn *c, const char *key, int *exists,
                                  struct ml_errbuf *eb);
/* Is there a job of this kind for this media? (a media.deleted webhook
 * waits until no remove_blob job of its media is left) */
ml_err ml_repo_job_exists_for_media(struct ml_conn *c, const char *kind, int64_t media_id,
                                    int *exists, struct ml_errbuf *eb);
/* Makes media_id's jobs of kind that wait for a later time due at now (a
 * deleted media's replaced versions, kept for a grace, go with it);
 * *changed gets how many. */
ml_err ml_repo_job_due_now_for_media(struct ml_conn *c, const char *kind, int64_t media_id,
                                     int64_t now, int64_t *changed, struct ml_errbuf *eb);
/* Outbox depth and the oldest job's created_at (0 when empty), all kinds. */
ml_err ml_repo_job_stats(struct ml_conn *c, int64_t *depth, int64_t *oldest_created,
                         struct ml_errbuf *eb);
/* Makes up to limit (<= 0: all) failed, backed-off, unleased jobs due now,
 * soonest first; *changed gets how many. The runner calls it when the store
 * is back, so recovery does not wait out each job's backoff. */
ml_err ml_repo_job_retry_now(struct ml_conn *c, int64_t now, int64_t limit, int64_t *changed,
                             struct ml_errbuf *eb);
/* Calls cb once per job kind with its depth and how many have failed at
 * least once (metrics). */
ml_err ml_repo_job_depth_by_kind(struct ml_conn *c,
                                 void (*cb)(void *ctx, const char *kind, int64_t depth,
                                            int64_t failing),
                                 void *ctx, struct ml_errbuf *eb);
/* Variants. get: ML_ERR_NOT_FOUND when absent. put inserts or replaces
 * the row of (media_id, version, name) only while the media row is at that
 * version: ML_ERR_CONFLICT when it was replaced, ML_ERR_NOT_FOUND when it is
 * gone (checked under the row's lock, so a concurrent replace or delete
 * either sees the variant or makes put fail). list: every variant of the media, all versions, as an arena
 * array. delete_below: the rows of versions below `below` (INT64_MAX: all);
 * *n (may be NULL) gets how many. */
ml_err ml_repo_variant_get(struct ml_conn *c, int64_t media_id, int64_t version, const char *name,
                           struct ml_arena *a, struct ml_variant *out, struct ml_errbuf *eb);
ml_err ml_repo_variant_put(struct ml_conn *c, const struct ml_variant *v, struct ml_errbuf *eb);
ml_err ml_repo_variant_list(struct ml_conn *c, int64_t media_id, struct ml_arena *a,
                            struct ml_variant **items, size_t *n, struct ml_errbuf *eb);
ml_err ml_repo_variant_delete_below(struct ml_conn *c, int64_t media_id, int64_t below, int64_t *n,
                                    struct ml_errbuf *eb);
/* Calls cb for every variant row in (media_id, version, name) order, like
 * media_each: v is valid only during the call, cb must not use c, non-zero
 * stops the walk. (fsck) */
ml_err ml_repo_variant_each(struct ml_conn *c, struct ml_arena *a,
                            int (*cb)(void *ctx, const struct ml_variant *v), void *ctx,
                            struct ml_errbuf *eb);
/* Deletes one variant row; ML_ERR_NOT_FOUND when absent. (fsck --repair) */
ml_err ml_repo_variant_delete(struct ml_conn *c, int64_t media_id, int64_t version,
                              const char *name, struct ml_errbuf *eb);
/* Does any media row (any state) or variant use this storage key? (fsck,
 * and the outbox: a key in use is never removed) */
ml_err ml_repo_key_in_use(struct ml_conn *c, const char *key, int *in_use, struct ml_errbuf *eb);
/* Calls cb for every media row (any state) in id order; cb returning non-zero
 * stops (still ML_OK). m and its strings are valid only during the call: copy
 * what you keep. The rows are not copied, so a walk of any size needs no
 * memory; a is scratch for backends that need it (SQLite does not). cb must
 * not write through c nor call media_each on it: use another connection. (fsck) */
ml_err ml_repo_media_each(struct ml_conn *c, struct ml_arena *a,
                          int (*cb)(void *ctx, const struct ml_media *m), void *ctx,
                          struct ml_errbuf *eb);

/* Users. insert assigns u->id; ML_ERR_CONFLICT when the username is taken
 * (in any letter case). get and get_by_name: ML_ERR_NOT_FOUND when absent;
 * get_by_name matches case-insensitively. */
ml_err ml_repo_user_insert(struct ml_conn *c, struct ml_user *u, struct ml_errbuf *eb);
ml_err ml_repo_user_get(struct ml_conn *c, int64_t id, struct ml_arena *a, struct ml_user *out,
                        struct ml_errbuf *eb);
ml_err ml_repo_user_get_by_name(struct ml_conn *c, const char *username, struct ml_arena *a,
                                struct ml_user *out, struct ml_errbuf *eb);
/* Users in id order: *items is an arena array of *n rows, *count the total.
 * ML_ERR_BAD_REQUEST for limit outside 1..1000 or offset < 0. */
ml_err ml_repo_user_list(struct ml_conn *c, int64_t offset, int64_t limit, struct ml_arena *a,
                         struct ml_user **items, size_t *n, int64_t *count, struct ml_errbuf *eb);
/* Writes password_hash, role, disabled and token_version of row u->id
 * (username, created_at and last_login_at are left alone). NOT_FOUND. */
ml_err ml_repo_user_update(struct ml_conn *c, const struct ml_user *u, struct ml_errbuf *eb);
/* Sets last_login_at alone, so a login never undoes a concurrent change. */
ml_err ml_repo_user_touch_login(struct ml_conn *c, int64_t id, int64_t now, struct ml_errbuf *eb);
/* Deletes the user and its refresh tokens. NOT_FOUND. */
ml_err ml_repo_user_delete(struct ml_conn *c, int64_t id, struct ml_errbuf *eb);
/* How many users there are; with admins_only, enabled admins only. */
ml_err ml_repo_user_count(struct ml_conn *c, int admins_only, int64_t *n, struct ml_errbuf *eb);

/* Refresh tokens. add: ML_ERR_CONFLICT when the jti exists, NOT_FOUND
 * when the user does not. get: NOT_FOUND. revoke: NOT_FOUND when there is
 * no such jti. revoke_user: every token of the user (*n gets how many were
 * not revoked yet; may be NULL). prune: deletes tokens that expired before
 * `before` (*n may be NULL). */
ml_err ml_repo_refresh_add(struct ml_conn *c, const struct ml_refresh *t, struct ml_errbuf *eb);
ml_err ml_repo_refresh_get(struct ml_conn *c, const char *jti, struct ml_arena *a,
                           struct ml_refresh *out, struct ml_errbuf *eb);
ml_err ml_repo_refresh_revoke(struct ml_conn *c, const char *jti, struct ml_errbuf *eb);
ml_err ml_repo_refresh_revoke_user(struct ml_conn *c, int64_t user_id, int64_t *n,
                                   struct ml_errbuf *eb);
ml_err ml_repo_refresh_prune(struct ml_conn *c, int64_t before, int64_t *n, struct ml_errbuf *eb);

#endif
