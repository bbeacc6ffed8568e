/*
 * query.h - URL query strings and percent-decoding.
 */
#ifndef ML_HTTP_QUERY_H
#define ML_HTTP_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Decodes %XX (and '+' to space when plus_as_space) in place; NUL-terminates,
 * so s must have room for len + 1 bytes (s[len] may be written). Returns the
 * new length, or -1 for a malformed escape or a decoded (or raw) NUL; then s
 * is left partly decoded. */
long ml_url_decode(char *s, size_t len, int plus_as_space);
/* The same from s[0..len) into out (cap bytes with the NUL): the decoded
 * length, or -1 for a malformed escape, a decoded (or raw) NUL, or no room.
 * out may be s. */
long ml_url_decode_to(const char *s, size_t len, char *out, size_t cap, int plus_as_space);

/* Parses an application/x-www-form-urlencoded string (without the '?'):
 * "a=1&b=x+y&c&d=%2F". Calls cb with each decoded key and value (value ""
 * when there is no '='); empty pairs ("&&") are skipped. At most 64 pairs and
 * 8 KiB in all. ML_ERR_BAD_REQUEST for bad escapes or over the limits, or the
 * callback's non-OK return. */
ml_err ml_query_parse(const char *qs, size_t len,
                      ml_err (*cb)(void *ctx, const char *key, const char *val), void *ctx);

/* Strict decimal integer in [min, max]: no sign other than '-', no spaces, no
 * trailing text. ML_ERR_VALIDATION otherwise. */
ml_err ml_query_int(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
