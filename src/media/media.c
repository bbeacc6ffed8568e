/* media.c - upload, replace, update, delete, read: the consistency rules. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "image/probe.h"
#include "image/renderd.h"
#include "jobs/jobs.h"
#include "jobs/purge.h"
#include "jobs/webhook.h"
#include "media/media_int.h"

ml_err ml_media_svc_create(const struct ml_media_deps *d, struct ml_media_svc **out,
                           struct ml_errbuf *eb) {
  struct ml_media_svc *s = ml_calloc(1, sizeof(*s));
  ml_err rc;
  if(!s)
    return ML_ERR_NOMEM;
  s->d = *d;
  s->store_transforms = d->store && ml_store_transforms(d->store);
  pthread_mutex_init(&s->flights_mu, NULL);
  pthread_cond_init(&s->flights_cv, NULL);
  rc = ml_sniffer_create(&s->sniffer, eb);
  if(!rc)
    rc = ml_dcache_create(d->delivery_cache_ms, &s->dcache);
  if(!rc)
    rc = ml_vcache_create(d->delivery_cache_ms, &s->vcache);
  if(rc) {
    ml_sniffer_destroy(&s->sniffer);
    ml_dcache_destroy(&s->dcache);
    pthread_mutex_destroy(&s->flights_mu);
    pthread_cond_destroy(&s->flights_cv);
    ml_free(s);
    return rc;
  }
  *out = s;
  return ML_OK;
}

void ml_media_svc_destroy(struct ml_media_svc **sp) {
  if(!sp || !*sp)
    return;
  ml_sniffer_destroy(&(*sp)->sniffer);
  ml_dcache_destroy(&(*sp)->dcache);
  ml_vcache_destroy(&(*sp)->vcache);
  pthread_mutex_destroy(&(*sp)->flights_mu);
  pthread_cond_destroy(&(*sp)->flights_cv);
  ml_free(*sp);
  *sp = NULL;
}

int ml_media_random_hex(char hex[17]) {
  unsigned char r[8];
  if(getrandom(r, sizeof(r), 0) != sizeof(r))
    return -1;
  ml_hex_encode(r, sizeof(r), hex);
  return 0;
}

/* "m/<id>/v<version>-<16 hex>/original": id and version for people and
 * prefix listing, randomness so a retried write never reuses a key that an
 * old intent may still remove. */
static char *make_key(struct ml_arena *a, int64_t id, int64_t version) {
  char hex[17];
  if(ml_media_random_hex(hex))
    return NULL;
  return ml_arena_printf(a, "m/%lld/v%lld-%s/original", (long long)id, (long long)version, hex);
}

struct ml_job ml_media_job(const char *kind, const char *key, int64_t media_id, int64_t now,
                           int64_t next_at, int64_t lease_until) {
  struct ml_job j;
  memset(&j, 0, sizeof(j));
  j.kind = kind;
  j.key = key;
  j.media_id = media_id;
  j.next_at = next_at;
  j.lease_until = lease_until;
  j.last_error = "";
  j.created_at = now;
  return j;
}

/* Reads an image's dimensions from its header and refuses pixel and frame
 * floods before anything decodes it (TESTING.md B1, B2). Sets the display
 * size: EXIF orientations 5-8 are rotated a quarter turn, so a browser shows
 * them with width and height swapped. Other types keep 0 x 0. */
