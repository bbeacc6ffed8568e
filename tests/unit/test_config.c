/* test_config.c - sizes, defaults, environment overrides, bad values and
 * the MEDIALIB_CONFIG file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

extern char **environ;

/* Every test starts from an environment without MEDIALIB_ variables. */
static int clear_env(void **state) {
  (void)state;
  for(;;) {
    char name[256];
    int found = 0;
    for(char **e = environ; *e; e++) {
      const char *eq = strchr(*e, '=');
      if(!strncmp(*e, "MEDIALIB_", 9) && eq && (size_t)(eq - *e) < sizeof(name)) {
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        found = 1;
        break;
      }
    }
    if(!found)
      break;
    unsetenv(name);
  }
  return 0;
}

static void size_ok(const char *s, int64_t want) {
  int64_t v = -7;
  if(ml_config_parse_size(s, &v) != 0)
    fail_msg("'%s' refused", s);
  assert_int_equal(v, want);
}

static void size_bad(const char *s) {
  int64_t v = -7;
  if(ml_config_parse_size(s, &v) != -1)
    fail_msg("'%s' accepted as %lld", s ? s : "(null)", (long long)v);
  assert_int_equal(v, -7);
}

static void test_parse_size(void **state) {
  (void)state;
  size_ok("0", 0);
  size_ok("1024", 1024);
  size_ok("1024B", 1024);
  size_ok("1K", 1024);
  size_ok("64KiB", 65536);
  size_ok("64kb", 65536);
  size_ok("512MiB", (int64_t)512 << 20);
  size_ok("10MB", (int64_t)10 << 20);
  size_ok("10m", (int64_t)10 << 20);
  size_ok("1G", (int64_t)1 << 30);
  size_ok("2GiB", (int64_t)2 << 30);
  size_ok("1T", (int64_t)1 << 40);
  size_ok("1 MiB", (int64_t)1 << 20);
  size_ok("9223372036854775807", INT64_MAX);
  size_ok("8388607T", (int64_t)8388607 << 40);
}

static void test_parse_size_bad(void **state) {
  (void)state;
  size_bad(NULL);
  size_bad("");
  size_bad("abc");
  size_bad("MiB");
  size_bad("-1");
  size_bad("+1");
  size_bad(" 1");
  size_bad("1.5M");
  size_bad("1X");
  size_bad("1MiBs");
  size_bad("1 M B");
  size_bad("1P");
  size_bad("1b");
  size_bad("9223372036854775808");
  size_bad("99999999999999999999999");
  size_bad("8388608T");
  size_bad("9007199254740992K");
}

static void test_defaults(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_string_equal(eb.msg, "");
  assert_string_equal(c.listen, "127.0.0.1:8080");
  assert_string_equal(c.public_url, "");
  assert_string_equal(c.data_dir, "./data");
  assert_string_equal(c.database_url, "sqlite://./data/medialib.db");
  assert_string_equal(c.storage_url, "file://./data/blobs");
  assert_string_equal(c.log_level, "info");
  assert_string_equal(c.jwt_secret, "");
  assert_int_equal(c.max_upload, (int64_t)512 << 20);
  assert_int_equal(c.max_json_body, 64 << 10);
  assert_int_equal(c.workers, 4);
  assert_int_equal(c.threads, 0);
  assert_int_equal(c.insecure_open_writes, 0);
  assert_int_equal(c.connection_memory, 32 << 10);
  assert_string_equal(c.transforms, "presets");
  assert_string_equal(c.url_signing_key, "");
  assert_string_equal(c.presets, "");
  assert_string_equal(c.eager_presets, "thumbnail");
  assert_int_equal(c.render_threads, 0);
  assert_int_equal(c.render_queue, 64);
  ml_config_free(&c);
  assert_null(c.listen);
  ml_config_free(&c); /* twice is harmless */
}

