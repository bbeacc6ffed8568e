/* purge.c - cache purges: the URL set of a change, its jobs, their handler. */
#include "jobs/purge.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "jobs/httpc.h"

#define MAX_TARGETS 8
#define TARGET_MAX 1024

struct ml_purge {
  enum ml_purge_method method;
  int ntargets;
  char targets[MAX_TARGETS][TARGET_MAX]; /* base URLs, no trailing '/' */
  char host_header[300];                 /* "Host: ..." or "" */
  const struct ml_transform_presets *presets;
  const struct ml_log *log;
};

/* "http://host[:port][/path]" or https: the scheme and a non-empty host. */
static int valid_base(const char *u, size_t len) {
  size_t skip = 0;
  if(len > 7 && !strncasecmp(u, "http://", 7))
    skip = 7;
  else if(len > 8 && !strncasecmp(u, "https://", 8))
    skip = 8;
  if(!skip || u[skip] == '/' || u[skip] == ':')
    return 0;
  for(size_t i = 0; i < len; i++)
    if((unsigned char)u[i] <= ' ' || u[i] == '?' || u[i] == '#')
      return 0;
  return 1;
}

ml_err ml_purge_create(const struct ml_purge_opts *o, struct ml_purge **out, struct ml_errbuf *eb) {
  struct ml_purge *p;
  const char *s = o->urls ? o->urls : "";
  *out = NULL;
  if(o->method && *o->method && strcmp(o->method, "purge") && strcmp(o->method, "ban"))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_PURGE_METHOD must be purge or ban, not \"%s\"",
                   o->method);
  p = ml_calloc(1, sizeof(*p));
  if(!p)
    return ML_ERR_NOMEM;
  p->method = o->method && !strcmp(o->method, "ban") ? ML_PURGE_METHOD_BAN : ML_PURGE_METHOD_PURGE;
  p->presets = o->presets;
  p->log = o->log;
  while(*s) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *u = s;
    size_t ulen = len;
    while(ulen && *u == ' ') {
      u++;
      ulen--;
    }
    while(ulen && u[ulen - 1] == ' ')
      ulen--;
    while(ulen && u[ulen - 1] == '/')
      ulen--;
    if(ulen) {
      if(!valid_base(u, ulen) || ulen >= TARGET_MAX) {
        ml_free(p);
        return ml_fail(eb, ML_ERR_CONFIG,
                       "MEDIALIB_PURGE_URL: \"%.*s\" is not an http:// or https:// URL", (int)ulen,
                       u);
      }
      if(p->ntargets == MAX_TARGETS) {
        ml_free(p);
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_PURGE_URL: at most %d caches", MAX_TARGETS);
      }
      memcpy(p->targets[p->ntargets], u, ulen);
      p->targets[p->ntargets++][ulen] = '\0';
    }
    s += len;
    if(*s == ',')
      s++;
  }
  if(o->host && *o->host)
    snprintf(p->host_header, sizeof(p->host_header), "Host: %s", o->host);
  *out = p;
  return ML_OK;
}

void ml_purge_destroy(struct ml_purge **p) {
  if(!p || !*p)
    return;
  ml_free(*p);
  *p = NULL;
}

int ml_purge_enabled(const struct ml_purge *p) { return p && p->ntargets > 0; }

/* ------------------------------------------------------------ the URL set */

struct path_list {
  struct ml_arena *a;
  const char **items;
  size_t n, cap;
};

/* Adds the path in b unless it is there already. */
static ml_err list_add(struct path_list *l, const struct ml_buf *b) {
  char *copy;
  if(!b->data)
    return ML_ERR_NOMEM;
  for(size_t i = 0; i < l->n; i++)
    if(!strcmp(l->items[i], b->data))
      return ML_OK;
  if(l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 16;
    const char **grown = ml_arena_alloc(l->a, ncap * sizeof(*grown));
    if(!grown)
      return ML_ERR_NOMEM;
    if(l->n)
      memcpy(grown, l->items, l->n * sizeof(*grown));
    l->items = grown;
    l->cap = ncap;
  }
  copy = ml_arena_strdup(l->a, b->data);
  if(!copy)
    return ML_ERR_NOMEM;
  l->items[l->n++] = copy;
  return ML_OK;
}

/* "/media/<id>[/v<version>][/<segment>][/<encoded filename>]": the shape of
 * ml_api_file_path (version 0: none; segment and filename may be NULL). */
static ml_err add_path(struct path_list *l, int64_t id, int64_t version, const char *segment,
                       const char *filename) {
  struct ml_buf b;
  ml_err rc;
  ml_buf_init(&b, 16 * 1024);
  rc = ml_buf_add(&b, "/media/", 7);
  if(!rc)
    rc = ml_buf_addi(&b, id);
  if(!rc && version > 0)
    rc = ml_buf_addf(&b, "/v%lld", (long long)version);
  if(!rc && segment)
    rc = ml_buf_addf(&b, "/%s", segment);
  if(!rc && filename) {
    rc = ml_buf_addc(&b, '/');
    if(!rc)
      rc = ml_buf_url_encode(&b, filename);
  }
  if(!rc)
    rc = list_add(l, &b);
  ml_buf_free(&b);
  return rc;
}

