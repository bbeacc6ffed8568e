/* config.c - the table of settings and its loader. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_SIZE, CFG_BOOL, CFG_DURATION };
#define CFG_SECRET 1u
#define CFG_TESTONLY 2u
#define CFG_URL 4u /* may carry a password: logged with it masked */

struct cfg_entry {
  const char *name;
  const char *env;
  enum cfg_type type;
  const char *def;
  int64_t min, max;
  unsigned flags;
  size_t offset;
  const char *help;
};

#define S(field) offsetof(struct ml_config, field)
static const struct cfg_entry table[] = {
    {"listen", "MEDIALIB_LISTEN", CFG_STR, "127.0.0.1:8080", 0, 0, 0, S(listen),
     "address to serve (host:port)"},
    {"public_url", "MEDIALIB_PUBLIC_URL", CFG_STR, "", 0, 0, 0, S(public_url),
     "base of the URLs in API answers (default: from the request)"},
    {"data_dir", "MEDIALIB_DATA_DIR", CFG_STR, "./data", 0, 0, 0, S(data_dir),
     "where the embedded defaults live"},
    {"database_url", "MEDIALIB_DATABASE_URL", CFG_STR, "", 0, 0, CFG_URL, S(database_url),
     "sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB (default: "
     "sqlite://$DATA_DIR/medialib.db)"},
    {"storage_url", "MEDIALIB_STORAGE_URL", CFG_STR, "", 0, 0, CFG_URL, S(storage_url),
     "file://PATH, s3://BUCKET?..., cloudinary://API_KEY:API_SECRET@CLOUD?... or cloudinary "
     "(take CLOUDINARY_URL) (default: file://$DATA_DIR/blobs)"},
    {"jwt_secret", "MEDIALIB_JWT_SECRET", CFG_STR, "", 0, 0, CFG_SECRET, S(jwt_secret),
     "HS256 signing key, >= 32 bytes (default: generated into $DATA_DIR/jwt.secret)"},
    {"max_upload", "MEDIALIB_MAX_UPLOAD", CFG_SIZE, "512MiB", 1, (int64_t)1 << 40, 0, S(max_upload),
     "largest accepted file"},
    {"max_json_body", "MEDIALIB_MAX_JSON_BODY", CFG_SIZE, "64KiB", 1024, 16 << 20, 0,
     S(max_json_body), "largest accepted JSON body"},
    {"purge_url", "MEDIALIB_PURGE_URL", CFG_STR, "", 0, 0, 0, S(purge_url),
     "caching proxies or CDNs to purge on replace and delete, comma-separated base URLs "
     "(http://127.0.0.1:6081)"},
    {"purge_method", "MEDIALIB_PURGE_METHOD", CFG_STR, "purge", 0, 0, 0, S(purge_method),
     "purge (PURGE each URL of the media) or ban (BAN /media/<id>: the cache drops every URL "
     "under it)"},
    {"webhook_url", "MEDIALIB_WEBHOOK_URL", CFG_STR, "", 0, 0, 0, S(webhook_url),
     "endpoints POSTed media.created, media.updated, media.replaced and media.deleted events, "
     "comma-separated"},
    {"webhook_secret", "MEDIALIB_WEBHOOK_SECRET", CFG_STR, "", 0, 0, CFG_SECRET, S(webhook_secret),
     "key of the webhook signatures (Medialib-Signature), >= 16 bytes"},
    {"log", "MEDIALIB_LOG", CFG_STR, "info", 0, 0, 0, S(log_level),
     "log level: debug, info, warn, error, off"},
    {"threads", "MEDIALIB_THREADS", CFG_INT, "0", 0, 256, 0, S(threads),
     "HTTP event-loop threads (0: one per core)"},
    {"workers", "MEDIALIB_WORKERS", CFG_INT, "4", 1, 256, 0, S(workers),
     "worker threads for slow work (fsync, commits, deletes)"},
    {"max_connections", "MEDIALIB_MAX_CONNECTIONS", CFG_INT, "16384", 16, 1000000, 0,
     S(max_connections), "global connection cap"},
    {"max_connections_per_ip", "MEDIALIB_MAX_CONNECTIONS_PER_IP", CFG_INT, "1024", 0, 1000000, 0,
     S(max_connections_per_ip), "connections per client address (0: no cap)"},
    {"idle_timeout", "MEDIALIB_IDLE_TIMEOUT", CFG_INT, "30", 1, 3600, 0, S(idle_timeout),
     "seconds an idle connection is kept"},
    {"header_timeout", "MEDIALIB_HEADER_TIMEOUT", CFG_INT, "10", 1, 600, 0, S(header_timeout),
     "seconds allowed to send the request line and headers"},
    {"min_body_rate", "MEDIALIB_MIN_BODY_RATE", CFG_SIZE, "1024", 0, (int64_t)1 << 30, 0,
     S(min_body_rate), "slowest accepted upload, bytes per second (0: off)"},
    {"connection_memory", "MEDIALIB_CONNECTION_MEMORY", CFG_SIZE, "32KiB", 8192, 1 << 20, 0,
     S(connection_memory), "per-connection buffer; bounds the request header size"},
    {"shutdown_timeout", "MEDIALIB_SHUTDOWN_TIMEOUT", CFG_INT, "30", 0, 3600, 0,
     S(shutdown_timeout), "seconds to finish in-flight requests on SIGTERM"},
    {"delete_deadline_ms", "MEDIALIB_DELETE_DEADLINE_MS", CFG_INT, "2000", 0, 60000, 0,
     S(delete_deadline_ms), "how long DELETE waits for storage to confirm"},
    {"max_pixels", "MEDIALIB_MAX_PIXELS", CFG_INT, "50000000", 1, (int64_t)1 << 40, 0,
     S(max_pixels), "largest accepted image in pixels (width x height), checked from the header"},
    {"max_frames", "MEDIALIB_MAX_FRAMES", CFG_INT, "100", 1, 100000, 0, S(max_frames),
     "most frames of an animated image"},
    {"delivery_cache_ms", "MEDIALIB_DELIVERY_CACHE_MS", CFG_INT, "1000", 0, 60000, 0,
     S(delivery_cache_ms),
     "how long file delivery may reuse what it read of a media (ms); "
     "writes by this process are seen at once, by others within this time"},
    {"intent_delay_ms", "MEDIALIB_INTENT_DELAY_MS", CFG_INT, "900000", 1000, 86400000, 0,
     S(intent_delay_ms),
     "how long an unfinished upload's blob is kept before cleanup (ms); "
     "longer than the slowest store write"},
    {"replaced_grace_ms", "MEDIALIB_REPLACED_GRACE_MS", CFG_INT, "-1", -1, 86400000, 0,
     S(replaced_grace_ms),
     "how long a replaced version's blobs stay for downloads under way (ms); -1: 0 on a "
     "file:// store (a reader holds the file open), 30000 on remote stores (a reader's "
     "ranged GET may start after a removal)"},
    {"insecure_open_writes", "MEDIALIB_INSECURE_OPEN_WRITES", CFG_BOOL, "0", 0, 1, 0,
     S(insecure_open_writes), "accept writes without a token (testing only, never in production)"},
    {"access_ttl", "MEDIALIB_ACCESS_TTL", CFG_DURATION, "15m", 60, 86400, 0, S(access_ttl),
     "lifetime of access tokens (seconds, or 15m, 1h, 7d)"},
    {"refresh_ttl", "MEDIALIB_REFRESH_TTL", CFG_DURATION, "7d", 300, 365 * 86400, 0, S(refresh_ttl),
     "lifetime of refresh tokens (seconds, or 15m, 1h, 7d)"},
    {"private_api", "MEDIALIB_PRIVATE_API", CFG_BOOL, "0", 0, 1, 0, S(private_api),
     "1: reads of the API need a viewer token (file URLs stay public)"},
    {"login_max_failures", "MEDIALIB_LOGIN_MAX_FAILURES", CFG_INT, "10", 1, 1000000, 0,
     S(login_max_failures), "failed logins a minute per username and per address before 429"},
    {"cors_origins", "MEDIALIB_CORS_ORIGINS", CFG_STR, "", 0, 0, 0, S(cors_origins),
     "origins allowed to call the API from a browser, comma-separated (empty: none)"},
    {"transforms", "MEDIALIB_TRANSFORMS", CFG_STR, "presets", 0, 0, 0, S(transforms),
     "image transforms allowed in URLs: presets (free-form ones need a signed URL) or any"},
    {"url_signing_key", "MEDIALIB_URL_SIGNING_KEY", CFG_STR, "", 0, 0, CFG_SECRET,
     S(url_signing_key),
     "key of signed transform URLs (`medialib sign`), >= 16 bytes (empty: signatures refused)"},
    {"presets", "MEDIALIB_PRESETS", CFG_STR, "", 0, 0, 0, S(presets),
     "presets added to or replacing thumbnail, small, medium, large: "
     "name=w_1600,h_600,c_fill;avatar=w_64,h_64,c_fill"},
    {"eager_presets", "MEDIALIB_EAGER_PRESETS", CFG_STR, "thumbnail", 0, 0, 0, S(eager_presets),
     "presets rendered in the background after an upload or replace, comma-separated"},
    {"render_threads", "MEDIALIB_RENDER_THREADS", CFG_INT, "0", 0, 64, 0, S(render_threads),
     "threads rendering image variants (0: one per core)"},
    {"render_queue", "MEDIALIB_RENDER_QUEUE", CFG_INT, "64", 1, 100000, 0, S(render_queue),
     "renders that may wait for a thread; past that, 503 with Retry-After"},
    {"render_memory", "MEDIALIB_RENDER_MEMORY", CFG_SIZE, "2GiB", 0, (int64_t)1 << 40, 0,
     S(render_memory), "address space of each render worker process (0: no limit)"},
    {"render_timeout_ms", "MEDIALIB_RENDER_TIMEOUT_MS", CFG_INT, "30000", 100, 3600000, 0,
     S(render_timeout_ms), "longest render; past it the worker process is killed (ms)"},
    {"job_lease_ms", "MEDIALIB_JOB_LEASE_MS", CFG_INT, "60000", 1000, 3600000, 0, S(job_lease_ms),
     "how long an outbox job claimed by a runner is not run by another (ms); a job of a "
     "process that died waits this long (jobs are idempotent: a lease shorter than a job only "
     "wastes work)"},
    {"s3_access_key", "MEDIALIB_S3_ACCESS_KEY", CFG_STR, "", 0, 0, CFG_SECRET, S(s3_access_key),
     "S3 access key id (default: AWS_ACCESS_KEY_ID)"},
    {"s3_secret_key", "MEDIALIB_S3_SECRET_KEY", CFG_STR, "", 0, 0, CFG_SECRET, S(s3_secret_key),
     "S3 secret access key (default: AWS_SECRET_ACCESS_KEY)"},
    {"s3_delivery", "MEDIALIB_S3_DELIVERY", CFG_STR, "proxy", 0, 0, 0, S(s3_delivery),
     "files on S3: proxy (streamed through medialib, with its headers) or redirect (302 to a "
     "presigned URL)"},
    {"s3_presign_ttl", "MEDIALIB_S3_PRESIGN_TTL", CFG_DURATION, "1h", 60, 7 * 86400, 0,
     S(s3_presign_ttl), "lifetime of presigned URLs of redirect delivery (seconds, or 15m, 1h)"},
    {"test_faults", "MEDIALIB_TEST_FAULTS", CFG_STR, "", 0, 0, CFG_TESTONLY, S(test_faults),
     "fault injection (test builds only)"},
};
#undef S

