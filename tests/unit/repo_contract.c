/*
 * repo_contract.c - the repository contract (src/db/repo.h), backend by
 * backend: every test here runs against SQLite (test_repo_sqlite.c) and
 * PostgreSQL (test_repo_pg.c), each on fresh databases.
 *
 * The listing is checked against a brute-force model in C: every ordering,
 * every filter alone and combined, every page, so a wrong index, collation
 * or escape shows up as a differing id. Tests that need a backend's raw
 * handle go through its struct rc_backend hooks, in builds with
 * ML_TEST_HOOKS.
 */
#include "repo_contract.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/timeutil.h"
#include "db/repo_int.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(path);
}

int rc_group_setup(void **state, const struct rc_backend *be) {
  struct rc_fixture *fx = calloc(1, sizeof(*fx));
  if(!fx)
    return -1;
  fx->be = be;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/ml_repo_test_XXXXXX");
  if(!mkdtemp(fx->dir) || (be->setup && be->setup(fx))) {
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

int rc_group_teardown(void **state) {
  struct rc_fixture *fx = *state;
  if(fx->be->done)
    fx->be->done(fx);
  nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

void rc_new_url(struct rc_fixture *fx, char *url, size_t size) { fx->be->new_url(fx, url, size); }

struct ml_repo *rc_open_new(struct rc_fixture *fx, int pool) {
  char url[512];
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  rc_new_url(fx, url, sizeof(url));
  if(ml_repo_open(url, pool, 1, &r, &eb))
    fail_msg("open %s: %s", url, eb.msg);
  assert_non_null(r);
  return r;
}

struct ml_media rc_sample_media(const char *title, const char *tags) {
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

int64_t rc_list_count(struct ml_conn *c, const struct ml_media_filter *f) {
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

struct ml_media_filter rc_all_filter(void) {
  struct ml_media_filter f;
  memset(&f, 0, sizeof(f));
  f.order = ML_ORDER_CREATED_DESC;
  f.limit = 100;
  return f;
}

/* ------------------------------------------------------------------ */

static void test_open_migrate(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;
  char url[512];
  int applied = -1, version = -1;

  rc_new_url(fx, url, sizeof(url));
  assert_int_equal(ml_repo_open(url, 2, 0, &r, &eb), ML_OK);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, 0);
  assert_int_equal(ml_repo_migrate(r, &applied, &eb), ML_OK);
  assert_int_equal(applied, fx->be->migrations);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, fx->be->migrations);
  ml_repo_close(&r);
  assert_null(r);

  /* A second open applies nothing. */
  assert_int_equal(ml_repo_open(url, 1, 1, &r, &eb), ML_OK);
  assert_int_equal(ml_repo_migrate(r, &applied, &eb), ML_OK);
  assert_int_equal(applied, 0);
  assert_int_equal(ml_repo_schema_version(r, &version, &eb), ML_OK);
  assert_int_equal(version, fx->be->migrations);
  ml_repo_close(&r);
  ml_repo_close(&r); /* twice is harmless */
}

/* Several processes starting on a new file at once: one migrates, the
 * others see it done once they get the write lock. The children wait on a
 * pipe so they all start together. */
static void test_migrate_concurrent(void **state) {
  struct rc_fixture *fx = *state;
  pid_t pids[4];
  int gate[2], i, version = -1;
  char url[512];
  struct ml_errbuf eb = {{0}};
  struct ml_repo *r = NULL;

  rc_new_url(fx, url, sizeof(url));
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
  assert_int_equal(version, fx->be->migrations);
  ml_repo_close(&r);
}

static void test_media_roundtrip(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("Sunset over the ghats", "sunset,river"), got, m2;
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
  m = rc_sample_media("again", "");
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_true(m.id > first_id);

  /* NULL strings are stored as "". */
  m = rc_sample_media(NULL, NULL);
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("pending", "p"), active = rc_sample_media("active", "p"), got;
  struct ml_media_filter f = rc_all_filter();

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
  assert_int_equal(rc_list_count(c, &f), 1);
  f.tag = "p";
  assert_int_equal(rc_list_count(c, &f), 1);
  f.tag = NULL;

  /* Committing the upload makes it visible (and counted). */
  m.state = ML_MEDIA_ACTIVE;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 2);
  /* Saving an active row again does not count it twice. */
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 2);
  /* Marked missing by fsck: invisible like pending, but kept. */
  m.state = ML_MEDIA_MISSING;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 1);
  assert_int_equal(ml_repo_media_get(c, m.id, 0, a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_OK);
  assert_int_equal(got.state, ML_MEDIA_MISSING);
  m.state = ML_MEDIA_ACTIVE;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 2);
  /* Back to pending, then deletes: the count follows. */
  m.state = ML_MEDIA_PENDING;
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 1);
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 1);
  assert_int_equal(ml_repo_media_delete(c, active.id, &eb), ML_OK);
  assert_int_equal(rc_list_count(c, &f), 0);

  ml_repo_release(&c);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

