/*
 * variants.c - derived images: planning, lookup, rendering with a single
 * flight per variant, and the eager-preset outbox job.
 *
 * A variant lives under its version's key prefix: the original
 * "m/42/v3-<rand>/original" has variants "m/42/v3-<rand>/<name>.<ext>",
 * where name is the transform's canonical form with a concrete format
 * ("c_fill,f_webp,h_200,w_200"). The key is a pure function of the version
 * and the transform, so a render repeated after a crash writes the same
 * key, and the removal of a version (replace, delete) finds every variant
 * through the variants table.
 *
 * Writing follows the upload's rules (media.c): an outbox intent "remove
 * this key" is committed before the blob exists, and the transaction that
 * records the variant row deletes it. That transaction first checks that
 * the media is still at the rendered version; if a replace or delete won the
 * race, the fresh blob is removed at once (or left to its intent).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "image/renderd.h"
#include "jobs/jobs.h"
#include "media/media_int.h"

/* ------------------------------------------------------------- planning */

int ml_media_renderable(const char *mime) {
  static const char *const types[] = {"image/jpeg", "image/png",  "image/webp", "image/gif",
                                      "image/avif", "image/heif", "image/heic", "image/tiff"};
  for(size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if(!strcmp(mime, types[i]))
      return 1;
  return 0;
}

static const char *format_ext(enum ml_transform_format f) {
  switch(f) {
  case ML_TRANSFORM_FORMAT_JPEG: return "jpg";
  case ML_TRANSFORM_FORMAT_PNG: return "png";
  case ML_TRANSFORM_FORMAT_WEBP: return "webp";
  case ML_TRANSFORM_FORMAT_AVIF: return "avif";
  default: return NULL;
  }
}

ml_err ml_media_variant_plan(const struct ml_media *m, const struct ml_transform *t,
                             const char *accept, struct ml_variant_plan *out, int *varies,
                             struct ml_errbuf *eb) {
  ml_err rc;
  memset(out, 0, sizeof(*out));
  if(varies)
    *varies = 0;
  if(!ml_media_renderable(m->mime_type))
    return ml_fail(eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "files of type %s cannot be transformed",
                   m->mime_type);
  out->t = *t;
  out->t.preset = NULL;
  out->t.is_preset = 0;
  out->t.format = ml_transform_output_format(t, m->mime_type, accept, varies);
  out->mime_type = ml_transform_format_mime(out->t.format);
  out->ext = format_ext(out->t.format);
  if(!out->mime_type || !out->ext)
    return ml_fail(eb, ML_ERR_INTERNAL, "no concrete output format for %s", m->mime_type);
  /* The stored size is the displayed one (probe rotated it): orientation 1. */
  rc = ml_transform_plan(&out->t, m->width, m->height, 1, &out->dims, eb);
  if(rc)
    return rc;
  ml_transform_format(&out->t, out->name);
  return ML_OK;
}

/* "m/42/v3-<rand>/" + name + "." + ext, from the original's key, with the
 * name's commas as '-' (keys are [A-Za-z0-9._-]: safe in every store; no
 * transform value contains a '-', so the name can be read back). */
static char *variant_key(struct ml_arena *a, const struct ml_media *m,
                         const struct ml_variant_plan *p) {
  const char *slash = strrchr(m->storage_key, '/');
  char *key;
  size_t prefix;
  if(!slash)
    return NULL;
  prefix = (size_t)(slash - m->storage_key) + 1;
  key = ml_arena_printf(a, "%.*s%s.%s", (int)prefix, m->storage_key, p->name, p->ext);
  for(char *c = key ? key + prefix : NULL; c && *c; c++)
    if(*c == ',')
      *c = '-';
  return key;
}

ml_err ml_media_variant_find(struct ml_media_svc *s, const struct ml_media *m,
                             const struct ml_variant_plan *p, struct ml_arena *a,
                             struct ml_variant *out, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc;
  if(ml_vcache_get(s->vcache, m->id, m->version, p->name, a, out))
    return ML_OK;
  rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_variant_get(c, m->id, m->version, p->name, a, out, eb);
  ml_repo_release(&c);
  if(!rc)
    ml_vcache_put(s->vcache, out);
  return rc;
}

ml_err ml_media_open_variant(struct ml_media_svc *s, const struct ml_variant *v,
                             struct ml_blob *out, struct ml_errbuf *eb) {
  return ml_store_open_read(s->d.store, v->storage_key, out, eb);
}

/* --------------------------------------------------------------- render */

/* SHA-256 of a file, as lowercase hex. */
static ml_err hash_file(const char *path, char hex[65], struct ml_errbuf *eb) {
  unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = NULL;
  ml_err rc = ML_OK;
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0)
    return ml_fail(eb, ML_ERR_IO, "reopening the rendered variant: %s", strerror(errno));
  ctx = EVP_MD_CTX_new();
  if(!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "cannot start SHA-256");
    goto out;
  }
  while((n = read(fd, buf, sizeof(buf))) != 0) {
    if(n < 0 && errno == EINTR)
      continue;
    if(n < 0) {
      rc = ml_fail(eb, ML_ERR_IO, "reading the rendered variant: %s", strerror(errno));
      goto out;
    }
    EVP_DigestUpdate(ctx, buf, (size_t)n);
  }
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  ml_hex_encode(md, mdlen < 32 ? mdlen : 32, hex);
out:
  EVP_MD_CTX_free(ctx);
  close(fd);
  return rc;
}

