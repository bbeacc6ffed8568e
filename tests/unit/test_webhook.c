/* test_webhook.c - webhooks: the signature (a known answer), the event's
 * JSON shape, configuration, the queued jobs (one per endpoint, keyed by
 * endpoint and media), and the handler's request against a stub receiver. */
#include <jansson.h>
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
#include "jobs/httpc.h"
#include "jobs/webhook.h"
#include "stub_http.h"

#define SECRET "whsec_test_secret_0123456789"
#define BODY                                                                                    \
  "{\"id\":\"evt_0123456789abcdef\",\"type\":\"media.created\",\"created_at\":\"2023-11-14T22:" \
  "13:20Z\",\"data\":{\"id\":42}}"

/* The known answer, computed with Python's hmac module:
 *   python3 -c 'import hmac, hashlib; print(hmac.new(b"whsec_test_secret_0123456789",
 *     b"1700000000." + BODY, hashlib.sha256).hexdigest())'
 * with BODY the bytes of the BODY macro above. */
static void test_sign_known_answer(void **state) {
  char sig[ML_WEBHOOK_SIG_MAX];
  (void)state;
  assert_int_equal(ml_webhook_sign(SECRET, strlen(SECRET), 1700000000, BODY, strlen(BODY), sig),
                   ML_OK);
  assert_string_equal(sig, "t=1700000000,v1="
                           "24393cb7fcb865e78d9f6fa6643024c57526d9d0c6c8ab4d09c3f303efb82a92");
  /* the timestamp is signed too */
  assert_int_equal(ml_webhook_sign(SECRET, strlen(SECRET), 1700000001, BODY, strlen(BODY), sig),
                   ML_OK);
  assert_null(strstr(sig, "24393cb7fcb865e7"));
}

static void test_endpoint_id(void **state) {
  char id[13];
  (void)state;
  /* python3 -c 'import hashlib; print(hashlib.sha256(b"http://127.0.0.1:9/hook").hexdigest()[:12])' */
  ml_webhook_endpoint_id("http://127.0.0.1:9/hook", id);
  assert_string_equal(id, "a94bb7e84946");
}

static struct ml_media photo(void) {
  struct ml_media m;
  memset(&m, 0, sizeof(m));
  m.id = 42;
  m.version = 3;
  m.state = ML_MEDIA_ACTIVE;
  m.title = "Sunset \"over\" the ghats";
  m.alt_text = m.caption = m.folder = "";
  m.tags = "river,sunset";
  m.filename = "sunset.jpg";
  m.mime_type = "image/jpeg";
  m.size = 1234;
  m.width = 800;
  m.height = 600;
  memset(m.sha256, 'a', 64);
  m.created_at = 1700000000000;
  m.updated_at = 1700000001000;
  return m;
}

/* The event: {id, type, created_at, data}, data being the API's media
 * object, or {id, deleted, storage} for a delete. */
static void test_event_shape(void **state) {
  struct ml_buf data, body;
  struct ml_media m = photo();
  json_t *root, *d;
  const char *key;
  json_t *v;
  size_t nkeys = 0;
  (void)state;
  ml_buf_init(&data, 1 << 20);
  ml_buf_init(&body, 1 << 20);
  assert_int_equal(ml_api_media_json(&data, &m, "https://media.example.com", NULL), ML_OK);
  assert_int_equal(ml_webhook_event_json(&body, "evt_0123456789abcdef", "media.replaced",
                                         1700000000000, data.data),
                   ML_OK);
  root = json_loads(body.data, JSON_REJECT_DUPLICATES, NULL);
  assert_non_null(root);
  json_object_foreach(root, key, v) nkeys++;
  assert_int_equal(nkeys, 4);
  assert_string_equal(json_string_value(json_object_get(root, "id")), "evt_0123456789abcdef");
  assert_string_equal(json_string_value(json_object_get(root, "type")), "media.replaced");
  assert_string_equal(json_string_value(json_object_get(root, "created_at")),
                      "2023-11-14T22:13:20Z");
  d = json_object_get(root, "data");
  assert_true(json_is_object(d));
  assert_int_equal(json_integer_value(json_object_get(d, "id")), 42);
  assert_int_equal(json_integer_value(json_object_get(d, "version")), 3);
  assert_string_equal(json_string_value(json_object_get(d, "title")), "Sunset \"over\" the ghats");
  assert_string_equal(json_string_value(json_object_get(d, "url")),
                      "https://media.example.com/media/42/v3/sunset.jpg");
  assert_int_equal(json_array_size(json_object_get(d, "tags")), 2);
  json_decref(root);

  ml_buf_reset(&data);
  ml_buf_reset(&body);
  assert_int_equal(ml_webhook_deleted_json(&data, 42), ML_OK);
  assert_int_equal(ml_webhook_event_json(&body, "evt_1", "media.deleted", 0, data.data), ML_OK);
  assert_string_equal(body.data, "{\"id\":\"evt_1\",\"type\":\"media.deleted\",\"created_at\":"
                                 "\"1970-01-01T00:00:00Z\",\"data\":{\"id\":42,\"deleted\":true,"
                                 "\"storage\":{\"status\":\"deleted\"}}}");
  ml_buf_free(&data);
  ml_buf_free(&body);
}

