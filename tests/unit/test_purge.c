/* test_purge.c - cache purges: the URL set of a replace and a delete (a
 * pure function), configuration, the queued jobs, and the handler's
 * requests against a stub cache on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "jobs/httpc.h"
#include "jobs/purge.h"
#include "stub_http.h"

static struct ml_media photo(void) {
  struct ml_media m;
  memset(&m, 0, sizeof(m));
  m.id = 42;
  m.version = 3;
  m.filename = "sunset photo.jpg";
  m.mime_type = "image/jpeg";
  m.width = 800;
  m.height = 600;
  m.title = m.alt_text = m.caption = m.folder = m.tags = "";
  return m;
}

static struct ml_transform_presets two_presets(void) {
  struct ml_transform_presets p;
  memset(&p, 0, sizeof(p));
  p.n = 2;
  snprintf(p.p[0].name, sizeof(p.p[0].name), "thumbnail");
  snprintf(p.p[1].name, sizeof(p.p[1].name), "small");
  return p;
}

static void assert_paths(const char **got, size_t n, const char *const *want, size_t nwant) {
  for(size_t i = 0; i < n && i < nwant; i++)
    assert_string_equal(got[i], want[i]);
  assert_int_equal(n, nwant);
}

static void test_replace_paths(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m = photo();
  struct ml_transform_presets presets = two_presets();
  struct ml_variant vs[3];
  const char **paths = NULL;
  size_t n = 0;
  static const char *const want[] = {
      "/media/42",
      "/media/42/sunset%20photo.jpg",
      "/media/42/new.jpg",
      "/media/42/v3/sunset%20photo.jpg",
      "/media/42/v3/t_thumbnail/sunset%20photo.jpg",
      "/media/42/v3/t_small/sunset%20photo.jpg",
      "/media/42/v3/c_fill,f_jpeg,h_200,w_200/sunset%20photo.jpg",
      "/media/42/v3/f_webp,w_300/sunset%20photo.jpg",
  };
  (void)state;
  memset(vs, 0, sizeof(vs));
  vs[0] = (struct ml_variant){.media_id = 42, .version = 3, .name = "c_fill,f_jpeg,h_200,w_200"};
  vs[1] = (struct ml_variant){.media_id = 42, .version = 2, .name = "f_png,w_100"}; /* older */
  vs[2] = (struct ml_variant){.media_id = 42, .version = 3, .name = "f_webp,w_300"};
  assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_PURGE, ML_PURGE_REPLACE, &m, "new.jpg", vs, 3,
                                  &presets, a, &paths, &n),
                   ML_OK);
  assert_paths(paths, n, want, sizeof(want) / sizeof(want[0]));
  /* The same filename is listed once; no presets for a PDF. */
  m.mime_type = "application/pdf";
  m.width = m.height = 0;
  assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_PURGE, ML_PURGE_REPLACE, &m, m.filename, NULL, 0,
                                  &presets, a, &paths, &n),
                   ML_OK);
  {
    static const char *const pdf[] = {"/media/42", "/media/42/sunset%20photo.jpg",
                                      "/media/42/v3/sunset%20photo.jpg"};
    assert_paths(paths, n, pdf, 3);
  }
  ml_arena_destroy(&a);
}

static void test_delete_paths(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m = photo();
  struct ml_transform_presets presets = two_presets();
  const char **paths = NULL;
  size_t n = 0;
  static const char *const want[] = {
      "/media/42",
      "/media/42/sunset%20photo.jpg",
      "/media/42/v3/sunset%20photo.jpg",
      "/media/42/v3/t_thumbnail/sunset%20photo.jpg",
      "/media/42/v3/t_small/sunset%20photo.jpg",
      "/media/42/v2/sunset%20photo.jpg",
      "/media/42/v1/sunset%20photo.jpg",
  };
  (void)state;
  /* new_filename is ignored for a delete */
  assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_PURGE, ML_PURGE_DELETE, &m, "other.jpg", NULL, 0,
                                  &presets, a, &paths, &n),
                   ML_OK);
  assert_paths(paths, n, want, sizeof(want) / sizeof(want[0]));
  /* At most ML_PURGE_OLD_VERSIONS older versions. */
  m.version = 50;
  assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_PURGE, ML_PURGE_DELETE, &m, NULL, NULL, 0, NULL,
                                  a, &paths, &n),
                   ML_OK);
  assert_int_equal(n, 3 + ML_PURGE_OLD_VERSIONS);
  assert_string_equal(paths[n - 1], "/media/42/v42/sunset%20photo.jpg");
  /* BAN: one prefix, whatever the event. */
  assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_BAN, ML_PURGE_DELETE, &m, NULL, NULL, 0, &presets,
                                  a, &paths, &n),
                   ML_OK);
  assert_int_equal(n, 1);
  assert_string_equal(paths[0], "/media/42");
  assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_BAN, ML_PURGE_REPLACE, &m, "x.jpg", NULL, 0,
                                  &presets, a, &paths, &n),
                   ML_OK);
  assert_int_equal(n, 1);
  ml_arena_destroy(&a);
}