#define NENTRIES (sizeof(table) / sizeof(table[0]))

int ml_config_parse_size(const char *s, int64_t *out) {
  char *end;
  unsigned long long v;
  uint64_t mult = 1;
  if(!s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if(errno)
    return -1;
  while(*end == ' ')
    end++;
  if(!*end || !strcmp(end, "B"))
    mult = 1;
  else if(!strcasecmp(end, "K") || !strcasecmp(end, "KiB") || !strcasecmp(end, "KB"))
    mult = 1024;
  else if(!strcasecmp(end, "M") || !strcasecmp(end, "MiB") || !strcasecmp(end, "MB"))
    mult = 1024 * 1024;
  else if(!strcasecmp(end, "G") || !strcasecmp(end, "GiB") || !strcasecmp(end, "GB"))
    mult = 1024ull * 1024 * 1024;
  else if(!strcasecmp(end, "T") || !strcasecmp(end, "TiB") || !strcasecmp(end, "TB"))
    mult = 1024ull * 1024 * 1024 * 1024;
  else
    return -1;
  if(v > (uint64_t)INT64_MAX / mult)
    return -1;
  *out = (int64_t)(v * mult);
  return 0;
}

int ml_config_parse_duration(const char *s, int64_t *out) {
  char *end;
  unsigned long long v;
  uint64_t mult;
  if(!s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if(errno)
    return -1;
  if(!*end || !strcmp(end, "s"))
    mult = 1;
  else if(!strcmp(end, "m"))
    mult = 60;
  else if(!strcmp(end, "h"))
    mult = 3600;
  else if(!strcmp(end, "d"))
    mult = 86400;
  else
    return -1;
  if(v > (uint64_t)INT64_MAX / mult)
    return -1;
  *out = (int64_t)(v * mult);
  return 0;
}

static int parse_int(const char *s, int64_t *out) {
  char *end;
  long long v;
  if(!*s || !(isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))))
    return -1; /* strtoll would skip leading spaces and accept "+4" */
  errno = 0;
  v = strtoll(s, &end, 10);
  if(errno || *end)
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, int64_t *out) {
  if(!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) {
    *out = 1;
    return 0;
  }
  if(!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
     !*s) {
    *out = 0;
    return 0;
  }
  return -1;
}

