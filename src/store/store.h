/*
 * store.h - the blob store: where file bytes live.
 *
 * One interface, several backends (local files, S3-compatible storage,
 * Cloudinary), chosen by URL at start. Keys are made by the server, never by clients:
 * "m/<media id>/v<version>-<random>/original". Errors:
 *   ML_ERR_NOT_FOUND             no such blob (get only: remove treats
 *                                missing as success)
 *   ML_ERR_STORAGE_UNAVAILABLE   the store cannot be reached or refused
 *   ML_ERR_INSUFFICIENT_STORAGE  no space left
 *   ML_ERR_IO                    any other failure (eb says what)
 */
#ifndef ML_STORE_STORE_H
#define ML_STORE_STORE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

struct ml_store;
struct ml_blob_stream;

/* An opened blob. fd belongs to the caller (close it, or hand it to a
 * response that will); so does stream (ml_blob_close frees either).
 * ml_store_get always gives an fd (seekable); ml_store_open_read gives an
 * fd for local stores and a stream for remote ones. */
struct ml_blob {
  int fd; /* >= 0: an open file, read from offset 0; -1: see stream */
  int64_t size;
  time_t mtime;
  struct ml_blob_stream *stream; /* fd < 0: bytes come through ml_blob_stream_read */
};

/* Everything a store may need at open. Only url is required. */
struct ml_store_opts {
  const char *url;           /* "file:///abs/dir", "file://rel/dir", "s3://bucket?..." (store_s3.h),
                    * "cloudinary://key:secret@cloud?..." (store_cloudinary.h) */
  const char *faults;        /* test-only fault injection spec (store_faults.c); NULL: none */
  const char *spool_dir;     /* remote stores: local dir for uploads and temp files */
  const char *s3_access_key; /* secrets: never logged */
  const char *s3_secret_key;
  const char *s3_delivery; /* "proxy" (stream through medialib, default) or "redirect" */
  int64_t s3_presign_ttl;  /* seconds a redirect's presigned URL is valid (default 3600) */
};

/* Opens the store named by o->url. ML_ERR_CONFIG for a bad URL or missing
 * settings (credentials); ML_ERR_IO when the spool dir cannot be made. No
 * network call is made (see ml_store_ping). */
ml_err ml_store_open_opts(const struct ml_store_opts *o, struct ml_store **out,
                          struct ml_errbuf *eb);
/* The same with only a URL and a fault spec (NULL or "" for none). */
ml_err ml_store_open(const char *url, const char *faults, struct ml_store **out,
                     struct ml_errbuf *eb);
void ml_store_close(struct ml_store **s);

/* A local directory where uploads are spooled: for the file system store on
 * the same file system as the blobs, so that put can rename instead of
 * copy; for remote stores the spool_dir given at open. */
const char *ml_store_spool_dir(const struct ml_store *s);

/* Stores the file at src_path under key, durably (data and directory entry
 * synced) before returning. The source file is consumed on success (renamed
 * or copied then unlinked); on failure it is left for the caller. */
ml_err ml_store_put(struct ml_store *s, const char *key, const char *src_path,
                    const char *content_type, struct ml_errbuf *eb);
/* Opens a blob for reading, as a seekable fd (out->stream is NULL): the
 * file itself for local stores; for remote stores a download into an
 * unlinked temp file in the spool dir (for the renderer, which seeks). */
ml_err ml_store_get(struct ml_store *s, const char *key, struct ml_blob *out, struct ml_errbuf *eb);
/* Opens a blob for delivery: size and mtime now, the bytes later. Local
 * stores give an fd (sent zero-copy); remote ones a stream that fetches
 * nothing until its first read, so HEAD, 304 and 416 cost one metadata
 * call. ML_ERR_NOT_FOUND when there is no such blob. */
ml_err ml_store_open_read(struct ml_store *s, const char *key, struct ml_blob *out,
                          struct ml_errbuf *eb);
