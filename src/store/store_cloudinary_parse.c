/* store_cloudinary_parse.c - the Cloudinary store's pure parts: its URL,
 * signatures, resource types, delivery URLs and the JSON it reads
 * (store_cloudinary.h). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "http/query.h"
#include "store/store_cloudinary.h"
#include "store/store_s3.h"

/* ------------------------------------------------------------------ URL */

/* Percent-decodes s[0..len) into out (cap bytes with the NUL); -1 for a
 * malformed escape, a NUL, or no room. A '+' stays a '+'. */
static int decode_into(const char *s, size_t len, char *out, size_t cap) {
  return ml_url_decode_to(s, len, out, cap, 0) < 0 ? -1 : 0;
}

static int parse_size(const char *v, int64_t *out) {
  char *end = NULL;
  double n = strtod(v, &end);
  int64_t mul = 1;
  if(end == v || n < 0)
    return -1;
  if(!strcasecmp(end, "") || !strcasecmp(end, "B"))
    mul = 1;
  else if(!strcasecmp(end, "KiB"))
    mul = 1024;
  else if(!strcasecmp(end, "MiB"))
    mul = 1024 * 1024;
  else if(!strcasecmp(end, "GiB"))
    mul = 1024LL * 1024 * 1024;
  else
    return -1;
  if(n * (double)mul > 1e15)
    return -1;
  *out = (int64_t)(n * (double)mul);
  return 0;
}

static int parse_long(const char *v, long lo, long hi, long *out) {
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if(end == v || *end || n < lo || n > hi)
    return -1;
  *out = n;
  return 0;
}

/* "http(s)://host[:port][/path]" without a trailing '/'. */
static int base_url_ok(const char *v) {
  size_t n = strlen(v);
  if(strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
    return 0;
  if(n < 9 || v[n - 1] == '/' || strpbrk(v, " ?#\"<>\\"))
    return 0;
  return 1;
}

static int copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if(n >= cap)
    return -1;
  memcpy(dst, src, n + 1);
  return 0;
}

static ml_err apply_param(struct ml_store_cld_url *u, const char *name, const char *v,
                          int allow_small, struct ml_errbuf *eb) {
  long l = 0;
  if(!strcmp(name, "delivery")) {
    if(strcmp(v, "redirect") && strcmp(v, "proxy"))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: delivery must be redirect or proxy");
    u->redirect = !strcmp(v, "redirect");
  } else if(!strcmp(name, "prefix")) {
    size_t n = strlen(v);
    if(n && (v[0] == '/' || v[n - 1] != '/' || strstr(v, "//") || strpbrk(v, " ?#&%\\<>+")))
      return ml_fail(eb, ML_ERR_CONFIG,
                     "cloudinary URL: prefix must be a folder path ending "
                     "with '/' (no leading '/', no ? # & %% \\ < > +)");
    if(copy(u->prefix, sizeof(u->prefix), v))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: prefix is too long");
  } else if(!strcmp(name, "signature")) {
    if(strcmp(v, "sha1") && strcmp(v, "sha256"))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: signature must be sha1 or sha256");
    u->sha256 = !strcmp(v, "sha256");
  } else if(!strcmp(name, "chunk_size")) {
    if(parse_size(v, &u->chunk_size) || u->chunk_size < 1 ||
       (!allow_small && u->chunk_size < ML_CLD_MIN_CHUNK))
      return ml_fail(eb, ML_ERR_CONFIG,
                     "cloudinary URL: chunk_size must be a size of at least 5MiB (Cloudinary's "
                     "minimum chunk)");
  } else if(!strcmp(name, "list_page")) {
    if(parse_long(v, 1, 500, &l))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: list_page must be 1..500");
    u->list_page = (int)l;
  } else if(!strcmp(name, "timeout")) {
    if(parse_long(v, 1, 3600, &u->timeout_s))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: timeout must be 1..3600 seconds");
  } else if(!strcmp(name, "connect_timeout")) {
    if(parse_long(v, 1, 600, &u->connect_timeout_s))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: connect_timeout must be 1..600 seconds");
  } else if(!strcmp(name, "tries")) {
    if(parse_long(v, 1, 10, &l))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: tries must be 1..10");
    u->tries = (int)l;
  } else if(!strcmp(name, "redirect_ttl")) {
    if(parse_long(v, 1, 31536000, &l))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: redirect_ttl must be 1..31536000");
    u->redirect_ttl = l;
  } else if(!strcmp(name, "upload_prefix") || !strcmp(name, "delivery_prefix")) {
    char *dst = name[0] == 'u' ? u->upload_prefix : u->delivery_prefix;
    if(!base_url_ok(v) || copy(dst, sizeof(u->upload_prefix), v))
      return ml_fail(eb, ML_ERR_CONFIG,
                     "cloudinary URL: %s must be http(s)://host[:port] without a trailing '/'",
                     name);
  } else if(!strcmp(name, "secure_distribution")) {
    if(!*v || strpbrk(v, "/ ?#@\\") ||
       snprintf(u->delivery_prefix, sizeof(u->delivery_prefix), "https://%s", v) >=
           (int)sizeof(u->delivery_prefix))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: secure_distribution must be a host");
  } else {
    return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: unknown parameter '%s'", name);
  }
  return ML_OK;
}