static ml_err probe(struct ml_media_svc *s, struct ml_upload *u, const char *mime, int64_t *width,
                    int64_t *height, struct ml_errbuf *eb) {
  struct ml_image_info info;
  struct ml_errbuf peb = {{0}};
  int fd;
  ml_err rc;
  *width = *height = 0;
  fd = open(u->path, O_RDONLY | O_CLOEXEC);
  if(fd < 0)
    return ml_fail(eb, ML_ERR_IO, "reopening the upload spool: %s", strerror(errno));
  rc = ml_image_probe_fd(fd, mime, 64 * 1024 * 1024, &info, &peb);
  if(rc == ML_ERR_UNSUPPORTED_MEDIA_TYPE && s->d.renderer && ml_media_renderable(mime)) {
    /* HEIF, AVIF, TIFF: libvips reads the header, in a render worker. */
    ml_errbuf_clear(&peb);
    rc = ml_renderd_probe(s->d.renderer, fd, mime, &info, &peb);
  }
  close(fd);
  if(rc == ML_ERR_UNSUPPORTED_MEDIA_TYPE)
    return ML_OK; /* not a format we read headers of: stored without dimensions */
  if(rc)
    return ml_fail(eb, ML_ERR_INVALID_IMAGE, "the %s header cannot be read: %s", mime,
                   peb.msg[0] ? peb.msg : ml_err_code(rc));
  if(info.width > s->d.max_pixels / info.height)
    return ml_fail(eb, ML_ERR_TOO_MANY_PIXELS,
                   "the image claims %lld x %lld pixels; the limit is "
                   "%lld pixels",
                   (long long)info.width, (long long)info.height, (long long)s->d.max_pixels);
  if(info.frames > s->d.max_frames)
    return ml_fail(eb, ML_ERR_TOO_MANY_FRAMES, "the image has %s%lld frames; the limit is %lld",
                   info.frames >= 100000 ? "at least " : "", (long long)info.frames,
                   (long long)s->d.max_frames);
  *width = info.orientation >= 5 ? info.height : info.width;
  *height = info.orientation >= 5 ? info.width : info.height;
  return ML_OK;
}

/* Sniffs the finished spool and checks the allow-list. */
static ml_err sniff(struct ml_media_svc *s, struct ml_upload *u, char *mime, size_t cap,
                    struct ml_errbuf *eb) {
  ml_err rc = ml_upload_finish(u, eb);
  if(!rc)
    rc = ml_sniffer_file(s->sniffer, u->path, mime, cap, eb);
  if(rc)
    return rc;
  if(!ml_sniff_allowed(mime, cap))
    return ml_fail(eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE,
                   "files of type %s are not accepted (the type is read from the content)", mime);
  return ML_OK;
}

static void apply_meta(struct ml_media *m, const struct ml_media_meta *meta) {
  if(meta->title)
    m->title = meta->title;
  if(meta->alt_text)
    m->alt_text = meta->alt_text;
  if(meta->caption)
    m->caption = meta->caption;
  if(meta->folder)
    m->folder = meta->folder;
  if(meta->tags)
    m->tags = meta->tags;
}

void ml_media_undo_put(struct ml_media_svc *s, struct ml_conn *c, const struct ml_job *intent,
                       int64_t pending_id, const char *rid) {
  struct ml_errbuf eb = {{0}};
  const char *key = intent->key;
  int64_t job_id = intent->id;
  ml_err rc = ml_store_remove_as(s->d.store, key, intent->payload, &eb);
  if(!rc && !ml_repo_begin(c, &eb)) {
    if(pending_id)
      ml_repo_media_delete(c, pending_id, &eb);
    ml_repo_job_delete(c, job_id, &eb);
    rc = ml_repo_end(c, ML_OK, &eb);
  }
  ml_log(s->d.log, rc ? ML_LOG_WARN : ML_LOG_INFO, rid, "upload.undone", ML_LS("key", key),
         ML_LS("result", rc ? "left to the outbox" : "removed"),
         ML_LS("error", rc ? ml_err_code(rc) : NULL), ML_LS("detail", eb.msg));
}

/* Inside the caller's transaction: queues the removal of every variant of
 * media id older than version `below` (INT64_MAX: all), leased until lease
 * (0: none), and deletes their rows. *ids gets an arena array of the job
 * ids with one free slot at the end (for the caller's own job), *n their
 * count; *variants (arena) and *nvariants the rows as they were, every
 * version (their URLs are purged). */
