/* test_meta.c - metadata validation (multipart fields and JSON bodies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "media/media.h"

static ml_err set(struct ml_media_meta *m, struct ml_arena *a, const char *field, const char *v,
                  struct ml_field_errors *fe) {
  return ml_meta_set(m, a, field, v, strlen(v), fe);
}

static void test_text_fields(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_meta m = {0};
  struct ml_field_errors fe = {0};
  char long_title[300];
  (void)state;
  assert_int_equal(set(&m, a, "title", "Sunset \xc3\xa9", &fe), ML_OK);
  assert_string_equal(m.title, "Sunset \xc3\xa9");
  assert_int_equal(set(&m, a, "caption", "two\nlines", &fe), ML_OK);
  assert_int_equal(fe.n, 0);
  /* 255 characters are fine, 256 are not; counted in characters, not bytes */
  memset(long_title, 'a', 255);
  long_title[255] = '\0';
  assert_int_equal(set(&m, a, "title", long_title, &fe), ML_OK);
  long_title[255] = 'a';
  long_title[256] = '\0';
  assert_int_equal(set(&m, a, "title", long_title, &fe), ML_ERR_VALIDATION);
  assert_int_equal(fe.n, 1);
  assert_string_equal(fe.f[0].name, "title");
  memset(&fe, 0, sizeof(fe));
  assert_int_equal(set(&m, a, "alt_text", "bad\x01", &fe), ML_ERR_VALIDATION);
  assert_int_equal(set(&m, a, "title", "line\nbreak", &fe), ML_ERR_VALIDATION);
  assert_int_equal(ml_meta_set(&m, a, "caption", "nul\0x", 5, &fe), ML_ERR_VALIDATION);
  assert_int_equal(set(&m, a, "caption", "\xff\xfe", &fe), ML_ERR_VALIDATION);
  /* unknown fields are ignored */
  assert_int_equal(set(&m, a, "whatever", "x", &fe), ML_OK);
  ml_arena_destroy(&a);
}

static void test_folder(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_meta m = {0};
  struct ml_field_errors fe = {0};
  (void)state;
  assert_int_equal(set(&m, a, "folder", "/tours/varanasi/", &fe), ML_OK);
  assert_string_equal(m.folder, "tours/varanasi");
  assert_int_equal(set(&m, a, "folder", "", &fe), ML_OK);
  assert_string_equal(m.folder, "");
  assert_int_equal(set(&m, a, "folder", "a/../b", &fe), ML_ERR_VALIDATION);
  assert_int_equal(set(&m, a, "folder", "a//b", &fe), ML_ERR_VALIDATION);
  assert_int_equal(set(&m, a, "folder", "a/<b>", &fe), ML_ERR_VALIDATION);
  ml_arena_destroy(&a);
}

static void test_tags(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_meta m = {0};
  struct ml_field_errors fe = {0};
  char many[400] = "";
  (void)state;
  assert_int_equal(set(&m, a, "tags", " sunset , river,,sunset", &fe), ML_OK);
  assert_string_equal(m.tags, "sunset,river");
  /* repeated fields accumulate */
  assert_int_equal(set(&m, a, "tags", "ghats", &fe), ML_OK);
  assert_string_equal(m.tags, "sunset,river,ghats");
  ml_meta_clear_tags(&m);
  assert_string_equal(m.tags, "");
  for(int i = 0, off = 0; i < 33; i++)
    off += snprintf(many + off, sizeof(many) - (size_t)off, "t%d,", i);
  assert_int_equal(set(&m, a, "tags", many, &fe), ML_ERR_VALIDATION);
  assert_string_equal(fe.f[0].name, "tags");
  ml_arena_destroy(&a);
}

static void test_filename(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_meta m = {0};
  struct ml_field_errors fe = {0};
  (void)state;
  assert_int_equal(set(&m, a, "filename", "../../etc/passwd", &fe), ML_OK);
  assert_string_equal(m.filename, "passwd");
  ml_arena_destroy(&a);
}

static void test_json(void **state) {
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media_meta m = {0};
  struct ml_field_errors fe = {0};
  char msg[200];
  const char *ok = "{\"title\":\"T\",\"alt_text\":null,\"tags\":[\"a\",\"b\"],\"id\":99}";
  const char *bad_types = "{\"title\":5,\"tags\":[1]}";
  (void)state;
  assert_int_equal(ml_api_meta_from_json(ok, strlen(ok), a, &m, &fe, msg, sizeof(msg)), ML_OK);
  assert_string_equal(m.title, "T");
  assert_string_equal(m.alt_text, "");
  assert_string_equal(m.tags, "a,b");
  assert_null(m.caption);
  assert_int_equal(
      ml_api_meta_from_json(bad_types, strlen(bad_types), a, &m, &fe, msg, sizeof(msg)),
      ML_ERR_VALIDATION);
  assert_int_equal(fe.n, 2);
  assert_int_equal(ml_api_meta_from_json("{", 1, a, &m, &fe, msg, sizeof(msg)), ML_ERR_BAD_REQUEST);
  assert_non_null(strstr(msg, "line"));
  assert_int_equal(ml_api_meta_from_json("[1]", 3, a, &m, &fe, msg, sizeof(msg)),
                   ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_api_meta_from_json("{\"a\":1,\"a\":2}", 13, a, &m, &fe, msg, sizeof(msg)),
                   ML_ERR_BAD_REQUEST);
  ml_arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_fields), cmocka_unit_test(test_folder),
      cmocka_unit_test(test_tags),        cmocka_unit_test(test_filename),
      cmocka_unit_test(test_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