static ml_err set_value(struct ml_config *cfg, const struct cfg_entry *e, const char *val,
                        struct ml_errbuf *eb) {
  char *base = (char *)cfg;
  int64_t v = 0;
  switch(e->type) {
  case CFG_STR: {
    char **slot = (char **)(base + e->offset);
    char *copy = ml_strdup(val);
    if(!copy)
      return ML_ERR_NOMEM;
    ml_free(*slot);
    *slot = copy;
    return ML_OK;
  }
  case CFG_INT:
    if(parse_int(val, &v))
      return ml_fail(eb, ML_ERR_CONFIG, "%s: '%s' is not a whole number", e->env,
                     (e->flags & CFG_SECRET) ? "***" : val);
    break;
  case CFG_SIZE:
    if(ml_config_parse_size(val, &v))
      return ml_fail(eb, ML_ERR_CONFIG, "%s: '%s' is not a size (use e.g. 512MiB, 64KiB, 1024)",
                     e->env, val);
    break;
  case CFG_BOOL:
    if(parse_bool(val, &v))
      return ml_fail(eb, ML_ERR_CONFIG, "%s: '%s' is not a boolean (use 1 or 0)", e->env, val);
    break;
  case CFG_DURATION:
    if(ml_config_parse_duration(val, &v))
      return ml_fail(eb, ML_ERR_CONFIG, "%s: '%s' is not a duration (use e.g. 900, 15m, 1h, 7d)",
                     e->env, val);
    break;
  }
  if(v < e->min || v > e->max)
    return ml_fail(eb, ML_ERR_CONFIG, "%s: %lld is out of range [%lld, %lld]", e->env, (long long)v,
                   (long long)e->min, (long long)e->max);
  *(int64_t *)(base + e->offset) = v;
  return ML_OK;
}