static ml_err queue_variant_removals(struct ml_conn *c, int64_t id, int64_t below, int64_t now,
                                     int64_t not_before, int64_t lease, struct ml_arena *a,
                                     int64_t **ids, size_t *n, struct ml_variant **variants,
                                     size_t *nvariants, struct ml_errbuf *eb) {
  struct ml_variant *vs = NULL;
  size_t nv = 0;
  ml_err rc = ml_repo_variant_list(c, id, a, &vs, &nv, eb);
  *variants = vs;
  *nvariants = rc ? 0 : nv;
  *n = 0;
  *ids = rc ? NULL : ml_arena_alloc(a, (nv + 1) * sizeof(**ids));
  if(!rc && !*ids)
    rc = ML_ERR_NOMEM;
  for(size_t i = 0; !rc && i < nv; i++) {
    struct ml_job j;
    if(vs[i].version >= below)
      continue;
    j = ml_media_job(ML_JOB_REMOVE_BLOB, vs[i].storage_key, id, now, not_before, lease);
    j.payload = vs[i].mime_type; /* how it was stored: ml_store_remove_as */
    rc = ml_repo_job_add(c, &j, eb);
    if(!rc)
      (*ids)[(*n)++] = j.id;
  }
  if(!rc)
    rc = ml_repo_variant_delete_below(c, id, below, NULL, eb);
  return rc;
}

ml_err ml_media_create(struct ml_media_svc *s, struct ml_upload *u,
                       const struct ml_media_meta *meta, const char *rid, struct ml_arena *a,
                       struct ml_media *out, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_media m;
  struct ml_job intent;
  char mime[128];
  char *key = NULL;
  int64_t now = ml_now_ms(), width = 0, height = 0;
  int committed_intent = 0;
  ml_err rc = sniff(s, u, mime, sizeof(mime), eb);
  if(!rc)
    rc = probe(s, u, mime, &width, &height, eb);
  if(rc)
    goto out;

  memset(&m, 0, sizeof(m));
  m.state = ML_MEDIA_PENDING;
  m.title = meta->title ? meta->title : "";
  m.alt_text = meta->alt_text ? meta->alt_text : "";
  m.caption = meta->caption ? meta->caption : "";
  m.folder = meta->folder ? meta->folder : "";
  m.tags = meta->tags ? meta->tags : "";
  m.filename = meta->filename ? meta->filename : "file";
  m.mime_type = ml_arena_strdup(a, mime);
  m.size = u->size;
  m.width = width;
  m.height = height;
  memcpy(m.sha256, u->sha256, sizeof(m.sha256));
  m.version = 1;
  m.storage_key = "";
  m.created_at = m.updated_at = now;
  if(!m.mime_type) {
    rc = ML_ERR_NOMEM;
    goto out;
  }

  /* 1. The pending row and the intent, committed before the blob exists. */
  rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_begin(c, eb);
  if(!rc)
    rc = ml_repo_media_insert(c, &m, eb);
  if(!rc && !(key = make_key(a, m.id, 1)))
    rc = ML_ERR_NOMEM;
  if(!rc) {
    intent = ml_media_job(ML_JOB_ABORT_UPLOAD, key, m.id, now, now + s->d.intent_delay_ms, 0);
    intent.payload = m.mime_type;
    rc = ml_repo_job_add(c, &intent, eb);
  }
  rc = ml_repo_end(c, rc, eb);
  if(rc)
    goto out;
  committed_intent = 1;
  ml_log(s->d.log, ML_LOG_INFO, rid, "upload.intent", ML_LI("media_id", m.id), ML_LS("key", key),
         ML_LI("size", m.size), ML_LS("mime_type", m.mime_type));

  /* 2. The blob. */
  rc = ml_store_put(s->d.store, key, u->path, m.mime_type, eb);
  if(rc) {
    ml_log(s->d.log, ML_LOG_WARN, rid, "upload.store_failed", ML_LI("media_id", m.id),
           ML_LS("key", key), ML_LERR(rc), ML_LS("detail", eb->msg));
    ml_media_undo_put(s, c, &intent, m.id, rid);
    goto out;
  }
  u->path[0] = '\0'; /* consumed by the store */

  /* 3. Activate the row and drop the intent in one transaction. */
  m.state = ML_MEDIA_ACTIVE;
  m.storage_key = key;
  rc = ml_repo_begin(c, eb);
  if(!rc)
    rc = ml_repo_media_update(c, &m, 1, eb);
  if(!rc)
    rc = ml_repo_job_delete(c, intent.id, eb);
  if(!rc)
    rc = ml_media_queue_eager(s, c, &m, a, eb);
  if(!rc)
    rc = ml_webhook_queue(s->d.webhooks, c, "media.created", m.id, &m, now, eb);
  rc = ml_repo_end(c, rc, eb);
  if(rc) {
    ml_log(s->d.log, ML_LOG_WARN, rid, "upload.commit_failed", ML_LI("media_id", m.id),
           ML_LS("key", key), ML_LERR(rc), ML_LS("detail", eb->msg));
    ml_media_undo_put(s, c, &intent, m.id, rid);
    goto out;
  }
  ml_log(s->d.log, ML_LOG_INFO, rid, "upload.committed", ML_LI("media_id", m.id), ML_LS("key", key),
         ML_LS("sha256", m.sha256), ML_LI("size", m.size));
  if(s->d.jobs)
    ml_jobs_kick(s->d.jobs); /* eager variants, the webhook */
  *out = m;
out:
  if(rc && !committed_intent)
    ml_log(s->d.log, ML_LOG_INFO, rid, "upload.refused", ML_LERR(rc), ML_LS("detail", eb->msg));
  ml_repo_release(&c);
  return rc;
}