ml_err ml_store_cld_url_parse(const char *url, int allow_small_chunks, struct ml_store_cld_url *out,
                              struct ml_errbuf *eb) {
  const char *p, *at, *colon, *q, *host_end;
  char name[64], value[512];
  memset(out, 0, sizeof(*out));
  snprintf(out->upload_prefix, sizeof(out->upload_prefix), "https://api.cloudinary.com");
  snprintf(out->delivery_prefix, sizeof(out->delivery_prefix), "https://res.cloudinary.com");
  out->redirect = 1;
  out->chunk_size = 20LL * 1024 * 1024;
  out->list_page = 500;
  out->timeout_s = 60;
  out->connect_timeout_s = 5;
  out->tries = 3;
  out->redirect_ttl = 3600;
  if(strncmp(url, "cloudinary://", 13))
    return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: must start with cloudinary://");
  p = url + 13;
  q = strchr(p, '?');
  host_end = q ? q : p + strlen(p);
  at = memchr(p, '@', (size_t)(host_end - p));
  if(!at)
    return ml_fail(eb, ML_ERR_CONFIG,
                   "cloudinary URL: expected cloudinary://API_KEY:API_SECRET@CLOUD_NAME");
  colon = memchr(p, ':', (size_t)(at - p));
  if(!colon || colon == p || colon + 1 == at)
    return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: the API key or the API secret is missing");
  if(decode_into(p, (size_t)(colon - p), out->api_key, sizeof(out->api_key)) ||
     decode_into(colon + 1, (size_t)(at - colon - 1), out->api_secret, sizeof(out->api_secret)))
    return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: a malformed API key or secret");
  if(decode_into(at + 1, (size_t)(host_end - at - 1), out->cloud, sizeof(out->cloud)) ||
     !out->cloud[0])
    return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: the cloud name is missing");
  for(const char *c = out->cloud; *c; c++)
    if(!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
         *c == '-' || *c == '_'))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: the cloud name has a bad character");
  for(const char *k = out->api_key; *k; k++)
    if((unsigned char)*k <= ' ' || *k == '&' || *k == '=')
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: the API key has a bad character");
  for(p = q ? q + 1 : NULL; p && *p;) {
    const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    ml_err rc;
    if(end == p) {
      p = amp ? amp + 1 : NULL;
      continue;
    }
    if(!eq || decode_into(p, (size_t)(eq - p), name, sizeof(name)) ||
       decode_into(eq + 1, (size_t)(end - eq - 1), value, sizeof(value)))
      return ml_fail(eb, ML_ERR_CONFIG, "cloudinary URL: a malformed query parameter");
    rc = apply_param(out, name, value, allow_small_chunks, eb);
    if(rc)
      return rc;
    p = amp ? amp + 1 : NULL;
  }
  return ML_OK;
}

/* ------------------------------------------------------------ signatures */

static int excluded(const char *name) {
  static const char *const ex[] = {"file", "cloud_name", "resource_type", "api_key", "signature"};
  for(size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++)
    if(!strcmp(name, ex[i]))
      return 1;
  return 0;
}

static int by_name(const void *a, const void *b) {
  const struct ml_store_cld_param *x = *(const struct ml_store_cld_param *const *)a;
  const struct ml_store_cld_param *y = *(const struct ml_store_cld_param *const *)b;
  return strcmp(x->name, y->name);
}

