/*
 * fuzz_jwt.c - the HS256 token parser (ml_jwt_verify) and base64url.
 *
 * The first byte picks what the rest is:
 *   1: a payload's JSON, signed with the key, so the claims parser is
 *      reached (random bytes never carry a valid MAC);
 *   2: a header's JSON, signed the same way, to reach the header checks
 *      with every header shape;
 *   anything else: a whole token, as a client sends it.
 * Invariants: only ML_OK, ML_ERR_UNAUTHORIZED or ML_ERR_NOMEM come back;
 * every refusal says why; an accepted token has sane claims; base64url
 * round-trips.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/buf.h"

#define NOW 1800000000LL
#define HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define PAYLOAD \
  "{\"token_type\":\"access\",\"exp\":1900000000,\"jti\":\"j\",\"user_id\":1,\"ver\":0}"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";

static void check(const char *tok, size_t len, enum ml_jwt_type want) {
  struct ml_jwt_claims c;
  struct ml_errbuf eb = {{0}};
  ml_err rc = ml_jwt_verify(tok, len, key, 32, want, NOW, &c, &eb);
  if(rc != ML_OK && rc != ML_ERR_UNAUTHORIZED && rc != ML_ERR_NOMEM)
    abort();
  if(rc == ML_ERR_UNAUTHORIZED && !eb.msg[0])
    abort();
  if(rc == ML_OK && (c.type != want || c.exp <= NOW || c.user_id <= 0 || c.ver < 0 || !c.jti[0] ||
                     strlen(c.jti) > ML_JWT_JTI_MAX || (c.nbf && c.nbf > NOW + ML_JWT_LEEWAY) ||
                     c.iat > NOW + ML_JWT_LEEWAY))
    abort();
}

/* Verifies header.payload.MAC(key) built from the given JSON pieces. */
static void check_signed(const uint8_t *header, size_t hlen, const uint8_t *payload, size_t plen) {
  struct ml_buf b;
  unsigned char mac[32];
  unsigned int maclen = 0;
  ml_buf_init(&b, 64 * 1024);
  if(!ml_jwt_b64url_encode(&b, header, hlen) && !ml_buf_addc(&b, '.') &&
     !ml_jwt_b64url_encode(&b, payload, plen) && b.data &&
     HMAC(EVP_sha256(), key, 32, (const unsigned char *)b.data, b.len, mac, &maclen) &&
     !ml_buf_addc(&b, '.') && !ml_jwt_b64url_encode(&b, mac, maclen)) {
    check(b.data, b.len, ML_JWT_ACCESS);
    check(b.data, b.len, ML_JWT_REFRESH);
  }
  ml_buf_free(&b);
}

static void check_b64(const uint8_t *data, size_t size) {
  unsigned char *out = malloc(size + 3);
  size_t n = 0;
  struct ml_buf b;
  if(!out)
    return;
  if(!ml_jwt_b64url_decode((const char *)data, size, out, size + 3, &n)) {
    /* canonical: re-encoding gives the input back */
    ml_buf_init(&b, 2 * size + 8);
    if(ml_jwt_b64url_encode(&b, out, n) || b.len != size || (size && memcmp(b.data, data, size)))
      abort();
    ml_buf_free(&b);
  }
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if(size == 0)
    return 0;
  switch(data[0]) {
  case 1: check_signed((const uint8_t *)HEADER, strlen(HEADER), data + 1, size - 1); break;
  case 2: check_signed(data + 1, size - 1, (const uint8_t *)PAYLOAD, strlen(PAYLOAD)); break;
  default:
    check((const char *)data + 1, size - 1, ML_JWT_ACCESS);
    check((const char *)data + 1, size - 1, ML_JWT_REFRESH);
    if(size < 4096)
      check_b64(data + 1, size - 1);
    break;
  }
  return 0;
}
