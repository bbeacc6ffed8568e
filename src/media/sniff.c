/*
 * sniff.c - content type by content (OWASP: never by name or client header).
 *
 * libmagic reads the first bytes of the spooled file. Its handles are not
 * thread-safe, so one handle is shared behind a mutex: sniffing is a few
 * microseconds and happens once per upload. Types outside the allow-list are
 * refused (415): HTML, scripts, executables, MVG and the like never reach
 * the store.
 */
#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "media/media_int.h"

struct ml_sniffer {
  pthread_mutex_t mu;
  magic_t magic;
};

ml_err ml_sniffer_create(struct ml_sniffer **out, struct ml_errbuf *eb) {
  struct ml_sniffer *s = ml_calloc(1, sizeof(*s));
  if(!s)
    return ML_ERR_NOMEM;
  s->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS);
  if(!s->magic || magic_load(s->magic, NULL)) {
    ml_err rc = ml_fail(eb, ML_ERR_CONFIG, "libmagic: cannot load its database: %s",
                        s->magic ? magic_error(s->magic) : "magic_open failed");
    if(s->magic)
      magic_close(s->magic);
    ml_free(s);
    return rc;
  }
  {
    /* Content types are told by their first bytes; by default libmagic reads
     * a whole MiB and runs every rule over it, which costs memory (RSS) and
     * time on every upload. */
    size_t bytes_max = 64 * 1024;
    magic_setparam(s->magic, MAGIC_PARAM_BYTES_MAX, &bytes_max);
  }
  pthread_mutex_init(&s->mu, NULL);
  *out = s;
  return ML_OK;
}

void ml_sniffer_destroy(struct ml_sniffer **sp) {
  if(!sp || !*sp)
    return;
  magic_close((*sp)->magic);
  pthread_mutex_destroy(&(*sp)->mu);
  ml_free(*sp);
  *sp = NULL;
}

ml_err ml_sniffer_file(struct ml_sniffer *s, const char *path, char *out, size_t outlen,
                       struct ml_errbuf *eb) {
  const char *t;
  ml_err rc = ML_OK;
  pthread_mutex_lock(&s->mu);
  t = magic_file(s->magic, path);
  if(!t)
    rc = ml_fail(eb, ML_ERR_IO, "libmagic: %s", magic_error(s->magic));
  else
    snprintf(out, outlen, "%s", t);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* The allow-list: images, PDF, common audio, video and documents. Aliases
 * are rewritten to one canonical name. */
static const struct {
  const char *sniffed;
  const char *canonical;
} allowed[] = {
    {"image/jpeg", "image/jpeg"},
    {"image/png", "image/png"},
    {"image/gif", "image/gif"},
    {"image/webp", "image/webp"},
    {"image/avif", "image/avif"},
    {"image/heic", "image/heic"},
    {"image/heif", "image/heif"},
    {"image/tiff", "image/tiff"},
    {"image/bmp", "image/bmp"},
    {"image/x-ms-bmp", "image/bmp"},
    {"image/svg+xml", "image/svg+xml"},
    {"image/vnd.microsoft.icon", "image/vnd.microsoft.icon"},
    {"application/pdf", "application/pdf"},
    {"audio/mpeg", "audio/mpeg"},
    {"audio/ogg", "audio/ogg"},
    {"audio/x-wav", "audio/wav"},
    {"audio/wav", "audio/wav"},
    {"audio/flac", "audio/flac"},
    {"audio/x-flac", "audio/flac"},
    {"audio/mp4", "audio/mp4"},
    {"audio/x-m4a", "audio/mp4"},
    {"audio/webm", "audio/webm"},
    {"video/mp4", "video/mp4"},
    {"video/webm", "video/webm"},
    {"video/quicktime", "video/quicktime"},
    {"video/ogg", "video/ogg"},
    {"video/x-matroska", "video/x-matroska"},
    {"text/plain", "text/plain"},
    {"text/csv", "text/csv"},
    {"application/msword", "application/msword"},
    {"application/vnd.ms-excel", "application/vnd.ms-excel"},
    {"application/vnd.ms-powerpoint", "application/vnd.ms-powerpoint"},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"application/vnd.openxmlformats-officedocument.presentationml.presentation",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"},
    {"application/vnd.oasis.opendocument.spreadsheet",
     "application/vnd.oasis.opendocument.spreadsheet"},
    {"application/zip", "application/zip"},
};

int ml_sniff_allowed(char *mime, size_t cap) {
  for(size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
    if(!strcmp(mime, allowed[i].sniffed)) {
      snprintf(mime, cap, "%s", allowed[i].canonical);
      return 1;
    }
  }
  return 0;
}

int ml_media_is_raster_image(const char *mime) {
  return !strncmp(mime, "image/", 6) && strcmp(mime, "image/svg+xml") != 0;
}

int ml_media_inline_ok(const char *mime) {
  return ml_media_is_raster_image(mime) || !strcmp(mime, "application/pdf");
}
