/*
 * jwt.h - JSON Web Tokens, HS256 only (RFC 7519, RFC 8725).
 *
 * The server fixes the algorithm: a token whose header names anything but
 * HS256 is refused, never used to pick a verifier (no "alg": "none", no
 * RS256/HS256 key confusion). The parser is small and strict: a bounded
 * length, exactly three segments, canonical base64url without padding, a
 * header of {"alg":"HS256"} with an optional "typ":"JWT" and nothing else,
 * a signature checked in constant time before the payload is even parsed,
 * then the claims.
 *
 * Claims follow Django REST Framework SimpleJWT, so clients written for it
 * keep working: token_type ("access" | "refresh"), exp, iat, jti, user_id;
 * plus role (informative: the server reads the current role from the
 * database) and ver (the user's token version when issued: bumping it
 * revokes every token of the user at once).
 */
#ifndef ML_AUTH_JWT_H
#define ML_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Longer tokens are refused before any parsing. */
#define ML_JWT_MAX_LEN 8192
/* Clock skew allowed for iat and nbf (seconds). exp gets none: the server
 * that checks it is the one that set it. */
#define ML_JWT_LEEWAY 60
/* The shortest acceptable HMAC key (bytes): RFC 7518 section 3.2. */
#define ML_JWT_KEY_MIN 32
/* jti: up to 64 characters of [A-Za-z0-9_-]. */
#define ML_JWT_JTI_MAX 64

enum ml_jwt_type { ML_JWT_ACCESS = 1, ML_JWT_REFRESH = 2 };

struct ml_jwt_claims {
  enum ml_jwt_type type;
  int64_t user_id; /* > 0 */
  int64_t iat;     /* seconds since the epoch; 0 when absent */
  int64_t exp;     /* seconds since the epoch; required */
  int64_t nbf;     /* 0 when absent */
  int64_t ver;     /* token version of the user when issued, >= 0 */
  char jti[ML_JWT_JTI_MAX + 1];
  char role[16]; /* "" when absent */
};

/* Signs c (type, user_id, iat, exp, ver, jti, role; nbf when non-zero) with
 * key into out as header.payload.signature. ML_ERR_CONFIG when the key is
 * shorter than ML_JWT_KEY_MIN; ML_ERR_INTERNAL for a claim that cannot be
 * encoded (empty or bad jti, role too long); ML_ERR_NOMEM / ML_ERR_TOO_LARGE
 * from the buffer. */
ml_err ml_jwt_sign(const struct ml_jwt_claims *c, const unsigned char *key, size_t keylen,
                   struct ml_buf *out);

/* Verifies token[0..len) (need not be NUL-terminated) as a token of type
 * want at time now (seconds), and fills *out. Every refusal is
 * ML_ERR_UNAUTHORIZED with the reason in eb (safe to show a client: it
 * never contains token bytes). ML_ERR_NOMEM when out of memory. */
ml_err ml_jwt_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
                     enum ml_jwt_type want, int64_t now, struct ml_jwt_claims *out,
                     struct ml_errbuf *eb);

/* Strict base64url without padding (RFC 4648 section 5): the alphabet only,
 * no '=', and the unused low bits of the last character must be zero, so
 * each byte string has exactly one encoding. Decodes in[0..inlen) into out
 * (room for outmax bytes); *outlen gets the length. 0 on success, -1 when
 * malformed or too long. Exposed for the unit tests. */
int ml_jwt_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax,
                         size_t *outlen);
/* Appends the base64url encoding (no padding) of data to b. */
ml_err ml_jwt_b64url_encode(struct ml_buf *b, const unsigned char *data, size_t len);

#endif
