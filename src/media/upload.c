/*
 * upload.c - spooling an upload body to a temp file while hashing it.
 *
 * The spool lives in the store's spool directory (same file system as the
 * blobs), so storing it is a rename. Nothing of the body is kept in memory.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "media/media_int.h"

ml_err ml_upload_begin(struct ml_media_svc *s, struct ml_upload **out, struct ml_errbuf *eb) {
  struct ml_upload *u = ml_calloc(1, sizeof(*u));
  ml_err rc = ML_OK;
  if(!u)
    return ML_ERR_NOMEM;
  u->svc = s;
  u->fd = -1;
  u->max = s->d.max_upload;
  /* The pid in the name lets a restarted server tell a dead process's
   * leftovers from a live one's uploads (ml_upload_sweep). */
  if((size_t)snprintf(u->path, sizeof(u->path), "%s/up-%ld-XXXXXX", ml_store_spool_dir(s->d.store),
                      (long)getpid()) >= sizeof(u->path)) {
    rc = ml_fail(eb, ML_ERR_INTERNAL, "spool path too long");
    goto out;
  }
  u->fd = mkostemp(u->path, O_CLOEXEC);
  if(u->fd < 0) {
    int e = errno;
    rc = ml_fail(eb, e == ENOSPC ? ML_ERR_INSUFFICIENT_STORAGE : ML_ERR_STORAGE_UNAVAILABLE,
                 "cannot create spool file in %s: %s", ml_store_spool_dir(s->d.store), strerror(e));
    u->path[0] = '\0';
    goto out;
  }
  u->sha = EVP_MD_CTX_new();
  if(!u->sha || !EVP_DigestInit_ex(u->sha, EVP_sha256(), NULL)) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "cannot start SHA-256");
    goto out;
  }
out:
  if(rc)
    ml_upload_discard(&u);
  *out = u;
  return rc;
}

ml_err ml_upload_write(struct ml_upload *u, const void *data, size_t len, struct ml_errbuf *eb) {
  const char *p = data;
  size_t off = 0;
  if(u->fd < 0)
    return ml_fail(eb, ML_ERR_INTERNAL, "upload already finished");
  if((int64_t)len > u->max - u->size)
    return ml_fail(eb, ML_ERR_TOO_LARGE, "file is larger than the limit of %lld bytes",
                   (long long)u->max);
  while(off < len) {
    ssize_t w = write(u->fd, p + off, len - off);
    if(w < 0 && errno == EINTR)
      continue;
    if(w < 0) {
      int e = errno;
      return ml_fail(eb, (e == ENOSPC || e == EDQUOT) ? ML_ERR_INSUFFICIENT_STORAGE : ML_ERR_IO,
                     "writing the upload spool: %s", strerror(e));
    }
    off += (size_t)w;
  }
  EVP_DigestUpdate(u->sha, data, len);
  u->size += (int64_t)len;
  return ML_OK;
}

int64_t ml_upload_size(const struct ml_upload *u) { return u->size; }

ml_err ml_upload_finish(struct ml_upload *u, struct ml_errbuf *eb) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if(u->fd >= 0) {
    if(close(u->fd)) {
      u->fd = -1;
      return ml_fail(eb, ML_ERR_IO, "closing the upload spool: %s", strerror(errno));
    }
    u->fd = -1;
    EVP_DigestFinal_ex(u->sha, md, &mdlen);
    ml_hex_encode(md, mdlen < 32 ? mdlen : 32, u->sha256);
  }
  return ML_OK;
}

void ml_upload_discard(struct ml_upload **up) {
  struct ml_upload *u;
  if(!up || !*up)
    return;
  u = *up;
  if(u->fd >= 0)
    close(u->fd);
  if(u->path[0])
    unlink(u->path); /* ENOENT after a successful put: fine */
  if(u->sha)
    EVP_MD_CTX_free(u->sha);
  ml_free(u);
  *up = NULL;
}

/* Removes spool files left by processes that no longer run (a crash or a
 * kill -9 in the middle of an upload). Files of live processes, this one's
 * included, are left alone. */
void ml_upload_sweep(struct ml_media_svc *s, int *removed) {
  const char *dir = ml_store_spool_dir(s->d.store);
  DIR *d = opendir(dir);
  struct dirent *e;
  *removed = 0;
  if(!d)
    return;
  while((e = readdir(d))) {
    char path[4096];
    char *end;
    long pid;
    if(strncmp(e->d_name, "up-", 3))
      continue;
    pid = strtol(e->d_name + 3, &end, 10);
    if(end == e->d_name + 3 || *end != '-' || pid <= 0)
      continue;
    if(pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    if((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path) &&
       unlink(path) == 0)
      (*removed)++;
  }
  closedir(d);
}

ml_err ml_spool_name(struct ml_media_svc *s, char *path, size_t cap, struct ml_errbuf *eb) {
  char hex[17];
  if(ml_media_random_hex(hex))
    return ml_fail(eb, ML_ERR_INTERNAL, "getrandom failed: %s", strerror(errno));
  /* The same "up-<pid>-" prefix as uploads, so ml_upload_sweep also finds
   * the leftovers of a render cut short by a crash. */
  if((size_t)snprintf(path, cap, "%s/up-%ld-r%s", ml_store_spool_dir(s->d.store), (long)getpid(),
                      hex) >= cap)
    return ml_fail(eb, ML_ERR_INTERNAL, "spool path too long");
  return ML_OK;
}
