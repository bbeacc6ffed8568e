/*
 * store_s3.h - private to the S3 blob store: its URL, SigV4 query signing,
 * the XML answers it reads, and the Range header it sends.
 *
 * These are pure functions (no network), split from store_s3.c so that unit
 * tests and fuzz targets reach them directly.
 *
 * MEDIALIB_STORAGE_URL for S3:
 *
 *   s3://BUCKET[/PREFIX]?endpoint=URL&region=R&style=path|virtual&prefix=P
 *        &part_size=16MiB&multipart_threshold=16MiB&list_page=1000
 *        &timeout=30&connect_timeout=5&tries=3
 *
 *   endpoint   http(s)://host[:port] of an S3-compatible service (MinIO,
 *              s3rver, ...); default https://s3.REGION.amazonaws.com
 *   region     signing region; default us-east-1
 *   style      path (https://host/bucket/key) or virtual
 *              (https://bucket.host/key); default virtual on AWS, path when
 *              an endpoint is given
 *   prefix     prepended to every key (as is a path after the bucket), so
 *              one bucket can hold several libraries; ends with '/'
 *   part_size, multipart_threshold
 *              files larger than the threshold are sent as a multipart
 *              upload of parts of part_size (S3's minimum part is 5 MiB;
 *              tests force smaller ones on s3rver)
 *   list_page  keys per ListObjectsV2 page (max-keys), 1..1000
 *   timeout, connect_timeout
 *              seconds: a whole metadata call (HEAD, DELETE, list,
 *              multipart create/complete) / a TCP+TLS connect; data
 *              transfers have no total deadline but fail below 1 KiB/s for
 *              timeout seconds
 *   tries      attempts per call (1..10): connection failures, timeouts,
 *              5xx and 429 are retried with exponential backoff and jitter
 */
#ifndef ML_STORE_STORE_S3_H
#define ML_STORE_STORE_S3_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

struct ml_store_s3_url {
  char bucket[64];
  char prefix[256]; /* "" or ends with '/' */
  char scheme[8];   /* "http" or "https" */
  char host[256];   /* endpoint host[:port], no bucket */
  char region[64];
  int virtual_style;
  int64_t part_size;
  int64_t multipart_threshold;
  int list_page;
  long timeout_s;
  long connect_timeout_s;
  int tries;
};

/* Parses an s3:// URL. ML_ERR_CONFIG with a message naming the problem. */
ml_err ml_store_s3_url_parse(const char *url, struct ml_store_s3_url *out, struct ml_errbuf *eb);

/* The host a request goes to ("bucket.host" in virtual style) and the
 * path of key ("" for the bucket itself), as sent and as signed: path
 * style "/bucket/prefix/key", virtual "/prefix/key". */
ml_err ml_store_s3_target(const struct ml_store_s3_url *u, const char *key, struct ml_buf *host,
                          struct ml_buf *path);

/* Appends s percent-encoded as SigV4 wants (RFC 3986 unreserved kept,
 * uppercase hex); '/' kept when keep_slash. */
ml_err ml_store_s3_uri_encode(struct ml_buf *b, const char *s, int keep_slash);

/* One query parameter (name and value not encoded). */
struct ml_store_s3_param {
  const char *name;
  const char *value;
};

/* A presigned URL (SigV4 query signing, "UNSIGNED-PAYLOAD", host the only
 * signed header) for method on scheme://host path, valid expires seconds
 * from now; extra parameters (e.g. response-content-type) are signed too.
 * Appends the URL to out. */
ml_err ml_store_s3_presign(const char *access_key, const char *secret_key, const char *region,
                           const char *method, const char *scheme, const char *host,
                           const char *path, const struct ml_store_s3_param *extra, size_t nextra,
                           time_t now, int64_t expires, struct ml_buf *out, struct ml_errbuf *eb);

/* ListObjectsV2 answer: calls item for each <Contents> (key with entities
 * decoded, Size, LastModified in ms); item returning non-zero stops (then
 * *stopped = 1). *truncated from <IsTruncated>; the continuation token goes
 * to token (NUL-terminated, "" when none). ML_ERR_IO when malformed. */
ml_err ml_store_s3_parse_list(const char *xml, size_t len,
                              int (*item)(void *ctx, const char *key, int64_t size,
                                          int64_t mtime_ms),
                              void *ctx, int *truncated, char *token, size_t token_cap,
                              int *stopped, struct ml_errbuf *eb);

/* An S3 error body: "Code: Message" into out (cap >= 1), entities decoded,
 * control characters replaced; "" when the body is not an <Error>. Returns
 * 1 when an <Error> was found. */
int ml_store_s3_parse_error(const char *xml, size_t len, char *out, size_t cap);

/* The text of the first <name> element (entities decoded) into out;
 * ML_ERR_NOT_FOUND when absent, ML_ERR_IO when malformed or too long. */
ml_err ml_store_s3_xml_text(const char *xml, size_t len, const char *name, char *out, size_t cap);

/* "2013-05-24T00:00:00.000Z" -> ms since the epoch; -1 when malformed. */
int64_t ml_store_s3_parse_iso8601(const char *s, size_t len);

/* "bytes=START-END" for len bytes from start (len >= 1) into out;
 * ML_ERR_INTERNAL when len is 0 or it does not fit. */
ml_err ml_store_s3_range(uint64_t start, uint64_t len, char *out, size_t cap);

#endif
