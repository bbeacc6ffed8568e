/*
 * multipart.h - streaming multipart/form-data parser (RFC 7578, RFC 2046).
 *
 * Fed the request body in arbitrary pieces (a boundary may be split across
 * any two feeds), it calls back for each part's start, data and end, holding
 * at most one part header block and one boundary's worth of bytes: file data
 * is never buffered whole. Limits: part headers 8 KiB, 64 parts.
 */
#ifndef ML_HTTP_MULTIPART_H
#define ML_HTTP_MULTIPART_H

#include <stddef.h>

#include "core/err.h"

struct ml_multipart;

struct ml_multipart_cb {
  /* A part begins. name: the form field name ("" when absent); filename:
   * decoded from filename*= (RFC 5987, UTF-8) or filename= (quoted-string
   * unescaped), NULL when the part is not a file; content_type: NULL when
   * absent. Strings live until part_end. A non-OK return stops parsing and
   * is returned by ml_multipart_feed. */
  ml_err (*part_begin)(void *ctx, const char *name, const char *filename, const char *content_type);
  /* Some of the part's bytes (called zero or more times). */
  ml_err (*part_data)(void *ctx, const char *data, size_t len);
  /* The part ended (its closing boundary was seen). */
  ml_err (*part_end)(void *ctx);
};

/* Extracts the boundary parameter of a multipart/form-data Content-Type
 * (quoted or not, 1-70 characters) into out (>= 71 bytes). ML_ERR_BAD_REQUEST
 * when the type is not multipart/form-data or the boundary is missing/bad. */
ml_err ml_multipart_boundary(const char *content_type, char *out, size_t outlen);

/* ML_ERR_NOMEM or ML_ERR_BAD_REQUEST (bad boundary). cb and ctx must outlive mp. */
ml_err ml_multipart_create(const char *boundary, const struct ml_multipart_cb *cb, void *ctx,
                           struct ml_multipart **out);
/* ML_ERR_BAD_REQUEST for a malformed body (eb says where), or the callback's error.
 * Malformed includes: a delimiter line followed by anything but transport
 * padding and CRLF, or "--"; header lines not ended by CRLF, folded or with
 * control characters; a part without "Content-Disposition: form-data"; a
 * repeated header or parameter; a bad filename*= (charsets UTF-8 and
 * ISO-8859-1 only, no %00); over 64 parts or 8 KiB of part headers. After
 * an error every later feed and finish returns the same error. A NULL
 * callback in cb is skipped. filename="" gives "" (a file field left empty). */
ml_err ml_multipart_feed(struct ml_multipart *mp, const char *data, size_t len,
                         struct ml_errbuf *eb);
/* Call at the end of the body: ML_ERR_TRUNCATED unless the closing boundary
 * ("--boundary--") was seen. */
ml_err ml_multipart_finish(struct ml_multipart *mp, struct ml_errbuf *eb);
void ml_multipart_destroy(struct ml_multipart **mp);

/* The filename of an HTTP Content-Disposition header value ("attachment;
 * filename=\"a.png\"; filename*=UTF-8''a.png", RFC 6266): filename* preferred,
 * decoded; written into out. 0 on success, -1 when there is none or the
 * value is malformed. */
int ml_multipart_disposition_filename(const char *value, char *out, size_t outlen);

#endif