/* The paths are the API's own URLs (api.c ml_api_file_path), byte for byte,
 * also for names that need percent-encoding. */
static void test_paths_match_api(void **state) {
  static const char *const names[] = {"a.png", "sunset photo.jpg", "caf\xc3\xa9 & co (1).png",
                                      "100%.gif", "x+y=z?.webp"};
  struct ml_arena *a = ml_arena_create(0);
  (void)state;
  for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    struct ml_media m = photo();
    struct ml_transform_presets presets = two_presets();
    struct ml_buf b;
    const char **paths = NULL;
    size_t n = 0;
    m.filename = names[i];
    assert_int_equal(ml_purge_paths(ML_PURGE_METHOD_PURGE, ML_PURGE_REPLACE, &m, NULL, NULL, 0,
                                    &presets, a, &paths, &n),
                     ML_OK);
    ml_buf_init(&b, 4096);
    assert_int_equal(ml_api_media_path(&b, &m), ML_OK);
    assert_string_equal(paths[2], b.data);
    ml_buf_reset(&b);
    assert_int_equal(ml_api_file_path(&b, &m, NULL, "t_thumbnail"), ML_OK);
    assert_string_equal(paths[3], b.data);
    ml_buf_free(&b);
  }
  ml_arena_destroy(&a);
}

static void test_create_options(void **state) {
  struct ml_purge *p = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_purge_opts o = {0};
  (void)state;
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  assert_false(ml_purge_enabled(p));
  ml_purge_destroy(&p);
  assert_null(p);
  assert_false(ml_purge_enabled(NULL));
  o.urls = " http://127.0.0.1:6081/ , https://cdn.example.com/purge ";
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  assert_true(ml_purge_enabled(p));
  ml_purge_destroy(&p);
  o.method = "invalidate";
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "MEDIALIB_PURGE_METHOD"));
  assert_null(p);
  o.method = "ban";
  o.urls = "varnish:6081";
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "MEDIALIB_PURGE_URL"));
  o.urls = "ftp://x";
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_ERR_CONFIG);
  o.urls = "http://";
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_ERR_CONFIG);
}

/* The queued jobs: kind, keys by method, media id, lease; and nothing
 * without a cache. */
