/* test_store_s3.c - the S3 blob store: SigV4 presigning against AWS's
 * documented example, its URL, the XML it reads, the Range it sends; then
 * put (single and multipart), get, streams, stat, remove, list, ping and
 * failures against a real s3rver (the ctest fixture s3rver, started by
 * scripts/s3rver.sh with the bucket ml-unit; ML_TEST_S3_DIR names its dir). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/buf.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/store_s3.h"

/* ------------------------------------------------------------- presign */

/* AWS S3 API reference, "Authenticating Requests: Using Query Parameters
 * (AWS Signature Version 4)", example "GET object" (examplebucket/test.txt,
 * 2013-05-24T00:00:00Z, 86400 s). */
static void test_presign_aws_example(void **state) {
  struct ml_buf out;
  struct ml_errbuf eb = {{0}};
  (void)state;
  ml_buf_init(&out, 4096);
  assert_int_equal(ml_store_s3_presign("AKIAIOSFODNN7EXAMPLE",
                                       "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1",
                                       "GET", "https", "examplebucket.s3.amazonaws.com",
                                       "/test.txt", NULL, 0, (time_t)1369353600, 86400, &out, &eb),
                   ML_OK);
  assert_string_equal(
      out.data,
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
      "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
      "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
      "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  ml_buf_free(&out);
}

static void test_presign_extra_params(void **state) {
  struct ml_buf a, b;
  struct ml_errbuf eb = {{0}};
  struct ml_store_s3_param p[2] = {
      {"response-content-type", "image/png"},
      {"response-content-disposition", "inline; filename=\"a b.png\""}};
  const char *q;
  (void)state;
  ml_buf_init(&a, 8192);
  ml_buf_init(&b, 8192);
  assert_int_equal(ml_store_s3_presign("AK", "SK", "eu-west-1", "GET", "http", "127.0.0.1:9000",
                                       "/bkt/m/1/v1-x/original", p, 2, (time_t)1369353600, 600, &a,
                                       &eb),
                   ML_OK);
  /* Parameters are signed in byte order of their names, values encoded. */
  q = strchr(a.data, '?');
  assert_non_null(q);
  assert_non_null(strstr(q, "X-Amz-SignedHeaders=host&response-content-disposition=inline%3B%20"
                            "filename%3D%22a%20b.png%22&response-content-type=image%2Fpng"
                            "&X-Amz-Signature="));
  assert_true(!strncmp(a.data, "http://127.0.0.1:9000/bkt/m/1/v1-x/original?", 44));
  /* Another secret, another signature; the same inputs, the same URL. */
  assert_int_equal(ml_store_s3_presign("AK", "SK2", "eu-west-1", "GET", "http", "127.0.0.1:9000",
                                       "/bkt/m/1/v1-x/original", p, 2, (time_t)1369353600, 600, &b,
                                       &eb),
                   ML_OK);
  assert_int_equal(a.len, b.len);
  assert_true(strcmp(a.data, b.data) != 0);
  assert_int_equal(ml_store_s3_presign("AK", "SK", "eu-west-1", "GET", "http", "h", "/k", NULL, 0,
                                       0, 8 * 86400, &b, &eb),
                   ML_ERR_INTERNAL);
  ml_buf_free(&a);
  ml_buf_free(&b);
}

/* ----------------------------------------------------------------- URL */

static void test_url_good(void **state) {
  struct ml_store_s3_url u;
  struct ml_errbuf eb = {{0}};
  struct ml_buf host, path;
  (void)state;
  assert_int_equal(ml_store_s3_url_parse("s3://media-bucket", &u, &eb), ML_OK);
  assert_string_equal(u.bucket, "media-bucket");
  assert_string_equal(u.scheme, "https");
  assert_string_equal(u.host, "s3.us-east-1.amazonaws.com");
  assert_string_equal(u.region, "us-east-1");
  assert_int_equal(u.virtual_style, 1);
  assert_string_equal(u.prefix, "");
  assert_int_equal(u.tries, 3);

  assert_int_equal(ml_store_s3_url_parse("s3://b1b/lib/one?endpoint=http%3A%2F%2F127.0.0.1%3A9000"
                                         "&region=eu-west-3&part_size=8MiB"
                                         "&multipart_threshold=32MiB&list_page=2&timeout=7"
                                         "&connect_timeout=2&tries=5",
                                         &u, &eb),
                   ML_OK);
  assert_string_equal(u.scheme, "http");
  assert_string_equal(u.host, "127.0.0.1:9000");
  assert_string_equal(u.region, "eu-west-3");
  assert_int_equal(u.virtual_style, 0); /* an endpoint: path style by default */
  assert_string_equal(u.prefix, "lib/one/");
  assert_int_equal(u.part_size, 8 << 20);
  assert_int_equal(u.multipart_threshold, 32 << 20);
  assert_int_equal(u.list_page, 2);
  assert_int_equal(u.timeout_s, 7);
  assert_int_equal(u.connect_timeout_s, 2);
  assert_int_equal(u.tries, 5);

  ml_buf_init(&host, 1024);
  ml_buf_init(&path, 1024);
  assert_int_equal(ml_store_s3_target(&u, "m/1/v1-a/original", &host, &path), ML_OK);
  assert_string_equal(host.data, "127.0.0.1:9000");
  assert_string_equal(path.data, "/b1b/lib/one/m/1/v1-a/original");
  ml_buf_reset(&host);
  ml_buf_reset(&path);

  assert_int_equal(ml_store_s3_url_parse("s3://bkt?endpoint=https://minio.example:9000/"
                                         "&style=virtual&prefix=p",
                                         &u, &eb),
                   ML_OK);
  assert_int_equal(u.virtual_style, 1);
  assert_string_equal(u.prefix, "p/");
  assert_int_equal(ml_store_s3_target(&u, "k/x", &host, &path), ML_OK);
  assert_string_equal(host.data, "bkt.minio.example:9000");
  assert_string_equal(path.data, "/p/k/x");
  ml_buf_reset(&host);
  ml_buf_reset(&path);
  assert_int_equal(ml_store_s3_target(&u, "", &host, &path), ML_OK);
  assert_string_equal(path.data, "/");
  ml_buf_free(&host);
  ml_buf_free(&path);
}

static void test_url_bad(void **state) {
  static const char *bad[] = {
      "s3:/bucket",
      "file://x",
      "s3://",
      "s3://ab",
      "s3://Bucket",
      "s3://bucket_x",
      "s3://-bucket",
      "s3://bucket?endpoint=ftp://h",
      "s3://bucket?endpoint=http://h/path",
      "s3://bucket?endpoint=http://user@h",
      "s3://bucket?endpoint=http://",
      "s3://bucket?style=sideways",
      "s3://bucket?region=US_EAST",
      "s3://bucket?part_size=0",
      "s3://bucket?part_size=lots",
      "s3://bucket?list_page=1001",
      "s3://bucket?tries=0",
      "s3://bucket?timeout=-1",
      "s3://bucket?colour=blue",
      "s3://bucket?endpoint",
      "s3://bucket?region=%zz",
      "s3://bucket/../x",
      "s3://bucket/a//b",
      "s3://bucket/a b",
      "s3://bucket/p?prefix=q",
      "s3://my.bucket?style=virtual",
  };
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct ml_store_s3_url u;
    struct ml_errbuf eb = {{0}};
    if(ml_store_s3_url_parse(bad[i], &u, &eb) != ML_ERR_CONFIG)
      fail_msg("accepted: %s", bad[i]);
    assert_true(eb.msg[0] != '\0');
  }
}

