/*
 * buf.h - growable byte buffer with a hard maximum (curl's dynbuf).
 *
 * Every buffer fed by a client has a ceiling, so no request can make the
 * server grow memory without bound. The content is always NUL-terminated.
 * A failed append leaves the buffer as it was and returns ML_ERR_NOMEM, or
 * ML_ERR_TOO_LARGE when the maximum would be passed.
 */
#ifndef ML_CORE_BUF_H
#define ML_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ml_buf {
  char *data; /* NUL-terminated; NULL until the first append */
  size_t len;
  size_t cap;
  size_t max; /* hard limit on len */
};

void ml_buf_init(struct ml_buf *b, size_t max);
void ml_buf_free(struct ml_buf *b);
void ml_buf_reset(struct ml_buf *b); /* len = 0, keeps the memory */
/* Hands the data to the caller (free with ml_free); the buffer is empty after. */
char *ml_buf_take(struct ml_buf *b, size_t *len);

/* Makes room for at least n more bytes now (one allocation instead of a
 * series of doublings when the size is roughly known). */
ml_err ml_buf_reserve(struct ml_buf *b, size_t n);
ml_err ml_buf_add(struct ml_buf *b, const void *data, size_t len);
ml_err ml_buf_adds(struct ml_buf *b, const char *s);
ml_err ml_buf_addc(struct ml_buf *b, char c);
ml_err ml_buf_addf(struct ml_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ml_err ml_buf_addi(struct ml_buf *b, int64_t v);

/* JSON helpers: a quoted, escaped JSON string ("null" for NULL); invalid UTF-8
 * bytes are replaced by U+FFFD so the output is always valid JSON. */
ml_err ml_buf_json_str(struct ml_buf *b, const char *s);
ml_err ml_buf_json_strn(struct ml_buf *b, const char *s, size_t len);
/* Percent-encodes everything but RFC 3986 unreserved characters. */
ml_err ml_buf_url_encode(struct ml_buf *b, const char *s);

/* Writes the n bytes at in as 2n lowercase hex digits and a NUL into out
 * (2n + 1 bytes). */
void ml_hex_encode(const void *in, size_t n, char *out);

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF included); the
 * code point goes to *cp when cp is not NULL. */
size_t ml_utf8_decode(const unsigned char *s, size_t n, unsigned *cp);
/* Is s[0..len) valid UTF-8 (no overlongs, no surrogates)? Sets *nchars to the
 * number of code points when it is. Returns 1 when valid. */
int ml_utf8_valid(const char *s, size_t len, size_t *nchars);

#endif
