/* test_admin.c - the admin UI's asset table: lookups are exact, so no path a
 * client sends can reach anything but the embedded files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/admin.h"
#include "http/router.h"

static const unsigned char index_html[] = "<!doctype html>";
static const unsigned char app_js[] = "console.log(1)";
static const struct ml_api_admin_asset files[] = {
    {"index.html", "text/html; charset=utf-8", index_html, sizeof(index_html) - 1, "\"i1\"", 0},
    {"assets/index-AbC1.js", "text/javascript; charset=utf-8", app_js, sizeof(app_js) - 1, "\"a1\"",
     1},
    {"favicon.svg", "image/svg+xml", index_html, 1, "\"f1\"", 0},
};
static const struct ml_api_admin_assets table = {files, 3};

static void test_find_exact(void **state) {
  const struct ml_api_admin_asset *a;
  (void)state;
  a = ml_api_admin_find(&table, "index.html");
  assert_non_null(a);
  assert_ptr_equal(a, &files[0]);
  a = ml_api_admin_find(&table, "assets/index-AbC1.js");
  assert_non_null(a);
  assert_int_equal(a->immutable, 1);
  assert_string_equal(a->etag, "\"a1\"");
  assert_ptr_equal(ml_api_admin_find(&table, "favicon.svg"), &files[2]);
}

static void test_find_misses(void **state) {
  (void)state;
  const char *misses[] = {"",
                          "/index.html",
                          "index.htm",
                          "index.html/",
                          "INDEX.HTML",
                          "assets/index-abc1.js",
                          "assets/../index.html",
                          "./index.html",
                          "assets//index-AbC1.js",
                          "assets/index-AbC1.js.map",
                          "assets",
                          "../../etc/passwd"};
  for(size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
    assert_null(ml_api_admin_find(&table, misses[i]));
  assert_null(ml_api_admin_find(&table, NULL));
  assert_null(ml_api_admin_find(NULL, "index.html"));
}

static void test_empty_table(void **state) {
  const struct ml_api_admin_assets none = {NULL, 0};
  (void)state;
  assert_null(ml_api_admin_find(&none, "index.html"));
}

/* The routes land in the router: /admin (and /admin/), one file, one asset;
 * nothing deeper. */
static void test_routes(void **state) {
  struct ml_router rt;
  struct ml_route_params p;
  unsigned allowed;
  const struct ml_route *r;
  (void)state;
  struct ml_api_admin admin;
  ml_router_init(&rt);
  assert_int_equal(ml_api_admin_init(&admin, &table, NULL), ML_OK);
  assert_int_equal(ml_api_admin_register(&rt, &admin), ML_OK);
  r = ml_router_match(&rt, ML_M_GET, "/admin", NULL, &p, &allowed);
  assert_non_null(r);
  assert_string_equal(r->name, "admin.index");
  assert_ptr_equal(r->ctx, &admin);
  r = ml_router_match(&rt, ML_M_GET, "/admin/", NULL, &p, &allowed);
  assert_non_null(r);
  assert_string_equal(r->name, "admin.index");
  r = ml_router_match(&rt, ML_M_HEAD, "/admin/assets/index-AbC1.js", NULL, &p, &allowed);
  assert_non_null(r);
  assert_string_equal(r->name, "admin.asset");
  r = ml_router_match(&rt, ML_M_GET, "/admin/favicon.svg", NULL, &p, &allowed);
  assert_non_null(r);
  assert_string_equal(r->name, "admin.file");
  assert_null(ml_router_match(&rt, ML_M_GET, "/admin/a/b/c", NULL, &p, &allowed));
  assert_int_equal(allowed, 0);
  assert_null(ml_router_match(&rt, ML_M_POST, "/admin/", NULL, &p, &allowed));
  assert_int_equal(allowed, ML_M_GET | ML_M_HEAD);
}

/* The policy: the UI's own files only; a redirecting store's origin for
 * images, and nothing that could widen the policy. */
static void test_csp(void **state) {
  struct ml_api_admin a;
  (void)state;
  assert_int_equal(ml_api_admin_init(&a, &table, NULL), ML_OK);
  assert_non_null(strstr(a.csp, "img-src 'self' data: blob:; connect-src 'self'"));
  assert_non_null(strstr(a.csp, "frame-ancestors 'none'"));
  assert_int_equal(ml_api_admin_init(&a, &table, "https://res.cloudinary.com"), ML_OK);
  assert_non_null(strstr(a.csp, "img-src 'self' data: blob: https://res.cloudinary.com; "));
  assert_int_equal(ml_api_admin_init(&a, &table, "http://127.0.0.1:9000"), ML_OK);
  assert_non_null(strstr(a.csp, "blob: http://127.0.0.1:9000; connect-src 'self'"));
  assert_int_equal(ml_api_admin_init(&a, &table, "https://x; script-src *"), ML_ERR_CONFIG);
  assert_int_equal(ml_api_admin_init(&a, &table, "https://x/path"), ML_ERR_CONFIG);
  assert_int_equal(ml_api_admin_init(&a, &table, "ftp://x"), ML_ERR_CONFIG);
  assert_int_equal(ml_api_admin_init(&a, &table, "https://"), ML_ERR_CONFIG);
  assert_int_equal(ml_api_admin_init(&a, &table, "https://'self'"), ML_ERR_CONFIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_find_exact),  cmocka_unit_test(test_find_misses),
      cmocka_unit_test(test_empty_table), cmocka_unit_test(test_routes),
      cmocka_unit_test(test_csp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