/* ------------------------------------------------------------------ XML */

struct items {
  int n;
  int stop_at;
  char keys[8][64];
  int64_t sizes[8], mtimes[8];
};

static int collect(void *ctx, const char *key, int64_t size, int64_t mtime_ms) {
  struct items *it = ctx;
  if(it->n < 8) {
    snprintf(it->keys[it->n], sizeof(it->keys[0]), "%s", key);
    it->sizes[it->n] = size;
    it->mtimes[it->n] = mtime_ms;
  }
  it->n++;
  return it->stop_at && it->n >= it->stop_at;
}

static ml_err parse_list(const char *xml, struct items *it, int *trunc, char *token, int *stopped) {
  struct ml_errbuf eb = {{0}};
  return ml_store_s3_parse_list(xml, strlen(xml), collect, it, trunc, token, 256, stopped, &eb);
}

static void test_list_xml(void **state) {
  struct items it;
  char token[256];
  int trunc, stopped;
  (void)state;
  memset(&it, 0, sizeof(it));
  assert_int_equal(
      parse_list("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Name>b</Name><Prefix/><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
                 "<IsTruncated>true</IsTruncated>"
                 "<Contents><Key>m/1/v1-a/original</Key>"
                 "<LastModified>2013-05-24T00:00:01.500Z</LastModified>"
                 "<ETag>&quot;x&quot;</ETag><Size>10</Size></Contents>\n"
                 "<Contents>\n  <Key>m/2/a&amp;b&#x2F;c&#46;d</Key>\n  <Size>0</Size>\n"
                 "</Contents>"
                 "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
                 "</NextContinuationToken></ListBucketResult>",
                 &it, &trunc, token, &stopped),
      ML_OK);
  assert_int_equal(it.n, 2);
  assert_string_equal(it.keys[0], "m/1/v1-a/original");
  assert_int_equal(it.sizes[0], 10);
  assert_int_equal(it.mtimes[0], 1369353601500LL);
  assert_string_equal(it.keys[1], "m/2/a&b/c.d");
  assert_int_equal(it.sizes[1], 0);
  assert_int_equal(it.mtimes[1], 0);
  assert_int_equal(trunc, 1);
  assert_int_equal(stopped, 0);
  assert_string_equal(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

  /* The last page; the callback stops the walk. */
  memset(&it, 0, sizeof(it));
  it.stop_at = 1;
  assert_int_equal(parse_list("<ListBucketResult><IsTruncated>false</IsTruncated>"
                              "<Contents><Key>a</Key><Size>1</Size></Contents>"
                              "<Contents><Key>b</Key><Size>2</Size></Contents>"
                              "</ListBucketResult>",
                              &it, &trunc, token, &stopped),
                   ML_OK);
  assert_int_equal(it.n, 1);
  assert_int_equal(stopped, 1);

  /* Empty bucket. */
  memset(&it, 0, sizeof(it));
  assert_int_equal(parse_list("<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false"
                              "</IsTruncated></ListBucketResult>",
                              &it, &trunc, token, &stopped),
                   ML_OK);
  assert_int_equal(it.n, 0);
  assert_int_equal(trunc, 0);
  assert_string_equal(token, "");
}

static void test_list_xml_bad(void **state) {
  static const char *bad[] = {
      "",
      "<Error><Code>AccessDenied</Code></Error>",
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>",
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>",
      "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&amp</Key><Size>1</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><Contents><Key>a</Key><Size>1</Size><LastModified>yesterday"
      "</LastModified></Contents></ListBucketResult>",
      /* truncated without a token: would list the first page forever */
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
      "</NextContinuationToken></ListBucketResult>",
  };
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct items it;
    char token[256];
    int trunc, stopped;
    memset(&it, 0, sizeof(it));
    if(parse_list(bad[i], &it, &trunc, token, &stopped) != ML_ERR_IO)
      fail_msg("accepted: %s", bad[i]);
  }
}