/* Renders, stores and records one variant: the leader of a flight. */
static ml_err render_store(struct ml_media_svc *s, const struct ml_media *m,
                           const struct ml_variant_plan *p, const char *rid, struct ml_arena *a,
                           struct ml_variant *out, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_job intent;
  struct ml_render_result res;
  struct ml_blob src = {.fd = -1};
  struct ml_variant v;
  char spool[4096];
  const char *key = variant_key(a, m, p);
  int64_t now = ml_now_ms(), t0 = (int64_t)(ml_mono_ns() / 1000000);
  ml_err rc;

  spool[0] = '\0';
  if(!key)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory naming a variant");

  /* 1. The intent, before the blob exists. */
  intent = ml_media_job(ML_JOB_REMOVE_BLOB, key, m->id, now, now + s->d.intent_delay_ms, 0);
  intent.payload = p->mime_type;
  rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_begin(c, eb);
  if(!rc)
    rc = ml_repo_job_add(c, &intent, eb);
  rc = ml_repo_end(c, rc, eb);
  if(rc)
    goto out;

  /* 2. Render into a spool file beside the blobs. */
  rc = ml_spool_name(s, spool, sizeof(spool), eb);
  if(!rc)
    rc = ml_store_get(s->d.store, m->storage_key, &src, eb);
  if(rc == ML_ERR_NOT_FOUND)
    rc = ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "the original of media %lld is missing",
                 (long long)m->id);
  if(!rc && !s->d.renderer)
    rc = ml_fail(eb, ML_ERR_INTERNAL, "this server renders no images");
  if(!rc)
    rc = ml_renderd_render(s->d.renderer, src.fd, m->mime_type, &p->dims, p->t.format, p->t.quality,
                           spool, &res, eb);
  if(src.fd >= 0)
    close(src.fd);
  memset(&v, 0, sizeof(v));
  if(!rc)
    rc = hash_file(spool, v.sha256, eb);

  /* 3. The blob. */
  if(!rc)
    rc = ml_store_put(s->d.store, key, spool, p->mime_type, eb);
  if(rc) {
    ml_log(s->d.log, ML_LOG_WARN, rid, "variant.render_failed", ML_LI("media_id", m->id),
           ML_LI("version", m->version), ML_LS("variant", p->name), ML_LS("key", key), ML_LERR(rc),
           ML_LS("detail", eb->msg));
    ml_media_undo_put(s, c, &intent, 0, rid);
    goto out;
  }
  spool[0] = '\0'; /* consumed by the store */

  /* 4. Record it while the version is current, and drop the intent. */
  v.media_id = m->id;
  v.version = m->version;
  v.name = p->name;
  v.storage_key = key;
  v.mime_type = p->mime_type;
  v.size = res.size;
  v.width = res.width;
  v.height = res.height;
  v.created_at = now;
  rc = ml_repo_begin(c, eb);
  if(!rc) /* refused (conflict, not found) once the version is replaced or gone */
    rc = ml_repo_variant_put(c, &v, eb);
  if(!rc)
    rc = ml_repo_job_delete(c, intent.id, eb);
  rc = ml_repo_end(c, rc, eb);
  if(rc == ML_ERR_CONFLICT)
    rc = ML_ERR_NOT_FOUND; /* that version is no more */
  if(rc) {
    ml_log(s->d.log, ML_LOG_INFO, rid, "variant.discarded", ML_LI("media_id", m->id),
           ML_LI("version", m->version), ML_LS("key", key), ML_LERR(rc), ML_LS("detail", eb->msg));
    ml_media_undo_put(s, c, &intent, 0, rid);
    goto out;
  }
  ml_log(s->d.log, ML_LOG_INFO, rid, "variant.rendered", ML_LI("media_id", m->id),
         ML_LI("version", m->version), ML_LS("variant", p->name), ML_LS("key", key),
         ML_LI("width", v.width), ML_LI("height", v.height), ML_LI("size", v.size),
         ML_LI("ms", (int64_t)(ml_mono_ns() / 1000000) - t0));
  *out = v;