static void test_create_options(void **state) {
  struct ml_webhooks *w = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_webhook_opts o = {.media_json = ml_api_media_json};
  (void)state;
  assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_OK); /* off */
  assert_false(ml_webhook_enabled(w));
  ml_webhook_destroy(&w);
  assert_null(w);
  o.urls = "http://127.0.0.1:9/hook";
  assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_ERR_CONFIG); /* no secret */
  assert_non_null(strstr(eb.msg, "MEDIALIB_WEBHOOK_SECRET"));
  o.secret = "short";
  assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_ERR_CONFIG);
  o.secret = SECRET;
  o.urls = "127.0.0.1:9/hook";
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "MEDIALIB_WEBHOOK_URL"));
  o.urls = " http://127.0.0.1:9/a , https://hooks.example.com/b ";
  assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_OK);
  assert_true(ml_webhook_enabled(w));
  ml_webhook_destroy(&w);
}

struct db {
  char dir[32];
  struct ml_repo *r;
  struct ml_conn *c;
};

static void db_open(struct db *d) {
  char url[128];
  struct ml_errbuf eb = {{0}};
  snprintf(d->dir, sizeof(d->dir), "/tmp/ml-webhook-XXXXXX");
  assert_non_null(mkdtemp(d->dir));
  snprintf(url, sizeof(url), "sqlite://%s/db.sqlite", d->dir);
  assert_int_equal(ml_repo_open(url, 2, 1, &d->r, &eb), ML_OK);
  assert_int_equal(ml_repo_acquire(d->r, &d->c, &eb), ML_OK);
}

static void db_close(struct db *d) {
  char cmd[64];
  ml_repo_release(&d->c);
  ml_repo_close(&d->r);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", d->dir);
  assert_int_equal(system(cmd), 0);
}