static void test_error_xml(void **state) {
  char out[200];
  const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                    "<Message>The key &lt;k&gt; does\nnot exist</Message><Key>k</Key></Error>";
  (void)state;
  assert_int_equal(ml_store_s3_parse_error(xml, strlen(xml), out, sizeof(out)), 1);
  assert_string_equal(out, "NoSuchKey: The key <k> does not exist");
  xml = "<Error><Code>SlowDown</Code></Error>";
  assert_int_equal(ml_store_s3_parse_error(xml, strlen(xml), out, sizeof(out)), 1);
  assert_string_equal(out, "SlowDown");
  xml = "<Error><Message>m</Message></Error>";
  assert_int_equal(ml_store_s3_parse_error(xml, strlen(xml), out, sizeof(out)), 1);
  assert_string_equal(out, "UnknownError: m");
  xml = "<html>502 Bad Gateway</html>";
  assert_int_equal(ml_store_s3_parse_error(xml, strlen(xml), out, sizeof(out)), 0);
  assert_string_equal(out, "");
  xml = "<Error><Code>Trunc";
  assert_int_equal(ml_store_s3_parse_error(xml, strlen(xml), out, sizeof(out)), 0);
  /* a tiny buffer truncates, never overflows */
  xml = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
  assert_int_equal(ml_store_s3_parse_error(xml, strlen(xml), out, 7), 1);
  assert_string_equal(out, "Access");
}

static void test_xml_text(void **state) {
  char out[16];
  const char *xml = "<R><UploadIdX>no</UploadIdX><UploadId>abc&#65;</UploadId></R>";
  (void)state;
  assert_int_equal(ml_store_s3_xml_text(xml, strlen(xml), "UploadId", out, sizeof(out)), ML_OK);
  assert_string_equal(out, "abcA");
  assert_int_equal(ml_store_s3_xml_text(xml, strlen(xml), "Upload", out, sizeof(out)),
                   ML_ERR_NOT_FOUND);
  xml = "<UploadId>0123456789abcdef</UploadId>";
  assert_int_equal(ml_store_s3_xml_text(xml, strlen(xml), "UploadId", out, sizeof(out)), ML_ERR_IO);
  xml = "<UploadId>a<b/></UploadId>";
  assert_int_equal(ml_store_s3_xml_text(xml, strlen(xml), "UploadId", out, sizeof(out)), ML_ERR_IO);
}

