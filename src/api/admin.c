/* admin.c - serves the admin web UI (web/) embedded in the binary at /admin/.
 *
 * index.html is revalidated on every load (no-cache + ETag) so a new binary
 * shows its new UI at once; the assets it names carry a content hash in their
 * file name, so they are cached for a year and never revalidated. Every answer
 * has a strict Content-Security-Policy: the UI loads nothing but its own
 * files, talks to nobody but this server, and cannot be framed. */
#include "api/admin.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http/cond.h"
#include "http/server.h"

#define ADMIN_CSP_FMT                                                                          \
  "default-src 'self'; img-src 'self' data: blob:%s%s; connect-src 'self'; style-src 'self'; " \
  "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                \
  "frame-ancestors 'none'"

#define ADMIN_NOT_BUILT                                                                    \
  "the admin UI is not built into this binary: build with `make` (it runs the web/ build " \
  "before cmake)"

const struct ml_api_admin_asset *ml_api_admin_find(const struct ml_api_admin_assets *t,
                                                   const char *path) {
  if(!t || !path)
    return NULL;
  for(size_t i = 0; i < t->n; i++)
    if(!strcmp(t->v[i].path, path))
      return &t->v[i];
  return NULL;
}

static const struct ml_api_admin *admin_of(struct ml_req *r) { return r->route->ctx; }

ml_err ml_api_admin_init(struct ml_api_admin *a, const struct ml_api_admin_assets *assets,
                         const char *img_origin) {
  const char *host;
  a->assets = assets;
  if(img_origin) {
    host = !strncmp(img_origin, "https://", 8)  ? img_origin + 8
           : !strncmp(img_origin, "http://", 7) ? img_origin + 7
                                                : NULL;
    if(!host || !*host || strpbrk(host, "/ ;,'\"\\?#") || strlen(img_origin) > 200)
      return ML_ERR_CONFIG;
  }
  snprintf(a->csp, sizeof(a->csp), ADMIN_CSP_FMT, img_origin ? " " : "",
           img_origin ? img_origin : "");
  return ML_OK;
}

static void add_security_headers(struct ml_req *r) {
  ml_req_add_header(r, "Content-Security-Policy", admin_of(r)->csp);
  ml_req_add_header(r, "X-Content-Type-Options", "nosniff");
  ml_req_add_header(r, "Referrer-Policy", "same-origin");
}

/* Answers path from the table: 200, or 304 when If-None-Match has its tag. */
static void serve(struct ml_req *r, const char *path) {
  const struct ml_api_admin_assets *t = admin_of(r)->assets;
  const struct ml_api_admin_asset *a;
  const char *inm;
  if(!t || t->n == 0) {
    ml_req_error(r, ML_ERR_NOT_IMPLEMENTED, ADMIN_NOT_BUILT, NULL);
    return;
  }
  a = ml_api_admin_find(t, path);
  if(!a) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such file in the admin UI", NULL);
    return;
  }
  inm = ml_req_header(r, "If-None-Match");
  if(inm && ml_cond_none_match(inm, a->etag))
    ml_req_empty(r, 304);
  else
    ml_req_static(r, 200, a->data, a->len, a->content_type);
  ml_req_add_header(r, "ETag", a->etag);
  ml_req_add_header(r, "Cache-Control",
                    a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  add_security_headers(r);
}

/* /admin/ is the UI; /admin (the router ignores a trailing slash, r->path
 * keeps it) redirects there, so the page's relative URLs resolve under it. */
static void index_complete(struct ml_req *r) {
  size_t n = strlen(r->path);
  if(n == 0 || r->path[n - 1] != '/') {
    ml_req_empty(r, 302);
    ml_req_add_header(r, "Location", "/admin/");
    ml_req_add_header(r, "Cache-Control", "no-cache");
    return;
  }
  serve(r, "index.html");
}

static void file_complete(struct ml_req *r) {
  const char *file = ml_req_param(r, "file");
  serve(r, file ? file : "");
}

static void asset_complete(struct ml_req *r) {
  const char *file = ml_req_param(r, "file");
  char path[256];
  int n = snprintf(path, sizeof(path), "assets/%s", file ? file : "");
  /* A longer name is in no table anyway. */
  if(!file || n < 0 || (size_t)n >= sizeof(path)) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such file in the admin UI", NULL);
    return;
  }
  serve(r, path);
}

ml_err ml_api_admin_register(struct ml_router *rt, const struct ml_api_admin *a) {
  /* The router keeps ctx as void *; the handlers only read through it. */
  void *ctx = (void *)(uintptr_t)a;
  const struct ml_route routes[] = {
      {ML_M_GET, "/admin", "admin.index", NULL, NULL, index_complete, NULL, ctx},
      {ML_M_GET, "/admin/assets/:file", "admin.asset", NULL, NULL, asset_complete, NULL, ctx},
      {ML_M_GET, "/admin/:file", "admin.file", NULL, NULL, file_complete, NULL, ctx},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
