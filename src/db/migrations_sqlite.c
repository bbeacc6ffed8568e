/*
 * migrations_sqlite.c - the SQLite schema, as numbered steps.
 *
 * PRAGMA user_version holds how many steps a database has had; sqlite.c runs
 * the missing ones in order, each in its own BEGIN IMMEDIATE transaction
 * that also bumps user_version, so a crash leaves the schema at a step
 * boundary and two processes starting at once cannot both apply a step.
 * Append only: once a step is released, fix it with a new step.
 */
#include "db/repo_int.h"

const struct ml_repo_sqlite_migration ml_repo_sqlite_migrations[] = {
    {"create media, media_tags and outbox",
     /* Times are epoch milliseconds. AUTOINCREMENT so that an id is never
      * handed out twice, even after the newest row is deleted: blob keys
      * and cached URLs contain the id. */
     "CREATE TABLE media ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  state INTEGER NOT NULL DEFAULT 0,"
     "  title TEXT NOT NULL DEFAULT '',"
     "  alt_text TEXT NOT NULL DEFAULT '',"
     "  caption TEXT NOT NULL DEFAULT '',"
     "  folder TEXT NOT NULL DEFAULT '',"
     /* The tags joined by ',' are kept next to the media_tags rows so a
      * list page reads each row once instead of joining. */
     "  tags TEXT NOT NULL DEFAULT '',"
     "  filename TEXT NOT NULL DEFAULT '',"
     "  mime_type TEXT NOT NULL DEFAULT '',"
     "  size INTEGER NOT NULL DEFAULT 0,"
     "  width INTEGER NOT NULL DEFAULT 0,"
     "  height INTEGER NOT NULL DEFAULT 0,"
     "  sha256 TEXT NOT NULL DEFAULT '',"
     "  version INTEGER NOT NULL DEFAULT 1,"
     "  storage_key TEXT NOT NULL DEFAULT '',"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ");"
     /* One index per list ordering, led by state so that the listing scans
      * only active rows, already in order. The rowid (id) is the implicit
      * last column of each, which gives the tie-break for free. */
     "CREATE INDEX media_list_created ON media(state, created_at);"
     "CREATE INDEX media_list_updated ON media(state, updated_at);"
     "CREATE INDEX media_list_title ON media(state, title COLLATE NOCASE);"
     "CREATE INDEX media_list_size ON media(state, size);"
     "CREATE INDEX media_folder ON media(folder);"
     "CREATE INDEX media_mime ON media(mime_type);"
     "CREATE INDEX media_storage_key ON media(storage_key);"
     "CREATE TABLE media_tags ("
     "  media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,"
     "  tag TEXT NOT NULL,"
     "  PRIMARY KEY (media_id, tag)"
     ") WITHOUT ROWID;"
     "CREATE INDEX media_tags_tag ON media_tags(tag);"
     /* Active rows counted by triggers, so the unfiltered list count is one
      * row read instead of a scan of the whole table. */
     "CREATE TABLE media_count ("
     "  id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  active INTEGER NOT NULL"
     ");"
     "INSERT INTO media_count(id, active) VALUES (1, 0);"
     "CREATE TRIGGER media_count_insert AFTER INSERT ON media WHEN new.state = 1 BEGIN"
     "  UPDATE media_count SET active = active + 1 WHERE id = 1;"
     "END;"
     "CREATE TRIGGER media_count_delete AFTER DELETE ON media WHEN old.state = 1 BEGIN"
     "  UPDATE media_count SET active = active - 1 WHERE id = 1;"
     "END;"
     "CREATE TRIGGER media_count_state AFTER UPDATE OF state ON media"
     "  WHEN (old.state = 1) <> (new.state = 1) BEGIN"
     "  UPDATE media_count SET active = active + (CASE WHEN new.state = 1 THEN 1 ELSE -1 END)"
     "  WHERE id = 1;"
     "END;"
     /* The outbox: work that must survive a crash (blob removals, cache
      * purges). media_id is not a foreign key: the jobs of a deleted media
      * must outlive its row. */
     "CREATE TABLE outbox ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  kind TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  media_id INTEGER NOT NULL DEFAULT 0,"
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  next_at INTEGER NOT NULL DEFAULT 0,"
     "  lease_until INTEGER NOT NULL DEFAULT 0,"
     "  last_error TEXT NOT NULL DEFAULT '',"
     "  created_at INTEGER NOT NULL"
     ");"
     "CREATE INDEX outbox_due ON outbox(next_at);"
     "CREATE INDEX outbox_key ON outbox(key, kind);"
     "CREATE INDEX outbox_created ON outbox(created_at);"},
    {"create users and refresh_tokens",
     /* Usernames are unique whatever their letter case, so "Admin" cannot
      * sit next to "admin" and the login rate limit (keyed on the lowered
      * name) cannot be side-stepped by changing case. */
     "CREATE TABLE users ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
     "  password_hash TEXT NOT NULL,"
     "  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),"
     "  disabled INTEGER NOT NULL DEFAULT 0,"
     "  token_version INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  last_login_at INTEGER NOT NULL DEFAULT 0"
     ");"
     /* One row per issued refresh token, so each can be revoked; expired
      * rows are pruned on login. */
     "CREATE TABLE refresh_tokens ("
     "  jti TEXT PRIMARY KEY,"
     "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     "  expires_at INTEGER NOT NULL,"
     "  revoked INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL"
     ") WITHOUT ROWID;"
     "CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);"
     "CREATE INDEX refresh_tokens_expires ON refresh_tokens(expires_at);"},
    {"create variants",
     /* Derived images (image/transform.h): one row per rendered variant of
      * one version of a media. name is the canonical transform with its
      * concrete format ("c_fill,f_webp,h_200,w_200"). The rows go with the
      * media row (CASCADE), but the domain first reads them to queue the
      * removal of their blobs in the same transaction. */
     "CREATE TABLE variants ("
     "  media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,"
     "  version INTEGER NOT NULL,"
     "  name TEXT NOT NULL,"
     "  storage_key TEXT NOT NULL,"
     "  mime_type TEXT NOT NULL,"
     "  size INTEGER NOT NULL,"
     "  width INTEGER NOT NULL,"
     "  height INTEGER NOT NULL,"
     "  sha256 TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY (media_id, version, name)"
     ") WITHOUT ROWID;"
     "CREATE UNIQUE INDEX variants_storage_key ON variants(storage_key);"},
    {"outbox payload and media index",
     /* What a job carries besides its key: a webhook's event body (the
      * bytes signed and sent). media_id is indexed for "is any removal of
      * this media left" (the media.deleted webhook waits for it). */
     "ALTER TABLE outbox ADD COLUMN payload TEXT NOT NULL DEFAULT '';"
     "CREATE INDEX outbox_media ON outbox(media_id, kind);"},
};

const int ml_repo_sqlite_migrations_count =
    (int)(sizeof(ml_repo_sqlite_migrations) / sizeof(ml_repo_sqlite_migrations[0]));