ml_err ml_store_cld_string_to_sign(const struct ml_store_cld_param *p, size_t n,
                                   struct ml_buf *out) {
  const struct ml_store_cld_param *sorted[32];
  size_t m = 0;
  ml_err rc = ML_OK;
  if(n > sizeof(sorted) / sizeof(sorted[0]))
    return ML_ERR_INTERNAL;
  for(size_t i = 0; i < n; i++)
    if(p[i].value && p[i].value[0] && !excluded(p[i].name))
      sorted[m++] = &p[i];
  qsort(sorted, m, sizeof(sorted[0]), by_name);
  for(size_t i = 0; i < m && !rc; i++)
    rc = ml_buf_addf(out, "%s%s=%s", i ? "&" : "", sorted[i]->name, sorted[i]->value);
  return rc;
}

ml_err ml_store_cld_sign(const struct ml_store_cld_param *p, size_t n, const char *secret,
                         int sha256, char out[65], struct ml_errbuf *eb) {
  struct ml_buf s;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  ml_err rc;
  ml_buf_init(&s, 64 * 1024);
  rc = ml_store_cld_string_to_sign(p, n, &s);
  if(!rc)
    rc = ml_buf_adds(&s, secret);
  if(rc) {
    ml_buf_free(&s);
    return ml_fail(eb, rc, "cloudinary: cannot build the string to sign");
  }
  if(!EVP_Digest(s.data, s.len, md, &mdlen, sha256 ? EVP_sha256() : EVP_sha1(), NULL)) {
    ml_buf_free(&s);
    return ml_fail(eb, ML_ERR_INTERNAL, "cloudinary: the digest failed");
  }
  ml_hex_encode(md, mdlen, out);
  ml_buf_free(&s);
  return ML_OK;
}

/* --------------------------------------------------------- resource type */

