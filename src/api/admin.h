/*
 * admin.h - the admin web UI (web/, built with Vite) served from the binary
 * at /admin/.
 *
 * The build turns the files of web/dist into a const table (scripts/embed-web.py writes
 * it as generated C into the build dir); this module looks assets up in such
 * a table and answers them with the caching, ETag and security headers the UI
 * needs. The table is passed in, so tests can serve one of their own.
 */
#ifndef ML_API_ADMIN_H
#define ML_API_ADMIN_H

#include <stddef.h>

#include "core/err.h"
#include "http/router.h"

/* One file of web/dist. */
struct ml_api_admin_asset {
  const char *path;         /* relative to dist: "index.html", "assets/index-D3x9.js" */
  const char *content_type; /* "text/javascript; charset=utf-8" */
  const unsigned char *data;
  size_t len;
  const char *etag; /* quoted strong tag: "\"<sha-256 prefix>\"" */
  int immutable;    /* a content-hashed name: cached for a year */
};

/* A table of assets; n == 0 when the binary was built without the UI. */
struct ml_api_admin_assets {
  const struct ml_api_admin_asset *v;
  size_t n;
};

/* The table embedded at build time (the generated admin_assets.c). */
extern const struct ml_api_admin_assets ml_api_admin_embedded;

/* The asset at path ("index.html", "assets/x.js"), NULL when there is none.
 * Exact match only: no normalisation, so "../x" or "assets//x" never match. */
const struct ml_api_admin_asset *ml_api_admin_find(const struct ml_api_admin_assets *t,
                                                   const char *path);

/* What the admin routes serve: the assets and the Content-Security-Policy
 * of every answer. */
struct ml_api_admin {
  const struct ml_api_admin_assets *assets;
  char csp[512];
};

/* Fills a for assets (kept by pointer). img_origin ("https://host[:port]",
 * or NULL) is where the store redirects file and thumbnail URLs (S3 or
 * Cloudinary with redirect delivery): the policy lets the UI's <img> load
 * from there too, and from nowhere else. ML_ERR_CONFIG for an origin that
 * is not http(s)://host[:port]. */
ml_err ml_api_admin_init(struct ml_api_admin *a, const struct ml_api_admin_assets *assets,
                         const char *img_origin);

/* GET /admin (302 to /admin/), /admin/ (index.html), /admin/:file and
 * /admin/assets/:file (a is kept by pointer: it must outlive the router).
 * ML_ERR_INTERNAL when the route table is full. */
ml_err ml_api_admin_register(struct ml_router *rt, const struct ml_api_admin *a);

#endif
