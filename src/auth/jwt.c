/*
 * jwt.c - HS256 tokens: a strict parser and a signer.
 *
 * Order of the checks (RFC 8725 section 3): size and shape first, then the
 * header (the algorithm must be ours), then the signature over the first
 * two segments in constant time, and only then the payload's JSON: bytes
 * from an unauthenticated client never reach the claims parser.
 */
#include "auth/jwt.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define SIG_LEN 32     /* HMAC-SHA256 */
#define SIG_B64_LEN 43 /* its base64url length without padding */
/* A header of ours is 36 bytes; anything much longer is not one. */
#define HEADER_MAX 256

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static int b64_value(unsigned char c) {
  if(c >= 'A' && c <= 'Z')
    return c - 'A';
  if(c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if(c >= '0' && c <= '9')
    return c - '0' + 52;
  if(c == '-')
    return 62;
  if(c == '_')
    return 63;
  return -1;
}

int ml_jwt_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax,
                         size_t *outlen) {
  size_t full = inlen / 4, rem = inlen % 4, o = 0, i;
  int v[4];
  *outlen = 0;
  if(rem == 1)
    return -1; /* one character carries only 6 bits: not a whole byte */
  if(full > (SIZE_MAX - 2) / 3 || full * 3 + (rem ? rem - 1 : 0) > outmax)
    return -1;
  for(i = 0; i < full * 4; i += 4) {
    for(int k = 0; k < 4; k++)
      if((v[k] = b64_value((unsigned char)in[i + k])) < 0)
        return -1;
    out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    out[o++] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
    out[o++] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
  }
  for(size_t k = 0; k < rem; k++)
    if((v[k] = b64_value((unsigned char)in[i + k])) < 0)
      return -1;
  if(rem == 2) {
    if(v[1] & 0x0f)
      return -1; /* non-zero unused bits: a second spelling of the same bytes */
    out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
  } else if(rem == 3) {
    if(v[2] & 0x03)
      return -1;
    out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    out[o++] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
  }
  *outlen = o;
  return 0;
}

ml_err ml_jwt_b64url_encode(struct ml_buf *b, const unsigned char *data, size_t len) {
  char chunk[4];
  ml_err rc = ML_OK;
  size_t i = 0;
  for(; !rc && i + 3 <= len; i += 3) {
    unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
    chunk[0] = b64url_alphabet[(v >> 18) & 63];
    chunk[1] = b64url_alphabet[(v >> 12) & 63];
    chunk[2] = b64url_alphabet[(v >> 6) & 63];
    chunk[3] = b64url_alphabet[v & 63];
    rc = ml_buf_add(b, chunk, 4);
  }
  if(!rc && len - i == 1) {
    unsigned v = (unsigned)data[i] << 16;
    chunk[0] = b64url_alphabet[(v >> 18) & 63];
    chunk[1] = b64url_alphabet[(v >> 12) & 63];
    rc = ml_buf_add(b, chunk, 2);
  } else if(!rc && len - i == 2) {
    unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
    chunk[0] = b64url_alphabet[(v >> 18) & 63];
    chunk[1] = b64url_alphabet[(v >> 12) & 63];
    chunk[2] = b64url_alphabet[(v >> 6) & 63];
    rc = ml_buf_add(b, chunk, 3);
  }
  return rc;
}

static int hmac_sha256(const unsigned char *key, size_t keylen, const char *data, size_t len,
                       unsigned char mac[SIG_LEN]) {
  unsigned int maclen = 0;
  if(keylen > 0x7fffffff)
    return -1;
  if(!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac, &maclen) ||
     maclen != SIG_LEN)
    return -1;
  return 0;
}

static int jti_ok(const char *s, size_t n) {
  if(n == 0 || n > ML_JWT_JTI_MAX)
    return 0;
  for(size_t i = 0; i < n; i++)
    if(b64_value((unsigned char)s[i]) < 0)
      return 0;
  return 1;
}

static int role_ok(const char *s, size_t n) {
  if(n >= sizeof(((struct ml_jwt_claims *)0)->role))
    return 0;
  for(size_t i = 0; i < n; i++)
    if(s[i] < 'a' || s[i] > 'z')
      return 0;
  return 1;
}