static void test_iso8601(void **state) {
  (void)state;
  assert_int_equal(ml_store_s3_parse_iso8601("1970-01-01T00:00:00Z", 20), 0);
  assert_int_equal(ml_store_s3_parse_iso8601("2013-05-24T00:00:00.000Z", 24), 1369353600000LL);
  assert_int_equal(ml_store_s3_parse_iso8601("2024-02-29T23:59:59.9Z", 22), 1709251199900LL);
  assert_int_equal(ml_store_s3_parse_iso8601("2013-05-24T00:00:00", 19), -1);
  assert_int_equal(ml_store_s3_parse_iso8601("2013-13-24T00:00:00Z", 20), -1);
  assert_int_equal(ml_store_s3_parse_iso8601("2013-05-24 00:00:00Z", 20), -1);
  assert_int_equal(ml_store_s3_parse_iso8601("2013-05-24T00:00:00.Z", 21), -1);
  assert_int_equal(ml_store_s3_parse_iso8601("", 0), -1);
}

static void test_range_header(void **state) {
  char out[64];
  (void)state;
  assert_int_equal(ml_store_s3_range(0, 1, out, sizeof(out)), ML_OK);
  assert_string_equal(out, "bytes=0-0");
  assert_int_equal(ml_store_s3_range(100, 100, out, sizeof(out)), ML_OK);
  assert_string_equal(out, "bytes=100-199");
  assert_int_equal(ml_store_s3_range(0, (uint64_t)1 << 40, out, sizeof(out)), ML_OK);
  assert_string_equal(out, "bytes=0-1099511627775");
  assert_int_equal(ml_store_s3_range(5, 0, out, sizeof(out)), ML_ERR_INTERNAL);
  assert_int_equal(ml_store_s3_range(UINT64_MAX, 2, out, sizeof(out)), ML_ERR_INTERNAL);
  assert_int_equal(ml_store_s3_range(100, 100, out, 8), ML_ERR_INTERNAL);
}

/* ---------------------------------------------------------- live s3rver */

struct live {
  char dir[64]; /* spool */
  char url[512];
  char endpoint[128];
  struct ml_store *s;
};

static int endpoint_of_fixture(char *out, size_t cap) {
  const char *dir = getenv("ML_TEST_S3_DIR");
  char path[512];
  int port = 0;
  FILE *f;
  if(!dir)
    return -1;
  snprintf(path, sizeof(path), "%s/port", dir);
  f = fopen(path, "r");
  if(!f)
    return -1;
  if(fscanf(f, "%d", &port) != 1)
    port = 0;
  fclose(f);
  if(port <= 0)
    return -1;
  snprintf(out, cap, "http://127.0.0.1:%d", port);
  return 0;
}

static ml_err open_live(struct live *l, const char *params, const char *delivery) {
  struct ml_errbuf eb = {{0}};
  static int seq;
  struct ml_store_opts o = {0};
  ml_err rc;
  /* every test its own prefix: runs never see each other's keys */
  snprintf(l->url, sizeof(l->url), "s3://ml-unit/run-%ld-%d?endpoint=%s%s", (long)getpid(), ++seq,
           l->endpoint, params);
  o.url = l->url;
  o.spool_dir = l->dir;
  o.s3_access_key = "S3RVER";
  o.s3_secret_key = "S3RVER";
  o.s3_delivery = delivery;
  rc = ml_store_open_opts(&o, &l->s, &eb);
  if(rc)
    print_message("open %s: %s\n", l->url, eb.msg);
  return rc;
}

static int live_setup(void **state) {
  struct live *l = calloc(1, sizeof(*l));
  if(endpoint_of_fixture(l->endpoint, sizeof(l->endpoint))) {
    print_message("ML_TEST_S3_DIR does not name a running s3rver (the ctest fixture "
                  "s3rver starts one)\n");
    free(l);
    return -1;
  }
  snprintf(l->dir, sizeof(l->dir), "/tmp/ml-s3-XXXXXX");
  assert_non_null(mkdtemp(l->dir));
  if(open_live(l, "", "proxy")) {
    free(l);
    return -1;
  }
  *state = l;
  return 0;
}

static int live_teardown(void **state) {
  struct live *l = *state;
  char cmd[128];
  ml_store_close(&l->s);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", l->dir);
  assert_int_equal(system(cmd), 0);
  free(l);
  return 0;
}

/* A spool file of n pseudo-random bytes (seeded), its path in path. */
static void spool_file(struct live *l, size_t n, unsigned seed, char *path, size_t cap) {
  FILE *f;
  int fd;
  snprintf(path, cap, "%s/up-XXXXXX", l->dir);
  fd = mkstemp(path);
  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  for(size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    fputc((int)(seed >> 16) & 0xff, f);
  }
  fclose(f);
}

