/*
 * store_fs.c - blob store on the local file system.
 *
 * A blob is a file at <root>/<key>. put renames a spooled file (in
 * <root>/.tmp, the same file system) into place after fsync, then fsyncs the
 * directory, so a blob either is wholly there after a crash or is not there.
 * Readers hold an open fd: a replaced or removed blob stays readable to them
 * until they close it (POSIX unlink semantics), so a download never tears.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "store/store_int.h"

struct fs_store {
  struct ml_store base;
  char *root;
};

static ml_err errno_err(int e) {
  if(e == ENOSPC || e == EDQUOT)
    return ML_ERR_INSUFFICIENT_STORAGE;
  if(e == ENOENT)
    return ML_ERR_NOT_FOUND;
  if(e == ENOMEM)
    return ML_ERR_NOMEM;
  return ML_ERR_IO;
}

static int fsync_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  int rc;
  if(fd < 0)
    return -1;
  rc = fsync(fd);
  close(fd);
  return rc;
}

/* Joins root and key into a bounded buffer. */
static ml_err key_path(const struct fs_store *fs, const char *key, struct ml_buf *b) {
  ml_err rc = ml_buf_adds(b, fs->root);
  if(!rc)
    rc = ml_buf_addc(b, '/');
  if(!rc)
    rc = ml_buf_adds(b, key);
  return rc;
}

/* mkdir -p of the directories leading to path's last segment, syncing each
 * parent whose entries changed so the new directories survive a crash. */
static ml_err make_parents(struct fs_store *fs, char *path, struct ml_errbuf *eb) {
  size_t rootlen = strlen(fs->root);
  for(char *p = path + rootlen + 1; *p; p++) {
    if(*p != '/')
      continue;
    *p = '\0';
    if(mkdir(path, 0755) == 0) {
      char *slash = strrchr(path, '/');
      *slash = '\0';
      fsync_path(path);
      *slash = '/';
    } else if(errno != EEXIST) {
      int e = errno;
      *p = '/';
      return ml_fail(eb, errno_err(e), "mkdir %s: %s", path, strerror(e));
    }
    *p = '/';
  }
  return ML_OK;
}

static ml_err copy_file(const char *src, const char *dst, struct ml_errbuf *eb) {
  char buf[65536];
  ml_err rc = ML_OK;
  int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
  if(in < 0)
    return ml_fail(eb, errno_err(errno), "open %s: %s", src, strerror(errno));
  out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if(out < 0) {
    rc = ml_fail(eb, errno_err(errno), "create %s: %s", dst, strerror(errno));
    goto out;
  }
  for(;;) {
    ssize_t n = read(in, buf, sizeof(buf)), off = 0;
    if(n < 0 && errno == EINTR)
      continue;
    if(n < 0) {
      rc = ml_fail(eb, errno_err(errno), "read %s: %s", src, strerror(errno));
      goto out;
    }
    if(n == 0)
      break;
    while(off < n) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if(w < 0 && errno == EINTR)
        continue;
      if(w < 0) {
        rc = ml_fail(eb, errno_err(errno), "write %s: %s", dst, strerror(errno));
        goto out;
      }
      off += w;
    }
  }
  if(fsync(out)) {
    rc = ml_fail(eb, errno_err(errno), "fsync %s: %s", dst, strerror(errno));
    goto out;
  }
out:
  if(in >= 0)
    close(in);
  if(out >= 0 && close(out) && !rc)
    rc = ml_fail(eb, errno_err(errno), "close %s: %s", dst, strerror(errno));
  if(rc && out >= 0)
    unlink(dst);
  return rc;
}