static const struct cfg_entry *find_env(const char *env, size_t len) {
  for(size_t i = 0; i < NENTRIES; i++)
    if(strlen(table[i].env) == len && !strncmp(table[i].env, env, len))
      return &table[i];
  return NULL;
}

static ml_err load_file(struct ml_config *cfg, const char *path, struct ml_errbuf *eb) {
  FILE *f = fopen(path, "r");
  char line[4096];
  int lineno = 0;
  ml_err rc = ML_OK;
  if(!f)
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_CONFIG: cannot open %s: %s", path, strerror(errno));
  while(!rc && fgets(line, sizeof(line), f)) {
    char *p = line, *eq, *end;
    const struct cfg_entry *e;
    lineno++;
    while(isspace((unsigned char)*p))
      p++;
    if(!*p || *p == '#')
      continue;
    end = p + strlen(p);
    while(end > p && isspace((unsigned char)end[-1]))
      *--end = '\0';
    eq = strchr(p, '=');
    if(!eq) {
      rc = ml_fail(eb, ML_ERR_CONFIG, "%s:%d: expected KEY=VALUE", path, lineno);
      break;
    }
    e = find_env(p, (size_t)(eq - p));
    if(!e) {
      rc = ml_fail(eb, ML_ERR_CONFIG, "%s:%d: unknown setting '%.*s'", path, lineno, (int)(eq - p),
                   p);
      break;
    }
    if(getenv(e->env))
      continue; /* the environment wins */
    rc = set_value(cfg, e, eq + 1, eb);
  }
  fclose(f);
  return rc;
}