/* Size and mtime of a blob without its bytes (out->fd is -1, out->stream
 * NULL). ML_ERR_NOT_FOUND when there is none. */
ml_err ml_store_stat(struct ml_store *s, const char *key, struct ml_blob *out,
                     struct ml_errbuf *eb);
/* Where a client may fetch the blob itself, when the store is configured to
 * hand out URLs (S3 with MEDIALIB_S3_DELIVERY=redirect): a presigned URL,
 * valid *max_age seconds, that answers with content_type and disposition
 * (Content-Disposition, may be NULL). ML_ERR_NOT_IMPLEMENTED otherwise:
 * the caller sends the bytes. */
ml_err ml_store_delivery_url(struct ml_store *s, const char *key, const char *content_type,
                             const char *disposition, struct ml_buf *out, int64_t *max_age,
                             struct ml_errbuf *eb);
/* Where a client may fetch a transformed image (a variant) of the blob at
 * key, when the store transforms images itself (Cloudinary with
 * delivery=redirect): a URL applying transformation, in the store's own
 * syntax (image/transform.h makes it), and how long the redirect may be
 * cached. ML_ERR_NOT_IMPLEMENTED otherwise (and for blobs the store cannot
 * transform): the caller renders the variant. */
ml_err ml_store_transform_url(struct ml_store *s, const char *key, const char *content_type,
                              const char *transformation, struct ml_buf *out, int64_t *max_age,
                              struct ml_errbuf *eb);
/* When file URLs redirect to the store (ml_store_delivery_url answers),
 * the origin they redirect to ("https://res.cloudinary.com",
 * "http://127.0.0.1:9000") into out, and 1; else 0. No network call. */
int ml_store_delivery_origin(struct ml_store *s, char *out, size_t cap);
/* Does the store transform images itself (ml_store_transform_url)? */
int ml_store_transforms(struct ml_store *s);
/* Closes blob's fd or stream. */
void ml_blob_close(struct ml_blob *b);

/* Streams (remote blobs). A stream delivers [start, start + len) of its
 * blob, the whole blob unless ml_blob_stream_range says otherwise before
 * the first read. Reads come from one thread at a time. */
#define ML_BLOB_FAILED (-1) /* the fetch failed: abort the response */
#define ML_BLOB_WAIT (-2)   /* no bytes yet: wake(arg) comes when there are */
void ml_blob_stream_range(struct ml_blob_stream *st, uint64_t start, uint64_t len);
/* Up to max bytes into buf: the count (> 0), 0 at the end of the range,
 * ML_BLOB_FAILED, or ML_BLOB_WAIT, after which wake(arg) is called once,
 * from another thread, when a read can make progress. wake is never called
 * once ml_blob_stream_close has returned. The first read starts the fetch. */
ssize_t ml_blob_stream_read(struct ml_blob_stream *st, char *buf, size_t max,
                            void (*wake)(void *arg), void *arg);
/* Stops the fetch and frees the stream; sets *st NULL. */
void ml_blob_stream_close(struct ml_blob_stream **st);
/* Removes a blob; a missing blob counts as removed (ML_OK). */
ml_err ml_store_remove(struct ml_store *s, const char *key, struct ml_errbuf *eb);
/* The same for a blob stored with content_type (ml_store_put's; NULL when
 * not known): a store that keeps blobs of different kinds apart
 * (Cloudinary's resource types) then asks only where that type went, and
 * takes a "missing" from there as final; without it, every kind must say
 * "missing". */
ml_err ml_store_remove_as(struct ml_store *s, const char *key, const char *content_type,
                          struct ml_errbuf *eb);
/* Calls cb for every blob whose key starts with prefix ("" for all);
 * cb returning non-zero stops the walk. */
ml_err ml_store_list(struct ml_store *s, const char *prefix,
                     int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                     void *ctx, struct ml_errbuf *eb);
/* Is the store reachable and writable? (readiness) */
ml_err ml_store_ping(struct ml_store *s, struct ml_errbuf *eb);

#endif
