/*
 * test_renderd.c - the render worker pool (src/image/renderd.c) with the
 * real medialib-render executable: renders through a worker, errors carried
 * back, a worker that crashes or hangs replaced, concurrent renders, and no
 * process left behind.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "image/renderd.h"

static char dir[64];
static int seq;

static void tmp_path(char *out, size_t cap, const char *what) {
  snprintf(out, cap, "%s/%s-%d", dir, what, ++seq);
}

/* A w x h PNG made with libvips in this process (the test's own fixture). */
static int make_png(int w, int h) {
  char path[128];
  VipsImage *img = NULL;
  int fd;
  tmp_path(path, sizeof(path), "src.png");
  assert_int_equal(vips_black(&img, w, h, "bands", 3, NULL), 0);
  assert_int_equal(vips_pngsave(img, path, NULL), 0);
  g_object_unref(img);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  return fd;
}

static struct ml_renderd *pool(int workers, int64_t timeout_ms) {
  struct ml_renderd_opts o = {
      .exe = ML_RENDER_BIN, .workers = workers, .memory_limit = 0, .timeout_ms = timeout_ms};
  struct ml_renderd *p = NULL;
  struct ml_errbuf eb = {{0}};
  assert_int_equal(ml_renderd_create(&o, &p, &eb), ML_OK);
  return p;
}

static const struct ml_transform_dims dims_40x30 = {40, 30, 0};