ml_err ml_config_load(struct ml_config *cfg, struct ml_errbuf *eb) {
  ml_err rc = ML_OK;
  const char *file;
  enum ml_log_level lvl;
  memset(cfg, 0, sizeof(*cfg));
  for(size_t i = 0; !rc && i < NENTRIES; i++)
    rc = set_value(cfg, &table[i], table[i].def, eb);
  if(rc)
    return rc;
  file = getenv("MEDIALIB_CONFIG");
  if(file && *file) {
    rc = load_file(cfg, file, eb);
    if(rc)
      return rc;
  }
  for(size_t i = 0; !rc && i < NENTRIES; i++) {
    const char *v = getenv(table[i].env);
    if(!v)
      continue;
#ifndef ML_TEST_HOOKS
    if((table[i].flags & CFG_TESTONLY) && *v)
      return ml_fail(eb, ML_ERR_CONFIG, "%s is only available in test builds", table[i].env);
#endif
    rc = set_value(cfg, &table[i], v, eb);
  }
  if(rc)
    return rc;
  if(!*cfg->database_url) {
    char *u = NULL;
    size_t n = strlen(cfg->data_dir) + 32;
    u = ml_malloc(n);
    if(!u)
      return ML_ERR_NOMEM;
    snprintf(u, n, "sqlite://%s/medialib.db", cfg->data_dir);
    ml_free(cfg->database_url);
    cfg->database_url = u;
  }
  /* MEDIALIB_STORAGE_URL=cloudinary: Cloudinary's own CLOUDINARY_URL. */
  if(!strcmp(cfg->storage_url, "cloudinary")) {
    const char *cu = getenv("CLOUDINARY_URL");
    char *u;
    if(!cu || strncmp(cu, "cloudinary://", 13))
      return ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_STORAGE_URL=cloudinary needs CLOUDINARY_URL="
                     "cloudinary://API_KEY:API_SECRET@CLOUD_NAME");
    u = ml_strdup(cu);
    if(!u)
      return ML_ERR_NOMEM;
    ml_free(cfg->storage_url);
    cfg->storage_url = u;
  }
  if(!*cfg->storage_url) {
    char *u = NULL;
    size_t n = strlen(cfg->data_dir) + 32;
    u = ml_malloc(n);
    if(!u)
      return ML_ERR_NOMEM;
    snprintf(u, n, "file://%s/blobs", cfg->data_dir);
    ml_free(cfg->storage_url);
    cfg->storage_url = u;
  }
  /* The standard AWS variables, when medialib's own are not set. */
  if(!*cfg->s3_access_key && getenv("AWS_ACCESS_KEY_ID")) {
    char *v = ml_strdup(getenv("AWS_ACCESS_KEY_ID"));
    if(!v)
      return ML_ERR_NOMEM;
    ml_free(cfg->s3_access_key);
    cfg->s3_access_key = v;
  }
  if(!*cfg->s3_secret_key && getenv("AWS_SECRET_ACCESS_KEY")) {
    char *v = ml_strdup(getenv("AWS_SECRET_ACCESS_KEY"));
    if(!v)
      return ML_ERR_NOMEM;
    ml_free(cfg->s3_secret_key);
    cfg->s3_secret_key = v;
  }
  if(strcmp(cfg->s3_delivery, "proxy") && strcmp(cfg->s3_delivery, "redirect"))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_S3_DELIVERY: '%s' is not proxy or redirect",
                   cfg->s3_delivery);
  if(ml_log_level_parse(cfg->log_level, &lvl))
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_LOG: '%s' is not a level (debug, info, warn, "
                   "error, off)",
                   cfg->log_level);
  if(*cfg->public_url && strncmp(cfg->public_url, "http://", 7) &&
     strncmp(cfg->public_url, "https://", 8))
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_PUBLIC_URL: '%s' must start with http:// or "
                   "https://",
                   cfg->public_url);
  for(const char *c = cfg->public_url; *c; c++) {
    /* It is copied verbatim into JSON answers and Location headers. */
    if((unsigned char)*c <= 0x20 || *c == '"' || *c == '\\' || *c == 0x7f)
      return ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_PUBLIC_URL: '%s' has a space, quote, backslash or control "
                     "character",
                     cfg->public_url);
  }
  if(strcmp(cfg->transforms, "presets") && strcmp(cfg->transforms, "any"))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_TRANSFORMS: '%s' is not presets or any",
                   cfg->transforms);
  if(*cfg->url_signing_key && strlen(cfg->url_signing_key) < 16)
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_URL_SIGNING_KEY: %zu bytes is too short (16 or more)",
                   strlen(cfg->url_signing_key));
  if(strcmp(cfg->purge_method, "purge") && strcmp(cfg->purge_method, "ban"))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_PURGE_METHOD: '%s' is not purge or ban",
                   cfg->purge_method);
  if(*cfg->webhook_url && strlen(cfg->webhook_secret) < 16)
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_WEBHOOK_SECRET: %zu bytes; webhooks need a secret of 16 bytes or "
                   "more to sign their events",
                   strlen(cfg->webhook_secret));
  if(*cfg->public_url) { /* no trailing slash: URLs are built as base + "/media/..." */
    size_t n = strlen(cfg->public_url);
    while(n > 0 && cfg->public_url[n - 1] == '/')
      cfg->public_url[--n] = '\0';
  }
  return ML_OK;
}