static void test_env_overrides(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  setenv("MEDIALIB_DATA_DIR", "/srv/media", 1);
  setenv("MEDIALIB_MAX_UPLOAD", "1G", 1);
  setenv("MEDIALIB_WORKERS", "8", 1);
  setenv("MEDIALIB_INSECURE_OPEN_WRITES", "yes", 1);
  setenv("MEDIALIB_LOG", "debug", 1);
  setenv("MEDIALIB_PUBLIC_URL", "https://media.example.com///", 1);
  setenv("MEDIALIB_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_string_equal(c.data_dir, "/srv/media");
  assert_string_equal(c.database_url, "sqlite:///srv/media/medialib.db");
  assert_string_equal(c.storage_url, "file:///srv/media/blobs");
  assert_int_equal(c.max_upload, (int64_t)1 << 30);
  assert_int_equal(c.workers, 8);
  assert_int_equal(c.insecure_open_writes, 1);
  assert_string_equal(c.log_level, "debug");
  assert_string_equal(c.public_url, "https://media.example.com");
  assert_string_equal(c.jwt_secret, "0123456789abcdef0123456789abcdef");
  ml_config_free(&c);
  /* explicit URLs are kept */
  setenv("MEDIALIB_DATABASE_URL", "postgres://db/media", 1);
  setenv("MEDIALIB_STORAGE_URL", "s3://bucket?region=x", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_string_equal(c.database_url, "postgres://db/media");
  assert_string_equal(c.storage_url, "s3://bucket?region=x");
  ml_config_free(&c);
}

/* Loads with name=value set; expects ML_ERR_CONFIG naming the variable. */
static void expect_bad(const char *name, const char *value, const char *also) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  clear_env(NULL);
  setenv(name, value, 1);
  if(ml_config_load(&c, &eb) != ML_ERR_CONFIG)
    fail_msg("%s=%s accepted", name, value);
  if(!strstr(eb.msg, name))
    fail_msg("%s=%s: message '%s' does not name the variable", name, value, eb.msg);
  if(also && !strstr(eb.msg, also))
    fail_msg("%s=%s: message '%s' lacks '%s'", name, value, eb.msg, also);
  ml_config_free(&c);
  unsetenv(name);
}

static void test_bad_values(void **state) {
  (void)state;
  expect_bad("MEDIALIB_WORKERS", "abc", "not a whole number");
  expect_bad("MEDIALIB_WORKERS", "", NULL);
  expect_bad("MEDIALIB_WORKERS", "4x", NULL);
  expect_bad("MEDIALIB_WORKERS", "99999999999999999999", NULL);
  expect_bad("MEDIALIB_MAX_UPLOAD", "lots", "not a size");
  expect_bad("MEDIALIB_MAX_UPLOAD", "-1", NULL);
  expect_bad("MEDIALIB_INSECURE_OPEN_WRITES", "maybe", "not a boolean");
  expect_bad("MEDIALIB_LOG", "verbose", "not a level");
  expect_bad("MEDIALIB_PUBLIC_URL", "ftp://example.com", "http");
  expect_bad("MEDIALIB_PUBLIC_URL", "example.com", NULL);
  expect_bad("MEDIALIB_PUBLIC_URL", "https://x.example/\"><script>", "quote");
  expect_bad("MEDIALIB_PUBLIC_URL", "https://x.example/a b", "space");
  expect_bad("MEDIALIB_TRANSFORMS", "all", "presets or any");
  expect_bad("MEDIALIB_TRANSFORMS", "", NULL);
  expect_bad("MEDIALIB_URL_SIGNING_KEY", "short-key", "too short");
  expect_bad("MEDIALIB_RENDER_QUEUE", "0", "out of range");
}

/* The signing key is a secret: its value never appears in a message. */
static void test_signing_key_not_echoed(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  clear_env(NULL);
  setenv("MEDIALIB_URL_SIGNING_KEY", "sekrit-abc", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_ERR_CONFIG);
  assert_null(strstr(eb.msg, "sekrit"));
  ml_config_free(&c);
  setenv("MEDIALIB_URL_SIGNING_KEY", "0123456789abcdef", 1);
  setenv("MEDIALIB_TRANSFORMS", "any", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_string_equal(c.url_signing_key, "0123456789abcdef");
  assert_string_equal(c.transforms, "any");
  ml_config_free(&c);
  clear_env(NULL);
}

static void test_out_of_range(void **state) {
  (void)state;
  expect_bad("MEDIALIB_WORKERS", "0", "out of range");
  expect_bad("MEDIALIB_WORKERS", "257", "[1, 256]");
  expect_bad("MEDIALIB_WORKERS", "-1", "out of range");
  expect_bad("MEDIALIB_MAX_UPLOAD", "0", "out of range");
  expect_bad("MEDIALIB_MAX_UPLOAD", "2T", "out of range");
  expect_bad("MEDIALIB_MAX_JSON_BODY", "1000", "out of range");
  expect_bad("MEDIALIB_CONNECTION_MEMORY", "4KiB", "out of range");
  expect_bad("MEDIALIB_INSECURE_OPEN_WRITES", "2", NULL);
  expect_bad("MEDIALIB_THREADS", "1000", "out of range");
}

static void test_bounds_accepted(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  setenv("MEDIALIB_WORKERS", "256", 1);
  setenv("MEDIALIB_MAX_UPLOAD", "1TiB", 1);
  setenv("MEDIALIB_MAX_JSON_BODY", "1024", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_int_equal(c.workers, 256);
  assert_int_equal(c.max_upload, (int64_t)1 << 40);
  assert_int_equal(c.max_json_body, 1024);
  ml_config_free(&c);
}

/* Writes text to a fresh temporary file; path receives its name. */
static void write_file(char *path, size_t pathsz, const char *text) {
  FILE *f;
  int fd;
  snprintf(path, pathsz, "/tmp/test_config.XXXXXX");
  fd = mkstemp(path);
  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_file(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  char path[64];
  (void)state;
  write_file(path, sizeof(path),
             "# medialib settings\n"
             "\n"
             "MEDIALIB_WORKERS=7\n"
             "   MEDIALIB_LISTEN=0.0.0.0:9000   \n"
             "MEDIALIB_MAX_UPLOAD=1MiB\r\n"
             "MEDIALIB_DATA_DIR=/var/lib/medialib\n"
             "\t# indented comment\n");
  setenv("MEDIALIB_CONFIG", path, 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_int_equal(c.workers, 7);
  assert_string_equal(c.listen, "0.0.0.0:9000");
  assert_int_equal(c.max_upload, 1 << 20);
  assert_string_equal(c.database_url, "sqlite:///var/lib/medialib/medialib.db");
  ml_config_free(&c);
  /* the environment wins over the file */
  setenv("MEDIALIB_WORKERS", "9", 1);
  setenv("MEDIALIB_LISTEN", "[::1]:81", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_int_equal(c.workers, 9);
  assert_string_equal(c.listen, "[::1]:81");
  assert_int_equal(c.max_upload, 1 << 20);
  ml_config_free(&c);
  /* even over a bad value in the file */
  unlink(path);
  write_file(path, sizeof(path), "MEDIALIB_WORKERS=many\n");
  setenv("MEDIALIB_CONFIG", path, 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_int_equal(c.workers, 9);
  ml_config_free(&c);
  unlink(path);
}

static void expect_bad_file(const char *text, const char *want) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  char path[64];
  clear_env(NULL);
  write_file(path, sizeof(path), text);
  setenv("MEDIALIB_CONFIG", path, 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_ERR_CONFIG);
  if(!strstr(eb.msg, want))
    fail_msg("message '%s' lacks '%s'", eb.msg, want);
  ml_config_free(&c);
  unlink(path);
  unsetenv("MEDIALIB_CONFIG");
}

static void test_bad_file(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  expect_bad_file("MEDIALIB_WORKERS=many\n", "MEDIALIB_WORKERS");
  expect_bad_file("MEDIALIB_WORKERS=0\n", "out of range");
  expect_bad_file("MEDIALIB_NOPE=1\n", "unknown setting 'MEDIALIB_NOPE'");
  expect_bad_file("# ok\nMEDIALIB_WORKERS\n", ":2: expected KEY=VALUE");
  expect_bad_file("MEDIALIB_LOG=loud\n", "MEDIALIB_LOG");
  /* a missing file */
  setenv("MEDIALIB_CONFIG", "/nonexistent/medialib.conf", 1);
  assert_int_equal(ml_config_load(&c, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "MEDIALIB_CONFIG"));
  assert_non_null(strstr(eb.msg, "/nonexistent/medialib.conf"));
  ml_config_free(&c);
  /* an empty MEDIALIB_CONFIG means no file */
  setenv("MEDIALIB_CONFIG", "", 1);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  ml_config_free(&c);
}

static void test_test_faults(void **state) {
  struct ml_config c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  setenv("MEDIALIB_TEST_FAULTS", "store.put=fail", 1);
#ifdef ML_TEST_HOOKS
  assert_int_equal(ml_config_load(&c, &eb), ML_OK);
  assert_string_equal(c.test_faults, "store.put=fail");
#else
  /* production builds refuse it */
  assert_int_equal(ml_config_load(&c, &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "MEDIALIB_TEST_FAULTS"));
#endif
  ml_config_free(&c);
}

static void test_redact_url(void **state) {
  static const char *const cases[][2] = {
      {"postgres://medialib:s3cret@db.example:5432/media?sslmode=require",
       "postgres://medialib:***@db.example:5432/media?sslmode=require"},
      {"postgresql://u:p@ss:w@rd@host/db", "postgresql://u:***@host/db"},
      {"postgres://user@host/db", "postgres://user@host/db"},
      {"postgres://host/db?user=u&password=pw&sslmode=disable",
       "postgres://host/db?user=u&password=***&sslmode=disable"},
      {"postgres:///db?password=pw", "postgres:///db?password=***"},
      {"sqlite:///srv/a:b@c.db", "sqlite:///srv/a:b@c.db"},
      {"", ""},
  };
  char out[128], small[12];
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ml_config_redact_url(cases[i][0], out, sizeof(out));
    assert_string_equal(out, cases[i][1]);
  }
  ml_config_redact_url("postgres://u:secretsecret@h/db", small, sizeof(small));
  assert_string_equal(small, "postgres://");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_size),
      cmocka_unit_test(test_parse_size_bad),
      cmocka_unit_test_setup(test_defaults, clear_env),
      cmocka_unit_test_setup(test_env_overrides, clear_env),
      cmocka_unit_test_setup(test_bad_values, clear_env),
      cmocka_unit_test_setup(test_signing_key_not_echoed, clear_env),
      cmocka_unit_test_setup(test_out_of_range, clear_env),
      cmocka_unit_test_setup(test_bounds_accepted, clear_env),
      cmocka_unit_test_setup(test_file, clear_env),
      cmocka_unit_test_setup(test_bad_file, clear_env),
      cmocka_unit_test_setup(test_test_faults, clear_env),
      cmocka_unit_test(test_redact_url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