static char *read_fd(int fd, size_t n) {
  char *b = malloc(n + 1);
  size_t got = 0;
  while(got < n) {
    ssize_t r = read(fd, b + got, n - got);
    assert_true(r > 0);
    got += (size_t)r;
  }
  return b;
}

static char *read_path(const char *path, size_t *n) {
  struct stat st;
  FILE *f = fopen(path, "rb");
  char *b;
  assert_non_null(f);
  assert_int_equal(fstat(fileno(f), &st), 0);
  b = malloc((size_t)st.st_size + 1);
  assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
  fclose(f);
  *n = (size_t)st.st_size;
  return b;
}

/* Reads a whole stream as a response would: wait on WAIT until woken. */
struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int woken;
};

static void wake_fn(void *arg) {
  struct waiter *w = arg;
  pthread_mutex_lock(&w->mu);
  w->woken = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static ssize_t read_stream(struct ml_blob_stream *st, char *out, size_t cap, int *waits) {
  struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  size_t got = 0;
  *waits = 0;
  for(;;) {
    char buf[7000]; /* not a divisor of anything: partial reads */
    ssize_t n = ml_blob_stream_read(st, buf, sizeof(buf), wake_fn, &w);
    if(n == ML_BLOB_WAIT) {
      struct timespec ts;
      (*waits)++;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 10;
      pthread_mutex_lock(&w.mu);
      while(!w.woken)
        if(pthread_cond_timedwait(&w.cv, &w.mu, &ts))
          break;
      assert_int_equal(w.woken, 1);
      w.woken = 0;
      pthread_mutex_unlock(&w.mu);
      continue;
    }
    if(n <= 0)
      return n == 0 ? (ssize_t)got : n;
    assert_true(got + (size_t)n <= cap);
    memcpy(out + got, buf, (size_t)n);
    got += (size_t)n;
  }
}

static void test_live_put_get_remove(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b = {.fd = -1};
  char src[256], *orig, *got;
  size_t n;
  int waits;
  spool_file(l, 5000, 1, src, sizeof(src));
  orig = read_path(src, &n);
  assert_int_equal(ml_store_put(l->s, "m/1/v1-ab/original", src, "image/png", &eb), ML_OK);
  assert_int_equal(access(src, F_OK), -1); /* the spool file is consumed */

  assert_int_equal(ml_store_get(l->s, "m/1/v1-ab/original", &b, &eb), ML_OK);
  assert_true(b.fd >= 0);
  assert_null(b.stream);
  assert_int_equal(b.size, 5000);
  assert_true(b.mtime > time(NULL) - 600 && b.mtime < time(NULL) + 600);
  got = read_fd(b.fd, n);
  assert_memory_equal(got, orig, n);
  free(got);
  ml_blob_close(&b);
  assert_int_equal(b.fd, -1);

  assert_int_equal(ml_store_stat(l->s, "m/1/v1-ab/original", &b, &eb), ML_OK);
  assert_int_equal(b.size, 5000);
  assert_int_equal(b.fd, -1);

  /* delivery: a stream, the whole blob */
  assert_int_equal(ml_store_open_read(l->s, "m/1/v1-ab/original", &b, &eb), ML_OK);
  assert_int_equal(b.fd, -1);
  assert_non_null(b.stream);
  got = malloc(n);
  assert_int_equal(read_stream(b.stream, got, n, &waits), (ssize_t)n);
  assert_memory_equal(got, orig, n);
  ml_blob_close(&b);
  assert_null(b.stream);

  /* a range */
  assert_int_equal(ml_store_open_read(l->s, "m/1/v1-ab/original", &b, &eb), ML_OK);
  ml_blob_stream_range(b.stream, 4000, 999);
  assert_int_equal(read_stream(b.stream, got, n, &waits), 999);
  assert_memory_equal(got, orig + 4000, 999);
  ml_blob_close(&b);

  /* a stream closed before it is read fetches nothing and frees */
  assert_int_equal(ml_store_open_read(l->s, "m/1/v1-ab/original", &b, &eb), ML_OK);
  ml_blob_close(&b);
  free(got);

  assert_int_equal(ml_store_remove(l->s, "m/1/v1-ab/original", &eb), ML_OK);
  assert_int_equal(ml_store_get(l->s, "m/1/v1-ab/original", &b, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_store_stat(l->s, "m/1/v1-ab/original", &b, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_store_open_read(l->s, "m/1/v1-ab/original", &b, &eb), ML_ERR_NOT_FOUND);
  /* a missing key counts as removed */
  assert_int_equal(ml_store_remove(l->s, "m/1/v1-ab/original", &eb), ML_OK);
  assert_int_equal(ml_store_remove(l->s, "m/404/never/original", &eb), ML_OK);
  free(orig);
}

static void test_live_empty_blob(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b = {.fd = -1};
  char src[256], buf[8];
  int waits;
  spool_file(l, 0, 1, src, sizeof(src));
  assert_int_equal(ml_store_put(l->s, "m/2/v1-e/original", src, "text/plain", &eb), ML_OK);
  assert_int_equal(ml_store_open_read(l->s, "m/2/v1-e/original", &b, &eb), ML_OK);
  assert_int_equal(b.size, 0);
  assert_int_equal(read_stream(b.stream, buf, sizeof(buf), &waits), 0);
  ml_blob_close(&b);
  assert_int_equal(ml_store_remove(l->s, "m/2/v1-e/original", &eb), ML_OK);
}

static void test_live_multipart(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b = {.fd = -1};
  char src[256], *orig, *got;
  size_t n;
  int waits;
  ml_store_close(&l->s);
  /* 200,000 bytes in parts of 64 KiB: 3 full parts and a short one */
  assert_int_equal(open_live(l, "&part_size=64KiB&multipart_threshold=100KiB", "proxy"), ML_OK);
  spool_file(l, 200000, 7, src, sizeof(src));
  orig = read_path(src, &n);
  assert_int_equal(ml_store_put(l->s, "m/3/v1-mp/original", src, "video/mp4", &eb), ML_OK);
  assert_int_equal(access(src, F_OK), -1);
  assert_int_equal(ml_store_get(l->s, "m/3/v1-mp/original", &b, &eb), ML_OK);
  assert_int_equal(b.size, 200000);
  got = read_fd(b.fd, n);
  assert_memory_equal(got, orig, n);
  ml_blob_close(&b);
  /* a range across a part boundary, streamed */
  assert_int_equal(ml_store_open_read(l->s, "m/3/v1-mp/original", &b, &eb), ML_OK);
  ml_blob_stream_range(b.stream, 65000, 70000);
  assert_int_equal(read_stream(b.stream, got, n, &waits), 70000);
  assert_memory_equal(got, orig + 65000, 70000);
  ml_blob_close(&b);
  free(got);
  free(orig);
  assert_int_equal(ml_store_remove(l->s, "m/3/v1-mp/original", &eb), ML_OK);
}

/* A stream bigger than the store's buffer read slowly: the transfer pauses
 * and resumes, and the bytes arrive whole and in order. */
static void test_live_stream_slow_reader(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b = {.fd = -1};
  struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  char src[256], *orig, *got;
  size_t n, at = 0;
  spool_file(l, 3 << 20, 11, src, sizeof(src));
  orig = read_path(src, &n);
  assert_int_equal(ml_store_put(l->s, "m/4/v1-big/original", src, "video/mp4", &eb), ML_OK);
  assert_int_equal(ml_store_open_read(l->s, "m/4/v1-big/original", &b, &eb), ML_OK);
  got = malloc(n);
  while(at < n) {
    ssize_t r = ml_blob_stream_read(b.stream, got + at, 64 * 1024, wake_fn, &w);
    if(r == ML_BLOB_WAIT) {
      pthread_mutex_lock(&w.mu);
      while(!w.woken)
        pthread_cond_wait(&w.cv, &w.mu);
      w.woken = 0;
      pthread_mutex_unlock(&w.mu);
      continue;
    }
    assert_true(r > 0);
    at += (size_t)r;
    if(at < (1 << 20))
      usleep(2000); /* slower than s3rver: the buffer fills */
  }
  assert_int_equal(ml_blob_stream_read(b.stream, got, 16, wake_fn, &w), 0);
  assert_memory_equal(got, orig, n);
  ml_blob_close(&b);
  /* closing a stream in the middle stops it cleanly */
  assert_int_equal(ml_store_open_read(l->s, "m/4/v1-big/original", &b, &eb), ML_OK);
  {
    ssize_t r = ml_blob_stream_read(b.stream, got, 10, wake_fn, &w); /* starts the fetch */
    assert_true(r == ML_BLOB_WAIT || r == 10);
  }
  usleep(20000);
  ml_blob_close(&b);
  free(got);
  free(orig);
  assert_int_equal(ml_store_remove(l->s, "m/4/v1-big/original", &eb), ML_OK);
}

/* Several streams at once, the newest closed while the others are paused
 * on full buffers: the others go on to their end. (A closed stream was
 * queued for freeing through the same link that chained the streamer's
 * active list: every stream after it fell off the list, and a paused one
 * was never resumed.) */
static void test_live_streams_close_one(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b[3];
  struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  size_t first[3] = {0, 0, 0}, n;
  char src[256], *orig, *got;
  int waits = 0;
  spool_file(l, 3 << 20, 12, src, sizeof(src));
  orig = read_path(src, &n);
  assert_int_equal(ml_store_put(l->s, "m/5/v1-many/original", src, "video/mp4", &eb), ML_OK);
  got = malloc(n);
  for(int i = 0; i < 3; i++) {
    ssize_t r;
    b[i].fd = -1;
    b[i].stream = NULL;
    assert_int_equal(ml_store_open_read(l->s, "m/5/v1-many/original", &b[i], &eb), ML_OK);
    r = ml_blob_stream_read(b[i].stream, got, 1, wake_fn, &w); /* starts the fetch */
    assert_true(r == ML_BLOB_WAIT || r == 1);
    first[i] = r == 1 ? 1 : 0;
  }
  usleep(300000); /* the transfers fill their 256 KiB buffers and pause */
  ml_blob_close(&b[2]);
  for(int i = 0; i < 2; i++) {
    ssize_t r = read_stream(b[i].stream, got + first[i], n - first[i], &waits);
    assert_int_equal(r, (ssize_t)(n - first[i]));
    assert_memory_equal(got + first[i], orig + first[i], n - first[i]);
    ml_blob_close(&b[i]);
  }
  free(got);
  free(orig);
  assert_int_equal(ml_store_remove(l->s, "m/5/v1-many/original", &eb), ML_OK);
}

struct seen {
  int n;
  char keys[16][64];
  int64_t size_sum;
};

static int see(void *ctx, const char *key, int64_t size, int64_t mtime_ms) {
  struct seen *s = ctx;
  if(s->n < 16)
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
  s->n++;
  s->size_sum += size;
  assert_true(mtime_ms > ((int64_t)time(NULL) - 600) * 1000);
  return 0;
}

static void test_live_list_pages(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct seen seen;
  char src[256], key[64];
  ml_store_close(&l->s);
  /* two keys a page: five keys under m/5/ need three pages */
  assert_int_equal(open_live(l, "&list_page=2", "proxy"), ML_OK);
  for(int i = 0; i < 5; i++) {
    spool_file(l, (size_t)(10 + i), (unsigned)i, src, sizeof(src));
    snprintf(key, sizeof(key), "m/5/v1-%d/original", i);
    assert_int_equal(ml_store_put(l->s, key, src, "image/png", &eb), ML_OK);
  }
  spool_file(l, 3, 9, src, sizeof(src));
  assert_int_equal(ml_store_put(l->s, "m/6/v1-z/original", src, "image/png", &eb), ML_OK);
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(ml_store_list(l->s, "m/5/", see, &seen, &eb), ML_OK);
  assert_int_equal(seen.n, 5);
  assert_int_equal(seen.size_sum, 10 + 11 + 12 + 13 + 14);
  for(int i = 0; i < 5; i++) {
    snprintf(key, sizeof(key), "m/5/v1-%d/original", i);
    assert_string_equal(seen.keys[i], key); /* keys without the store's prefix, in order */
  }
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(ml_store_list(l->s, "", see, &seen, &eb), ML_OK);
  assert_int_equal(seen.n, 6);
  assert_int_equal(ml_store_ping(l->s, &eb), ML_OK);
  for(int i = 0; i < 5; i++) {
    snprintf(key, sizeof(key), "m/5/v1-%d/original", i);
    assert_int_equal(ml_store_remove(l->s, key, &eb), ML_OK);
  }
  assert_int_equal(ml_store_remove(l->s, "m/6/v1-z/original", &eb), ML_OK);
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(ml_store_list(l->s, "", see, &seen, &eb), ML_OK);
  assert_int_equal(seen.n, 0);
}

static void test_live_redirect_url(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_buf url;
  int64_t max_age = 0;
  char src[256], *body = NULL;
  size_t blen = 0;
  long status = 0;
  FILE *mem;
  CURL *h;
  ml_buf_init(&url, 16384);
  assert_int_equal(
      ml_store_delivery_url(l->s, "m/7/v1-r/original", "image/png", NULL, &url, &max_age, &eb),
      ML_ERR_NOT_IMPLEMENTED); /* proxy delivery */
  ml_store_close(&l->s);
  assert_int_equal(open_live(l, "", "redirect"), ML_OK);
  spool_file(l, 1234, 3, src, sizeof(src));
  assert_int_equal(ml_store_put(l->s, "m/7/v1-r/original", src, "image/png", &eb), ML_OK);
  assert_int_equal(ml_store_delivery_url(l->s, "m/7/v1-r/original", "image/png",
                                         "attachment; filename=\"r.png\"", &url, &max_age, &eb),
                   ML_OK);
  assert_int_equal(max_age, 1800);
  assert_true(!strncmp(url.data, l->endpoint, strlen(l->endpoint)));
  assert_non_null(strstr(url.data, "/ml-unit/run-"));
  assert_non_null(strstr(url.data, "X-Amz-Signature="));
  assert_non_null(strstr(url.data, "response-content-type=image%2Fpng"));
  /* the URL fetches the object (s3rver does not check signatures: AWS's
   * example above checks those) */
  mem = open_memstream(&body, &blen);
  h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
  assert_int_equal(curl_easy_perform(h), CURLE_OK);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  fclose(mem);
  assert_int_equal(status, 200);
  assert_int_equal(blen, 1234);
  free(body);
  assert_int_equal(ml_store_remove(l->s, "m/7/v1-r/original", &eb), ML_OK);
  ml_buf_free(&url);
}

static void test_live_failures(void **state) {
  struct live *l = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_store_opts o = {0};
  struct ml_store *s = NULL;
  struct ml_blob b = {.fd = -1};
  char src[256], url[512];
  time_t t0;
  /* a bucket that does not exist: 404 NoSuchBucket is unavailable, not
   * "not found", and the code reaches the message */
  snprintf(url, sizeof(url), "s3://ml-no-such-bucket?endpoint=%s", l->endpoint);
  o.url = url;
  o.spool_dir = l->dir;
  o.s3_access_key = "S3RVER";
  o.s3_secret_key = "S3RVER";
  assert_int_equal(ml_store_open_opts(&o, &s, &eb), ML_OK);
  assert_int_equal(ml_store_ping(s, &eb), ML_ERR_STORAGE_UNAVAILABLE);
  assert_non_null(strstr(eb.msg, "NoSuchBucket"));
  ml_errbuf_clear(&eb);
  spool_file(l, 10, 1, src, sizeof(src));
  assert_int_equal(ml_store_put(s, "m/8/v1-a/original", src, "image/png", &eb),
                   ML_ERR_STORAGE_UNAVAILABLE);
  assert_int_equal(access(src, F_OK), 0); /* left for the caller on failure */
  ml_store_close(&s);

  /* nothing listens: connection refused, after the bounded retries */
  snprintf(url, sizeof(url), "s3://ml-unit?endpoint=http://127.0.0.1:1&tries=2&connect_timeout=1");
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_store_open_opts(&o, &s, &eb), ML_OK);
  t0 = time(NULL);
  assert_int_equal(ml_store_put(s, "m/8/v1-a/original", src, "image/png", &eb),
                   ML_ERR_STORAGE_UNAVAILABLE);
  assert_non_null(strstr(eb.msg, "after retries"));
  assert_int_equal(access(src, F_OK), 0);
  assert_int_equal(ml_store_get(s, "m/8/v1-a/original", &b, &eb), ML_ERR_STORAGE_UNAVAILABLE);
  assert_int_equal(ml_store_open_read(s, "m/8/v1-a/original", &b, &eb), ML_ERR_STORAGE_UNAVAILABLE);
  assert_int_equal(ml_store_remove(s, "m/8/v1-a/original", &eb), ML_ERR_STORAGE_UNAVAILABLE);
  assert_int_equal(ml_store_ping(s, &eb), ML_ERR_STORAGE_UNAVAILABLE);
  assert_true(time(NULL) - t0 < 10);
  ml_store_close(&s);
  unlink(src);

  /* settings */
  o.s3_secret_key = "";
  assert_int_equal(ml_store_open_opts(&o, &s, &eb), ML_ERR_CONFIG);
  o.s3_secret_key = "S3RVER";
  o.s3_delivery = "teleport";
  assert_int_equal(ml_store_open_opts(&o, &s, &eb), ML_ERR_CONFIG);
  o.s3_delivery = NULL;
  o.spool_dir = NULL;
  assert_int_equal(ml_store_open_opts(&o, &s, &eb), ML_ERR_CONFIG);
  assert_null(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_presign_aws_example),
      cmocka_unit_test(test_presign_extra_params),
      cmocka_unit_test(test_url_good),
      cmocka_unit_test(test_url_bad),
      cmocka_unit_test(test_list_xml),
      cmocka_unit_test(test_list_xml_bad),
      cmocka_unit_test(test_error_xml),
      cmocka_unit_test(test_xml_text),
      cmocka_unit_test(test_iso8601),
      cmocka_unit_test(test_range_header),
      cmocka_unit_test_setup_teardown(test_live_put_get_remove, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_empty_blob, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_multipart, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_stream_slow_reader, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_streams_close_one, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_list_pages, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_redirect_url, live_setup, live_teardown),
      cmocka_unit_test_setup_teardown(test_live_failures, live_setup, live_teardown),
  };
  int rc;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