static void test_queue(void **state) {
  char dir[] = "/tmp/ml-purge-XXXXXX", url[128], cmd[160];
  struct ml_repo *r = NULL;
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_purge *p = NULL, *off = NULL;
  struct ml_purge_opts o = {.urls = "http://127.0.0.1:6081", .method = "purge"};
  struct ml_media m = photo();
  struct ml_job j;
  int64_t *ids = NULL;
  size_t n = 0;
  (void)state;
  assert_non_null(mkdtemp(dir));
  snprintf(url, sizeof(url), "sqlite://%s/db.sqlite", dir);
  assert_int_equal(ml_repo_open(url, 1, 1, &r, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(r, &c, &eb), ML_OK);
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  assert_int_equal(ml_repo_begin(c, &eb), ML_OK);
  assert_int_equal(
      ml_purge_queue(p, c, ML_PURGE_DELETE, &m, NULL, NULL, 0, 1000, 5000, a, &ids, &n, &eb),
      ML_OK);
  assert_int_equal(ml_repo_commit(c, &eb), ML_OK);
  assert_int_equal(n, 5); /* no presets: unversioned twice, v3, v2, v1 */
  assert_int_equal(ml_repo_job_get(c, ids[0], a, &j, &eb), ML_OK);
  assert_string_equal(j.kind, ML_JOB_PURGE);
  assert_string_equal(j.key, "purge:/media/42");
  assert_int_equal(j.media_id, 42);
  assert_int_equal(j.next_at, 1000);
  assert_int_equal(j.lease_until, 5000);
  assert_int_equal(ml_repo_job_get(c, ids[2], a, &j, &eb), ML_OK);
  assert_string_equal(j.key, "purge:/media/42/v3/sunset%20photo.jpg");
  ml_purge_destroy(&p);

  o.method = "ban";
  assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  assert_int_equal(
      ml_purge_queue(p, c, ML_PURGE_REPLACE, &m, "b.jpg", NULL, 0, 1000, 0, a, &ids, &n, &eb),
      ML_OK);
  assert_int_equal(n, 1);
  assert_int_equal(ml_repo_job_get(c, ids[0], a, &j, &eb), ML_OK);
  assert_string_equal(j.key, "ban:/media/42");

  o.urls = "";
  assert_int_equal(ml_purge_create(&o, &off, &eb), ML_OK);
  assert_int_equal(
      ml_purge_queue(off, c, ML_PURGE_DELETE, &m, NULL, NULL, 0, 1000, 0, a, &ids, &n, &eb), ML_OK);
  assert_int_equal(n, 0);
  assert_int_equal(
      ml_purge_queue(NULL, c, ML_PURGE_DELETE, &m, NULL, NULL, 0, 1000, 0, a, &ids, &n, &eb),
      ML_OK);
  assert_int_equal(n, 0);

  ml_purge_destroy(&p);
  ml_purge_destroy(&off);
  ml_repo_release(&c);
  ml_repo_close(&r);
  ml_arena_destroy(&a);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

static struct ml_job job_of(const char *key) {
  struct ml_job j;
  memset(&j, 0, sizeof(j));
  j.id = 1;
  j.kind = ML_JOB_PURGE;
  j.key = key;
  j.media_id = 42;
  j.last_error = j.payload = "";
  return j;
}

/* What the handler sends, and what counts as done. */
static void test_handler_requests(void **state) {
  struct stub_http ok, gone, down;
  struct ml_purge *p = NULL;
  struct ml_errbuf eb = {{0}};
  char urls[160];
  struct ml_job j;
  (void)state;
  assert_int_equal(stub_start(&ok, 200), 0);
  assert_int_equal(stub_start(&gone, 404), 0);
  assert_int_equal(stub_start(&down, 503), 0);

  /* Two caches, each gets the PURGE with the public Host. */
  snprintf(urls, sizeof(urls), "http://127.0.0.1:%d,http://127.0.0.1:%d/", ok.port, gone.port);
  {
    struct ml_purge_opts o = {.urls = urls, .method = "purge", .host = "media.example.com"};
    assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  }
  j = job_of("purge:/media/42/v3/a%20b.jpg");
  assert_int_equal(ml_purge_job(p, &j, &eb), ML_OK); /* 404 = was not cached: done */
  assert_int_equal(ok.nreqs, 1);
  assert_int_equal(gone.nreqs, 1);
  assert_true(!strncmp(ok.reqs[0], "PURGE /media/42/v3/a%20b.jpg HTTP/1.1\r\n", 39));
  assert_true(!strncmp(gone.reqs[0], "PURGE /media/42/v3/a%20b.jpg HTTP/1.1\r\n", 39));
  assert_non_null(strstr(ok.reqs[0], "\r\nHost: media.example.com\r\n"));
  /* A BAN key sends BAN, whatever the configured method; 404 is not done. */
  j = job_of("ban:/media/42");
  assert_int_equal(ml_purge_job(p, &j, &eb), ML_ERR_IO);
  assert_non_null(strstr(eb.msg, "404"));
  assert_true(!strncmp(ok.reqs[1], "BAN /media/42 HTTP/1.1\r\n", 24));
  ml_purge_destroy(&p);

  /* A cache answering 503 fails the job (retried later). */
  snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", down.port);
  {
    struct ml_purge_opts o = {.urls = urls};
    assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  }
  ml_errbuf_clear(&eb);
  j = job_of("purge:/media/42");
  assert_int_equal(ml_purge_job(p, &j, &eb), ML_ERR_IO);
  assert_non_null(strstr(eb.msg, "503"));
  assert_null(strstr(down.reqs[0], "\r\nHost: media.example.com"));
  ml_purge_destroy(&p);

  /* Nobody listening: ML_ERR_IO. */
  snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", stub_closed_port());
  {
    struct ml_purge_opts o = {.urls = urls};
    assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  }
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_purge_job(p, &j, &eb), ML_ERR_IO);
  assert_true(eb.msg[0] != '\0');
  /* Keys that are not a purge's are dropped, not sent. */
  j = job_of("m/42/v1-abc/original");
  assert_int_equal(ml_purge_job(p, &j, &eb), ML_OK);
  ml_purge_destroy(&p);
  /* No cache configured any more: dropped. */
  {
    struct ml_purge_opts o = {0};
    assert_int_equal(ml_purge_create(&o, &p, &eb), ML_OK);
  }
  j = job_of("purge:/media/42");
  assert_int_equal(ml_purge_job(p, &j, &eb), ML_OK);
  ml_purge_destroy(&p);

  stub_stop(&ok);
  stub_stop(&gone);
  stub_stop(&down);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replace_paths),   cmocka_unit_test(test_delete_paths),
      cmocka_unit_test(test_paths_match_api), cmocka_unit_test(test_create_options),
      cmocka_unit_test(test_queue),           cmocka_unit_test(test_handler_requests),
  };
  int rc;
  if(ml_httpc_global_init())
    return 1;
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  ml_httpc_global_cleanup();
  return rc;
}
