/*
 * test_repo_sqlite.c - the repository contract (src/db/repo.h) against the
 * SQLite backend, on real database files in a temporary directory.
 *
 * The listing is checked against a brute-force model in C: every ordering,
 * every filter alone and combined, every page, so a wrong index, collation
 * or escape shows up as a differing id. Tests that need the raw sqlite3
 * handle (query plans, pragmas, a full database) run only in builds with
 * ML_TEST_HOOKS.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/timeutil.h"
#include "db/repo.h"
#include "db/repo_int.h"

struct fixture {
  char dir[64];
  int seq;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(path);
}

static int group_setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  if(!fx)
    return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/ml_repo_test_XXXXXX");
  if(!mkdtemp(fx->dir)) {
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

static int group_teardown(void **state) {
  struct fixture *fx = *state;
  nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

/* A fresh database file per call. */
static void new_url(struct fixture *fx, char *url, size_t size) {
  snprintf(url, size, "sqlite://%s/t%d.db", fx->dir, ++fx->seq);
}

static struct ml_repo *open_new(struct fixture *fx, int pool) {
  char url[128];
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  new_url(fx, url, sizeof(url));
  assert_int_equal(ml_repo_open(url, pool, 1, &r, &eb), ML_OK);
  assert_non_null(r);
  return r;
}

static struct ml_media sample_media(const char *title, const char *tags) {
  struct ml_media m;
  memset(&m, 0, sizeof(m));
  m.state = ML_MEDIA_ACTIVE;
  m.title = title;
  m.alt_text = "alt";
  m.caption = "caption";
  m.folder = "tours";
  m.tags = tags;
  m.filename = "f.jpg";
  m.mime_type = "image/jpeg";
  m.size = 1234;
  m.width = 640;
  m.height = 480;
  snprintf(m.sha256, sizeof(m.sha256), "%064d", 7);
  m.version = 1;
  m.storage_key = "m/1/v1-abc/original";
  m.created_at = 1700000000000;
  m.updated_at = 1700000000001;
  return m;
}

static void assert_media_equal(const struct ml_media *a, const struct ml_media *b) {
  assert_int_equal(a->id, b->id);
  assert_int_equal(a->state, b->state);
  assert_string_equal(a->title, b->title);
  assert_string_equal(a->alt_text, b->alt_text);
  assert_string_equal(a->caption, b->caption);
  assert_string_equal(a->folder, b->folder);
  assert_string_equal(a->tags, b->tags);
  assert_string_equal(a->filename, b->filename);
  assert_string_equal(a->mime_type, b->mime_type);
  assert_int_equal(a->size, b->size);
  assert_int_equal(a->width, b->width);
  assert_int_equal(a->height, b->height);
  assert_string_equal(a->sha256, b->sha256);
  assert_int_equal(a->version, b->version);
  assert_string_equal(a->storage_key, b->storage_key);
  assert_int_equal(a->created_at, b->created_at);
  assert_int_equal(a->updated_at, b->updated_at);
}

static int64_t list_count(struct ml_conn *c, const struct ml_media_filter *f) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_media *items = NULL;
  size_t n = 0;
  int64_t count = -1;
  assert_non_null(a);
  assert_int_equal(ml_repo_media_list(c, f, a, &items, &n, &count, &eb), ML_OK);
  ml_arena_destroy(&a);
  return count;
}

static struct ml_media_filter all_filter(void) {
  struct ml_media_filter f;
  memset(&f, 0, sizeof(f));
  f.order = ML_ORDER_CREATED_DESC;
  f.limit = 100;
  return f;
}

/* ------------------------------------------------------------------ */

static void test_open_migrate(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  char url[160];
  int applied = -1, version = -1;

  /* Missing directories are made. */
  snprintf(url, sizeof(url), "sqlite://%s/deep/er/x.db", fx->dir);
  assert_int_equal(ml_repo_open(url, 2, 0, &r, &eb), ML_OK);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, 0);
  assert_int_equal(ml_repo_migrate(r, &applied, &eb), ML_OK);
  assert_int_equal(applied, ml_repo_sqlite_migrations_count);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, ml_repo_sqlite_migrations_count);
  ml_repo_close(&r);
  assert_null(r);

  /* A second open applies nothing. */
  assert_int_equal(ml_repo_open(url, 1, 1, &r, &eb), ML_OK);
  assert_int_equal(ml_repo_migrate(r, &applied, &eb), ML_OK);
  assert_int_equal(applied, 0);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, ml_repo_sqlite_migrations_count);
  ml_repo_close(&r);
  ml_repo_close(&r); /* twice is harmless */
}

static void test_open_relative_paths(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  char cwd[PATH_MAX];
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
}

static void test_open_bad_urls(void **state) {
  struct fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  char url[160];
  int fd;

  assert_int_equal(ml_repo_open("postgres://u@h/db", 1, 1, &r, &eb), ML_ERR_CONFIG);
  assert_string_equal(eb.msg, "postgres support is not built yet");
  assert_null(r);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_open("mysql://x", 1, 1, &r, &eb), ML_ERR_CONFIG);
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

/* Several processes starting on a new file at once: one migrates, the
 * others see it done once they get the write lock. The children wait on a
 * pipe so they all start together. */
static void test_migrate_concurrent(void **state) {
  struct fixture *fx = *state;
  pid_t pids[4];
  int gate[2], i, version = -1;
  char url[128];
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;

  new_url(fx, url, sizeof(url));
  assert_int_equal(pipe(gate), 0);
  for(i = 0; i < 4; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if(pids[i] == 0) {
      char b;
      ml_err rc;
      close(gate[1]);
      while(read(gate[0], &b, 1) < 0 && errno == EINTR)
        ;
      rc = ml_repo_open(url, 2, 1, &r, &eb);
      if(rc)
        fprintf(stderr, "child %d: %s: %s\n", i, ml_err_code(rc), eb.msg);
      ml_repo_close(&r);
      _exit(rc == ML_OK ? 0 : 10 + (int)rc);
    }
  }
  close(gate[0]);
  close(gate[1]); /* EOF: go */
  for(i = 0; i < 4; i++) {
    int status = 0;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(ml_repo_open(url, 1, 0, &r, &eb), ML_OK);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, ml_repo_sqlite_migrations_count);
  ml_repo_close(&r);
}

