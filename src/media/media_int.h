/* media_int.h - private layout shared by the files of src/media. */
#ifndef ML_MEDIA_MEDIA_INT_H
#define ML_MEDIA_MEDIA_INT_H

#include <openssl/evp.h>
#include <pthread.h>

#include "media/media.h"

struct ml_sniffer;
struct ml_dcache;

struct ml_media_svc {
  struct ml_media_deps d;
  struct ml_sniffer *sniffer;
  struct ml_dcache *dcache; /* NULL when off */
};

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