void ml_config_free(struct ml_config *cfg) {
  for(size_t i = 0; i < NENTRIES; i++) {
    if(table[i].type == CFG_STR) {
      char **slot = (char **)((char *)cfg + table[i].offset);
      ml_free(*slot);
      *slot = NULL;
    }
  }
}

void ml_config_redact_url(const char *url, char *out, size_t size) {
  const char *auth = strstr(url, "://"), *end, *at = NULL, *colon = NULL, *p;
  size_t o = 0;
  if(!size)
    return;
  auth = auth ? auth + 3 : url;
  end = auth + strcspn(auth, "/?#");
  for(p = auth; p < end; p++)
    if(*p == '@')
      at = p; /* the last one: a password may contain '@' */
  if(at)
    colon = memchr(auth, ':', (size_t)(at - auth));
  for(p = url; *p && o + 1 < size;) {
    if(colon && p == colon + 1) {
      o += (size_t)snprintf(out + o, size - o, "***");
      p = at;
      continue;
    }
    if((p == url || p[-1] == '?' || p[-1] == '&') && p > end && !strncmp(p, "password=", 9)) {
      o += (size_t)snprintf(out + o, size - o, "password=***");
      p += strcspn(p, "&#");
      continue;
    }
    out[o++] = *p++;
  }
  if(o >= size)
    o = size - 1;
  out[o] = '\0';
}

void ml_config_log(const struct ml_config *cfg, const struct ml_log *lg) {
  for(size_t i = 0; i < NENTRIES; i++) {
    const struct cfg_entry *e = &table[i];
    const char *base = (const char *)cfg;
    if(e->flags & CFG_TESTONLY)
      continue;
    if(e->type == CFG_STR) {
      const char *v = *(char *const *)(base + e->offset);
      char redacted[1024];
      if(e->flags & CFG_SECRET)
        v = (v && *v) ? "(set)" : "(unset)";
      else if((e->flags & CFG_URL) && v) {
        ml_config_redact_url(v, redacted, sizeof(redacted));
        v = redacted;
      }
      ml_log(lg, ML_LOG_INFO, NULL, "config", ML_LS("key", e->name), ML_LS("value", v));
    } else {
      ml_log(lg, ML_LOG_INFO, NULL, "config", ML_LS("key", e->name),
             ML_LI("value", *(const int64_t *)(base + e->offset)));
    }
  }
}

void ml_config_print_help(void) {
  printf("Settings (environment variables; MEDIALIB_CONFIG=FILE reads KEY=VALUE lines):\n");
  for(size_t i = 0; i < NENTRIES; i++) {
    if(table[i].flags & CFG_TESTONLY)
      continue;
    printf("  %-32s %s (default: %s)\n", table[i].env, table[i].help,
           *table[i].def ? table[i].def : "-");
  }
}