static void test_update_conflict_vs_not_found(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("v", "a"), got;

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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("t", "sunset,river"), other = rc_sample_media("o", "river");
  struct ml_media_filter f = rc_all_filter();

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &other, &eb), ML_OK);
  f.tag = "sunset";
  assert_int_equal(rc_list_count(c, &f), 1);
  f.tag = "river";
  assert_int_equal(rc_list_count(c, &f), 2);

  m.tags = "river,city";
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  f.tag = "sunset";
  assert_int_equal(rc_list_count(c, &f), 0);
  f.tag = "city";
  assert_int_equal(rc_list_count(c, &f), 1);
  f.tag = "river";
  assert_int_equal(rc_list_count(c, &f), 2);

  /* Empty pieces are skipped and repeats stored once. */
  m.tags = ",x,,x,y,";
  assert_int_equal(ml_repo_media_update(c, &m, 1, &eb), ML_OK);
  f.tag = "x";
  assert_int_equal(rc_list_count(c, &f), 1);
  f.tag = "";
  assert_int_equal(rc_list_count(c, &f), 0);
  f.tag = "city";
  assert_int_equal(rc_list_count(c, &f), 0);

  /* The tag rows go with the media row. */
  assert_int_equal(ml_repo_media_delete(c, m.id, &eb), ML_OK);
#ifdef ML_TEST_HOOKS
  {
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM media_tags WHERE media_id = %" PRId64, m.id);
    assert_int_equal(fx->be->query_int(c, sql), 0);
    assert_true(fx->be->query_int(c, "SELECT count(*) FROM media_tags") > 0);
  }