static void test_media_roundtrip(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = sample_media("Sunset over the ghats", "sunset,river"), got, m2;
  int64_t first_id;

  assert_non_null(a);
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_ping(c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_true(m.id > 0);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_media_equal(&got, &m);

  /* Every column changes. */
  m2 = m;
  m2.title = "New title";
  m2.alt_text = "New alt";
  m2.caption = "";
  m2.folder = "";
  m2.tags = "";
  m2.filename = "g.png";
  m2.mime_type = "image/png";
  m2.size = 99;
  m2.width = 0;
  m2.height = 0;
  snprintf(m2.sha256, sizeof(m2.sha256), "%064d", 9);
  m2.version = 2;
  m2.storage_key = "m/1/v2-def/original";
  m2.created_at = 1700000000005;
  m2.updated_at = 1700000000010;
  assert_int_equal(ml_repo_media_update(c, &m2, 1, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_media_equal(&got, &m2);

  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_non_null(strstr(eb.msg, "does not exist"));
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_ERR_NOT_FOUND);

  /* Ids are never handed out twice, not even the newest one's. */
  first_id = m.id;
  m = sample_media("again", "");
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_true(m.id > first_id);

  /* NULL strings are stored as "". */
  m = sample_media(NULL, NULL);
  m.alt_text = NULL;
  m.storage_key = NULL;
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_string_equal(got.title, "");
  assert_string_equal(got.alt_text, "");
  assert_string_equal(got.tags, "");
  assert_string_equal(got.storage_key, "");

  ml_repo_release(&c);
  assert_null(c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

static void test_pending_invisible(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = sample_media("pending", "p"), active = sample_media("active", "p"), got;
  struct ml_media_filter f = all_filter();

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  m.state = ML_MEDIA_PENDING;
  m.sha256[0] = '\0';
  m.storage_key = "";
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &active, &eb), ML_OK);

  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_OK);
  assert_int_equal(got.state, ML_MEDIA_PENDING);
  assert_string_equal(got.sha256, "");
  assert_int_equal(list_count(c, &f), 1);
  f.tag = "p";
  assert_int_equal(list_count(c, &f), 1);
  f.tag = NULL;

  /* Committing the upload makes it visible (and counted). */
  m.state = ML_MEDIA_ACTIVE;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 2);
  /* Saving an active row again does not count it twice. */
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 2);
  /* Marked missing by fsck: invisible like pending, but kept. */
  m.state = ML_MEDIA_MISSING;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 1);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_OK);
  assert_int_equal(got.state, ML_MEDIA_MISSING);
  m.state = ML_MEDIA_ACTIVE;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 2);
  /* Back to pending, then deletes: the count follows. */
  m.state = ML_MEDIA_PENDING;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 1);
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 1);
  assert_int_equal(ml_repo_media_delete(c, active.id, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 0);

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

static void test_update_conflict_vs_not_found(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = sample_media("v", "a"), got;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  m.version = 2; /* a replacement */
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  /* A second writer that also read version 1 loses. */
  m.title = "lost";
  m.tags = "b";
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_ERR_CONFLICT);
  assert_non_null(strstr(eb.msg, "changed"));
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_string_equal(got.title, "v");
  assert_string_equal(got.tags, "a");
  assert_int_equal(got.version, 2);

  m.id = 999999;
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_media_update(c, &m, 2, &eb), ML_ERR_NOT_FOUND);
  assert_non_null(strstr(eb.msg, "does not exist"));

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

static void test_tags_sync(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = sample_media("t", "sunset,river"), other = sample_media("o", "river");
  struct ml_media_filter f = all_filter();

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &other, &eb), ML_OK);
  f.tag = "sunset";
  assert_int_equal(list_count(c, &f), 1);
  f.tag = "river";
  assert_int_equal(list_count(c, &f), 2);

  m.tags = "river,city";
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  f.tag = "sunset";
  assert_int_equal(list_count(c, &f), 0);
  f.tag = "city";
  assert_int_equal(list_count(c, &f), 1);
  f.tag = "river";
  assert_int_equal(list_count(c, &f), 2);

  /* Empty pieces are skipped and repeats stored once. */
  m.tags = ",x,,x,y,";
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  f.tag = "x";
  assert_int_equal(list_count(c, &f), 1);
  f.tag = "";
  assert_int_equal(list_count(c, &f), 0);
  f.tag = "city";
  assert_int_equal(list_count(c, &f), 0);

  /* The tag rows go with the media row. */
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
#ifdef ML_TEST_HOOKS
  {
    sqlite3 *db = (sqlite3 *)ml_repo_sqlite_handle(c);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM media_tags WHERE media_id = ?", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, m.id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
  }
#endif
  f.tag = "x";
  assert_int_equal(list_count(c, &f), 0);

  ml_repo_release(&c);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* The listing against a model */

#define NROWS 61

struct model_row {
  int64_t id;
  int state;
  char title[32];
  char alt_text[32];
  char caption[32];
  char folder[32];
  char tags[32];
  char filename[32];
  char mime[32];
  int64_t size;
  int64_t created_at;
  int64_t updated_at;
};

static const char *const titles[] = {"Sunset",      "sunrise", "100% pure", "a_b file",
                                     "back\\slash", "Zebra",   "apple",     "",
                                     "Banana",      "aXb",     "SUNNY",     "under_score"};
static const char *const alts[] = {"", "orange sky", "50%", "x_y", "river steps"};
static const char *const captions[] = {"", "Taken at dawn", "sun-kissed", "100 percent"};
static const char *const folders[] = {"", "tours", "tours/varanasi"};
static const char *const tagsets[] = {"", "sunset", "river", "sunset,river", "city,Sunset"};
static const char *const filenames[] = {"a.jpg", "b.png", "SUN.gif", "doc.pdf", "x%y.mp4"};
static const char *const mimes[] = {"image/png", "image/jpeg", "application/pdf",
                                    "video/mp4", "imagex/odd", "image/gif"};

#define PICK(arr, i) (arr)[(size_t)(i) % (sizeof(arr) / sizeof((arr)[0]))]

static void make_dataset(struct ml_conn *c, struct model_row *rows) {
  struct ml_errbuf eb = {{0}};
  int i;
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  for(i = 0; i < NROWS; i++) {
    struct model_row *mr = &rows[i];
    struct ml_media m;
    memset(mr, 0, sizeof(*mr));
    mr->state = (i % 9 == 4) ? ML_MEDIA_PENDING : ML_MEDIA_ACTIVE;
    snprintf(mr->title, sizeof(mr->title), "%s", PICK(titles, i));
    snprintf(mr->alt_text, sizeof(mr->alt_text), "%s", PICK(alts, i * 3));
    snprintf(mr->caption, sizeof(mr->caption), "%s", PICK(captions, i * 5));
    snprintf(mr->folder, sizeof(mr->folder), "%s", PICK(folders, i));
    snprintf(mr->tags, sizeof(mr->tags), "%s", PICK(tagsets, i * 7));
    snprintf(mr->filename, sizeof(mr->filename), "%s", PICK(filenames, i * 11));
    snprintf(mr->mime, sizeof(mr->mime), "%s", PICK(mimes, i * 13));
    mr->size = (i % 7) * 100;               /* ties */
    mr->created_at = 1000 + (i % 10);       /* ties */
    mr->updated_at = 5000 + ((i * 7) % 13); /* ties */
    m = sample_media(mr->title, mr->tags);
    m.state = mr->state;
    m.alt_text = mr->alt_text;
    m.caption = mr->caption;
    m.folder = mr->folder;
    m.filename = mr->filename;
    m.mime_type = mr->mime;
    m.size = mr->size;
    m.created_at = mr->created_at;
    m.updated_at = mr->updated_at;
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
    mr->id = m.id;
  }
  assert_int_equal(ml_repo_commit(c, &eb), ML_OK);
}

/* ASCII case-insensitive substring, as SQLite's LIKE. */
static int icontains(const char *hay, const char *needle) {
  size_t hn = strlen(hay), nn = strlen(needle), i, j;
  if(nn > hn)
    return 0;
  for(i = 0; i + nn <= hn; i++) {
    for(j = 0; j < nn; j++) {
      unsigned char x = (unsigned char)hay[i + j], y = (unsigned char)needle[j];
      if(x >= 'A' && x <= 'Z')
        x = (unsigned char)(x + 32);
      if(y >= 'A' && y <= 'Z')
        y = (unsigned char)(y + 32);
      if(x != y)
        break;
    }
    if(j == nn)
      return 1;
  }
  return 0;
}