static ml_err fs_put(struct ml_store *s, const char *key, const char *src_path,
                     const char *content_type, struct ml_errbuf *eb) {
  struct fs_store *fs = (struct fs_store *)s;
  struct ml_buf path, tmp;
  ml_err rc;
  int fd;
  char *slash;
  ml_buf_init(&path, 4096);
  ml_buf_init(&tmp, 4096);
  rc = key_path(fs, key, &path);
  if(rc)
    goto out;
  /* The spooled file's data must be on disk before its name is. */
  fd = open(src_path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    rc = ml_fail(eb, errno_err(errno), "open %s: %s", src_path, strerror(errno));
    goto out;
  }
  if(fsync(fd)) {
    int e = errno;
    close(fd);
    rc = ml_fail(eb, errno_err(e), "fsync %s: %s", src_path, strerror(e));
    goto out;
  }
  close(fd);
  rc = make_parents(fs, path.data, eb);
  if(rc)
    goto out;
  if(rename(src_path, path.data)) {
    if(errno != EXDEV) {
      rc = ml_fail(eb, errno_err(errno), "rename to %s: %s", path.data, strerror(errno));
      goto out;
    }
    /* Spool on another file system: copy next to the target, then rename. */
    rc = ml_buf_addf(&tmp, "%s.put-tmp", path.data);
    if(!rc)
      rc = copy_file(src_path, tmp.data, eb);
    if(rc)
      goto out;
    if(rename(tmp.data, path.data)) {
      rc = ml_fail(eb, errno_err(errno), "rename to %s: %s", path.data, strerror(errno));
      unlink(tmp.data);
      goto out;
    }
    unlink(src_path);
  }
  slash = strrchr(path.data, '/');
  *slash = '\0';
  if(fsync_path(path.data))
    rc = ml_fail(eb, errno_err(errno), "fsync dir %s: %s", path.data, strerror(errno));
out:
  ml_buf_free(&path);
  ml_buf_free(&tmp);
  return rc;
}

static ml_err fs_get(struct ml_store *s, const char *key, struct ml_blob *out,
                     struct ml_errbuf *eb) {
  struct fs_store *fs = (struct fs_store *)s;
  char path[4096];
  struct stat st;
  int fd;
  if((size_t)snprintf(path, sizeof(path), "%s/%s", fs->root, key) >= sizeof(path))
    return ml_fail(eb, ML_ERR_INTERNAL, "blob path too long");
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0)
    return ml_fail(eb, errno_err(errno), "open blob %s: %s", key, strerror(errno));
  if(fstat(fd, &st)) {
    int e = errno;
    close(fd);
    return ml_fail(eb, errno_err(e), "stat blob %s: %s", key, strerror(e));
  }
  out->fd = fd;
  out->size = st.st_size;
  out->mtime = st.st_mtime;
  out->stream = NULL;
  return ML_OK;
}

static ml_err fs_stat(struct ml_store *s, const char *key, struct ml_blob *out,
                      struct ml_errbuf *eb) {
  struct fs_store *fs = (struct fs_store *)s;
  char path[4096];
  struct stat st;
  if((size_t)snprintf(path, sizeof(path), "%s/%s", fs->root, key) >= sizeof(path))
    return ml_fail(eb, ML_ERR_INTERNAL, "blob path too long");
  if(stat(path, &st))
    return ml_fail(eb, errno_err(errno), "stat blob %s: %s", key, strerror(errno));
  if(!S_ISREG(st.st_mode))
    return ml_fail(eb, ML_ERR_NOT_FOUND, "blob %s is not a file", key);
  out->fd = -1;
  out->stream = NULL;
  out->size = st.st_size;
  out->mtime = st.st_mtime;
  return ML_OK;
}

static ml_err fs_remove(struct ml_store *s, const char *key, const char *content_type,
                        struct ml_errbuf *eb) {
  struct fs_store *fs = (struct fs_store *)s;
  (void)content_type; /* one kind of blob here */
  char path[4096];
  char *slash;
  size_t rootlen = strlen(fs->root);
  if((size_t)snprintf(path, sizeof(path), "%s/%s", fs->root, key) >= sizeof(path))
    return ml_fail(eb, ML_ERR_INTERNAL, "blob path too long");
  if(unlink(path) && errno != ENOENT)
    return ml_fail(eb, errno_err(errno), "unlink blob %s: %s", key, strerror(errno));
  /* Prune the now-empty directories of the key, then make it durable. */
  while((slash = strrchr(path, '/')) && (size_t)(slash - path) > rootlen) {
    *slash = '\0';
    if(rmdir(path))
      break;
  }
  if(fsync_path(path) && errno != ENOENT)
    return ml_fail(eb, errno_err(errno), "fsync dir: %s", strerror(errno));
  return ML_OK;
}

struct walk {
  struct fs_store *fs;
  const char *prefix;
  int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms);
  void *ctx;
  int stop;
};