out:
  if(spool[0])
    unlink(spool);
  ml_repo_release(&c);
  return rc;
}

/* One render in progress, and how many requests wait on it. */
struct ml_flight {
  struct ml_flight *next;
  int64_t media_id, version;
  char name[ML_TRANSFORM_CANONICAL_MAX];
  int done, waiters;
  ml_err rc;
  struct ml_errbuf eb;
};

ml_err ml_media_variant_get(struct ml_media_svc *s, const struct ml_media *m,
                            const struct ml_variant_plan *p, const char *rid, struct ml_arena *a,
                            struct ml_variant *out, struct ml_errbuf *eb) {
  struct ml_flight *f, **pp;
  ml_err rc = ml_media_variant_find(s, m, p, a, out, eb);
  if(rc != ML_ERR_NOT_FOUND)
    return rc;
  ml_errbuf_clear(eb);

  pthread_mutex_lock(&s->flights_mu);
  for(f = s->flights; f; f = f->next)
    if(f->media_id == m->id && f->version == m->version && !strcmp(f->name, p->name))
      break;
  if(f) { /* a render of this variant is under way: wait for it */
    f->waiters++;
    while(!f->done)
      pthread_cond_wait(&s->flights_cv, &s->flights_mu);
    rc = f->rc;
    if(rc)
      ml_fail(eb, rc, "%s", f->eb.msg);
    if(--f->waiters == 0)
      ml_free(f);
    pthread_mutex_unlock(&s->flights_mu);
    return rc ? rc : ml_media_variant_find(s, m, p, a, out, eb);
  }
  f = ml_calloc(1, sizeof(*f));
  if(!f) {
    pthread_mutex_unlock(&s->flights_mu);
    return ML_ERR_NOMEM;
  }
  f->media_id = m->id;
  f->version = m->version;
  memcpy(f->name, p->name, sizeof(f->name));
  f->waiters = 1; /* the leader */
  f->next = s->flights;
  s->flights = f;
  pthread_mutex_unlock(&s->flights_mu);

  rc = render_store(s, m, p, rid, a, out, eb);

  pthread_mutex_lock(&s->flights_mu);
  for(pp = &s->flights; *pp != f; pp = &(*pp)->next)
    ;
  *pp = f->next; /* later requests find the row, or start afresh */
  f->done = 1;
  f->rc = rc;
  if(rc)
    memcpy(f->eb.msg, eb->msg, sizeof(f->eb.msg));
  pthread_cond_broadcast(&s->flights_cv);
  if(--f->waiters == 0)
    ml_free(f);
  pthread_mutex_unlock(&s->flights_mu);
  return rc;
}

/* ------------------------------------------------ the store's transforms */

ml_err ml_media_transform_url(struct ml_media_svc *s, const struct ml_media *m,
                              const struct ml_transform *t, struct ml_buf *out, int64_t *max_age,
                              struct ml_errbuf *eb) {
  char tr[ML_TRANSFORM_CLOUDINARY_MAX];
  ml_transform_cloudinary(t, m->mime_type, tr);
  return ml_store_transform_url(s->d.store, m->storage_key, m->mime_type, tr, out, max_age, eb);
}