/* Images the API lists preset URLs for (api.c add_variants). */
static int has_presets(const struct ml_media *m) {
  static const char *const types[] = {"image/jpeg", "image/png",  "image/webp", "image/gif",
                                      "image/avif", "image/heif", "image/heic", "image/tiff"};
  if(m->width <= 0 || !m->mime_type)
    return 0;
  for(size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if(!strcmp(m->mime_type, types[i]))
      return 1;
  return 0;
}

ml_err ml_purge_paths(enum ml_purge_method method, enum ml_purge_event ev, const struct ml_media *m,
                      const char *new_filename, const struct ml_variant *variants, size_t nvariants,
                      const struct ml_transform_presets *presets, struct ml_arena *a,
                      const char ***paths, size_t *n) {
  struct path_list l = {a, NULL, 0, 0};
  ml_err rc;
  *paths = NULL;
  *n = 0;
  if(method == ML_PURGE_METHOD_BAN) {
    rc = add_path(&l, m->id, 0, NULL, NULL);
    goto out;
  }
  rc = add_path(&l, m->id, 0, NULL, NULL);
  if(!rc)
    rc = add_path(&l, m->id, 0, NULL, m->filename);
  if(!rc && ev == ML_PURGE_REPLACE && new_filename)
    rc = add_path(&l, m->id, 0, NULL, new_filename);
  if(!rc)
    rc = add_path(&l, m->id, m->version, NULL, m->filename);
  if(presets && has_presets(m)) {
    for(int i = 0; !rc && i < presets->n; i++) {
      char seg[ML_TRANSFORM_PRESET_NAME_MAX + 3];
      snprintf(seg, sizeof(seg), "t_%s", presets->p[i].name);
      rc = add_path(&l, m->id, m->version, seg, m->filename);
    }
  }
  for(size_t i = 0; !rc && i < nvariants; i++)
    if(variants[i].media_id == m->id && variants[i].version == m->version)
      rc = add_path(&l, m->id, m->version, variants[i].name, m->filename);
  if(ev == ML_PURGE_DELETE)
    for(int64_t v = m->version - 1; !rc && v >= 1 && v >= m->version - ML_PURGE_OLD_VERSIONS; v--)
      rc = add_path(&l, m->id, v, NULL, m->filename);
out:
  if(!rc) {
    *paths = l.items;
    *n = l.n;
  }
  return rc;
}

ml_err ml_purge_queue(struct ml_purge *p, struct ml_conn *c, enum ml_purge_event ev,
                      const struct ml_media *m, const char *new_filename,
                      const struct ml_variant *variants, size_t nvariants, int64_t now,
                      int64_t lease, struct ml_arena *a, int64_t **ids, size_t *n,
                      struct ml_errbuf *eb) {
  const char **paths = NULL;
  size_t np = 0;
  ml_err rc;
  *ids = NULL;
  *n = 0;
  if(!ml_purge_enabled(p))
    return ML_OK;
  rc = ml_purge_paths(p->method, ev, m, new_filename, variants, nvariants, p->presets, a, &paths,
                      &np);
  if(!rc && !(*ids = ml_arena_alloc(a, (np ? np : 1) * sizeof(**ids))))
    rc = ML_ERR_NOMEM;
  for(size_t i = 0; !rc && i < np; i++) {
    struct ml_job j;
    char *key =
        ml_arena_printf(a, "%s:%s", p->method == ML_PURGE_METHOD_BAN ? "ban" : "purge", paths[i]);
    if(!key) {
      rc = ML_ERR_NOMEM;
      break;
    }
    memset(&j, 0, sizeof(j));
    j.kind = ML_JOB_PURGE;
    j.key = key;
    j.media_id = m->id;
    j.next_at = now;
    j.lease_until = lease;
    j.last_error = "";
    j.created_at = now;
    rc = ml_repo_job_add(c, &j, eb);
    if(!rc)
      (*ids)[(*n)++] = j.id;
  }
  if(rc == ML_ERR_NOMEM)
    ml_fail(eb, rc, "out of memory queueing cache purges");
  return rc;
}

/* -------------------------------------------------------------- the handler */

ml_err ml_purge_job(void *ctx, const struct ml_job *job, struct ml_errbuf *eb) {
  struct ml_purge *p = ctx;
  const char *method, *path;
  const char *headers[2] = {NULL, NULL};
  if(!strncmp(job->key, "purge:", 6)) {
    method = "PURGE";
    path = job->key + 6;
  } else if(!strncmp(job->key, "ban:", 4)) {
    method = "BAN";
    path = job->key + 4;
  } else {
    ml_log(p->log, ML_LOG_WARN, NULL, "purge.dropped", ML_LI("job_id", job->id),
           ML_LS("key", job->key), ML_LS("why", "not a purge key"));
    return ML_OK;
  }
  if(path[0] != '/') {
    ml_log(p->log, ML_LOG_WARN, NULL, "purge.dropped", ML_LI("job_id", job->id),
           ML_LS("key", job->key), ML_LS("why", "not a path"));
    return ML_OK;
  }
  if(!p->ntargets) {
    ml_log(p->log, ML_LOG_WARN, NULL, "purge.dropped", ML_LI("job_id", job->id),
           ML_LS("key", job->key), ML_LS("why", "MEDIALIB_PURGE_URL is not set any more"));
    return ML_OK;
  }
  if(p->host_header[0])
    headers[0] = p->host_header;
  for(int i = 0; i < p->ntargets; i++) {
    struct ml_buf url;
    struct ml_httpc_req rq;
    long status = 0;
    ml_err rc;
    ml_buf_init(&url, 2 * TARGET_MAX + 16 * 1024);
    rc = ml_buf_adds(&url, p->targets[i]);
    if(!rc)
      rc = ml_buf_adds(&url, path);
    if(rc) {
      ml_buf_free(&url);
      return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.url = url.data;
    rq.headers = headers;
    rc = ml_httpc_do(&rq, &status, eb);
    ml_buf_free(&url);
    if(rc)
      return rc;
    if(!((status >= 200 && status < 300) || (status == 404 && !strcmp(method, "PURGE"))))
      return ml_fail(eb, ML_ERR_IO, "cache %d of %d answered %s with %ld", i + 1, p->ntargets,
                     method, status);
  }
  return ML_OK;
}
