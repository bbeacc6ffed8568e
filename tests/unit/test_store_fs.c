/* test_store_fs.c - the file-system blob store: put, get, remove, list, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "store/store_int.h"

struct fixture {
  char dir[64];
  char url[128];
  struct ml_store *s;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  struct ml_errbuf eb = {{0}};
  snprintf(f->dir, sizeof(f->dir), "/tmp/ml-store-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->url, sizeof(f->url), "file://%s/blobs", f->dir);
  assert_int_equal(ml_store_open(f->url, NULL, &f->s, &eb), ML_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  char cmd[128];
  ml_store_close(&f->s);
  assert_null(f->s);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static void spool(struct fixture *f, const char *content, char *path, size_t len) {
  FILE *fp;
  snprintf(path, len, "%s/up-XXXXXX", ml_store_spool_dir(f->s));
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fp = fdopen(fd, "w");
  fputs(content, fp);
  fclose(fp);
}

static void test_put_get_remove(void **state) {
  struct fixture *f = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b;
  char src[256], buf[32] = {0};
  spool(f, "hello blob", src, sizeof(src));
  assert_int_equal(ml_store_put(f->s, "m/1/v1-ab/original", src, "text/plain", &eb), ML_OK);
  assert_int_equal(access(src, F_OK), -1); /* consumed */
  assert_int_equal(ml_store_get(f->s, "m/1/v1-ab/original", &b, &eb), ML_OK);
  assert_int_equal(b.size, 10);
  assert_int_equal(read(b.fd, buf, sizeof(buf)), 10);
  assert_string_equal(buf, "hello blob");
  /* removal while a reader holds the fd: the reader still reads it all */
  assert_int_equal(ml_store_remove(f->s, "m/1/v1-ab/original", &eb), ML_OK);
  assert_int_equal(lseek(b.fd, 0, SEEK_SET), 0);
  assert_int_equal(read(b.fd, buf, sizeof(buf)), 10);
  close(b.fd);
  assert_int_equal(ml_store_get(f->s, "m/1/v1-ab/original", &b, &eb), ML_ERR_NOT_FOUND);
  /* missing counts as removed; empty parent directories are pruned */
  assert_int_equal(ml_store_remove(f->s, "m/1/v1-ab/original", &eb), ML_OK);
  {
    char p[256];
    snprintf(p, sizeof(p), "%s/blobs/m/1", f->dir);
    assert_int_equal(access(p, F_OK), -1);
  }
}

static int count_cb(void *ctx, const char *key, int64_t size, int64_t mtime) {
  int *n = ctx;
  (void)mtime;
  assert_true(size > 0);
  assert_true(strncmp(key, ".tmp", 4) != 0);
  (*n)++;
  return 0;
}

static void test_list_prefix(void **state) {
  struct fixture *f = *state;
  struct ml_errbuf eb = {{0}};
  const char *keys[] = {"m/1/v1-a/original", "m/1/v2-b/original", "m/12/v1-c/original",
                        "m/2/v1-d/original"};
  int n = 0;
  char src[256];
  for(size_t i = 0; i < 4; i++) {
    spool(f, "x", src, sizeof(src));
    assert_int_equal(ml_store_put(f->s, keys[i], src, NULL, &eb), ML_OK);
  }
  spool(f, "left in the spool", src, sizeof(src)); /* never listed */
  assert_int_equal(ml_store_list(f->s, "", count_cb, &n, &eb), ML_OK);
  assert_int_equal(n, 4);
  n = 0;
  assert_int_equal(ml_store_list(f->s, "m/1/", count_cb, &n, &eb), ML_OK);
  assert_int_equal(n, 2);
  n = 0;
  assert_int_equal(ml_store_list(f->s, "m/1", count_cb, &n, &eb), ML_OK);
  assert_int_equal(n, 3); /* m/1/... and m/12/... */
  assert_int_equal(ml_store_ping(f->s, &eb), ML_OK);
}

static void test_keys(void **state) {
  struct fixture *f = *state;
  struct ml_errbuf eb = {{0}};
  struct ml_blob b;
  (void)state;
  assert_true(ml_store_key_valid("m/1/v1-ab/original"));
  assert_false(ml_store_key_valid(""));
  assert_false(ml_store_key_valid("/abs"));
  assert_false(ml_store_key_valid("m//x"));
  assert_false(ml_store_key_valid("m/../x"));
  assert_false(ml_store_key_valid("m/./x"));
  assert_false(ml_store_key_valid("m/x/"));
  assert_false(ml_store_key_valid("m/x y"));
  assert_false(ml_store_key_valid("m/x%2F"));
  assert_int_equal(ml_store_get(f->s, "../../etc/passwd", &b, &eb), ML_ERR_NOT_FOUND);
  assert_int_equal(ml_store_remove(f->s, "../x", &eb), ML_ERR_INTERNAL);
}

static void test_bad_urls(void **state) {
  struct ml_store *s = NULL;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_store_open("ftp://x", NULL, &s, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "MEDIALIB_STORAGE_URL"));
  assert_null(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_get_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_prefix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
      cmocka_unit_test(test_bad_urls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