static int has_tag(const char *tags, const char *tag) {
  const char *p = tags;
  size_t tl = strlen(tag);
  while(*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if(len == tl && len > 0 && !strncmp(p, tag, len))
      return 1;
    p += len;
    if(*p == ',')
      p++;
  }
  return 0;
}

static int model_match(const struct model_row *mr, const struct ml_media_filter *f) {
  if(mr->state != ML_MEDIA_ACTIVE)
    return 0;
  if(f->folder && strcmp(mr->folder, f->folder))
    return 0;
  if(f->mime && strcmp(mr->mime, f->mime))
    return 0;
  if(f->mime_prefix && strncmp(mr->mime, f->mime_prefix, strlen(f->mime_prefix)))
    return 0;
  if(f->tag && !has_tag(mr->tags, f->tag))
    return 0;
  if(f->q && !icontains(mr->title, f->q) && !icontains(mr->alt_text, f->q) &&
     !icontains(mr->caption, f->q) && !icontains(mr->filename, f->q))
    return 0;
  return 1;
}

/* SQLite's NOCASE: ASCII folded to lower case, then bytes. */
static int nocase_cmp(const char *a, const char *b) {
  for(;; a++, b++) {
    unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
    if(x >= 'A' && x <= 'Z')
      x = (unsigned char)(x + 32);
    if(y >= 'A' && y <= 'Z')
      y = (unsigned char)(y + 32);
    if(x != y || !x)
      return (int)x - (int)y;
  }
}

static int cmp64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int model_cmp(const struct model_row *a, const struct model_row *b, enum ml_order o) {
  int k, desc = 0;
  switch(o) {
  case ML_ORDER_CREATED_DESC: desc = 1; /* fall through */
  case ML_ORDER_CREATED_ASC: k = cmp64(a->created_at, b->created_at); break;
  case ML_ORDER_TITLE_DESC: desc = 1; /* fall through */
  case ML_ORDER_TITLE_ASC: k = nocase_cmp(a->title, b->title); break;
  case ML_ORDER_SIZE_DESC: desc = 1; /* fall through */
  case ML_ORDER_SIZE_ASC: k = cmp64(a->size, b->size); break;
  case ML_ORDER_UPDATED_DESC: desc = 1; /* fall through */
  case ML_ORDER_UPDATED_ASC:
  default: k = cmp64(a->updated_at, b->updated_at); break;
  }
  if(!k)
    k = cmp64(a->id, b->id);
  return desc ? -k : k;
}

/* The model's answer: matching rows sorted (insertion sort, small n). */
static size_t model_list(const struct model_row *rows, const struct ml_media_filter *f,
                         const struct model_row **out) {
  size_t n = 0, i, j;
  for(i = 0; i < NROWS; i++) {
    if(!model_match(&rows[i], f))
      continue;
    for(j = n; j > 0 && model_cmp(out[j - 1], &rows[i], f->order) > 0; j--)
      out[j] = out[j - 1];
    out[j] = &rows[i];
    n++;
  }
  return n;
}

/* Every page of every ordering for one filter equals the model's. */
static void check_filter(struct ml_conn *c, const struct model_row *rows, struct ml_media_filter f,
                         size_t expect_min) {
  const struct model_row *want[NROWS];
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  int o;
  assert_non_null(a);
  for(o = 0; o < ML_ORDER__COUNT; o++) {
    size_t nwant, off;
    f.order = (enum ml_order)o;
    nwant = model_list(rows, &f, want);
    assert_true(nwant >= expect_min);
    for(off = 0; off <= nwant + 7; off += 7) {
      struct ml_media *items = NULL;
      size_t n = 0, i;
      int64_t count = -1;
      f.offset = (int64_t)off;
      f.limit = 7;
      ml_arena_reset(a);
      assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
      assert_int_equal(count, (int64_t)nwant);
      assert_int_equal(n, off >= nwant ? 0 : (nwant - off < 7 ? nwant - off : 7));
      for(i = 0; i < n; i++) {
        if(items[i].id != want[off + i]->id)
          fail_msg("order %d q=%s folder=%s mime=%s prefix=%s tag=%s: row %zu is id %" PRId64
                   ", want %" PRId64,
                   o, f.q ? f.q : "-", f.folder ? f.folder : "-", f.mime ? f.mime : "-",
                   f.mime_prefix ? f.mime_prefix : "-", f.tag ? f.tag : "-", off + i, items[i].id,
                   want[off + i]->id);
        assert_string_equal(items[i].title, want[off + i]->title);
        assert_string_equal(items[i].tags, want[off + i]->tags);
      }
    }
  }
  ml_arena_destroy(&a);
}

static void test_list_orderings_and_filters(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct model_row rows[NROWS];
  struct ml_media_filter f;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  make_dataset(c, rows);

  /* No filter: every ordering, every page. */
  f = all_filter();
  check_filter(c, rows, f, 50);

  /* Each filter alone. */
  f = all_filter();
  f.folder = "tours";
  check_filter(c, rows, f, 5);
  f = all_filter();
  f.folder = ""; /* the root folder, not "any" */
  check_filter(c, rows, f, 5);
  f = all_filter();
  f.folder = "nowhere";
  check_filter(c, rows, f, 0);
  f = all_filter();
  f.mime = "image/png";
  check_filter(c, rows, f, 3);
  f = all_filter();
  f.mime_prefix = "image/"; /* not imagex/odd */
  check_filter(c, rows, f, 10);
  f = all_filter();
  f.mime_prefix = "video/";
  check_filter(c, rows, f, 3);
  f = all_filter();
  f.tag = "sunset";
  check_filter(c, rows, f, 5);
  f = all_filter();
  f.tag = "Sunset"; /* tags match exactly */
  check_filter(c, rows, f, 3);
  f = all_filter();
  f.q = "sun"; /* title, caption and filename; any case */
  check_filter(c, rows, f, 10);
  f = all_filter();
  f.q = "SUN";
  check_filter(c, rows, f, 10);
  f = all_filter();
  f.q = "river";
  check_filter(c, rows, f, 3);

  /* LIKE's wildcards and its escape character match literally. */
  f = all_filter();
  f.q = "%";
  check_filter(c, rows, f, 3);
  f = all_filter();
  f.q = "_";
  check_filter(c, rows, f, 3);
  f = all_filter();
  f.q = "a_b"; /* not "aXb" */
  check_filter(c, rows, f, 1);
  f = all_filter();
  f.q = "100%"; /* not "100 percent" */
  check_filter(c, rows, f, 1);
  f = all_filter();
  f.q = "\\";
  check_filter(c, rows, f, 1);
  f = all_filter();
  f.q = "k\\s";
  check_filter(c, rows, f, 1);
  f = all_filter();
  f.q = "";
  check_filter(c, rows, f, 50);

  /* Combined. */
  f = all_filter();
  f.mime_prefix = "image/";
  f.tag = "sunset";
  check_filter(c, rows, f, 1);
  f = all_filter();
  f.folder = "tours";
  f.q = "sun";
  check_filter(c, rows, f, 1);
  f = all_filter();
  f.folder = "tours/varanasi";
  f.mime_prefix = "image/";
  f.tag = "river";
  f.q = "a";
  check_filter(c, rows, f, 0);
  f = all_filter();
  f.folder = "";
  f.mime = "image/jpeg";
  f.mime_prefix = "image/";
  f.tag = "river";
  f.q = "e";
  check_filter(c, rows, f, 0);

  ml_repo_release(&c);
  ml_repo_close(&r);
}