/* ------------------------------------------------------------ eager jobs */

ml_err ml_media_queue_eager(struct ml_media_svc *s, struct ml_conn *c, const struct ml_media *m,
                            struct ml_arena *a, struct ml_errbuf *eb) {
  const char *list = s->d.eager_presets;
  int64_t now = ml_now_ms();
  if(!list || !*list || !s->d.presets || !ml_media_renderable(m->mime_type) || m->width <= 0 ||
     m->height <= 0 || s->store_transforms) /* the store's CDN renders them */
    return ML_OK;
  while(*list) {
    const char *end = strchr(list, ',');
    size_t len = end ? (size_t)(end - list) : strlen(list);
    const struct ml_transform_preset *pr = ml_transform_preset_find(s->d.presets, list, len);
    struct ml_variant_plan p;
    if(pr && pr->t.format != ML_TRANSFORM_FORMAT_AUTO && /* f_auto waits for an Accept */
       !ml_media_variant_plan(m, &pr->t, NULL, &p, NULL, NULL)) {
      char *key = variant_key(a, m, &p);
      struct ml_job j;
      ml_err rc;
      if(!key)
        return ML_ERR_NOMEM;
      j = ml_media_job(ML_JOB_RENDER_VARIANT, key, m->id, now, now, 0);
      rc = ml_repo_job_add(c, &j, eb);
      if(rc)
        return rc;
    }
    list += len;
    if(*list == ',')
      list++;
  }
  return ML_OK;
}

ml_err ml_media_render_job(void *svc, const struct ml_job *job, struct ml_errbuf *eb) {
  struct ml_media_svc *s = svc;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m;
  struct ml_transform t;
  struct ml_variant_plan p;
  struct ml_variant v;
  const char *base, *dot;
  char rid[48];
  ml_err rc;
  if(!a)
    return ML_ERR_NOMEM;
  snprintf(rid, sizeof(rid), "job-%lld", (long long)job->id);
  rc = ml_media_get(s, job->media_id, a, &m, eb);
  if(rc == ML_ERR_NOT_FOUND) { /* deleted meanwhile: nothing to do */
    rc = ML_OK;
    goto out;
  }
  if(rc)
    goto out;
  /* The key names the version and the canonical transform. */
  base = strrchr(job->key, '/');
  dot = base ? strrchr(base, '.') : NULL;
  if(!base || !dot || strncmp(job->key, m.storage_key, (size_t)(base - job->key + 1)))
    goto out; /* replaced meanwhile: the new version queued its own */
  base++;
  {
    char name[ML_TRANSFORM_CANONICAL_MAX];
    size_t len = (size_t)(dot - base);
    if(len >= sizeof(name)) {
      rc = ml_fail(eb, ML_ERR_BAD_REQUEST, "not a variant key: %s", job->key);
      goto given_up;
    }
    for(size_t i = 0; i < len; i++)
      name[i] = base[i] == '-' ? ',' : base[i];
    rc = ml_transform_parse(name, len, NULL, &t, eb);
  }
  if(!rc)
    rc = ml_media_variant_plan(&m, &t, NULL, &p, NULL, eb);
  if(!rc)
    rc = ml_media_variant_get(s, &m, &p, rid, a, &v, eb);
given_up:
  if(rc == ML_ERR_NOT_FOUND || rc == ML_ERR_INVALID_IMAGE || rc == ML_ERR_UNSUPPORTED_MEDIA_TYPE ||
     rc == ML_ERR_BAD_REQUEST) {
    /* Nothing to retry: the media went away, or this image cannot be
     * rendered (a request for it will say so). */
    ml_log(s->d.log, ML_LOG_WARN, rid, "variant.eager_given_up", ML_LI("media_id", m.id),
           ML_LS("key", job->key), ML_LERR(rc), ML_LS("detail", eb->msg));
    ml_errbuf_clear(eb);
    rc = ML_OK;
  }
out:
  ml_arena_destroy(&a);
  return rc;
}