ml_err ml_jwt_sign(const struct ml_jwt_claims *c, const unsigned char *key, size_t keylen,
                   struct ml_buf *out) {
  struct ml_buf payload;
  unsigned char mac[SIG_LEN];
  size_t signed_len;
  ml_err rc = ML_OK;

  ml_buf_init(&payload, 1024);
  if(!key || keylen < ML_JWT_KEY_MIN) {
    rc = ML_ERR_CONFIG;
    goto out;
  }
  if((c->type != ML_JWT_ACCESS && c->type != ML_JWT_REFRESH) || c->user_id <= 0 ||
     !jti_ok(c->jti, strnlen(c->jti, sizeof(c->jti))) ||
     !role_ok(c->role, strnlen(c->role, sizeof(c->role)))) {
    rc = ML_ERR_INTERNAL;
    goto out;
  }
  /* Claims in SimpleJWT's order; every value is a number or a checked
   * plain-ASCII string, so no escaping is needed. */
  rc = ml_buf_addf(&payload,
                   "{\"token_type\":\"%s\",\"exp\":%lld,\"iat\":%lld,\"jti\":\"%s\","
                   "\"user_id\":%lld",
                   c->type == ML_JWT_ACCESS ? "access" : "refresh", (long long)c->exp,
                   (long long)c->iat, c->jti, (long long)c->user_id);
  if(!rc && c->nbf)
    rc = ml_buf_addf(&payload, ",\"nbf\":%lld", (long long)c->nbf);
  if(!rc && c->role[0])
    rc = ml_buf_addf(&payload, ",\"role\":\"%s\"", c->role);
  if(!rc)
    rc = ml_buf_addf(&payload, ",\"ver\":%lld}", (long long)c->ver);
  if(rc)
    goto out;

  ml_buf_reset(out);
  rc = ml_jwt_b64url_encode(out, (const unsigned char *)header_json, sizeof(header_json) - 1);
  if(!rc)
    rc = ml_buf_addc(out, '.');
  if(!rc)
    rc = ml_jwt_b64url_encode(out, (const unsigned char *)payload.data, payload.len);
  if(rc)
    goto out;
  signed_len = out->len;
  if(hmac_sha256(key, keylen, out->data, signed_len, mac)) {
    rc = ML_ERR_INTERNAL;
    goto out;
  }
  rc = ml_buf_addc(out, '.');
  if(!rc)
    rc = ml_jwt_b64url_encode(out, mac, sizeof(mac));

out:
  OPENSSL_cleanse(mac, sizeof(mac));
  ml_buf_free(&payload);
  return rc;
}

/* The header must be exactly {"alg":"HS256"} plus an optional "typ":"JWT":
 * any other member ("kid", "jku", "crit", ...) asks for processing we do
 * not do, so the token is refused rather than half-understood. */
static ml_err check_header(const char *seg, size_t n, struct ml_errbuf *eb) {
  unsigned char raw[HEADER_MAX];
  size_t rawlen;
  json_t *h, *v;
  const char *key;
  ml_err rc = ML_OK;
  int have_alg = 0;

  if(n > (HEADER_MAX / 3) * 4 || ml_jwt_b64url_decode(seg, n, raw, sizeof(raw), &rawlen))
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token header is not valid base64url");
  h = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
  if(!h)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token header is not JSON");
  if(!json_is_object(h)) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token header is not a JSON object");
    goto out;
  }
  json_object_foreach(h, key, v) {
    if(!strcmp(key, "alg")) {
      if(!json_is_string(v) || strcmp(json_string_value(v), "HS256") ||
         json_string_length(v) != 5) {
        rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token algorithm is not HS256");
        goto out;
      }
      have_alg = 1;
    } else if(!strcmp(key, "typ")) {
      if(!json_is_string(v) || strcmp(json_string_value(v), "JWT") || json_string_length(v) != 3) {
        rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token type header is not JWT");
        goto out;
      }
    } else {
      rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token header has an unsupported member");
      goto out;
    }
  }
  if(!have_alg)
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token header names no algorithm");

out:
  json_decref(h);
  return rc;
}

/* An integer claim; 1 when present and an integer, 0 when absent, -1 when
 * present with another type. */
static int int_claim(json_t *root, const char *name, int64_t *out) {
  json_t *v = json_object_get(root, name);
  if(!v)
    return 0;
  if(!json_is_integer(v))
    return -1;
  *out = (int64_t)json_integer_value(v);
  return 1;
}