static void test_list_pagination_and_bounds(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = all_filter();
  struct ml_media *items = NULL;
  size_t n = 0;
  int64_t count = 0, prev = INT64_MAX;
  int i;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  for(i = 0; i < 45; i++) {
    struct ml_media m = sample_media("p", "");
    m.created_at = 1000 + i;
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  }
  f.limit = 20;
  for(i = 0; i < 3; i++) {
    size_t k;
    f.offset = i * 20;
    assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
    assert_int_equal(count, 45);
    assert_int_equal(n, i < 2 ? 20 : 5);
    for(k = 0; k < n; k++) {
      assert_true(items[k].created_at < prev);
      prev = items[k].created_at;
    }
  }
  f.offset = 1000;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(count, 45);

  f.offset = 0;
  f.limit = 100;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 45);
  f.limit = 0;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_ERR_BAD_REQUEST);
  f.limit = 101;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_ERR_BAD_REQUEST);
  f.limit = 10;
  f.offset = -1;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_ERR_BAD_REQUEST);
  f.offset = 0;
  f.order = ML_ORDER__COUNT;
  assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_ERR_BAD_REQUEST);

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* Outbox */

static struct ml_job make_job(const char *key, int64_t next_at, int64_t created_at) {
  struct ml_job j;
  memset(&j, 0, sizeof(j));
  j.kind = "remove_blob";
  j.key = key;
  j.media_id = 7;
  j.next_at = next_at;
  j.created_at = created_at;
  return j;
}