#endif
  f.tag = "x";
  assert_int_equal(rc_list_count(c, &f), 0);

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
    m = rc_sample_media(mr->title, mr->tags);
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct model_row rows[NROWS];
  struct ml_media_filter f;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  make_dataset(c, rows);

  /* No filter: every ordering, every page. */
  f = rc_all_filter();
  check_filter(c, rows, f, 50);

  /* Each filter alone. */
  f = rc_all_filter();
  f.folder = "tours";
  check_filter(c, rows, f, 5);
  f = rc_all_filter();
  f.folder = ""; /* the root folder, not "any" */
  check_filter(c, rows, f, 5);
  f = rc_all_filter();
  f.folder = "nowhere";
  check_filter(c, rows, f, 0);
  f = rc_all_filter();
  f.mime = "image/png";
  check_filter(c, rows, f, 3);
  f = rc_all_filter();
  f.mime_prefix = "image/"; /* not imagex/odd */
  check_filter(c, rows, f, 10);
  f = rc_all_filter();
  f.mime_prefix = "video/";
  check_filter(c, rows, f, 3);
  f = rc_all_filter();
  f.tag = "sunset";
  check_filter(c, rows, f, 5);
  f = rc_all_filter();
  f.tag = "Sunset"; /* tags match exactly */
  check_filter(c, rows, f, 3);
  f = rc_all_filter();
  f.q = "sun"; /* title, caption and filename; any case */
  check_filter(c, rows, f, 10);
  f = rc_all_filter();
  f.q = "SUN";
  check_filter(c, rows, f, 10);
  f = rc_all_filter();
  f.q = "river";
  check_filter(c, rows, f, 3);

  /* LIKE's wildcards and its escape character match literally. */
  f = rc_all_filter();
  f.q = "%";
  check_filter(c, rows, f, 3);
  f = rc_all_filter();
  f.q = "_";
  check_filter(c, rows, f, 3);
  f = rc_all_filter();
  f.q = "a_b"; /* not "aXb" */
  check_filter(c, rows, f, 1);
  f = rc_all_filter();
  f.q = "100%"; /* not "100 percent" */
  check_filter(c, rows, f, 1);
  f = rc_all_filter();
  f.q = "\\";
  check_filter(c, rows, f, 1);
  f = rc_all_filter();
  f.q = "k\\s";
  check_filter(c, rows, f, 1);
  f = rc_all_filter();
  f.q = "";
  check_filter(c, rows, f, 50);

  /* Combined. */
  f = rc_all_filter();
  f.mime_prefix = "image/";
  f.tag = "sunset";
  check_filter(c, rows, f, 1);
  f = rc_all_filter();
  f.folder = "tours";
  f.q = "sun";
  check_filter(c, rows, f, 1);
  f = rc_all_filter();
  f.folder = "tours/varanasi";
  f.mime_prefix = "image/";
  f.tag = "river";
  f.q = "a";
  check_filter(c, rows, f, 0);
  f = rc_all_filter();
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
  struct ml_media *items = NULL;
  size_t n = 0;
  int64_t count = 0, prev = INT64_MAX;
  int i;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  for(i = 0; i < 45; i++) {
    struct ml_media m = rc_sample_media("p", "");
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

struct ml_job rc_make_job(const char *key, int64_t next_at, int64_t created_at) {
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_job j1 = rc_make_job("k1", 100, 50), j2 = rc_make_job("k2", 200, 60),
                later = rc_make_job("k3", 10000, 40), got, *jobs = NULL;
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
    struct ml_media m = rc_sample_media("m", "");
    struct ml_job jm;
    assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
    jm = rc_make_job("mk", 0, 1);
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_job w1 = rc_make_job("webhook:e:7", 100, 1), w2 = rc_make_job("webhook:e:7", 50, 2),
                w3 = rc_make_job("webhook:e:7", 50, 3), other = rc_make_job("webhook:e:8", 50, 4),
                blob = rc_make_job("webhook:e:7", 50, 5), got, *jobs = NULL;
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
  /* A media's jobs that wait for later are made due; others are not
   * touched (another kind, another media, jobs already due). */
  {
    struct ml_job late7 = rc_make_job("m/7/v1-old/original", 5000, 3);
    struct ml_job late8 = rc_make_job("m/8/v1-old/original", 5000, 4);
    int64_t changed = -1;
    late8.media_id = 8;
    assert_int_equal(ml_repo_job_add(c, &late7, &eb), ML_OK);
    assert_int_equal(ml_repo_job_add(c, &late8, &eb), ML_OK);
    assert_int_equal(ml_repo_job_due_now_for_media(c, "remove_blob", 7, 400, &changed, &eb), ML_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(ml_repo_job_due_now_for_media(c, "remove_blob", 7, 400, &changed, &eb), ML_OK);
    assert_int_equal(changed, 0); /* already due */
    assert_int_equal(ml_repo_job_claim(c, 400, 1000, 10, a, &jobs, &n, &eb), ML_OK);
    for(size_t i = 0; i < n; i++)
      assert_int_not_equal(jobs[i].id, late8.id); /* media 8's still waits */
    {
      int seen = 0;
      for(size_t i = 0; i < n; i++)
        seen |= jobs[i].id == late7.id;
      assert_true(seen);
    }
    assert_int_equal(ml_repo_job_delete(c, late7.id, &eb), ML_OK);
    assert_int_equal(ml_repo_job_delete(c, late8.id, &eb), ML_OK);
  }
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
  struct rc_fixture *fx = *state;
  struct claim_ctx *cx = calloc(1, sizeof(*cx));
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  pthread_t t[CLAIMERS];
  int i;

  assert_non_null(cx);
  cx->r = rc_open_new(fx, CLAIMERS);
  pthread_mutex_init(&cx->lock, NULL);
  assert_int_equal(ml_repo_acquire(cx->r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  for(i = 0; i < CLAIM_JOBS; i++) {
    /* distinct keys: jobs of one kind and key are claimed one at a time */
    char key[16];
    struct ml_job j;
    snprintf(key, sizeof(key), "k%d", i);
    j = rc_make_job(key, i % 50, 1);
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("k", "");
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

struct ml_variant rc_sample_variant(int64_t media_id, int64_t version, const char *name,
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

/* variant_each's callback: counts rows. */
static int count_variants(void *ctx, const struct ml_variant *v) {
  int *n = ctx;
  assert_true(v->name[0] && v->storage_key[0] && v->mime_type[0]);
  (*n)++;
  return 0;
}

static void test_variants(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m = rc_sample_media("v", "");
  struct ml_variant v1, v2, v3, got, *items = NULL;
  size_t n = 99;
  int64_t deleted = -1;
  int in_use = -1, n_walked = 0;

  assert_non_null(a);
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  v1 = rc_sample_variant(m.id, 1, "c_fill,f_webp,h_100,w_200",
                         "m/1/v1-a/c_fill,f_webp,h_100,w_200.webp");
  v2 = rc_sample_variant(m.id, 1, "f_png,w_480", "m/1/v1-a/f_png,w_480.png");
  v3 = rc_sample_variant(m.id, 2, "f_png,w_480", "m/1/v2-b/f_png,w_480.png");
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
    struct ml_variant future = rc_sample_variant(m.id, 7, "f_png,w_9", "m/1/v7-z/f_png-w_9.png");
    assert_int_equal(ml_repo_variant_put(c, &future, &eb), ML_ERR_CONFLICT);
  }

  /* Two variants cannot share a blob. */
  {
    struct ml_variant twin = rc_sample_variant(m.id, 2, "f_png,w_100", v3.storage_key);
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
    v = rc_sample_variant(m.id, 3, name, key);
    assert_int_equal(ml_repo_variant_put(c, &v, &eb), ML_OK);
  }
  assert_int_equal(ml_repo_variant_list(c, m.id, a, &items, &n, &eb), ML_OK);
  assert_int_equal(n, 41);
  assert_int_equal(items[40].version, 3);

  /* each walks every row; delete drops one. */
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
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
    struct ml_media m = rc_sample_media(names[i], "");
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media m = rc_sample_media("tx", "a,b"), m2 = rc_sample_media("tx2", "c"), got;
  struct ml_media_filter f = rc_all_filter();
  struct ml_job j = rc_make_job("intent", 0, 1), jgot;

  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  /* Rolled back: nothing stays, tags included. */
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  assert_int_equal(ml_repo_media_insert(c, &m, &eb), ML_OK);
  ml_repo_rollback(c);
  assert_int_equal(ml_repo_media_get(c, m.id, 1, a, &got, &eb), ML_ERR_NOT_FOUND);
  f.tag = "a";
  assert_int_equal(rc_list_count(c, &f), 0);
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
  assert_int_equal(rc_list_count(c, &f), 1);

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

void rc_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_pool_waits_then_busy(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 2);
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
  rc_sleep_ms(150);
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
  struct ml_media_filter f = rc_all_filter();
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
      struct ml_media m = rc_sample_media("churn", "c");
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
  struct rc_fixture *fx = *state;
  struct churn_ctx cx;
  pthread_t t[8];
  int i;
  cx.r = rc_open_new(fx, 2);
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

static void test_reads_during_write(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 2);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *w = NULL, *rd = NULL;
  struct ml_media old = rc_sample_media("old", ""), m = rc_sample_media("uncommitted", ""), got;
  struct ml_media_filter f = rc_all_filter();
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
  assert_int_equal(rc_list_count(rd, &f), 1);
  assert_true(ml_mono_ns() - t0 < 1000000000ull);

  assert_int_equal(ml_repo_commit(w, &eb), ML_OK);
  assert_int_equal(ml_repo_media_get(rd, m.id, 0, a, &got, &eb), ML_OK);
  assert_int_equal(rc_list_count(rd, &f), 2);

  ml_repo_release(&w);
  ml_repo_release(&rd);
  ml_arena_destroy(&a);
  ml_repo_close(&r);
}

/* ------------------------------------------------------------------ */
/* Memory and faults */

static void test_arena_exhausted(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *small = ml_arena_create(4096);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
  struct ml_media *items = (struct ml_media *)1, got;
  char big[5000];
  size_t n = 9;
  int64_t count = 9;

  assert_non_null(small);
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  {
    struct ml_media m = rc_sample_media(big, "");
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
  struct rc_fixture *fx = *state;
  char url[512];
  long nth;
  int ok = 0;
  rc_new_url(fx, url, sizeof(url));
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

static void test_schema_newer_than_build(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  fx->be->set_schema_version(c, 99);
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
  struct rc_fixture *fx = *state;
  struct ml_repo *r = rc_open_new(fx, 1);
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_conn *c = NULL;
  struct ml_media_filter f = rc_all_filter();
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
    m = rc_sample_media(title, i % 10 ? "sunset,river" : "city");
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

/* ------------------------------------------------------------------ */
/* Users and refresh tokens: a fresh, migrated database and one
 * connection per test. */

static int user_setup(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  char url[512];
  rc_new_url(fx, url, sizeof(url));
  if(ml_repo_open(url, 2, 1, &fx->repo, &eb) || ml_repo_acquire(fx->repo, &fx->c, &eb)) {
    print_error("open %s: %s\n", url, eb.msg);
    return -1;
  }
  fx->a = ml_arena_create(0);
  return fx->a ? 0 : -1;
}

static int user_teardown(void **state) {
  struct rc_fixture *fx = *state;
  ml_repo_release(&fx->c);
  ml_repo_close(&fx->repo);
  ml_arena_destroy(&fx->a);
  return 0;
}

static struct ml_user user(const char *name, const char *role) {
  struct ml_user u;
  memset(&u, 0, sizeof(u));
  u.username = name;
  u.password_hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA";
  u.role = role;
  u.created_at = 1700000000000;
  return u;
}

static int64_t add(struct rc_fixture *fx, const char *name, const char *role) {
  struct ml_user u = user(name, role);
  struct ml_errbuf eb = {{0}};
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  assert_true(u.id > 0);
  return u.id;
}

static void test_insert_get(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u = user("Alice", "editor"), got;
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  assert_int_equal(u.id, 1);
  assert_int_equal(ml_repo_user_get(fx->c, u.id, fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.id, 1);
  assert_string_equal(got.username, "Alice");
  assert_string_equal(got.password_hash, u.password_hash);
  assert_string_equal(got.role, "editor");
  assert_int_equal(got.disabled, 0);
  assert_int_equal(got.token_version, 0);
  assert_int_equal(got.created_at, 1700000000000);
  assert_int_equal(got.last_login_at, 0);
  /* by name, whatever the case */
  memset(&got, 0, sizeof(got));
  assert_int_equal(ml_repo_user_get_by_name(fx->c, "aLICE", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.id, 1);
  assert_string_equal(got.username, "Alice");
  assert_int_equal(ml_repo_user_get_by_name(fx->c, "Alic", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_get_by_name(fx->c, "Alice%", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_get(fx->c, 2, fx->a, &got, &eb), ML_ERR_NOT_FOUND);
}

static void test_unique_and_checked(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u = user("ALICE", "viewer");
  int64_t n = -1;
  add(fx, "alice", "admin");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_ERR_CONFLICT);
  assert_int_equal(u.id, 0);
  u = user("bob", "root");
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
}

static void test_list(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user *items = NULL;
  size_t n = 0;
  int64_t count = 0;
  char name[16];
  for(int i = 0; i < 25; i++) {
    snprintf(name, sizeof(name), "user%02d", i);
    add(fx, name, i % 3 ? "viewer" : "editor");
  }
  assert_int_equal(ml_repo_user_list(fx->c, 0, 10, fx->a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 10);
  assert_int_equal(count, 25);
  assert_string_equal(items[0].username, "user00");
  assert_int_equal(items[9].id, 10);
  assert_int_equal(ml_repo_user_list(fx->c, 20, 10, fx->a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 5);
  assert_string_equal(items[4].username, "user24");
  assert_int_equal(ml_repo_user_list(fx->c, 100, 10, fx->a, &items, &n, &count, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(count, 25);
  assert_int_equal(ml_repo_user_list(fx->c, 0, 0, fx->a, &items, &n, &count, &eb),
                   ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_repo_user_list(fx->c, 0, 1001, fx->a, &items, &n, &count, &eb),
                   ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_repo_user_list(fx->c, -1, 10, fx->a, &items, &n, &count, &eb),
                   ML_ERR_BAD_REQUEST);
}

static void test_update_touch_count(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u, got;
  int64_t id = add(fx, "carol", "admin"), n = 0;
  add(fx, "dave", "admin");
  add(fx, "erin", "viewer");
  assert_int_equal(ml_repo_user_count(fx->c, 1, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &u, &eb), ML_OK);
  u.role = "editor";
  u.disabled = 1;
  u.token_version = 5;
  u.password_hash = "new-hash";
  u.username = "mallory"; /* not written */
  u.created_at = 1;       /* not written */
  assert_int_equal(ml_repo_user_update(fx->c, &u, &eb), ML_OK);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &got, &eb), ML_OK);
  assert_string_equal(got.username, "carol");
  assert_string_equal(got.role, "editor");
  assert_string_equal(got.password_hash, "new-hash");
  assert_int_equal(got.disabled, 1);
  assert_int_equal(got.token_version, 5);
  assert_int_equal(got.created_at, 1700000000000);
  assert_int_equal(ml_repo_user_count(fx->c, 1, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 3);
  assert_int_equal(ml_repo_user_touch_login(fx->c, id, 1700000123456, &eb), ML_OK);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.last_login_at, 1700000123456);
  assert_int_equal(got.token_version, 5);
  u.id = 999;
  assert_int_equal(ml_repo_user_update(fx->c, &u, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_touch_login(fx->c, 999, 1, &eb), ML_ERR_NOT_FOUND);
}

static struct ml_refresh token(const char *jti, int64_t user_id, int64_t expires_at) {
  struct ml_refresh t;
  memset(&t, 0, sizeof(t));
  t.jti = jti;
  t.user_id = user_id;
  t.expires_at = expires_at;
  t.created_at = 1700000000000;
  return t;
}

static void test_refresh_tokens(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_refresh t, got;
  int64_t alice = add(fx, "alice", "editor"), bob = add(fx, "bob", "viewer"), n = -1;

  t = token("j1", alice, 2000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  t = token("j2", alice, 3000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  t = token("j3", bob, 1000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  /* the same jti twice; a user that does not exist */
  t = token("j1", bob, 5000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_ERR_CONFLICT);
  t = token("j9", 999, 5000);
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_ERR_NOT_FOUND);

  assert_int_equal(ml_repo_refresh_get(fx->c, "j1", fx->a, &got, &eb), ML_OK);
  assert_string_equal(got.jti, "j1");
  assert_int_equal(got.user_id, alice);
  assert_int_equal(got.expires_at, 2000);
  assert_int_equal(got.revoked, 0);
  assert_int_equal(got.created_at, 1700000000000);
  assert_int_equal(ml_repo_refresh_get(fx->c, "J1", fx->a, &got, &eb), ML_ERR_NOT_FOUND);

  assert_int_equal(ml_repo_refresh_revoke(fx->c, "j1", &eb), ML_OK);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j1", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.revoked, 1);
  assert_int_equal(ml_repo_refresh_revoke(fx->c, "nope", &eb), ML_ERR_NOT_FOUND);

  /* every token of alice: j2 was still live */
  assert_int_equal(ml_repo_refresh_revoke_user(fx->c, alice, &n, &eb), ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j2", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.revoked, 1);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j3", fx->a, &got, &eb), ML_OK);
  assert_int_equal(got.revoked, 0);

  /* prune what expired before 2500: j1 and j3 */
  assert_int_equal(ml_repo_refresh_prune(fx->c, 2500, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j1", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_refresh_get(fx->c, "j2", fx->a, &got, &eb), ML_OK);
}

static void test_delete_cascades(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_refresh t = token("k1", 0, 5000), got;
  struct ml_user u;
  int64_t id = add(fx, "frank", "viewer");
  t.user_id = id;
  assert_int_equal(ml_repo_refresh_add(fx->c, &t, &eb), ML_OK);
  assert_int_equal(ml_repo_user_delete(fx->c, id, &eb), ML_OK);
  assert_int_equal(ml_repo_user_get(fx->c, id, fx->a, &u, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_refresh_get(fx->c, "k1", fx->a, &got, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_repo_user_delete(fx->c, id, &eb), ML_ERR_NOT_FOUND);
  /* ids are never reused */
  assert_int_equal(add(fx, "frank", "viewer"), id + 1);
}

/* Inside a transaction, a failed insert leaves the transaction usable. */
static void test_in_transaction(void **state) {
  struct rc_fixture *fx = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u = user("gina", "viewer");
  int64_t n = 0;
  assert_int_equal(ml_repo_begin(fx->c, &eb), ML_OK);
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  u = user("GINA", "viewer");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_ERR_CONFLICT);
  u = user("hank", "viewer");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  assert_int_equal(ml_repo_commit(fx->c, &eb), ML_OK);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  /* and a rollback undoes */
  assert_int_equal(ml_repo_begin(fx->c, &eb), ML_OK);
  u = user("ivan", "viewer");
  assert_int_equal(ml_repo_user_insert(fx->c, &u, &eb), ML_OK);
  ml_repo_rollback(fx->c);
  assert_int_equal(ml_repo_user_count(fx->c, 0, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
}

/* ------------------------------------------------------------------ */

static const struct CMUnitTest repo_tests[] = {
    cmocka_unit_test(test_open_migrate),
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
    cmocka_unit_test(test_reads_during_write),
    cmocka_unit_test(test_arena_exhausted),
#ifdef ML_TEST_HOOKS
    cmocka_unit_test(test_open_out_of_memory),
    cmocka_unit_test(test_schema_newer_than_build),
#endif
    cmocka_unit_test(test_list_timing),
};

static const struct CMUnitTest user_tests[] = {
    cmocka_unit_test_setup_teardown(test_insert_get, user_setup, user_teardown),
    cmocka_unit_test_setup_teardown(test_unique_and_checked, user_setup, user_teardown),
    cmocka_unit_test_setup_teardown(test_list, user_setup, user_teardown),
    cmocka_unit_test_setup_teardown(test_update_touch_count, user_setup, user_teardown),
    cmocka_unit_test_setup_teardown(test_refresh_tokens, user_setup, user_teardown),
    cmocka_unit_test_setup_teardown(test_delete_cascades, user_setup, user_teardown),
    cmocka_unit_test_setup_teardown(test_in_transaction, user_setup, user_teardown),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int rc_run(const char *name, const struct CMUnitTest *own, size_t n_own,
           int (*group_setup)(void **state), int (*group_teardown)(void **state)) {
  struct CMUnitTest all[COUNT(repo_tests) + 32];
  char users[64];
  size_t n = 0, i;
  int failed;
  assert_true(n_own <= 32);
  for(i = 0; i < COUNT(repo_tests); i++)
    all[n++] = repo_tests[i];
  for(i = 0; i < n_own; i++)
    all[n++] = own[i];
  failed = _cmocka_run_group_tests(name, all, n, group_setup, group_teardown);
  snprintf(users, sizeof(users), "%s users", name);
  failed +=
      _cmocka_run_group_tests(users, user_tests, COUNT(user_tests), group_setup, group_teardown);
  return failed;
}