ml_err ml_media_replace(struct ml_media_svc *s, int64_t id, struct ml_upload *u,
                        const struct ml_media_meta *meta, const char *rid, struct ml_arena *a,
                        struct ml_media *out, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_media m;
  struct ml_job intent, removal;
  struct ml_media old;
  struct ml_variant *variants = NULL;
  char mime[128];
  const char *old_key;
  int64_t *removals = NULL, *purges = NULL;
  size_t nremovals = 0, nvariants = 0, npurges = 0;
  char *key = NULL;
  int64_t now = ml_now_ms(), old_version, width = 0, height = 0;
  ml_err rc = sniff(s, u, mime, sizeof(mime), eb);
  if(!rc)
    rc = probe(s, u, mime, &width, &height, eb);
  if(rc)
    goto out;
  rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_media_get(c, id, 0, a, &m, eb);
  if(rc) {
    if(rc == ML_ERR_NOT_FOUND)
      ml_fail(eb, rc, "media %lld does not exist", (long long)id);
    goto out;
  }
  old = m;
  old_key = m.storage_key;
  old_version = m.version;
  key = make_key(a, id, old_version + 1);
  if(!key) {
    rc = ML_ERR_NOMEM;
    goto out;
  }

  /* 1. The intent for the new blob. */
  intent = ml_media_job(ML_JOB_REMOVE_BLOB, key, id, now, now + s->d.intent_delay_ms, 0);
  intent.payload = mime;
  rc = ml_repo_begin(c, eb);
  if(!rc)
    rc = ml_repo_job_add(c, &intent, eb);
  rc = ml_repo_end(c, rc, eb);
  if(rc)
    goto out;
  ml_log(s->d.log, ML_LOG_INFO, rid, "replace.intent", ML_LI("media_id", id), ML_LS("key", key));

  /* 2. The new blob. */
  rc = ml_store_put(s->d.store, key, u->path, mime, eb);
  if(rc) {
    ml_log(s->d.log, ML_LOG_WARN, rid, "replace.store_failed", ML_LI("media_id", id),
           ML_LS("key", key), ML_LERR(rc), ML_LS("detail", eb->msg));
    ml_media_undo_put(s, c, &intent, 0, rid);
    goto out;
  }
  u->path[0] = '\0';

  /* 3. Bump the version, drop the intent, queue the old blob's removal. */
  apply_meta(&m, meta);
  if(meta->filename)
    m.filename = meta->filename;
  m.mime_type = ml_arena_strdup(a, mime);
  m.size = u->size;
  m.width = width;
  m.height = height;
  memcpy(m.sha256, u->sha256, sizeof(m.sha256));
  m.version = old_version + 1;
  m.storage_key = key;
  m.updated_at = now > m.updated_at ? now : m.updated_at + 1;
  /* Downloads of the old version under way finish first: on a remote
   * store a reader's ranged GET may start after a removal (replaced_grace_ms). */
  removal = ml_media_job(ML_JOB_REMOVE_BLOB, old_key, id, now, now + s->d.replaced_grace_ms, 0);
  removal.payload = old.mime_type;
  rc = m.mime_type ? ml_repo_begin(c, eb) : ML_ERR_NOMEM;
  if(!rc)
    rc = ml_repo_media_update(c, &m, old_version, eb);
  if(!rc)
    rc = ml_repo_job_delete(c, intent.id, eb);
  if(!rc)
    rc = ml_repo_job_add(c, &removal, eb);
  if(!rc) /* the old version's variants go with its original */
    rc = queue_variant_removals(c, id, m.version, now, now + s->d.replaced_grace_ms, 0, a,
                                &removals, &nremovals, &variants, &nvariants, eb);
  if(!rc)
    rc = ml_media_queue_eager(s, c, &m, a, eb);
  if(!rc) /* leased to this request: it runs them right after the commit */
    rc = ml_purge_queue(s->d.purge, c, ML_PURGE_REPLACE, &old, m.filename, variants, nvariants, now,
                        now + s->d.delete_deadline_ms + 1000, a, &purges, &npurges, eb);
  if(!rc)
    rc = ml_webhook_queue(s->d.webhooks, c, "media.replaced", id, &m, now, eb);
  rc = ml_repo_end(c, rc, eb);
  if(rc) {
    if(rc == ML_ERR_CONFLICT)
      ml_fail(eb, rc, "media %lld was replaced or deleted meanwhile", (long long)id);
    ml_log(s->d.log, ML_LOG_WARN, rid, "replace.commit_failed", ML_LI("media_id", id),
           ML_LS("key", key), ML_LERR(rc), ML_LS("detail", eb->msg));
    ml_media_undo_put(s, c, &intent, 0, rid);
    goto out;
  }
  ml_dcache_invalidate(s->dcache, id);
  ml_log(s->d.log, ML_LOG_INFO, rid, "replace.committed", ML_LI("media_id", id), ML_LS("key", key),
         ML_LI("version", m.version), ML_LS("old_key", old_key));
  ml_repo_release(&c);
  /* 4. The caches drop the old URLs before the answer (so a client that
   * reloads sees the new file), within the deadline; the old blobs go now
   * if they can; readers holding them finish first. */
  if(s->d.jobs) {
    struct ml_jobs_result jr;
    if(npurges) {
      ml_jobs_run_now(s->d.jobs, purges, npurges, s->d.delete_deadline_ms, rid, &jr);
      ml_log(s->d.log, jr.pending ? ML_LOG_WARN : ML_LOG_INFO, rid, "replace.purge",
             ML_LI("media_id", id), ML_LI("urls", npurges),
             ML_LS("status", jr.pending ? "pending" : "purged"),
             ML_LS("last_error", jr.last_error));
    }
    removals[nremovals++] = removal.id;
    if(!s->d.replaced_grace_ms) /* else the runner does, once the grace is over */
      ml_jobs_run_now(s->d.jobs, removals, nremovals, 0, rid, &jr);
    ml_jobs_kick(s->d.jobs); /* eager variants of the new version, the webhook */
  }
  *out = m;
out:
  ml_repo_release(&c);
  return rc;
}

