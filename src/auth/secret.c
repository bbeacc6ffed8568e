/*
 * secret.c - the HS256 signing secret: from MEDIALIB_JWT_SECRET, or kept in
 * $DATA_DIR/jwt.secret, made on first start.
 *
 * The file holds 64 hex digits (32 random bytes) and a newline, and the
 * key is those digits as they are, so copying the file's content into
 * MEDIALIB_JWT_SECRET (to run a second instance) gives the same key. It is
 * written to a temporary file with mode 0600 and linked into place, so a
 * reader never sees half a secret and two processes starting at once end
 * up with the same one.
 */
#include "auth/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "core/alloc.h"

#define SECRET_FILE "jwt.secret"
#define SECRET_FILE_MAX 4096

static ml_err copy_key(const char *s, size_t n, unsigned char **key, size_t *keylen,
                       struct ml_errbuf *eb) {
  *key = ml_malloc(n);
  if(!*key)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  memcpy(*key, s, n);
  *keylen = n;
  return ML_OK;
}

static ml_err read_secret(const char *path, unsigned char **key, size_t *keylen,
                          struct ml_errbuf *eb) {
  char buf[SECRET_FILE_MAX];
  struct stat st;
  ssize_t got;
  size_t n = 0;
  ml_err rc = ML_OK;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if(fd < 0)
    return ml_fail(eb, errno == ENOENT ? ML_ERR_NOT_FOUND : ML_ERR_IO, "cannot open %s: %s", path,
                   strerror(errno));
  if(fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "%s is not a regular file", path);
    goto out;
  }
  /* Like ssh with its keys: a secret others can read is not one. */
  if(st.st_mode & 077) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "%s is readable by others (mode %03o); run chmod 600 %s", path,
                 (unsigned)(st.st_mode & 0777), path);
    goto out;
  }
  while(n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) != 0) {
    if(got < 0) {
      if(errno == EINTR)
        continue;
      rc = ml_fail(eb, ML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
      goto out;
    }
    n += (size_t)got;
  }
  while(n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    n--;
  if(n < ML_JWT_KEY_MIN) {
    rc = ml_fail(eb, ML_ERR_CONFIG, "%s holds %zu bytes; a signing secret needs at least %d", path,
                 n, ML_JWT_KEY_MIN);
    goto out;
  }
  rc = copy_key(buf, n, key, keylen, eb);

out:
  sodium_memzero(buf, sizeof(buf));
  close(fd);
  return rc;
}

static ml_err write_all(int fd, const char *s, size_t n) {
  while(n) {
    ssize_t w = write(fd, s, n);
    if(w < 0 && errno == EINTR)
      continue;
    if(w <= 0)
      return ML_ERR_IO;
    s += w;
    n -= (size_t)w;
  }
  return ML_OK;
}

/* Makes the file; ML_ERR_CONFLICT when another process made it first. */
static ml_err create_secret(const char *dir, const char *path, struct ml_errbuf *eb) {
  unsigned char raw[32];
  char hex[2 * sizeof(raw) + 2];
  char tmp[4096];
  ml_err rc = ML_OK;
  int fd, dfd;

  if(snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, SECRET_FILE) >= (int)sizeof(tmp))
    return ml_fail(eb, ML_ERR_CONFIG, "data dir path is too long");
  fd = mkstemp(tmp); /* mode 0600 */
  if(fd < 0)
    return ml_fail(eb, ML_ERR_IO, "cannot create a file in %s: %s", dir, strerror(errno));
  randombytes_buf(raw, sizeof(raw));
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  hex[2 * sizeof(raw)] = '\n';
  if(fchmod(fd, 0600) || write_all(fd, hex, sizeof(hex) - 1) || fsync(fd)) {
    rc = ml_fail(eb, ML_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    goto out;
  }
  close(fd);
  if(link(tmp, path)) {
    rc = errno == EEXIST ? ML_ERR_CONFLICT
                         : ml_fail(eb, ML_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    goto out;
  }
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(dfd >= 0) {
    fsync(dfd); /* the new name survives a crash */
    close(dfd);
  }

out:
  unlink(tmp);
  sodium_memzero(raw, sizeof(raw));
  sodium_memzero(hex, sizeof(hex));
  return rc;
}

ml_err ml_auth_secret_load(const char *configured, const char *data_dir, unsigned char **key,
                           size_t *keylen, int *generated, struct ml_errbuf *eb) {
  char path[4096];
  struct ml_errbuf first = {{0}};
  ml_err rc;
  *key = NULL;
  *keylen = 0;
  if(generated)
    *generated = 0;
  if(configured && *configured) {
    size_t n = strlen(configured);
    if(n < ML_JWT_KEY_MIN)
      return ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_JWT_SECRET has %zu bytes; it needs at least %d (e.g. the output "
                     "of: openssl rand -hex 32), or unset it to use %s in the data dir",
                     n, ML_JWT_KEY_MIN, SECRET_FILE);
    return copy_key(configured, n, key, keylen, eb);
  }
  if(snprintf(path, sizeof(path), "%s/%s", data_dir, SECRET_FILE) >= (int)sizeof(path))
    return ml_fail(eb, ML_ERR_CONFIG, "data dir path is too long");
  rc = read_secret(path, key, keylen, &first);
  if(rc != ML_ERR_NOT_FOUND)
    return rc ? ml_fail(eb, rc, "%s", first.msg) : ML_OK;
  rc = create_secret(data_dir, path, eb);
  if(!rc && generated)
    *generated = 1;
  if(rc && rc != ML_ERR_CONFLICT)
    return rc;
  return read_secret(path, key, keylen, eb);
}

void ml_auth_secret_free(unsigned char **key, size_t keylen) {
  if(!key || !*key)
    return;
  sodium_memzero(*key, keylen);
  ml_free(*key);
  *key = NULL;
}