const char *ml_store_cld_resource_type(const char *key, const char *content_type) {
  static const char *const images[] = {"image/jpeg",
                                       "image/png",
                                       "image/gif",
                                       "image/webp",
                                       "image/avif",
                                       "image/heic",
                                       "image/heif",
                                       "image/tiff",
                                       "image/bmp",
                                       "image/x-icon",
                                       "image/vnd.microsoft.icon"};
  const char *last = strrchr(key, '/');
  size_t ctlen;
  if(strchr(last ? last + 1 : key, '.'))
    return "raw";
  if(!content_type)
    return "raw";
  ctlen = strcspn(content_type, "; ");
  for(size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
    if(strlen(images[i]) == ctlen && !strncasecmp(content_type, images[i], ctlen))
      return "image";
  if(!strncasecmp(content_type, "video/", 6) || !strncasecmp(content_type, "audio/", 6))
    return "video";
  return "raw";
}

int64_t ml_store_cld_key_version(const char *key) {
  const char *p = key;
  int64_t v = 0;
  for(int slash = 0; slash < 2; slash++) {
    p = strchr(p, '/');
    if(!p)
      return 1;
    p++;
  }
  if(*p != 'v' || p[1] < '0' || p[1] > '9')
    return 1;
  for(p++; *p >= '0' && *p <= '9'; p++) {
    if(v > 1000000000000LL)
      return 1;
    v = v * 10 + (*p - '0');
  }
  return *p == '-' && v > 0 ? v : 1;
}

ml_err ml_store_cld_delivery_url(const struct ml_store_cld_url *u, const char *rtype,
                                 const char *transformation, int64_t version, const char *public_id,
                                 struct ml_buf *out) {
  int has_t = transformation && *transformation;
  return ml_buf_addf(out, "%s/%s/%s/upload/%s%sv%lld/%s", u->delivery_prefix, u->cloud, rtype,
                     has_t ? transformation : "", has_t ? "/" : "", (long long)version, public_id);
}

/* ------------------------------------------------------------------ JSON */

static json_t *load(const char *json, size_t len) {
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
  if(root && !json_is_object(root)) {
    json_decref(root);
    return NULL;
  }
  return root;
}

static int64_t int_or(json_t *o, const char *name, int64_t dflt) {
  json_t *v = json_object_get(o, name);
  return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Fills a from o; -1 when public_id or resource_type is missing or too long. */
static int asset_from(json_t *o, struct ml_store_cld_asset *a) {
  const char *pid = json_string_value(json_object_get(o, "public_id"));
  const char *rt = json_string_value(json_object_get(o, "resource_type"));
  const char *when = json_string_value(json_object_get(o, "created_at"));
  if(!pid || !rt || copy(a->public_id, sizeof(a->public_id), pid) ||
     copy(a->resource_type, sizeof(a->resource_type), rt) ||
     strlen(pid) != json_string_length(json_object_get(o, "public_id")))
    return -1;
  a->bytes = int_or(o, "bytes", -1);
  if(a->bytes < 0)
    a->bytes = -1; /* a negative size is no size */
  a->version = int_or(o, "version", 0);
  if(a->version < 0)
    a->version = 0;
  a->created_ms = when ? ml_store_s3_parse_iso8601(when, strlen(when)) : -1;
  if(a->created_ms < 0)
    a->created_ms = -1; /* before 1970 is no time we made */
  return 0;
}

ml_err ml_store_cld_parse_upload(const char *json, size_t len, struct ml_store_cld_asset *out,
                                 int *partial, struct ml_errbuf *eb) {
  json_t *root = load(json, len);
  ml_err rc = ML_OK;
  *partial = 0;
  if(!root)
    return ml_fail(eb, ML_ERR_IO, "cloudinary upload: the answer is not a JSON object");
  if(json_is_false(json_object_get(root, "done")) && !json_object_get(root, "public_id"))
    *partial = 1;
  else if(asset_from(root, out))
    rc = ml_fail(eb, ML_ERR_IO, "cloudinary upload: the answer has no public_id/resource_type");
  json_decref(root);
  return rc;
}

ml_err ml_store_cld_parse_destroy(const char *json, size_t len, int *found, struct ml_errbuf *eb) {
  json_t *root = load(json, len);
  const char *r = root ? json_string_value(json_object_get(root, "result")) : NULL;
  ml_err rc = ML_OK;
  if(r && !strcmp(r, "ok"))
    *found = 1;
  else if(r && !strcmp(r, "not found"))
    *found = 0;
  else
    rc = ml_fail(eb, ML_ERR_IO, "cloudinary destroy: unexpected answer (result %s)",
                 r ? "not ok" : "missing");
  json_decref(root);
  return rc;
}

ml_err ml_store_cld_parse_list(const char *json, size_t len,
                               int (*item)(void *ctx, const struct ml_store_cld_asset *a),
                               void *ctx, char *cursor, size_t cap, int *stopped,
                               struct ml_errbuf *eb) {
  json_t *root = load(json, len), *list, *v;
  const char *next;
  struct ml_store_cld_asset a;
  size_t i;
  ml_err rc = ML_OK;
  *stopped = 0;
  if(cap)
    cursor[0] = '\0';
  if(!root)
    return ml_fail(eb, ML_ERR_IO, "cloudinary list: the answer is not a JSON object");
  list = json_object_get(root, "resources");
  if(!json_is_array(list)) {
    rc = ml_fail(eb, ML_ERR_IO, "cloudinary list: no resources array");
    goto out;
  }
  next = json_string_value(json_object_get(root, "next_cursor"));
  if(next && (strlen(next) >= cap ||
              strlen(next) != json_string_length(json_object_get(root, "next_cursor")))) {
    rc = ml_fail(eb, ML_ERR_IO, "cloudinary list: next_cursor is too long");
    goto out;
  }
  json_array_foreach(list, i, v) {
    memset(&a, 0, sizeof(a));
    if(!json_is_object(v) || asset_from(v, &a)) {
      rc = ml_fail(eb, ML_ERR_IO, "cloudinary list: a resource without public_id/resource_type");
      goto out;
    }
    if(item(ctx, &a)) {
      *stopped = 1;
      goto out;
    }
  }
  if(next)
    memcpy(cursor, next, strlen(next) + 1);
out:
  json_decref(root);
  return rc;
}

int ml_store_cld_parse_error(const char *json, size_t len, char *out, size_t cap) {
  json_t *root = load(json, len);
  json_t *err = root ? json_object_get(root, "error") : NULL;
  const char *msg = json_string_value(json_object_get(err, "message"));
  size_t n = 0;
  if(cap)
    out[0] = '\0';
  if(!msg || !cap) {
    json_decref(root);
    return 0;
  }
  for(const char *m = msg; *m && n + 1 < cap; m++)
    out[n++] = (unsigned char)*m < ' ' || *m == 0x7f ? ' ' : *m;
  out[n] = '\0';
  json_decref(root);
  return 1;
}