ml_err ml_media_update(struct ml_media_svc *s, int64_t id, const struct ml_media_meta *meta,
                       const char *rid, struct ml_arena *a, struct ml_media *out,
                       struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_media m;
  ml_err rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_begin(c, eb);
  if(!rc)
    rc = ml_repo_media_get(c, id, 0, a, &m, eb);
  if(rc == ML_ERR_NOT_FOUND)
    ml_fail(eb, rc, "media %lld does not exist", (long long)id);
  if(!rc) {
    int64_t now = ml_now_ms();
    apply_meta(&m, meta);
    if(meta->filename)
      m.filename = meta->filename;
    m.updated_at = now > m.updated_at ? now : m.updated_at + 1;
    rc = ml_repo_media_update(c, &m, m.version, eb);
    if(!rc)
      rc = ml_webhook_queue(s->d.webhooks, c, "media.updated", id, &m, now, eb);
  }
  rc = ml_repo_end(c, rc, eb);
  if(!rc) {
    ml_dcache_invalidate(s->dcache, id);
    ml_log(s->d.log, ML_LOG_INFO, rid, "update.committed", ML_LI("media_id", id));
    if(s->d.jobs && ml_webhook_enabled(s->d.webhooks))
      ml_jobs_kick(s->d.jobs);
    *out = m;
  }
  ml_repo_release(&c);
  return rc;
}