static void test_render_through_a_worker(void **state) {
  struct ml_renderd *p = pool(1, 10000);
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  char out[128];
  struct stat st;
  int fd = make_png(400, 300);
  (void)state;
  assert_int_equal(ml_renderd_spawned(p), 0); /* nothing starts before it is needed */
  tmp_path(out, sizeof(out), "out.png");
  assert_int_equal(ml_renderd_render(p, fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_PNG, 0,
                                     out, &res, &eb),
                   ML_OK);
  assert_int_equal(res.width, 40);
  assert_int_equal(res.height, 30);
  assert_string_equal(res.mime, "image/png");
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal(st.st_size, res.size);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* The same worker serves the next one. */
  tmp_path(out, sizeof(out), "out.jpg");
  assert_int_equal(ml_renderd_render(p, fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_JPEG, 50,
                                     out, &res, &eb),
                   ML_OK);
  assert_string_equal(res.mime, "image/jpeg");
  assert_int_equal(ml_renderd_spawned(p), 1);
  close(fd);
  ml_renderd_destroy(&p);
  assert_null(p);
  /* Every worker was reaped: this process has no child left. */
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

static void test_probe_in_a_worker(void **state) {
  struct ml_renderd *p = pool(1, 10000);
  struct ml_errbuf eb = {{0}};
  struct ml_image_info info;
  char src[128];
  int fd = make_png(123, 45), tfd;
  VipsImage *img = NULL, *tiff = NULL;
  (void)state;
  if(ml_renderd_probe(p, fd, "image/png", &info, &eb))
    fail_msg("probe: %s", eb.msg);
  assert_int_equal(info.width, 123);
  assert_int_equal(info.height, 45);
  assert_int_equal(info.frames, 1);
  assert_int_equal(info.orientation, 1);
  /* A two-page TIFF with orientation 6: the page size, two frames. */
  tmp_path(src, sizeof(src), "two.tif");
  assert_int_equal(vips_black(&img, 30, 40, "bands", 3, NULL), 0);
  assert_int_equal(vips_copy(img, &tiff, NULL), 0);
  vips_image_set_int(tiff, "page-height", 20);
  vips_image_set_int(tiff, "orientation", 6);
  assert_int_equal(vips_tiffsave(tiff, src, NULL), 0);
  g_object_unref(tiff);
  g_object_unref(img);
  tfd = open(src, O_RDONLY | O_CLOEXEC);
  assert_int_equal(ml_renderd_probe(p, tfd, "image/tiff", &info, &eb), ML_OK);
  assert_int_equal(info.width, 30);
  assert_int_equal(info.height, 20);
  assert_int_equal(info.frames, 2);
  assert_int_equal(info.orientation, 6);
  /* The content must be what the type says. */
  assert_int_equal(ml_renderd_probe(p, tfd, "image/png", &info, &eb),
                   ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(info.width, 0);
  close(tfd);
  close(fd);
  ml_renderd_destroy(&p);
}

static void test_errors_come_back(void **state) {
  struct ml_renderd *p = pool(1, 10000);
  struct ml_errbuf eb = {{0}};
  char src[128], out[128];
  int fd;
  (void)state;
  tmp_path(src, sizeof(src), "text");
  fd = open(src, O_RDWR | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "hello, this is not a PNG\n", 25), 25);
  tmp_path(out, sizeof(out), "out.png");
  assert_int_equal(ml_renderd_render(p, fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_PNG, 0,
                                     out, NULL, &eb),
                   ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_non_null(strstr(eb.msg, "image/png")); /* the worker's own message */
  assert_int_equal(access(out, F_OK), -1);      /* no output left */
  assert_int_equal(ml_renderd_spawned(p), 1);   /* an error is not a crash */
  /* An output that exists already is not overwritten. */
  {
    int ofd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
    close(ofd);
    ml_errbuf_clear(&eb);
    assert_int_equal(ml_renderd_render(p, fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_PNG, 0,
                                       out, NULL, &eb),
                     ML_ERR_IO);
  }
  close(fd);
  ml_renderd_destroy(&p);
}

#ifdef ML_TEST_HOOKS
static void test_crash_and_hang_replace_the_worker(void **state) {
  struct ml_renderd *p = pool(1, 500);
  struct ml_errbuf eb = {{0}};
  char out[128];
  int fd = make_png(64, 48);
  (void)state;
  tmp_path(out, sizeof(out), "crash");
  assert_int_equal(ml_renderd_render(p, fd, "test/crash", &dims_40x30, ML_TRANSFORM_FORMAT_PNG, 0,
                                     out, NULL, &eb),
                   ML_ERR_INVALID_IMAGE);
  assert_non_null(strstr(eb.msg, "signal"));
  assert_int_equal(access(out, F_OK), -1);
  ml_errbuf_clear(&eb);
  tmp_path(out, sizeof(out), "hang");
  assert_int_equal(ml_renderd_render(p, fd, "test/hang", &dims_40x30, ML_TRANSFORM_FORMAT_PNG, 0,
                                     out, NULL, &eb),
                   ML_ERR_TIMEOUT);
  assert_int_equal(access(out, F_OK), -1);
  /* A fresh worker for the next render. */
  tmp_path(out, sizeof(out), "after");
  assert_int_equal(ml_renderd_render(p, fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_PNG, 0,
                                     out, NULL, &eb),
                   ML_OK);
  assert_int_equal(ml_renderd_spawned(p), 3);
  close(fd);
  ml_renderd_destroy(&p);
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}
#endif

struct job {
  struct ml_renderd *p;
  int fd;
  int ok;
};

static void *render_many(void *arg) {
  struct job *j = arg;
  for(int i = 0; i < 5; i++) {
    char out[128];
    struct ml_errbuf eb = {{0}};
    struct ml_render_result res;
    snprintf(out, sizeof(out), "%s/t-%p-%d", dir, (void *)j, i);
    ml_err rc = ml_renderd_render(j->p, j->fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_WEBP,
                                  0, out, &res, &eb);
    if(rc == ML_OK && res.width == 40)
      j->ok++;
    else
      fprintf(stderr, "render %d failed: %s: %s\n", i, ml_err_code(rc), eb.msg);
  }
  return NULL;
}

static void test_more_threads_than_workers(void **state) {
  struct ml_renderd *p = pool(2, 20000);
  pthread_t t[4];
  struct job jobs[4];
  (void)state;
  for(int i = 0; i < 4; i++) {
    /* Each thread its own fd: a worker reads it from offset 0. */
    jobs[i] = (struct job){p, make_png(200, 100), 0};
    assert_int_equal(pthread_create(&t[i], NULL, render_many, &jobs[i]), 0);
  }
  for(int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(jobs[i].ok, 5);
    close(jobs[i].fd);
  }
  assert_true(ml_renderd_spawned(p) <= 2);
  ml_renderd_destroy(&p);
}

static void test_bad_options(void **state) {
  struct ml_renderd *p = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_renderd_opts o = {.exe = ML_RENDER_BIN, .workers = 0, .timeout_ms = 1000};
  (void)state;
  assert_int_equal(ml_renderd_create(&o, &p, &eb), ML_ERR_CONFIG);
  o.workers = 1;
  o.timeout_ms = 0;
  assert_int_equal(ml_renderd_create(&o, &p, &eb), ML_ERR_CONFIG);
  /* A missing executable is an error of the render, not a hang. */
  o.timeout_ms = 1000;
  o.exe = "/nonexistent/medialib-render";
  assert_int_equal(ml_renderd_create(&o, &p, &eb), ML_OK);
  {
    char out[128];
    int fd = make_png(8, 8);
    tmp_path(out, sizeof(out), "none");
    assert_int_not_equal(ml_renderd_render(p, fd, "image/png", &dims_40x30, ML_TRANSFORM_FORMAT_PNG,
                                           0, out, NULL, &eb),
                         ML_OK);
    close(fd);
  }
  ml_renderd_destroy(&p);
  ml_renderd_destroy(&p); /* NULL is a no-op */
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/ml_renderd_XXXXXX");
  if(!mkdtemp(dir))
    return -1;
  return VIPS_INIT("test_renderd") ? -1 : 0;
}

static int teardown(void **state) {
  char cmd[128];
  (void)state;
  vips_shutdown();
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_through_a_worker),
      cmocka_unit_test(test_probe_in_a_worker),
      cmocka_unit_test(test_errors_come_back),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_crash_and_hang_replace_the_worker),
#endif
      cmocka_unit_test(test_more_threads_than_workers),
      cmocka_unit_test(test_bad_options),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
