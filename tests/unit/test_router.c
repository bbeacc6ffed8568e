/* test_router.c - route matching, captures, trailing slashes, 404 vs 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

static void noop(struct ml_req *r) { (void)r; }

static void setup_router(struct ml_router *rt) {
  const struct ml_route routes[] = {
      {ML_M_GET, "/api/media", "list", NULL, NULL, noop, NULL, NULL},
      {ML_M_POST, "/api/media", "create", NULL, NULL, noop, NULL, NULL},
      {ML_M_GET, "/api/media/:id", "get", NULL, NULL, noop, NULL, NULL},
      {ML_M_DELETE, "/api/media/:id", "delete", NULL, NULL, noop, NULL, NULL},
      {ML_M_PUT, "/api/media/:id/file", "put_file", NULL, NULL, noop, NULL, NULL},
      {ML_M_GET, "/media/:id/:version/:name", "file", NULL, NULL, noop, NULL, NULL},
  };
  ml_router_init(rt);
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    assert_int_equal(ml_router_add(rt, &routes[i]), ML_OK);
}

static const char *match_name(struct ml_router *rt, unsigned m, const char *path,
                              struct ml_route_params *p, unsigned *allowed) {
  struct ml_arena *a = ml_arena_create(0);
  const struct ml_route *r = ml_router_match(rt, m, path, a, p, allowed);
  static char id[64];
  const char *v = r ? ml_route_param(p, "id") : NULL;
  id[0] = '\0';
  if(v)
    strncat(id, v, sizeof(id) - 1);
  ml_arena_destroy(&a);
  return r ? r->name : NULL;
}

static void test_literal_and_trailing_slash(void **state) {
  struct ml_router rt;
  struct ml_route_params p;
  unsigned allowed;
  (void)state;
  setup_router(&rt);
  assert_string_equal(match_name(&rt, ML_M_GET, "/api/media", &p, &allowed), "list");
  assert_string_equal(match_name(&rt, ML_M_GET, "/api/media/", &p, &allowed), "list");
  assert_string_equal(match_name(&rt, ML_M_POST, "/api/media/", &p, &allowed), "create");
  assert_null(match_name(&rt, ML_M_GET, "/api/media//", &p, &allowed));
  assert_null(match_name(&rt, ML_M_GET, "/api/mediax", &p, &allowed));
  assert_int_equal(allowed, 0);
}

static void test_captures(void **state) {
  struct ml_router rt;
  struct ml_route_params p;
  unsigned allowed;
  struct ml_arena *a = ml_arena_create(0);
  const struct ml_route *r;
  (void)state;
  setup_router(&rt);
  r = ml_router_match(&rt, ML_M_GET, "/media/42/v3/photo.jpg", a, &p, &allowed);
  assert_non_null(r);
  assert_string_equal(r->name, "file");
  assert_string_equal(ml_route_param(&p, "id"), "42");
  assert_string_equal(ml_route_param(&p, "version"), "v3");
  assert_string_equal(ml_route_param(&p, "name"), "photo.jpg");
  assert_null(ml_route_param(&p, "missing"));
  r = ml_router_match(&rt, ML_M_PUT, "/api/media/7/file/", a, &p, &allowed);
  assert_non_null(r);
  assert_string_equal(ml_route_param(&p, "id"), "7");
  /* an empty capture does not match */
  assert_null(ml_router_match(&rt, ML_M_GET, "/media//v3/x", a, &p, &allowed));
  ml_arena_destroy(&a);
}

static void test_method_not_allowed(void **state) {
  struct ml_router rt;
  struct ml_route_params p;
  unsigned allowed = 0;
  char allow[64];
  (void)state;
  setup_router(&rt);
  assert_null(match_name(&rt, ML_M_PATCH, "/api/media/5", &p, &allowed));
  assert_int_equal(allowed, ML_M_GET | ML_M_HEAD | ML_M_DELETE);
  ml_router_allow_header(allowed, allow, sizeof(allow));
  assert_string_equal(allow, "GET, HEAD, DELETE");
  /* HEAD is served by GET routes */
  assert_string_equal(match_name(&rt, ML_M_HEAD, "/api/media/5", &p, &allowed), "get");
}

static void test_methods(void **state) {
  (void)state;
  assert_int_equal(ml_router_method("GET"), ML_M_GET);
  assert_int_equal(ml_router_method("PATCH"), ML_M_PATCH);
  assert_int_equal(ml_router_method("DELETE"), ML_M_DELETE);
  assert_int_equal(ml_router_method("get"), ML_M_OTHER);
  assert_int_equal(ml_router_method("PROPFIND"), ML_M_OTHER);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_literal_and_trailing_slash),
      cmocka_unit_test(test_captures),
      cmocka_unit_test(test_method_not_allowed),
      cmocka_unit_test(test_methods),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