ml_err ml_media_delete(struct ml_media_svc *s, int64_t id, const char *rid,
                       struct ml_delete_result *res, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  struct ml_arena *a = ml_arena_create(0);
  struct ml_media m;
  struct ml_job job;
  struct ml_variant *variants = NULL;
  int64_t now = ml_now_ms(), lease, *ids = NULL, *purges = NULL;
  size_t nids = 0, nvariants = 0, npurges = 0;
  ml_err rc;
  memset(res, 0, sizeof(*res));
  if(!a)
    return ML_ERR_NOMEM;
  rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_begin(c, eb);
  if(!rc)
    rc = ml_repo_media_get(c, id, 0, a, &m, eb);
  if(rc == ML_ERR_NOT_FOUND)
    ml_fail(eb, rc, "media %lld does not exist", (long long)id);
  /* Leased to this request for its deadline, so the background runner
   * does not race it; after that the runner owns it. */
  lease = now + s->d.delete_deadline_ms + 1000;
  if(!rc) /* every variant, read before the rows go */
    rc = queue_variant_removals(c, id, INT64_MAX, now, now, lease, a, &ids, &nids, &variants,
                                &nvariants, eb);
  if(!rc) { /* replaced versions kept for their grace go with the media */
    int64_t changed = 0;
    rc = ml_repo_job_due_now_for_media(c, ML_JOB_REMOVE_BLOB, id, now, &changed, eb);
  }
  if(!rc)
    rc = ml_repo_media_delete(c, id, eb);
  if(!rc) {
    job = ml_media_job(ML_JOB_REMOVE_BLOB, m.storage_key, id, now, now, lease);
    job.payload = m.mime_type;
    rc = ml_repo_job_add(c, &job, eb);
  }
  if(!rc)
    rc = ml_purge_queue(s->d.purge, c, ML_PURGE_DELETE, &m, NULL, variants, nvariants, now, lease,
                        a, &purges, &npurges, eb);
  if(!rc) /* sent once the removals above are done (webhook.h) */
    rc = ml_webhook_queue(s->d.webhooks, c, "media.deleted", id, NULL, now, eb);
  rc = ml_repo_end(c, rc, eb);
  if(rc)
    goto out;
  ml_repo_release(&c);
  ml_dcache_invalidate(s->dcache, id);
  ml_log(s->d.log, ML_LOG_INFO, rid, "delete.committed", ML_LI("media_id", id),
         ML_LS("key", m.storage_key));
  if(s->d.jobs) {
    struct ml_jobs_result jr;
    ids[nids++] = job.id;
    rc = ml_jobs_run_now(s->d.jobs, ids, nids, s->d.delete_deadline_ms, rid, &jr);
    res->storage_deleted = !rc && jr.pending == 0;
    res->attempts = jr.attempts ? jr.attempts : 1;
    snprintf(res->last_error, sizeof(res->last_error), "%s", rc ? ml_err_code(rc) : jr.last_error);
    rc = ML_OK; /* the record is gone either way; the storage status says the rest */
    /* Then the caches, within the same deadline. */
    res->purges = (int64_t)npurges;
    if(npurges) {
      ml_err prc = ml_jobs_run_now(s->d.jobs, purges, npurges, s->d.delete_deadline_ms, rid, &jr);
      res->purges_pending = prc ? (int64_t)npurges : (int64_t)jr.pending;
      ml_log(s->d.log, res->purges_pending ? ML_LOG_WARN : ML_LOG_INFO, rid, "delete.purge",
             ML_LI("media_id", id), ML_LI("urls", npurges),
             ML_LS("status", res->purges_pending ? "pending" : "purged"),
             ML_LS("last_error", prc ? ml_err_code(prc) : jr.last_error));
    }
    ml_jobs_kick(s->d.jobs); /* the webhook */
  }
  ml_log(s->d.log, res->storage_deleted ? ML_LOG_INFO : ML_LOG_WARN, rid, "delete.storage",
         ML_LI("media_id", id), ML_LS("key", m.storage_key), ML_LI("blobs", nids),
         ML_LS("status", res->storage_deleted ? "deleted" : "pending"),
         ML_LI("attempts", res->attempts), ML_LS("last_error", res->last_error));
out:
  ml_repo_release(&c);
  ml_arena_destroy(&a);
  return rc;
}

