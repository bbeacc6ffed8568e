/*
 * migrations_pg.c - the PostgreSQL schema, as numbered steps: the same
 * tables, columns and meanings as migrations_sqlite.c, step for step, in
 * PostgreSQL's dialect.
 *
 * The table ml_schema_version has a row per applied step; postgres.c runs
 * the missing steps in order, each in its own transaction that first takes
 * a transaction-scoped advisory lock, so instances starting at once apply
 * each step exactly once, and a crash leaves the schema at a step boundary.
 * Append only: once a step is released, fix it with a new step.
 *
 * Times are epoch milliseconds (BIGINT); ids are identity columns, whose
 * sequences never hand out a value twice. Text that SQLite compares with
 * NOCASE is compared here as lower(x COLLATE "C"): ASCII folded, then bytes,
 * exactly SQLite's NOCASE.
 */
#include "db/repo_int.h"

const struct ml_repo_pg_migration ml_repo_pg_migrations[] = {
    {"create media, media_tags and outbox",
     /* Search (q) is a substring match: pg_trgm's GIN index answers ILIKE
      * '%...%' without a scan. A trusted extension since PostgreSQL 13:
      * the database's owner may create it. */
     "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
     "CREATE TABLE media ("
     "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  state INTEGER NOT NULL DEFAULT 0,"
     "  title TEXT NOT NULL DEFAULT '',"
     "  alt_text TEXT NOT NULL DEFAULT '',"
     "  caption TEXT NOT NULL DEFAULT '',"
     "  folder TEXT NOT NULL DEFAULT '',"
     "  tags TEXT NOT NULL DEFAULT '',"
     "  filename TEXT NOT NULL DEFAULT '',"
     "  mime_type TEXT NOT NULL DEFAULT '',"
     "  size BIGINT NOT NULL DEFAULT 0,"
     "  width BIGINT NOT NULL DEFAULT 0,"
     "  height BIGINT NOT NULL DEFAULT 0,"
     "  sha256 TEXT NOT NULL DEFAULT '',"
     "  version BIGINT NOT NULL DEFAULT 1,"
     "  storage_key TEXT NOT NULL DEFAULT '',"
     "  created_at BIGINT NOT NULL,"
     "  updated_at BIGINT NOT NULL"
     ");"
     /* One index per list ordering, led by state and ending with id (the
      * tie-break), so a page is an index walk in either direction. */
     "CREATE INDEX media_list_created ON media (state, created_at, id);"
     "CREATE INDEX media_list_updated ON media (state, updated_at, id);"
     "CREATE INDEX media_list_title ON media (state, lower(title COLLATE \"C\"), id);"
     "CREATE INDEX media_list_size ON media (state, size, id);"
     "CREATE INDEX media_folder ON media (folder);"
     "CREATE INDEX media_mime ON media (mime_type);"
     "CREATE INDEX media_storage_key ON media (storage_key);"
     /* fastupdate off: new rows go straight into the index instead of a
      * pending list that every search would read until the next vacuum. */
     "CREATE INDEX media_search ON media USING gin (title gin_trgm_ops, alt_text gin_trgm_ops,"
     "  caption gin_trgm_ops, filename gin_trgm_ops) WITH (fastupdate = off);"
     "CREATE TABLE media_tags ("
     "  media_id BIGINT NOT NULL REFERENCES media(id) ON DELETE CASCADE,"
     "  tag TEXT NOT NULL,"
     "  PRIMARY KEY (media_id, tag)"
     ");"
     "CREATE INDEX media_tags_tag ON media_tags (tag, media_id);"
     /* Active rows counted by a trigger, so the unfiltered list count reads
      * 16 small rows instead of scanning. The count is spread over 16 slots
      * (a writer updates the slot of its backend) so concurrent uploads on
      * several connections do not queue on one row lock. */
     "CREATE TABLE media_count ("
     "  slot INTEGER PRIMARY KEY,"
     "  active BIGINT NOT NULL"
     ");"
     "INSERT INTO media_count (slot, active) SELECT s, 0 FROM generate_series(0, 15) AS s;"
     "CREATE FUNCTION media_count_track() RETURNS trigger LANGUAGE plpgsql AS $$"
     "DECLARE d BIGINT := 0;"
     "BEGIN"
     "  IF TG_OP = 'INSERT' THEN"
     "    IF NEW.state = 1 THEN d := 1; END IF;"
     "  ELSIF TG_OP = 'DELETE' THEN"
     "    IF OLD.state = 1 THEN d := -1; END IF;"
     "  ELSIF (OLD.state = 1) <> (NEW.state = 1) THEN"
     "    d := CASE WHEN NEW.state = 1 THEN 1 ELSE -1 END;"
     "  END IF;"
     "  IF d <> 0 THEN"
     "    UPDATE media_count SET active = active + d WHERE slot = pg_backend_pid() % 16;"
     "  END IF;"
     "  RETURN NULL;"
     "END $$;"
     "CREATE TRIGGER media_count_insert AFTER INSERT ON media"
     "  FOR EACH ROW WHEN (NEW.state = 1) EXECUTE FUNCTION media_count_track();"
     "CREATE TRIGGER media_count_delete AFTER DELETE ON media"
     "  FOR EACH ROW WHEN (OLD.state = 1) EXECUTE FUNCTION media_count_track();"
     "CREATE TRIGGER media_count_state AFTER UPDATE OF state ON media"
     "  FOR EACH ROW WHEN ((OLD.state = 1) <> (NEW.state = 1))"
     "  EXECUTE FUNCTION media_count_track();"
     /* The outbox. media_id is not a foreign key: the jobs of a deleted
      * media must outlive its row. */
     "CREATE TABLE outbox ("
     "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  key TEXT NOT NULL,"
     "  media_id BIGINT NOT NULL DEFAULT 0,"
     "  attempts BIGINT NOT NULL DEFAULT 0,"
     "  next_at BIGINT NOT NULL DEFAULT 0,"
     "  lease_until BIGINT NOT NULL DEFAULT 0,"
     "  last_error TEXT NOT NULL DEFAULT '',"
     "  created_at BIGINT NOT NULL"
     ");"
     "CREATE INDEX outbox_due ON outbox (next_at, id);"
     "CREATE INDEX outbox_key ON outbox (key, kind);"
     "CREATE INDEX outbox_created ON outbox (created_at);"},
    {"create users and refresh_tokens",
     /* Unique whatever the ASCII letter case, as SQLite's NOCASE. */
     "CREATE TABLE users ("
     "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  username TEXT NOT NULL,"
     "  password_hash TEXT NOT NULL,"
     "  role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),"
     "  disabled INTEGER NOT NULL DEFAULT 0,"
     "  token_version BIGINT NOT NULL DEFAULT 0,"
     "  created_at BIGINT NOT NULL,"
     "  last_login_at BIGINT NOT NULL DEFAULT 0"
     ");"
     "CREATE UNIQUE INDEX users_username ON users (lower(username COLLATE \"C\"));"
     "CREATE TABLE refresh_tokens ("
     "  jti TEXT PRIMARY KEY,"
     "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     "  expires_at BIGINT NOT NULL,"
     "  revoked INTEGER NOT NULL DEFAULT 0,"
     "  created_at BIGINT NOT NULL"
     ");"
     "CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);"
     "CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);"},
    {"create variants", "CREATE TABLE variants ("
                        "  media_id BIGINT NOT NULL REFERENCES media(id) ON DELETE CASCADE,"
                        "  version BIGINT NOT NULL,"
                        "  name TEXT NOT NULL,"
                        "  storage_key TEXT NOT NULL,"
                        "  mime_type TEXT NOT NULL,"
                        "  size BIGINT NOT NULL,"
                        "  width BIGINT NOT NULL,"
                        "  height BIGINT NOT NULL,"
                        "  sha256 TEXT NOT NULL,"
                        "  created_at BIGINT NOT NULL,"
                        "  PRIMARY KEY (media_id, version, name)"
                        ");"
                        "CREATE UNIQUE INDEX variants_storage_key ON variants (storage_key);"},
    {"outbox payload and media index",
     /* As SQLite's step 4: a webhook's event body, and "is any removal of
      * this media left" by index. */
     "ALTER TABLE outbox ADD COLUMN payload TEXT NOT NULL DEFAULT '';"
     "CREATE INDEX outbox_media ON outbox (media_id, kind);"},
};

const int ml_repo_pg_migrations_count =
    (int)(sizeof(ml_repo_pg_migrations) / sizeof(ml_repo_pg_migrations[0]));