/* One job per endpoint, key webhook:<endpoint>:<media>, the same body. */
static void test_queue(void **state) {
  struct db d;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_webhooks *w = NULL;
  struct ml_webhook_opts o = {.urls = "http://127.0.0.1:9/hook,http://127.0.0.1:9/other",
                              .secret = SECRET,
                              .base_url = "http://m.example",
                              .media_json = ml_api_media_json};
  struct ml_media m = photo();
  struct ml_job *jobs = NULL;
  size_t n = 0;
  char id0[13], id1[13], key[64];
  json_t *root;
  (void)state;
  db_open(&d);
  assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_OK);
  assert_int_equal(ml_webhook_queue(w, d.c, "media.updated", 42, &m, 1000, &eb), ML_OK);
  assert_int_equal(ml_webhook_queue(NULL, d.c, "media.updated", 42, &m, 1000, &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(d.c, 2000, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  ml_webhook_endpoint_id("http://127.0.0.1:9/hook", id0);
  ml_webhook_endpoint_id("http://127.0.0.1:9/other", id1);
  snprintf(key, sizeof(key), "webhook:%s:42", id0);
  assert_string_equal(jobs[0].key, key);
  snprintf(key, sizeof(key), "webhook:%s:42", id1);
  assert_string_equal(jobs[1].key, key);
  assert_string_equal(jobs[0].kind, ML_JOB_WEBHOOK);
  assert_int_equal(jobs[0].media_id, 42);
  assert_string_equal(jobs[0].payload, jobs[1].payload); /* one event id for both */
  root = json_loads(jobs[0].payload, 0, NULL);
  assert_non_null(root);
  assert_string_equal(json_string_value(json_object_get(root, "type")), "media.updated");
  assert_int_equal(strlen(json_string_value(json_object_get(root, "id"))), 20);
  assert_string_equal(json_string_value(json_object_get(json_object_get(root, "data"), "url")),
                      "http://m.example/media/42/v3/sunset.jpg");
  json_decref(root);
  ml_webhook_destroy(&w);
  ml_arena_destroy(&a);
  db_close(&d);
}

/* The POST: body as queued, Content-Type, a signature that verifies; 2xx
 * is done, anything else is retried; media.deleted waits for the storage. */
static void test_handler(void **state) {
  struct stub_http ok, down;
  struct db d;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_errbuf eb = {{0}};
  struct ml_webhooks *w = NULL;
  char urls[128], id[13];
  struct ml_media m = photo();
  struct ml_job *jobs = NULL, blob;
  size_t n = 0;
  (void)state;
  db_open(&d);
  assert_int_equal(stub_start(&ok, 204), 0);
  assert_int_equal(stub_start(&down, 503), 0);
  snprintf(urls, sizeof(urls), "http://127.0.0.1:%d/hook,http://127.0.0.1:%d/hook", ok.port,
           down.port);
  {
    struct ml_webhook_opts o = {.urls = urls,
                                .secret = SECRET,
                                .base_url = "http://m.example",
                                .media_json = ml_api_media_json,
                                .repo = d.r};
    assert_int_equal(ml_webhook_create(&o, &w, &eb), ML_OK);
  }
  assert_int_equal(ml_webhook_queue(w, d.c, "media.created", 42, &m, 1000, &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(d.c, 2000, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  assert_int_equal(ml_webhook_job(w, &jobs[0], &eb), ML_OK);
  assert_int_equal(ok.nreqs, 1);
  {
    const char *req = ok.reqs[0], *sig = strstr(req, "\r\nMedialib-Signature: t=");
    const char *body = strstr(req, "\r\n\r\n");
    char expect[ML_WEBHOOK_SIG_MAX];
    long long t;
    assert_true(!strncmp(req, "POST /hook HTTP/1.1\r\n", 21));
    assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(sig);
    assert_non_null(body);
    assert_string_equal(body + 4, jobs[0].payload);
    t = strtoll(sig + 24, NULL, 10);
    assert_int_equal(ml_webhook_sign(SECRET, strlen(SECRET), t, body + 4, strlen(body + 4), expect),
                     ML_OK);
    assert_true(!strncmp(sig + 22, expect, strlen(expect)));
    assert_true(sig[22 + strlen(expect)] == '\r');
    assert_null(strstr(req, SECRET));
  }
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_webhook_job(w, &jobs[1], &eb), ML_ERR_IO);
  assert_non_null(strstr(eb.msg, "503"));

  /* media.deleted: waits while a remove_blob job of the media is queued. */
  memset(&blob, 0, sizeof(blob));
  blob.kind = "remove_blob";
  blob.key = "m/42/v3-x/original";
  blob.media_id = 42;
  blob.next_at = 999999;
  assert_int_equal(ml_repo_job_add(d.c, &blob, &eb), ML_OK);
  assert_int_equal(ml_repo_job_delete(d.c, jobs[0].id, &eb), ML_OK);
  assert_int_equal(ml_repo_job_delete(d.c, jobs[1].id, &eb), ML_OK);
  assert_int_equal(ml_webhook_queue(w, d.c, "media.deleted", 42, NULL, 3000, &eb), ML_OK);
  assert_int_equal(ml_repo_job_claim(d.c, 4000, 1000, 10, a, &jobs, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_webhook_job(w, &jobs[0], &eb), ML_ERR_BUSY);
  assert_int_equal(ok.nreqs, 1); /* nothing sent */
  assert_int_equal(ml_repo_job_delete(d.c, blob.id, &eb), ML_OK);
  assert_int_equal(ml_webhook_job(w, &jobs[0], &eb), ML_OK);
  assert_int_equal(ok.nreqs, 2);
  assert_non_null(strstr(ok.reqs[1], "\"storage\":{\"status\":\"deleted\"}"));

  /* A job of an endpoint no longer configured is dropped, not sent. */
  {
    struct ml_job stale = jobs[0];
    char key[64];
    ml_webhook_endpoint_id("http://gone.example/hook", id);
    snprintf(key, sizeof(key), "webhook:%s:42", id);
    stale.key = key;
    assert_int_equal(ml_webhook_job(w, &stale, &eb), ML_OK);
    assert_int_equal(ok.nreqs, 2);
    assert_int_equal(down.nreqs, 1);
  }

  ml_webhook_destroy(&w);
  stub_stop(&ok);
  stub_stop(&down);
  ml_arena_destroy(&a);
  db_close(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sign_known_answer),
      cmocka_unit_test(test_endpoint_id),
      cmocka_unit_test(test_event_shape),
      cmocka_unit_test(test_create_options),
      cmocka_unit_test(test_queue),
      cmocka_unit_test(test_handler),
  };
  int rc;
  if(ml_httpc_global_init())
    return 1;
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  ml_httpc_global_cleanup();
  return rc;
}