static ml_err check_claims(const unsigned char *raw, size_t rawlen, enum ml_jwt_type want,
                           int64_t now, struct ml_jwt_claims *c, struct ml_errbuf *eb) {
  json_t *root, *v;
  const char *s;
  ml_err rc = ML_OK;
  int got;

  root = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
  if(!root)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token payload is not JSON");
  if(!json_is_object(root)) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token payload is not a JSON object");
    goto out;
  }

  v = json_object_get(root, "token_type");
  s = json_is_string(v) ? json_string_value(v) : NULL;
  if(s && !strcmp(s, "access") && json_string_length(v) == 6)
    c->type = ML_JWT_ACCESS;
  else if(s && !strcmp(s, "refresh") && json_string_length(v) == 7)
    c->type = ML_JWT_REFRESH;
  else {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has no valid token_type");
    goto out;
  }
  if(c->type != want) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has the wrong type (%s, not %s)", s,
                 want == ML_JWT_ACCESS ? "access" : "refresh");
    goto out;
  }

  if(int_claim(root, "exp", &c->exp) != 1) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has no valid exp");
    goto out;
  }
  if(now >= c->exp) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has expired");
    goto out;
  }
  got = int_claim(root, "nbf", &c->nbf);
  if(got < 0 || (got && c->nbf > now + ML_JWT_LEEWAY)) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token is not valid yet (nbf)");
    goto out;
  }
  got = int_claim(root, "iat", &c->iat);
  if(got < 0 || (got && c->iat > now + ML_JWT_LEEWAY)) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token was issued in the future (iat)");
    goto out;
  }
  if(int_claim(root, "user_id", &c->user_id) != 1 || c->user_id <= 0) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has no valid user_id");
    goto out;
  }
  if(int_claim(root, "ver", &c->ver) != 1 || c->ver < 0) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has no valid ver");
    goto out;
  }
  v = json_object_get(root, "jti");
  if(!json_is_string(v) || !jti_ok(json_string_value(v), json_string_length(v))) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has no valid jti");
    goto out;
  }
  memcpy(c->jti, json_string_value(v), json_string_length(v) + 1);
  v = json_object_get(root, "role");
  if(v) {
    if(!json_is_string(v) || !role_ok(json_string_value(v), json_string_length(v))) {
      rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has an invalid role");
      goto out;
    }
    memcpy(c->role, json_string_value(v), json_string_length(v) + 1);
  }

out:
  json_decref(root);
  return rc;
}

ml_err ml_jwt_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
                     enum ml_jwt_type want, int64_t now, struct ml_jwt_claims *out,
                     struct ml_errbuf *eb) {
  const char *dot1 = NULL, *dot2 = NULL;
  unsigned char mac[SIG_LEN], sig[SIG_LEN + 3];
  unsigned char *payload = NULL;
  size_t siglen = 0, plen = 0, payload_chars;
  struct ml_jwt_claims c;
  ml_err rc = ML_OK;

  memset(&c, 0, sizeof(c));
  memset(out, 0, sizeof(*out));
  if(!key || keylen < ML_JWT_KEY_MIN)
    return ml_fail(eb, ML_ERR_CONFIG, "signing key is shorter than %d bytes", ML_JWT_KEY_MIN);
  if(!token || len == 0)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "no token");
  if(len > ML_JWT_MAX_LEN)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token is longer than %d bytes", ML_JWT_MAX_LEN);
  for(size_t i = 0; i < len; i++) {
    if(token[i] != '.')
      continue;
    if(!dot1)
      dot1 = token + i;
    else if(!dot2)
      dot2 = token + i;
    else
      return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token does not have three segments");
  }
  if(!dot2)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token does not have three segments");
  if(dot1 == token || dot2 == dot1 + 1 || dot2 == token + len - 1)
    return ml_fail(eb, ML_ERR_UNAUTHORIZED, "token has an empty segment");

  rc = check_header(token, (size_t)(dot1 - token), eb);
  if(rc)
    goto out;

  /* The signature: exactly 32 bytes, canonical encoding, compared in
   * constant time against our own MAC of "header.payload". */
  if((size_t)(token + len - dot2 - 1) != SIG_B64_LEN ||
     ml_jwt_b64url_decode(dot2 + 1, SIG_B64_LEN, sig, sizeof(sig), &siglen) || siglen != SIG_LEN) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token signature is malformed");
    goto out;
  }
  if(hmac_sha256(key, keylen, token, (size_t)(dot2 - token), mac)) {
    rc = ml_fail(eb, ML_ERR_INTERNAL, "HMAC failed");
    goto out;
  }
  if(CRYPTO_memcmp(mac, sig, SIG_LEN) != 0) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token signature does not match");
    goto out;
  }

  payload_chars = (size_t)(dot2 - dot1 - 1);
  payload = ml_malloc(payload_chars / 4 * 3 + 3);
  if(!payload) {
    rc = ml_fail(eb, ML_ERR_NOMEM, "out of memory");
    goto out;
  }
  if(ml_jwt_b64url_decode(dot1 + 1, payload_chars, payload, payload_chars / 4 * 3 + 3, &plen)) {
    rc = ml_fail(eb, ML_ERR_UNAUTHORIZED, "token payload is not valid base64url");
    goto out;
  }
  rc = check_claims(payload, plen, want, now, &c, eb);
  if(!rc)
    *out = c;

out:
  OPENSSL_cleanse(mac, sizeof(mac));
  ml_free(payload);
  return rc;
}