static void test_outbox(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_job j1 = make_job("k1", 100, 50), j2 = make_job("k2", 200, 60),
                later = make_job("k3", 10000, 40), got, *jobs = NULL;
  size_t n = 9;
  int64_t depth = -1, oldest = -1;
  int exists = -1;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_job_stats(c, &depth, &oldest, &eb), ML_OK);
  assert_int_equal(depth, 0);
  assert_int_equal(oldest, 0);

  assert_int_equal(ml_repo_job_add(c, &j1, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &j2, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &later, &eb), ML_OK);
  assert_true(j1.id > 0 && j2.id > j1.id && later.id > j2.id);
  assert_int_equal(ml_repo_job_get(c, j1.id, a, &got, &eb), ML_OK);
  assert_int_equal(got.id, j1.id);
  assert_string_equal(got.kind, "remove_blob");
  assert_string_equal(got.key, "k1");
  assert_int_equal(got.media_id, 7);
  assert_int_equal(got.attempts, 0);
  assert_int_equal(got.next_at, 100);
  assert_int_equal(got.lease_until, 0);
  assert_string_equal(got.last_error, "");
  assert_int_equal(got.created_at, 50);

  assert_int_equal(ml_repo_job_stats(c, &depth, &oldest, &eb), ML_OK);
  assert_int_equal(depth, 3);
  assert_int_equal(oldest, 40);

  /* max 0 claims nothing; at 150 only j1 is due. */
  assert_int_equal(ml_repo_job_claim(c, 150, 1000, 0, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(ml_repo_job_claim(c, 150, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, j1.id);
  assert_int_equal(jobs[0].lease_until, 1150);
  assert_string_equal(jobs[0].key, "k1");
  assert_int_equal(ml_repo_job_get(c, j1.id, a, &got, &eb), ML_OK);
  assert_int_equal(got.lease_until, 1150);

  /* Leased: not claimed again until the lease runs out; j2 is due now. */
  assert_int_equal(ml_repo_job_claim(c, 500, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, j2.id);
  assert_int_equal(ml_repo_job_claim(c, 1149, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  /* Both leases over at 1500: oldest due first, and max is honoured. */
  assert_int_equal(ml_repo_job_claim(c, 1500, 1000, 1, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, j1.id);
  assert_int_equal(ml_repo_job_claim(c, 1500, 1000, 5, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, j2.id);

  /* A failure: attempts+1, new next_at, error kept, lease cleared. */
  assert_int_equal(ml_repo_job_fail(c, j1.id, 9000, "store said 503", &eb), ML_OK);
  assert_int_equal(ml_repo_job_get(c, j1.id, a, &got, &eb), ML_OK);
  assert_int_equal(got.attempts, 1);
  assert_int_equal(got.next_at, 9000);
  assert_int_equal(got.lease_until, 0);
  assert_string_equal(got.last_error, "store said 503");
  assert_int_equal(ml_repo_job_fail(c, j1.id, 9500, NULL, &eb), ML_OK);
  assert_int_equal(ml_repo_job_get(c, j1.id, a, &got, &eb), ML_OK);
  assert_int_equal(got.attempts, 2);
  assert_string_equal(got.last_error, "");
  /* j1 is not due before its next_at, even with no lease; j2's lease
   * (taken at 1500) has run out, so it comes back. */
  assert_int_equal(ml_repo_job_claim(c, 9499, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, j2.id);
  assert_int_equal(ml_repo_job_claim(c, 10000, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(jobs[0].id, j1.id); /* next_at 9500 before 10000 */
  assert_int_equal(jobs[1].id, later.id);
  assert_int_equal(ml_repo_job_fail(c, 424242, 1, "x", &eb), ML_ERR_NOT_FOUND);

  assert_int_equal(ml_repo_job_exists_for_key(c, "k2", &exists, &eb), ML_OK);
  assert_int_equal(exists, 1);
  assert_int_equal(ml_repo_job_exists_for_key(c, "k9", &exists, &eb), ML_OK);
  assert_int_equal(exists, 0);

  assert_int_equal(ml_repo_job_delete(c, later.id, &eb), ML_OK);
  assert_int_equal(ml_repo_job_get(c, later.id, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_job_delete(c, later.id, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_job_exists_for_key(c, "k3", &exists, &eb), ML_OK);
  assert_int_equal(exists, 0);
  assert_int_equal(ml_repo_job_stats(c, &depth, &oldest, &eb), ML_OK);
  assert_int_equal(depth, 2);
  assert_int_equal(oldest, 50);

  /* Jobs outlive their media row. */
  {
    struct ml_media m = sample_media("m", "");
    struct ml_job jm;
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
    jm = make_job("mk", 0, 1);
    jm.media_id = m.id;
    assert_int_equal(ml_repo_job_add(c, &jm, &eb), ML_OK);
    assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
    assert_int_equal(ml_repo_job_get(c, jm.id, a, &got, &eb), ML_OK);
    assert_int_equal(got.media_id, m.id);
  }

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* The payload column; jobs of one kind and key are a FIFO queue; jobs of a
 * media by kind. */
static void test_outbox_fifo_payload(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_job w1 = make_job("webhook:e:7", 100, 1), w2 = make_job("webhook:e:7", 50, 2),
                w3 = make_job("webhook:e:7", 50, 3), other = make_job("webhook:e:8", 50, 4),
                blob = make_job("webhook:e:7", 50, 5), got, *jobs = NULL;
  size_t n = 0;
  int exists = -1;

  w1.kind = w2.kind = w3.kind = other.kind = "webhook";
  w1.payload = "{\"type\":\"media.created\"}";
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &w1, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &w2, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &w3, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &other, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &blob, &eb), ML_OK); /* same key, another kind */
  assert_int_equal(ml_repo_job_get(c, w1.id, a, &got, &eb), ML_OK);
  assert_string_equal(got.payload, "{\"type\":\"media.created\"}");
  assert_int_equal(ml_repo_job_get(c, w2.id, a, &got, &eb), ML_OK);
  assert_string_equal(got.payload, ""); /* NULL is stored as "" */

  /* At 60 w2 and w3 are due but wait behind w1 (not due yet): only the
   * other media's job and the other kind's run. */
  assert_int_equal(ml_repo_job_claim(c, 60, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(jobs[0].id, other.id);
  assert_int_equal(jobs[1].id, blob.id);
  assert_string_equal(jobs[0].payload, "");
  /* At 100 w1 is due: it alone, with its payload; w2 waits for it, leased. */
  assert_int_equal(ml_repo_job_claim(c, 100, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, w1.id);
  assert_string_equal(jobs[0].payload, "{\"type\":\"media.created\"}");
  assert_int_equal(ml_repo_job_claim(c, 200, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  /* Done: the next in line, then the one after it. */
  assert_int_equal(ml_repo_job_delete(c, w1.id, &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(c, 200, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, w2.id);
  /* A failure keeps its place: w3 still waits. */
  assert_int_equal(ml_repo_job_fail(c, w2.id, 300, "503", &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(c, 250, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(ml_repo_job_claim(c, 300, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, w2.id);
  assert_int_equal(ml_repo_job_delete(c, w2.id, &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(c, 300, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jobs[0].id, w3.id);

  /* Jobs of a media by kind (make_job's media_id is 7). */
  assert_int_equal(ml_repo_job_exists_for_media(c, "webhook", 7, &exists, &eb), ML_OK);
  assert_int_equal(exists, 1);
  assert_int_equal(ml_repo_job_exists_for_media(c, "remove_blob", 7, &exists, &eb), ML_OK);
  assert_int_equal(exists, 1);
  assert_int_equal(ml_repo_job_exists_for_media(c, "remove_blob", 8, &exists, &eb), ML_OK);
  assert_int_equal(exists, 0);
  assert_int_equal(ml_repo_job_delete(c, blob.id, &eb), ML_OK);
  assert_int_equal(ml_repo_job_exists_for_media(c, "remove_blob", 7, &exists, &eb), ML_OK);
  assert_int_equal(exists, 0);

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* Many runners claiming at once: every job is handed out exactly once. */
#define CLAIM_JOBS 300
#define CLAIMERS 4

struct claim_ctx {
  struct ml_repo *r;
  pthread_mutex_t lock;
  int seen[CLAIM_JOBS + 1];
  int64_t first_id;
  int errors;
};

static void *claim_thread(void *arg) {
  struct claim_ctx *cx = arg;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  if(!a || ml_repo_acquire(cx->r, &c, &eb)) {
    cx->errors++;
    ml_arena_destroy(&a);
    return NULL;
  }
  for(;;) {
    struct ml_job *jobs = NULL;
    size_t n = 0, i;
    ml_arena_reset(a);
    if(ml_repo_job_claim(c, 1000, 60000, 7, a, &jobs, &n, &eb)) {
      pthread_mutex_lock(&cx->lock);
      cx->errors++;
      pthread_mutex_unlock(&cx->lock);
      break;
    }
    if(n == 0)
      break;
    pthread_mutex_lock(&cx->lock);
    for(i = 0; i < n; i++)
      cx->seen[jobs[i].id - cx->first_id]++;
    pthread_mutex_unlock(&cx->lock);
  }
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  return NULL;
}

static void test_outbox_claim_concurrent(void **state) {
  struct fixture *fx = *state;
  struct claim_ctx *cx = calloc(1, sizeof(*cx));
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  pthread_t t[CLAIMERS];
  int i;

  assert_non_null(cx);
  cx->r = open_new(fx, CLAIMERS);
  pthread_mutex_init(&cx->lock, NULL);
  assert_int_equal(ml_repo_acquire(cx->r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  for(i = 0; i < CLAIM_JOBS; i++) {
    /* distinct keys: jobs of one kind and key are claimed one at a time */
    char key[16];
    struct ml_job j;
    snprintf(key, sizeof(key), "k%d", i);
    j = make_job(key, i % 50, 1);
    assert_int_equal(ml_repo_job_add(c, &j, &eb), ML_OK);
    if(i == 0)
      cx->first_id = j.id;
  }
  assert_int_equal(ml_repo_commit(c, &eb), ML_OK);
  ml_repo_release(&c);

  for(i = 0; i < CLAIMERS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, claim_thread, cx), 0);
  for(i = 0; i < CLAIMERS; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(cx->errors, 0);
  for(i = 0; i < CLAIM_JOBS; i++)
    assert_int_equal(cx->seen[i], 1);

  pthread_mutex_destroy(&cx->lock);
  ml_repo_close(&cx->r);
  free(cx);
}

static void test_key_in_use(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = sample_media("k", "");
  int in_use = -1;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  m.storage_key = "m/1/v1-x/original";
  m.state = ML_MEDIA_PENDING; /* any state counts */
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_key_in_use(c, "m/1/v1-x/original", &in_use, &eb), ML_OK);
  assert_int_equal(in_use, 1);
  assert_int_equal(ml_repo_key_in_use(c, "m/1/v1-x/originaL", &in_use, &eb), ML_OK);
  assert_int_equal(in_use, 0);
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
  assert_int_equal(ml_repo_key_in_use(c, "m/1/v1-x/original", &in_use, &eb), ML_OK);
  assert_int_equal(in_use, 0);
  ml_repo_release(&c);
  ml_repo_close(&r);
}

static struct ml_variant sample_variant(int64_t media_id, int64_t version, const char *name,
                                        const char *key) {
  struct ml_variant v;
  memset(&v, 0, sizeof(v));
  v.media_id = media_id;
  v.version = version;
  v.name = name;
  v.storage_key = key;
  v.mime_type = "image/webp";
  v.size = 321;
  v.width = 200;
  v.height = 100;
  snprintf(v.sha256, sizeof(v.sha256), "%064d", 42);
  v.created_at = 1700000000123;
  return v;
}

/* variant_each's callback: counts rows, checks the order. */
static int count_variants(void *ctx, const struct ml_variant *v) {
  int *n = ctx;
  assert_true(v->name[0] && v->storage_key[0] && v->mime_type[0]);
  (*n)++;
  return 0;
}

static void test_variants(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m = sample_media("v", "");
  struct ml_variant v1, v2, v3, got, *items = NULL;
  size_t n = 99;
  int64_t deleted = -1;
  int in_use = -1, n_walked = 0;

  assert_non_null(a);
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  v1 = sample_variant(m.id, 1, "c_fill,f_webp,h_100,w_200",
                      "m/1/v1-a/c_fill,f_webp,h_100,w_200.webp");
  v2 = sample_variant(m.id, 1, "f_png,w_480", "m/1/v1-a/f_png,w_480.png");
  v3 = sample_variant(m.id, 2, "f_png,w_480", "m/1/v2-b/f_png,w_480.png");
  assert_int_equal(ml_repo_variant_list(c, m.id, a, &items, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(ml_repo_variant_get(c, m.id, 1, v1.name, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_variant_put(c, &v1, &eb), ML_OK);
  assert_int_equal(ml_repo_variant_put(c, &v2, &eb), ML_OK);
  /* Version 2 is the current one only once the media was replaced. */
  assert_int_equal(ml_repo_variant_put(c, &v3, &eb), ML_ERR_CONFLICT);
  m.version = 2;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(ml_repo_variant_put(c, &v3, &eb), ML_OK);

  /* Round trip of every column. */
  assert_int_equal(ml_repo_variant_get(c, m.id, 1, v1.name, a, &got, &eb), ML_OK);
  assert_int_equal(got.media_id, m.id);
  assert_int_equal(got.version, 1);
  assert_string_equal(got.name, v1.name);
  assert_string_equal(got.storage_key, v1.storage_key);
  assert_string_equal(got.mime_type, "image/webp");
  assert_int_equal(got.size, 321);
  assert_int_equal(got.width, 200);
  assert_int_equal(got.height, 100);
  assert_string_equal(got.sha256, v1.sha256);
  assert_int_equal(got.created_at, 1700000000123);
  /* The version is part of the key. */
  assert_int_equal(ml_repo_variant_get(c, m.id, 3, v1.name, a, &got, &eb), ML_ERR_NOT_FOUND);

  /* put replaces the row of the same (media, version, name); a stale
   * version is refused. */
  v3.size = 999;
  assert_int_equal(ml_repo_variant_put(c, &v3, &eb), ML_OK);
  assert_int_equal(ml_repo_variant_get(c, m.id, 2, v3.name, a, &got, &eb), ML_OK);
  assert_int_equal(got.size, 999);
  v1.size = 999;
  assert_int_equal(ml_repo_variant_put(c, &v1, &eb), ML_ERR_CONFLICT);
  assert_int_equal(ml_repo_variant_get(c, m.id, 1, v1.name, a, &got, &eb), ML_OK);
  assert_int_equal(got.size, 321);

  /* A variant key is a key in use: the outbox and fsck leave it alone. */
  assert_int_equal(ml_repo_key_in_use(c, v2.storage_key, &in_use, &eb), ML_OK);
  assert_int_equal(in_use, 1);

  /* list: every version, ordered by version then name. */
  assert_int_equal(ml_repo_variant_list(c, m.id, a, &items, &n, &eb), ML_OK);
  assert_int_equal(n, 3);
  assert_string_equal(items[0].name, v1.name);
  assert_string_equal(items[1].name, v2.name);
  assert_int_equal(items[2].version, 2);

  /* delete_below removes the older versions only. */
  assert_int_equal(ml_repo_variant_delete_below(c, m.id, 2, &deleted, &eb), ML_OK);
  assert_int_equal(deleted, 2);
  assert_int_equal(ml_repo_variant_list(c, m.id, a, &items, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(items[0].version, 2);
  assert_int_equal(ml_repo_key_in_use(c, v2.storage_key, &in_use, &eb), ML_OK);
  assert_int_equal(in_use, 0);

  /* A version the media never had is refused too. */
  {
    struct ml_variant future = sample_variant(m.id, 7, "f_png,w_9", "m/1/v7-z/f_png-w_9.png");
    assert_int_equal(ml_repo_variant_put(c, &future, &eb), ML_ERR_CONFLICT);
  }

  /* Two variants cannot share a blob. */
  {
    struct ml_variant twin = sample_variant(m.id, 2, "f_png,w_100", v3.storage_key);
    assert_int_equal(ml_repo_variant_put(c, &twin, &eb), ML_ERR_CONFLICT);
  }
  m.version = 3;
  assert_int_equal(ml_repo_media_update(c, &m, 2, &eb), ML_OK);

  /* Many variants grow the list past its first allocation. */
  for(int i = 0; i < 40; i++) {
    char name[32], key[64];
    struct ml_variant v;
    snprintf(name, sizeof(name), "f_png,w_%d", i + 1);
    snprintf(key, sizeof(key), "m/1/v3-c/f_png,w_%d.png", i + 1);
    v = sample_variant(m.id, 3, name, key);
    assert_int_equal(ml_repo_variant_put(c, &v, &eb), ML_OK);
  }
  assert_int_equal(ml_repo_variant_list(c, m.id, a, &items, &n, &eb), ML_OK);
  assert_int_equal(n, 41);
  assert_int_equal(items[40].version, 3);

  /* each walks every row in order; delete drops one. */
  assert_int_equal(ml_repo_variant_each(c, a, count_variants, &n_walked, &eb), ML_OK);
  assert_int_equal(n_walked, 41);
  assert_int_equal(ml_repo_variant_delete(c, m.id, 3, "f_png,w_1", &eb), ML_OK);
  assert_int_equal(ml_repo_variant_delete(c, m.id, 3, "f_png,w_1", &eb), ML_ERR_NOT_FOUND);
  n_walked = 0;
  assert_int_equal(ml_repo_variant_each(c, a, count_variants, &n_walked, &eb), ML_OK);
  assert_int_equal(n_walked, 40);

  /* The rows go with the media; a variant of a missing media is refused. */
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
  assert_int_equal(ml_repo_variant_list(c, m.id, a, &items, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(ml_repo_variant_put(c, &v3, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_variant_delete_below(c, m.id, INT64_MAX, NULL, &eb), ML_OK);

  ml_repo_release(&c);
  ml_repo_close(&r);
  ml_arena_destroy(&a);
}

struct each_ctx {
  int64_t ids[8];
  char titles[8][16];
  int states[8];
  int calls;
  int stop_after;
};

static int each_cb(void *ctx, const struct ml_media *m) {
  struct each_ctx *ec = ctx;
  if(ec->calls < 8) {
    ec->ids[ec->calls] = m->id;
    ec->states[ec->calls] = m->state;
    snprintf(ec->titles[ec->calls], sizeof(ec->titles[0]), "%s", m->title);
  }
  ec->calls++;
  return ec->stop_after && ec->calls >= ec->stop_after;
}

static void test_media_each(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct each_ctx ec;
  const char *names[3] = {"one", "two", "three"};
  int64_t ids[3];
  int i;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  memset(&ec, 0, sizeof(ec));
  assert_int_equal(ml_repo_media_each(c, a, each_cb, &ec, &eb), ML_OK);
  assert_int_equal(ec.calls, 0);
  for(i = 0; i < 3; i++) {
    struct ml_media m = sample_media(names[i], "");
    m.state = i == 1 ? ML_MEDIA_PENDING : ML_MEDIA_ACTIVE;
    m.created_at = 3000 - i; /* id order differs from created order */
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
    ids[i] = m.id;
  }
  assert_int_equal(ml_repo_media_each(c, a, each_cb, &ec, &eb), ML_OK);
  assert_int_equal(ec.calls, 3);
  for(i = 0; i < 3; i++) {
    assert_int_equal(ec.ids[i], ids[i]);
    assert_string_equal(ec.titles[i], names[i]);
  }
  assert_int_equal(ec.states[1], ML_MEDIA_PENDING);

  memset(&ec, 0, sizeof(ec));
  ec.stop_after = 2;
  assert_int_equal(ml_repo_media_each(c, a, each_cb, &ec, &eb), ML_OK);
  assert_int_equal(ec.calls, 2);
  /* The walk left nothing open: a write on the same connection works. */
  assert_int_equal(ml_repo_media_delete(c, ids[0], &eb), ML_OK);

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* Transactions, pool, locking */

static void test_transactions(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = sample_media("tx", "a,b"), m2 = sample_media("tx2", "c"), got;
  struct ml_media_filter f = all_filter();
  struct ml_job j = make_job("intent", 0, 1), jgot;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  /* Rolled back: nothing stays, tags included. */
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  ml_repo_rollback(c);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_ERR_NOT_FOUND);
  f.tag = "a";
  assert_int_equal(list_count(c, &f), 0);
  ml_repo_rollback(c); /* no transaction: harmless */

  /* A failed call inside a transaction undoes only itself. */
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_begin(c, &eb), ML_ERR_DB); /* no nesting */
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_job_add(c, &j, &eb), ML_OK);
  m.title = "stale";
  assert_int_equal(ml_repo_media_update(c, &m, 5, &eb), ML_ERR_CONFLICT);
  assert_int_equal(ml_repo_media_insert(c, &m2, &eb), ML_OK);
  assert_int_equal(ml_repo_commit(c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_string_equal(got.title, "tx");
  assert_int_equal(ml_repo_media_get(c, m2.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(ml_repo_job_get(c, j.id, a, &jgot, &eb), ML_OK);
  assert_int_equal(list_count(c, &f), 1);

  /* release rolls back what was left open. */
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
  ml_repo_release(&c);
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK); /* the connection is clean */
  assert_int_equal(ml_repo_commit(c, &eb), ML_OK);

  ml_repo_release(&c);
  ml_repo_release(&c); /* NULL: harmless */
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

struct acq_ctx {
  struct ml_repo *r;
  ml_err rc;
  uint64_t waited_ns;
  uint64_t got_at_ns;
  char msg[ML_ERRBUF_SIZE];
};

static void *acquire_thread(void *arg) {
  struct acq_ctx *ac = arg;
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  uint64_t t0 = ml_mono_ns();
  ac->rc = ml_repo_acquire(ac->r, &c, &eb);
  ac->got_at_ns = ml_mono_ns();
  ac->waited_ns = ac->got_at_ns - t0;
  memcpy(ac->msg, eb.msg, sizeof(ac->msg));
  if(!ac->rc) {
    struct ml_errbuf eb2 = {{0}};
    if(ml_repo_ping(c, &eb2))
      ac->rc = ML_ERR_INTERNAL;
    ml_repo_release(&c);
  }
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_pool_waits_then_busy(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 2);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c1 = NULL, *c2 = NULL;
  struct acq_ctx ac[3];
  pthread_t t[3];
  uint64_t released_at;
  int i;

  assert_int_equal(r->acquire_timeout_ms, ML_REPO_ACQUIRE_TIMEOUT_MS);
  assert_true(ML_REPO_ACQUIRE_TIMEOUT_MS >= 1000);
  memset(ac, 0, sizeof(ac));
  assert_int_equal(ml_repo_acquire(r, &c1, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &c2, &eb), ML_OK);
  assert_true(c1 != c2);

  /* A third acquire waits for a release. */
  ac[0].r = r;
  assert_int_equal(pthread_create(&t[0], NULL, acquire_thread, &ac[0]), 0);
  sleep_ms(150);
  released_at = ml_mono_ns();
  ml_repo_release(&c1);
  pthread_join(t[0], NULL);
  assert_int_equal(ac[0].rc, ML_OK);
  assert_true(ac[0].got_at_ns >= released_at);

  /* With none released, it gives up with ML_ERR_BUSY after the timeout
   * (shortened here to keep the test quick). */
  assert_int_equal(ml_repo_acquire(r, &c1, &eb), ML_OK);
  r->acquire_timeout_ms = 200;
  for(i = 1; i < 3; i++) {
    ac[i].r = r;
    assert_int_equal(pthread_create(&t[i], NULL, acquire_thread, &ac[i]), 0);
  }
  for(i = 1; i < 3; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(ac[i].rc, ML_ERR_BUSY);
    assert_true(ac[i].waited_ns >= 150 * 1000000ull);
    assert_non_null(strstr(ac[i].msg, "no free database connection"));
  }
  ml_repo_release(&c1);
  ml_repo_release(&c2);
  ml_repo_close(&r);
}

/* More threads than connections, all working: nobody fails. */
struct churn_ctx {
  struct ml_repo *r;
  int errors;
  pthread_mutex_t lock;
};

static void *churn_thread(void *arg) {
  struct churn_ctx *cx = arg;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_filter f = all_filter();
  int i, errors = 0;
  for(i = 0; a && i < 100; i++) {
    struct ml_errbuf eb = {{0}};
    struct ml_conn *c = NULL;
    struct ml_media *items;
    size_t n;
    int64_t count;
    if(ml_repo_acquire(cx->r, &c, &eb)) {
      errors++;
      continue;
    }
    ml_arena_reset(a);
    if(i % 10 == 0) {
      struct ml_media m = sample_media("churn", "c");
      if(ml_repo_media_insert(c, &m, &eb))
        errors++;
    } else if(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb))
      errors++;
    ml_repo_release(&c);
  }
  ml_arena_destroy(&a);
  pthread_mutex_lock(&cx->lock);
  cx->errors += errors;
  pthread_mutex_unlock(&cx->lock);
  return NULL;
}

static void test_pool_churn(void **state) {
  struct fixture *fx = *state;
  struct churn_ctx cx;
  pthread_t t[8];
  int i;
  cx.r = open_new(fx, 2);
  cx.errors = 0;
  pthread_mutex_init(&cx.lock, NULL);
  for(i = 0; i < 8; i++)
    assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &cx), 0);
  for(i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(cx.errors, 0);
  pthread_mutex_destroy(&cx.lock);
  ml_repo_close(&cx.r);
}

static void test_wal_reads_during_write(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 2);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *w = NULL, *rd = NULL;
  struct ml_media old = sample_media("old", ""), m = sample_media("uncommitted", ""), got;
  struct ml_media_filter f = all_filter();
  uint64_t t0;

  assert_int_equal(ml_repo_acquire(r, &w, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &rd, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(w, &old, &eb), ML_OK);

  assert_int_equal(ml_repo_begin(w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(w, &m, &eb), ML_OK);
  /* The reader neither waits nor sees the uncommitted row. */
  t0 = ml_mono_ns();
  assert_int_equal(ml_repo_media_get(rd, old.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(rd, m.id, 1, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(list_count(rd, &f), 1);
  assert_true(ml_mono_ns() - t0 < 1000000000ull);

#ifdef ML_TEST_HOOKS
  /* A second writer waits for the busy timeout, then gets "locked"
   * (timeout shortened on this handle to keep the test quick). */
  {
    sqlite3 *db = (sqlite3 *)ml_repo_sqlite_handle(rd);
    struct ml_media m3 = sample_media("blocked", "");
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
  }
#endif

  assert_int_equal(ml_repo_commit(w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(rd, m.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(list_count(rd, &f), 2);

  ml_repo_release(&w);
  ml_repo_release(&rd);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* Memory and faults */

static void test_arena_exhausted(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *small = ml_arena_create(4096);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = all_filter();
  struct ml_media *items = (struct ml_media *)1, got;
  char big[5000];
  size_t n = 9;
  int64_t count = 9;

  assert_non_null(small);
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  {
    struct ml_media m = sample_media(big, "");
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
    assert_int_equal(ml_repo_media_get(c, m.id, 0, small, &got, &eb), ML_ERR_NOMEM);
  }
  ml_arena_reset(small);
  assert_int_equal(ml_repo_media_list(c, &f, small, &items, &n, &count, &eb), ML_ERR_NOMEM);
  assert_null(items);
  assert_int_equal(n, 0);
  assert_int_equal(count, 0);
  /* The failed calls left the statements reset: the connection still works. */
  assert_int_equal(ml_repo_media_delete(c, 1, &eb), ML_OK);
  ml_repo_release(&c);
  ml_arena_destroy(&small);
  ml_repo_close(&r);
}

#ifdef ML_TEST_HOOKS
static void test_open_out_of_memory(void **state) {
  struct fixture *fx = *state;
  char url[128];
  long nth;
  int ok = 0;
  new_url(fx, url, sizeof(url));
  for(nth = 1; nth < 100 && !ok; nth++) {
    struct ml_errbuf eb = {{0}};
    struct ml_repo *r = NULL;
    ml_err rc;
    ml_alloc_fail_after(nth);
    rc = ml_repo_open(url, 3, 1, &r, &eb);
    ml_alloc_fail_after(0);
    if(rc == ML_OK) {
      ok = 1;
      ml_repo_close(&r);
    } else {
      assert_int_equal(rc, ML_ERR_NOMEM);
      assert_null(r);
    }
  }
  assert_true(ok);
  assert_true(nth > 3);
}

static void test_pragmas(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
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
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = all_filter();
  sqlite3 *db;
  sqlite3_stmt *p;
  int o, checked = 0;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  for(o = 0; o < ML_ORDER__COUNT; o++) {
    f.order = (enum ml_order)o;
    list_count(c, &f);
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
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = all_filter();
  char *big = malloc(200000);
  sqlite3 *db;

  assert_non_null(big);
  memset(big, 'y', 199999);
  big[199999] = '\0';
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  db = (sqlite3 *)ml_repo_sqlite_handle(c);
  assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 20", NULL, NULL, NULL), SQLITE_OK);
  {
    struct ml_media m = sample_media(big, "a,b");
    ml_errbuf_clear(&eb);
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_ERR_INSUFFICIENT_STORAGE);
    assert_non_null(strstr(eb.msg, "full"));
  }
  /* Nothing half-written, and the connection is usable. */
  assert_int_equal(list_count(c, &f), 0);
  assert_int_equal(ml_repo_ping(c, &eb), ML_OK);
  {
    struct ml_media m = sample_media("small", "a");
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  }
  free(big);
  ml_repo_release(&c);
  ml_repo_close(&r);
}

static void test_schema_newer_than_build(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(sqlite3_exec((sqlite3 *)ml_repo_sqlite_handle(c), "PRAGMA user_version = 99",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  ml_repo_release(&c);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_migrate(r, NULL, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "newer"));
  ml_repo_close(&r);
}
#endif

/* ------------------------------------------------------------------ */
/* Timing: printed, not asserted (sanitizer builds are several times slower). */

static void test_list_timing(void **state) {
  struct fixture *fx = *state;
  struct ml_repo *r = open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = all_filter();
  struct ml_media *items = NULL;
  size_t n = 0;
  int64_t count = 0;
  uint64_t t0, page_ns, tag_ns, get_ns;
  int i, calls = 10000;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  for(i = 0; i < 1000; i++) {
    char title[64];
    struct ml_media m;
    snprintf(title, sizeof(title), "Photo number %d of the tour", i);
    m = sample_media(title, i % 10 ? "sunset,river" : "city");
    m.created_at = 1700000000000 + i * 1000;
    m.updated_at = m.created_at;
    m.size = 100000 + (i * 7919) % 50000;
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  }
  assert_int_equal(ml_repo_commit(c, &eb), ML_OK);

  /* GET /api/media/?page=5: offset 80, 20 a page, newest first. */
  f.offset = 80;
  f.limit = 20;
  t0 = ml_mono_ns();
  for(i = 0; i < calls; i++) {
    ml_arena_reset(a);
    assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
  }
  page_ns = (ml_mono_ns() - t0) / (uint64_t)calls;
  assert_int_equal(n, 20);
  assert_int_equal(count, 1000);

  f.tag = "city"; /* a filter: the count scans */
  t0 = ml_mono_ns();
  for(i = 0; i < calls / 10; i++) {
    ml_arena_reset(a);
    assert_int_equal(ml_repo_media_list(c, &f, a, &items, &n, &count, &eb), ML_OK);
  }
  tag_ns = (ml_mono_ns() - t0) / (uint64_t)(calls / 10);
  assert_int_equal(count, 100);

  t0 = ml_mono_ns();
  for(i = 0; i < calls; i++) {
    struct ml_media got;
    ml_arena_reset(a);
    assert_int_equal(ml_repo_media_get(c, 1 + i % 1000, 0, a, &got, &eb), ML_OK);
  }
  get_ns = (ml_mono_ns() - t0) / (uint64_t)calls;

  print_message("list page 5 of 1,000 rows (20 rows + count): %.1f us/call\n", page_ns / 1000.0);
  print_message("list filtered by tag (20 rows + count):      %.1f us/call\n", tag_ns / 1000.0);
  print_message("get one by id:                               %.1f us/call\n", get_ns / 1000.0);

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_migrate),
      cmocka_unit_test(test_open_relative_paths),
      cmocka_unit_test(test_open_bad_urls),
      cmocka_unit_test(test_migrate_concurrent),
      cmocka_unit_test(test_media_roundtrip),
      cmocka_unit_test(test_pending_invisible),
      cmocka_unit_test(test_update_conflict_vs_not_found),
      cmocka_unit_test(test_tags_sync),
      cmocka_unit_test(test_list_orderings_and_filters),
      cmocka_unit_test(test_list_pagination_and_bounds),
      cmocka_unit_test(test_outbox),
      cmocka_unit_test(test_outbox_fifo_payload),
      cmocka_unit_test(test_outbox_claim_concurrent),
      cmocka_unit_test(test_key_in_use),
      cmocka_unit_test(test_variants),
      cmocka_unit_test(test_media_each),
      cmocka_unit_test(test_transactions),
      cmocka_unit_test(test_pool_waits_then_busy),
      cmocka_unit_test(test_pool_churn),
      cmocka_unit_test(test_wal_reads_during_write),
      cmocka_unit_test(test_arena_exhausted),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_open_out_of_memory),
      cmocka_unit_test(test_pragmas),
      cmocka_unit_test(test_list_query_plans),
      cmocka_unit_test(test_database_full),
      cmocka_unit_test(test_schema_newer_than_build),
#endif
      cmocka_unit_test(test_list_timing),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