ml_err ml_media_get(struct ml_media_svc *s, int64_t id, struct ml_arena *a, struct ml_media *out,
                    struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_media_get(c, id, 0, a, out, eb);
  if(rc == ML_ERR_NOT_FOUND)
    ml_fail(eb, rc, "media %lld does not exist", (long long)id);
  ml_repo_release(&c);
  return rc;
}

ml_err ml_media_list(struct ml_media_svc *s, const struct ml_media_filter *f, struct ml_arena *a,
                     struct ml_media **items, size_t *n, int64_t *count, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = ml_repo_acquire(s->d.repo, &c, eb);
  if(!rc)
    rc = ml_repo_media_list(c, f, a, items, n, count, eb);
  ml_repo_release(&c);
  return rc;
}

ml_err ml_media_get_for_delivery(struct ml_media_svc *s, int64_t id, struct ml_arena *a,
                                 struct ml_media *out, struct ml_errbuf *eb) {
  uint64_t gen;
  ml_err rc;
  if(ml_dcache_get(s->dcache, id, a, out, &gen))
    return ML_OK;
  rc = ml_media_get(s, id, a, out, eb);
  if(!rc)
    ml_dcache_put(s->dcache, out, gen);
  return rc;
}

ml_err ml_media_open_blob(struct ml_media_svc *s, const struct ml_media *m, struct ml_blob *out,
                          struct ml_errbuf *eb) {
  return ml_store_open_read(s->d.store, m->storage_key, out, eb);
}

ml_err ml_media_blob_url(struct ml_media_svc *s, const char *key, const char *mime,
                         const char *disposition, struct ml_buf *out, int64_t *max_age,
                         struct ml_errbuf *eb) {
  return ml_store_delivery_url(s->d.store, key, mime, disposition, out, max_age, eb);
}
