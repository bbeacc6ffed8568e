/*
 * store_int.h - private layout of blob store backends (curl's vtls_int.h).
 *
 * A backend is one file that fills a struct ml_store_ops and embeds struct
 * ml_store first in its own struct. store.c dispatches through the table.
 */
#ifndef ML_STORE_STORE_INT_H
#define ML_STORE_STORE_INT_H

#include "store/store.h"

struct ml_store_ops {
  const char *name;
  void (*close)(struct ml_store *s);
  ml_err (*put)(struct ml_store *s, const char *key, const char *src_path, const char *content_type,
                struct ml_errbuf *eb);
  ml_err (*get)(struct ml_store *s, const char *key, struct ml_blob *out, struct ml_errbuf *eb);
  /* content_type: the blob's as put, or NULL when unknown */
  ml_err (*remove)(struct ml_store *s, const char *key, const char *content_type,
                   struct ml_errbuf *eb);
  ml_err (*list)(struct ml_store *s, const char *prefix,
                 int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms), void *ctx,
                 struct ml_errbuf *eb);
  ml_err (*ping)(struct ml_store *s, struct ml_errbuf *eb);
  ml_err (*stat)(struct ml_store *s, const char *key, struct ml_blob *out, struct ml_errbuf *eb);
  /* NULL: ml_store_open_read uses get (an fd). */
  ml_err (*open_read)(struct ml_store *s, const char *key, struct ml_blob *out,
                      struct ml_errbuf *eb);
  /* NULL: ML_ERR_NOT_IMPLEMENTED (the caller sends the bytes). */
  ml_err (*delivery_url)(struct ml_store *s, const char *key, const char *content_type,
                         const char *disposition, struct ml_buf *out, int64_t *max_age,
                         struct ml_errbuf *eb);
  /* NULL: ML_ERR_NOT_IMPLEMENTED (the caller renders the variant). */
  ml_err (*transform_url)(struct ml_store *s, const char *key, const char *content_type,
                          const char *transformation, struct ml_buf *out, int64_t *max_age,
                          struct ml_errbuf *eb);
};

struct ml_store {
  const struct ml_store_ops *ops;
  char *spool_dir;
};

/* A remote blob's stream: a backend embeds this first in its own struct. */
struct ml_blob_stream_ops {
  void (*range)(struct ml_blob_stream *st, uint64_t start, uint64_t len);
  ssize_t (*read)(struct ml_blob_stream *st, char *buf, size_t max, void (*wake)(void *arg),
                  void *arg);
  void (*close)(struct ml_blob_stream *st);
};

struct ml_blob_stream {
  const struct ml_blob_stream_ops *ops;
};

/* Backends' constructors. */
ml_err ml_store_fs_open(const char *root, struct ml_store **out, struct ml_errbuf *eb);
/* store_s3.c: o->url is an s3:// URL (store_s3.h). */
ml_err ml_store_s3_open(const struct ml_store_opts *o, struct ml_store **out, struct ml_errbuf *eb);

/* store_cloudinary.c: o->url is a cloudinary:// URL (store_cloudinary.h). */
ml_err ml_store_cloudinary_open(const struct ml_store_opts *o, struct ml_store **out,
                                struct ml_errbuf *eb);

/* Test builds: wraps inner in the fault injector (store_faults.c); the
 * wrapper owns inner. Other builds: ML_ERR_CONFIG. */
ml_err ml_store_faults_wrap(struct ml_store *inner, const char *spec, struct ml_store **out,
                            struct ml_errbuf *eb);

/* Keys are made by the server, but are checked anyway before they reach a
 * file system path: [A-Za-z0-9._-] segments separated by '/', no "." or ".."
 * segment, no empty segment, at most 512 bytes. */
int ml_store_key_valid(const char *key);

#endif