static ml_err walk_dir(struct walk *w, char *path, size_t len, size_t cap, struct ml_errbuf *eb) {
  DIR *d = opendir(path);
  struct dirent *e;
  size_t rootlen = strlen(w->fs->root);
  ml_err rc = ML_OK;
  if(!d)
    return errno == ENOENT ? ML_OK
                           : ml_fail(eb, errno_err(errno), "opendir %s: %s", path, strerror(errno));
  while(!w->stop && !rc && (e = readdir(d))) {
    size_t nlen = strlen(e->d_name);
    struct stat st;
    const char *key;
    if(e->d_name[0] == '.')
      continue; /* ".", "..", and the spool dir ".tmp" */
    if(len + 1 + nlen + 1 > cap)
      continue;
    path[len] = '/';
    memcpy(path + len + 1, e->d_name, nlen + 1);
    if(lstat(path, &st))
      continue;
    key = path + rootlen + 1;
    if(S_ISDIR(st.st_mode)) {
      /* descend only where the prefix can still match */
      size_t klen = strlen(key), plen = strlen(w->prefix);
      if(!strncmp(key, w->prefix, klen < plen ? klen : plen))
        rc = walk_dir(w, path, len + 1 + nlen, cap, eb);
    } else if(S_ISREG(st.st_mode) && !strncmp(key, w->prefix, strlen(w->prefix))) {
      if(w->cb(w->ctx, key, st.st_size, (int64_t)st.st_mtime * 1000))
        w->stop = 1;
    }
    path[len] = '\0';
  }
  closedir(d);
  return rc;
}

static ml_err fs_list(struct ml_store *s, const char *prefix,
                      int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                      void *ctx, struct ml_errbuf *eb) {
  struct fs_store *fs = (struct fs_store *)s;
  struct walk w = {fs, prefix, cb, ctx, 0};
  char path[4096];
  size_t len = strlen(fs->root);
  if(len >= sizeof(path))
    return ML_ERR_INTERNAL;
  memcpy(path, fs->root, len + 1);
  return walk_dir(&w, path, len, sizeof(path), eb);
}

static ml_err fs_ping(struct ml_store *s, struct ml_errbuf *eb) {
  if(access(s->spool_dir, W_OK))
    return ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE, "blob dir not writable: %s", strerror(errno));
  return ML_OK;
}

static void fs_close(struct ml_store *s) {
  struct fs_store *fs = (struct fs_store *)s;
  ml_free(fs->root);
  ml_free(fs->base.spool_dir);
  ml_free(fs);
}

/* No open_read (get's fd is sent zero-copy) and no delivery_url. */
static const struct ml_store_ops fs_ops = {"fs",    fs_close, fs_put, fs_get, fs_remove, fs_list,
                                           fs_ping, fs_stat,  NULL,   NULL,   NULL};

static ml_err mkdir_p(char *path, struct ml_errbuf *eb) {
  for(char *p = path + 1;; p++) {
    if(*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if(mkdir(path, 0755) && errno != EEXIST) {
        int e = errno;
        *p = c;
        return ml_fail(eb, errno_err(e), "mkdir %s: %s", path, strerror(e));
      }
      *p = c;
      if(!c)
        break;
    }
  }
  return ML_OK;
}

ml_err ml_store_fs_open(const char *root, struct ml_store **out, struct ml_errbuf *eb) {
  struct fs_store *fs;
  struct ml_buf spool;
  ml_err rc;
  size_t len = strlen(root);
  if(!len)
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: empty directory in file:// URL");
  fs = ml_calloc(1, sizeof(*fs));
  if(!fs)
    return ML_ERR_NOMEM;
  fs->base.ops = &fs_ops;
  fs->root = ml_strdup(root);
  ml_buf_init(&spool, 4096);
  if(!fs->root) {
    rc = ML_ERR_NOMEM;
    goto out;
  }
  while(len > 1 && fs->root[len - 1] == '/')
    fs->root[--len] = '\0';
  rc = ml_buf_addf(&spool, "%s/.tmp", fs->root);
  if(rc)
    goto out;
  rc = mkdir_p(spool.data, eb);
  if(rc)
    goto out;
  fs->base.spool_dir = ml_buf_take(&spool, NULL);
  *out = &fs->base;
out:
  ml_buf_free(&spool);
  if(rc) {
    ml_free(fs->root);
    ml_free(fs);
  }
  return rc;
}
