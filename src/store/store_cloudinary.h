/*
 * store_cloudinary.h - private to the Cloudinary blob store: its URL, the
 * request signature, the JSON answers it reads, the resource type of a
 * blob and the delivery URLs it makes.
 *
 * These are pure functions (no network), split from store_cloudinary.c so
 * that unit tests and fuzz targets reach them directly.
 *
 * MEDIALIB_STORAGE_URL for Cloudinary (or Cloudinary's own CLOUDINARY_URL):
 *
 *   cloudinary://API_KEY:API_SECRET@CLOUD_NAME?delivery=redirect|proxy
 *        &prefix=P&signature=sha1|sha256&chunk_size=20MiB&list_page=500
 *        &timeout=60&connect_timeout=5&tries=3&redirect_ttl=3600
 *        &upload_prefix=URL&delivery_prefix=URL&secure_distribution=HOST
 *
 *   delivery       redirect (default): file URLs answer 302 to Cloudinary's
 *                  versioned delivery URL, and transforms map to
 *                  Cloudinary transformations, so its CDN does the work;
 *                  proxy: medialib fetches the bytes and sends them itself
 *                  (and renders variants itself, stored as raw assets)
 *   prefix         prepended to every public_id (a folder), ends with '/'
 *   signature      the digest of signed calls: SHA-1 (Cloudinary's default)
 *                  or SHA-256 (for accounts limited to it)
 *   chunk_size     files larger than this are uploaded in chunks of it
 *                  (Cloudinary's chunked upload; at least 5 MiB, which
 *                  Cloudinary requires, except for the last chunk)
 *   list_page      max_results of an Admin API listing, 1..500
 *   timeout        seconds for a metadata call (destroy, list, HEAD); data
 *                  transfers fail below 1 KiB/s for that long instead
 *   tries          attempts per call (1..10): connection failures,
 *                  timeouts, 5xx, 420 and 429 are retried with backoff
 *   redirect_ttl   max-age (seconds) of a redirect to Cloudinary
 *   upload_prefix  the API's base URL (default https://api.cloudinary.com;
 *                  Cloudinary's own name for it)
 *   delivery_prefix the delivery base URL (default
 *                  https://res.cloudinary.com, or https://HOST when
 *                  secure_distribution=HOST is given)
 *
 * Resource types. Cloudinary keeps image, video and raw assets apart: the
 * same public_id can exist under each, and destroy with the wrong type
 * answers "not found" just as for a missing asset. A blob's type is a
 * function of its key and content type (ml_store_cld_resource_type); the
 * store never trusts a single "not found" of a type it guessed (see
 * store_cloudinary.c).
 */
#ifndef ML_STORE_STORE_CLOUDINARY_H
#define ML_STORE_STORE_CLOUDINARY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define ML_CLD_MIN_CHUNK (5LL * 1024 * 1024)
#define ML_CLD_PUBLIC_ID_MAX 768

struct ml_store_cld_url {
  char cloud[128];
  char api_key[128];
  char api_secret[256];
  char upload_prefix[256];   /* "https://api.cloudinary.com", no trailing '/' */
  char delivery_prefix[256]; /* "https://res.cloudinary.com", no trailing '/' */
  char prefix[256];          /* "" or ends with '/' */
  int redirect;              /* 1: delivery=redirect */
  int sha256;                /* 1: signature=sha256 */
  int64_t chunk_size;
  int list_page;
  long timeout_s;
  long connect_timeout_s;
  int tries;
  int64_t redirect_ttl;
};

/* Parses a cloudinary:// URL. ML_ERR_CONFIG with a message naming the
 * problem (never the secret). allow_small_chunks lets tests use chunks
 * below Cloudinary's 5 MiB minimum (the stand-in takes any). */
ml_err ml_store_cld_url_parse(const char *url, int allow_small_chunks, struct ml_store_cld_url *out,
                              struct ml_errbuf *eb);

/* One parameter of a signed call. */
struct ml_store_cld_param {
  const char *name;
  const char *value;
};

/* The string Cloudinary signs: the parameters with a non-empty value,
 * except file, cloud_name, resource_type, api_key and signature, sorted by
 * name, as name=value joined by '&'. Appended to out. */
ml_err ml_store_cld_string_to_sign(const struct ml_store_cld_param *p, size_t n,
                                   struct ml_buf *out);

/* The signature: the lowercase hex SHA-1 (40 digits) or SHA-256 (64) of
 * the string to sign with the secret appended, into out (65 bytes). */
ml_err ml_store_cld_sign(const struct ml_store_cld_param *p, size_t n, const char *secret,
                         int sha256, char out[65], struct ml_errbuf *eb);

/* "image", "video" or "raw" for a blob: raw when the key's last segment
 * has a '.' (a rendered variant "…/c_fill-h_200-w_200.jpeg": bytes to
 * deliver as they are, and an image public_id cannot hold an extension);
 * image for the raster formats Cloudinary transforms (JPEG, PNG, GIF,
 * WebP, AVIF, HEIC/HEIF, TIFF, BMP, ICO); video for video/ and audio/;
 * raw for everything else (PDF, SVG, archives...). */
const char *ml_store_cld_resource_type(const char *key, const char *content_type);

/* "v<digits>-" in the key's third segment ("m/42/v3-ab12/original" -> 3):
 * the version put into delivery URLs; 1 when the key has none. */
int64_t ml_store_cld_key_version(const char *key);

/* The delivery URL of public_id: PREFIX/CLOUD/TYPE/upload/[TRANSFORMATION/]
 * v<version>/PUBLIC_ID. transformation may be NULL or "". */
ml_err ml_store_cld_delivery_url(const struct ml_store_cld_url *u, const char *rtype,
                                 const char *transformation, int64_t version, const char *public_id,
                                 struct ml_buf *out);

/* An asset as the Upload and Admin APIs describe it. */
struct ml_store_cld_asset {
  char public_id[ML_CLD_PUBLIC_ID_MAX];
  char resource_type[8];
  int64_t bytes;      /* -1 when absent */
  int64_t version;    /* 0 when absent */
  int64_t created_ms; /* -1 when absent or malformed */
};

/* An upload's answer. A non-final chunk answers {"done": false}: then
 * *partial is 1 and out is untouched. ML_ERR_IO when it is not an object
 * with a string public_id and resource_type. */
ml_err ml_store_cld_parse_upload(const char *json, size_t len, struct ml_store_cld_asset *out,
                                 int *partial, struct ml_errbuf *eb);

/* destroy's answer: *found is 1 for {"result":"ok"}, 0 for
 * {"result":"not found"}; ML_ERR_IO for anything else. */
ml_err ml_store_cld_parse_destroy(const char *json, size_t len, int *found, struct ml_errbuf *eb);

/* An Admin API listing page: item for each resource with a string
 * public_id (non-zero from item stops the walk: *stopped = 1); the
 * next_cursor into cursor ("" when none; ML_ERR_IO when longer than cap).
 * ML_ERR_IO when malformed. */
ml_err ml_store_cld_parse_list(const char *json, size_t len,
                               int (*item)(void *ctx, const struct ml_store_cld_asset *a),
                               void *ctx, char *cursor, size_t cap, int *stopped,
                               struct ml_errbuf *eb);

/* {"error":{"message":"..."}}: the message into out (cap >= 1), control
 * characters replaced, cut to fit. Returns 1 when found, else 0 (out ""). */
int ml_store_cld_parse_error(const char *json, size_t len, char *out, size_t cap);

#endif
