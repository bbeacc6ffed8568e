/* media_int.h - private layout shared by the files of src/media. */
#ifndef ML_MEDIA_MEDIA_INT_H
#define ML_MEDIA_MEDIA_INT_H

#include <openssl/evp.h>
#include <pthread.h>

#include "media/media.h"

struct ml_sniffer;
struct ml_dcache;
struct ml_flight;
struct ml_vcache;

struct ml_media_svc {
  struct ml_media_deps d;
  struct ml_sniffer *sniffer;
  struct ml_dcache *dcache; /* NULL when off */
  struct ml_vcache *vcache; /* NULL when off */
  int store_transforms;     /* the store renders variants itself (asked once) */
  /* Renders under way (variants.c): a list, short as the render pool. */
  pthread_mutex_t flights_mu;
  pthread_cond_t flights_cv;
  struct ml_flight *flights;
};

/* An outbox row: a job of kind for key, due at next_at, leased until
 * lease_until (0: free for any runner). */
struct ml_job ml_media_job(const char *kind, const char *key, int64_t media_id, int64_t now,
                           int64_t next_at, int64_t lease_until);
/* Removes a blob just stored but not committed (intent's key, stored as
 * intent's payload, its content type), and the intent job (and the pending
 * row pending_id, when not 0); if that fails too, the intent stays and the
 * runner finishes it later. c is a connection outside a transaction. */
void ml_media_undo_put(struct ml_media_svc *s, struct ml_conn *c, const struct ml_job *intent,
                       int64_t pending_id, const char *rid);
/* Queues the eager presets' renders of m (ML_JOB_RENDER_VARIANT), inside
 * the caller's transaction. */
ml_err ml_media_queue_eager(struct ml_media_svc *s, struct ml_conn *c, const struct ml_media *m,
                            struct ml_arena *a, struct ml_errbuf *eb);
/* 16 random lowercase hex digits and a NUL; -1 when getrandom fails. */
int ml_media_random_hex(char hex[17]);
/* A fresh spool file name in the store's spool directory (not created),
 * carrying this process's pid so ml_upload_sweep can tell leftovers. */
ml_err ml_spool_name(struct ml_media_svc *s, char *path, size_t cap, struct ml_errbuf *eb);

/* Delivery cache (dcache.c). ttl_ms <= 0: *out = NULL (off; every call is a
 * no-op or a miss). get copies a fresh entry into out (strings from a) and
 * returns 1; on a miss it returns 0 and sets *gen for a later put, which
 * stores m only if no invalidation happened since. */
ml_err ml_dcache_create(int64_t ttl_ms, struct ml_dcache **out);
void ml_dcache_destroy(struct ml_dcache **c);
int ml_dcache_get(struct ml_dcache *c, int64_t id, struct ml_arena *a, struct ml_media *out,
                  uint64_t *gen);
void ml_dcache_put(struct ml_dcache *c, const struct ml_media *m, uint64_t gen);
void ml_dcache_invalidate(struct ml_dcache *c, int64_t id);

/* Variant cache (vcache.c): the same for rendered variants' rows, keyed by
 * (media, version, name), which never change; entries only expire. */
ml_err ml_vcache_create(int64_t ttl_ms, struct ml_vcache **out);
void ml_vcache_destroy(struct ml_vcache **c);
int ml_vcache_get(struct ml_vcache *c, int64_t id, int64_t version, const char *name,
                  struct ml_arena *a, struct ml_variant *out);
void ml_vcache_put(struct ml_vcache *c, const struct ml_variant *v);

struct ml_upload {
  struct ml_media_svc *svc;
  int fd;
  char path[4096];
  int64_t size;
  int64_t max;
  EVP_MD_CTX *sha;
  char sha256[65]; /* set by ml_upload_finish */
};

/* Closes the spool file and computes the hash. */
ml_err ml_upload_finish(struct ml_upload *u, struct ml_errbuf *eb);

/* Content sniffing (libmagic), safe to share between threads. */
ml_err ml_sniffer_create(struct ml_sniffer **out, struct ml_errbuf *eb);
void ml_sniffer_destroy(struct ml_sniffer **s);
/* Writes the MIME type of the file at path into out. */
ml_err ml_sniffer_file(struct ml_sniffer *s, const char *path, char *out, size_t outlen,
                       struct ml_errbuf *eb);
/* Is this sniffed type on the allow-list? May rewrite it to the canonical
 * name (e.g. audio/x-wav -> audio/wav). */
int ml_sniff_allowed(char *mime, size_t cap);

#endif
