/*
 * test_jwt.c - the HS256 token parser and signer (src/auth/jwt.h): the A
 * rows of TESTING.md. Every malformed, forged or out-of-date token must be
 * refused with ML_ERR_UNAUTHORIZED (never a crash, never accepted); valid
 * ones accepted. Tokens are forged here with OpenSSL directly, not with
 * ml_jwt_sign, so a bug shared by signer and verifier cannot hide.
 *
 * Known answers: the first was computed at authoring time with Python's
 * hmac module and checked with `openssl dgst -sha256 -hmac`; the second is
 * RFC 7515 appendix A.1.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/jwt.h"
#include "core/buf.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define NOW 1800000000LL

/* python3: hmac.new(KEY, b64url(header) + "." + b64url(payload), sha256) */
static const char kat_token[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6ImFiYzEy"
    "MyIsInVzZXJfaWQiOjQyLCJyb2xlIjoiZWRpdG9yIiwidmVyIjozfQ."
    "jWkY5SifWs5huoTDeZK1rXpw8crlqh6PTnsmiBIbbTE";

static const unsigned char *key(void) { return (const unsigned char *)KEY; }

/* header.payload.signature with an HMAC-SHA256 signature over the first two
 * segments by k (NULL: KEY); sig, when not NULL, replaces the signature
 * segment. Returns a static buffer, overwritten by the next call. */
static const char *forge_k(const char *header, const char *payload, const char *k,
                           const char *sig) {
  static char out[16384];
  struct ml_buf b;
  unsigned char mac[32];
  unsigned int maclen = 0;
  const char *kk = k ? k : KEY;
  ml_buf_init(&b, sizeof(out) - 1);
  assert_int_equal(ml_jwt_b64url_encode(&b, (const unsigned char *)header, strlen(header)), ML_OK);
  assert_int_equal(ml_buf_addc(&b, '.'), ML_OK);
  assert_int_equal(ml_jwt_b64url_encode(&b, (const unsigned char *)payload, strlen(payload)),
                   ML_OK);
  assert_non_null(
      HMAC(EVP_sha256(), kk, (int)strlen(kk), (const unsigned char *)b.data, b.len, mac, &maclen));
  assert_int_equal(ml_buf_addc(&b, '.'), ML_OK);
  if(sig)
    assert_int_equal(ml_buf_adds(&b, sig), ML_OK);
  else
    assert_int_equal(ml_jwt_b64url_encode(&b, mac, maclen), ML_OK);
  snprintf(out, sizeof(out), "%s", b.data);
  ml_buf_free(&b);
  return out;
}

static const char *forge(const char *header, const char *payload) {
  return forge_k(header, payload, NULL, NULL);
}

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload with every claim; fmt fields override by position. */
static const char *payload(const char *type, long long exp) {
  static char p[512];
  snprintf(p, sizeof(p),
           "{\"token_type\":\"%s\",\"exp\":%lld,\"iat\":%lld,\"jti\":\"j1\",\"user_id\":7,"
           "\"role\":\"viewer\",\"ver\":0}",
           type, exp, NOW - 10);
  return p;
}

static ml_err verify_as(const char *tok, enum ml_jwt_type want, struct ml_errbuf *eb) {
  struct ml_jwt_claims c;
  ml_errbuf_clear(eb);
  return ml_jwt_verify(tok, tok ? strlen(tok) : 0, key(), 32, want, NOW, &c, eb);
}

static ml_err verify(const char *tok, struct ml_errbuf *eb) {
  return verify_as(tok, ML_JWT_ACCESS, eb);
}

/* Refused, with a message that does not echo the token. */
static void refused(const char *tok, const char *why_contains) {
  struct ml_errbuf eb = {{0}};
  ml_err rc = verify(tok, &eb);
  if(rc != ML_ERR_UNAUTHORIZED)
    fail_msg("accepted or wrong error %d for %.200s", rc, tok ? tok : "(null)");
  assert_true(eb.msg[0] != '\0');
  if(why_contains && !strstr(eb.msg, why_contains))
    fail_msg("message '%s' does not mention '%s'", eb.msg, why_contains);
}

/* ------------------------------------------------------------- known answers */

static void test_kat_sign(void **state) {
  struct ml_jwt_claims c;
  struct ml_buf b;
  (void)state;
  memset(&c, 0, sizeof(c));
  c.type = ML_JWT_ACCESS;
  c.exp = 2000000000;
  c.iat = 1700000000;
  snprintf(c.jti, sizeof(c.jti), "abc123");
  c.user_id = 42;
  snprintf(c.role, sizeof(c.role), "editor");
  c.ver = 3;
  ml_buf_init(&b, 4096);
  assert_int_equal(ml_jwt_sign(&c, key(), 32, &b), ML_OK);
  assert_string_equal(b.data, kat_token);
  ml_buf_free(&b);
}

static void test_kat_verify(void **state) {
  struct ml_jwt_claims c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(
      ml_jwt_verify(kat_token, strlen(kat_token), key(), 32, ML_JWT_ACCESS, NOW, &c, &eb), ML_OK);
  assert_int_equal(c.type, ML_JWT_ACCESS);
  assert_int_equal(c.exp, 2000000000);
  assert_int_equal(c.iat, 1700000000);
  assert_int_equal(c.user_id, 42);
  assert_int_equal(c.ver, 3);
  assert_string_equal(c.jti, "abc123");
  assert_string_equal(c.role, "editor");
  assert_int_equal(c.nbf, 0);
}

/* RFC 7515 A.1: the signature checks out with the RFC's key, and the
 * token is then refused for its claims (no token_type), not its MAC. */
static void test_rfc7515_vector(void **state) {
  static const unsigned char rfc_key[64] = {
      0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06, 0x65, 0x77,
      0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54, 0xc9, 0x28, 0xa9, 0x0f,
      0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3, 0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47,
      0xef, 0x96, 0x8a, 0xb4, 0xc3, 0x77, 0x62, 0x3d, 0x22, 0x3d, 0x2e, 0x21, 0x72,
      0x05, 0x2e, 0x4f, 0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3};
  static const char tok[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                            "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLm"
                            "NvbS9pc19yb290Ijp0cnVlfQ."
                            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  char bad[sizeof(tok)];
  struct ml_jwt_claims c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(
      ml_jwt_verify(tok, strlen(tok), rfc_key, sizeof(rfc_key), ML_JWT_ACCESS, 1300819000, &c, &eb),
      ML_ERR_UNAUTHORIZED);
  assert_string_equal(eb.msg, "token has no valid token_type");
  memcpy(bad, tok, sizeof(tok));
  bad[sizeof(tok) - 5] ^= 1; /* one bit of the signature */
  ml_errbuf_clear(&eb);
  assert_int_equal(
      ml_jwt_verify(bad, strlen(bad), rfc_key, sizeof(rfc_key), ML_JWT_ACCESS, 1300819000, &c, &eb),
      ML_ERR_UNAUTHORIZED);
  assert_non_null(strstr(eb.msg, "signature"));
}

/* ---------------------------------------------------------- valid tokens */

static void test_valid_round_trip(void **state) {
  struct ml_jwt_claims in, out;
  struct ml_errbuf eb = {{0}};
  struct ml_buf b;
  (void)state;
  ml_buf_init(&b, 4096);
  for(int i = 0; i < 200; i++) {
    memset(&in, 0, sizeof(in));
    in.type = i % 2 ? ML_JWT_REFRESH : ML_JWT_ACCESS;
    in.user_id = 1 + i * 7919;
    in.iat = NOW - i;
    in.exp = NOW + 1 + i;
    in.nbf = i % 3 ? 0 : NOW - 5;
    in.ver = i;
    snprintf(in.jti, sizeof(in.jti), "%0*d", 1 + i % 64, i);
    snprintf(in.role, sizeof(in.role), "%s", i % 4 ? "admin" : "");
    assert_int_equal(ml_jwt_sign(&in, key(), 32, &b), ML_OK);
    assert_int_equal(ml_jwt_verify(b.data, b.len, key(), 32, in.type, NOW, &out, &eb), ML_OK);
    assert_int_equal(out.user_id, in.user_id);
    assert_int_equal(out.exp, in.exp);
    assert_int_equal(out.iat, in.iat);
    assert_int_equal(out.nbf, in.nbf);
    assert_int_equal(out.ver, in.ver);
    assert_string_equal(out.jti, in.jti);
    assert_string_equal(out.role, in.role);
  }
  ml_buf_free(&b);
}

static void test_valid_shapes(void **state) {
  struct ml_errbuf eb = {{0}};
  (void)state;
  /* typ is optional; members in any order; whitespace in the JSON. */
  assert_int_equal(verify(forge("{\"alg\":\"HS256\"}", payload("access", NOW + 60)), &eb), ML_OK);
  assert_int_equal(
      verify(forge("{ \"typ\" : \"JWT\" , \"alg\" : \"HS256\" }", payload("access", NOW + 60)),
             &eb),
      ML_OK);
  /* iat absent, role absent, unknown claims ignored (RFC 7519 section 4) */
  assert_int_equal(verify(forge(HDR, "{\"token_type\":\"access\",\"exp\":1800000100,\"jti\":\"x\","
                                     "\"user_id\":1,\"ver\":0,\"iss\":\"django\"}"),
                          &eb),
                   ML_OK);
  /* a refresh token is accepted where a refresh token is wanted */
  assert_int_equal(verify_as(forge(HDR, payload("refresh", NOW + 60)), ML_JWT_REFRESH, &eb), ML_OK);
}

/* ------------------------------------------------------------------- A1, A5 */

static void test_missing_and_garbage(void **state) {
  struct ml_jwt_claims c;
  struct ml_errbuf eb = {{0}};
  unsigned char junk[300];
  (void)state;
  assert_int_equal(ml_jwt_verify(NULL, 0, key(), 32, ML_JWT_ACCESS, NOW, &c, &eb),
                   ML_ERR_UNAUTHORIZED);
  refused("", "no token");
  refused("garbage", "three segments");
  refused("not.a.jwt", NULL);
  refused("Bearer", NULL);
  refused("..", "empty segment");
  refused("a..b", "empty segment");
  refused(".a.b", "empty segment");
  refused("a.b.", "empty segment");
  refused("{\"alg\":\"HS256\"}.{}.x", NULL);
  srand(7);
  for(int round = 0; round < 2000; round++) {
    size_t n = (size_t)(rand() % (int)sizeof(junk));
    for(size_t i = 0; i < n; i++)
      junk[i] = (unsigned char)(round % 3 ? "ab.-_Z9="[rand() % 8] : rand());
    ml_errbuf_clear(&eb);
    assert_int_equal(ml_jwt_verify((const char *)junk, n, key(), 32, ML_JWT_ACCESS, NOW, &c, &eb),
                     ML_ERR_UNAUTHORIZED);
  }
}

static void test_segments(void **state) {
  char buf[2048];
  const char *t = forge(HDR, payload("access", NOW + 60));
  const char *dot2 = strrchr(t, '.');
  (void)state;
  /* two segments: the signature cut off, or the payload */
  snprintf(buf, sizeof(buf), "%.*s", (int)(dot2 - t), t);
  refused(buf, "three segments");
  /* four segments */
  snprintf(buf, sizeof(buf), "%s.%s", t, dot2 + 1);
  refused(buf, "three segments");
  snprintf(buf, sizeof(buf), "%s.", t);
  refused(buf, "three segments");
}

static void test_bad_base64url(void **state) {
  char buf[2048];
  const char *t = forge(HDR, payload("access", NOW + 60));
  (void)state;
  /* the standard alphabet's + and /, padding, whitespace, NUL */
  const char subst[] = {'+', '/', '=', ' ', '\n', '\0', '%', '*'};
  for(size_t s = 0; s < sizeof(subst); s++) {
    for(size_t pos = 0; pos < 3; pos++) {
      size_t len = strlen(t);
      const char *seg = pos == 0 ? t : pos == 1 ? strchr(t, '.') + 1 : strrchr(t, '.') + 1;
      struct ml_jwt_claims c;
      struct ml_errbuf eb = {{0}};
      memcpy(buf, t, len + 1);
      buf[seg - t + 2] = subst[s];
      assert_int_equal(ml_jwt_verify(buf, len, key(), 32, ML_JWT_ACCESS, NOW, &c, &eb),
                       ML_ERR_UNAUTHORIZED);
    }
  }
  /* a padded header segment */
  snprintf(buf, sizeof(buf), "%s", t);
  {
    char padded[2100];
    const char *dot = strchr(buf, '.');
    snprintf(padded, sizeof(padded), "%.*s==%s", (int)(dot - buf), buf, dot);
    refused(padded, NULL);
  }
}

static void test_oversized(void **state) {
  size_t n = 1024 * 1024;
  char *big = malloc(n + 1);
  struct ml_jwt_claims c;
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_non_null(big);
  memset(big, 'A', n);
  big[100] = '.';
  big[200] = '.';
  big[n] = '\0';
  assert_int_equal(ml_jwt_verify(big, n, key(), 32, ML_JWT_ACCESS, NOW, &c, &eb),
                   ML_ERR_UNAUTHORIZED);
  assert_non_null(strstr(eb.msg, "longer than"));
  /* a correctly signed token just over the limit is refused too */
  {
    char *p = malloc(ML_JWT_MAX_LEN);
    assert_non_null(p);
    snprintf(p, ML_JWT_MAX_LEN,
             "{\"token_type\":\"access\",\"exp\":%lld,\"jti\":\"j\",\"user_id\":1,\"ver\":0,"
             "\"pad\":\"%0*d\"}",
             NOW + 60, 6200, 0);
    refused(forge(HDR, p), "longer than");
    free(p);
  }
  free(big);
}

/* ------------------------------------------------------------------------ A2 */

static void test_alg_none_and_others(void **state) {
  const char *const headers[] = {
      "{\"alg\":\"none\",\"typ\":\"JWT\"}",
      "{\"alg\":\"None\"}",
      "{\"alg\":\"NONE\"}",
      "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
      "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
      "{\"alg\":\"HS384\"}",
      "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
      "{\"alg\":\"PS256\"}",
      "{\"alg\":\"hs256\"}",
      "{\"alg\":\"HS256 \"}",
      "{\"alg\":[\"HS256\"]}",
      "{\"alg\":null}",
      "{\"typ\":\"JWT\"}",
      "{}",
      "{\"alg\":\"HS256\",\"alg\":\"none\"}",
      "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
      "{\"alg\":\"HS256\",\"kid\":\"../../etc/passwd\"}",
      "{\"alg\":\"HS256\",\"jku\":\"https://evil.example/keys\"}",
      "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
      "[\"alg\",\"HS256\"]",
      "\"HS256\"",
      "null",
      "{\"alg\":\"HS256\"",
  };
  (void)state;
  for(size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
    /* correctly MACed with our key: the header alone must sink it */
    refused(forge(headers[i], payload("access", NOW + 60)), NULL);
  }
  /* alg none with no or a junk signature */
  refused(forge_k("{\"alg\":\"none\"}", payload("access", NOW + 60), NULL, ""), NULL);
  refused(forge_k("{\"alg\":\"none\"}", payload("access", NOW + 60), NULL, "AAAA"), NULL);
  /* key confusion: HS256 "signed" with a public-key-looking string */
  refused(forge_k(HDR, payload("access", NOW + 60),
                  "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n", NULL),
          "signature");
}

static void test_wrong_signature(void **state) {
  char buf[2100], t[2048];
  size_t len;
  snprintf(t, sizeof(t), "%s",
           forge(HDR, payload("access", NOW + 60))); /* forge reuses its buffer */
  len = strlen(t);
  (void)state;
  /* another key */
  refused(forge_k(HDR, payload("access", NOW + 60), "0123456789abcdef0123456789abcdeF", NULL),
          "does not match");
  /* every signature character flipped, one at a time */
  for(size_t i = len - 43; i < len; i++) {
    memcpy(buf, t, len + 1);
    buf[i] = buf[i] == 'A' ? 'B' : 'A';
    refused(buf, "signature");
  }
  /* truncated and extended signatures */
  snprintf(buf, sizeof(buf), "%.*s", (int)len - 1, t);
  refused(buf, "signature");
  snprintf(buf, sizeof(buf), "%sA", t);
  refused(buf, "signature");
  /* the payload changed after signing */
  {
    const char *other = forge(HDR, payload("access", NOW + 6000));
    char tampered[2048];
    const char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
    const char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
    snprintf(tampered, sizeof(tampered), "%.*s%.*s%s", (int)(d1 - t), t, (int)(o2 - o1), o1, d2);
    refused(tampered, "does not match");
  }
}

/* The last signature character carries 2 unused bits: a non-canonical
 * spelling of the same MAC must be refused (no token malleability). */
static void test_noncanonical_signature(void **state) {
  char buf[2048];
  const char *t = forge(HDR, payload("access", NOW + 60));
  size_t len = strlen(t);
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int v = (int)(strchr(alphabet, t[len - 1]) - alphabet);
  (void)state;
  for(int low = 1; low < 4; low++) {
    memcpy(buf, t, len + 1);
    buf[len - 1] = alphabet[(v & ~3) | ((v & 3) ^ low)];
    refused(buf, "signature");
  }
}

/* ------------------------------------------------------------------------ A3 */

static void test_times(void **state) {
  struct ml_errbuf eb = {{0}};
  char p[512];
  (void)state;
  refused(forge(HDR, payload("access", NOW - 1)), "expired");
  refused(forge(HDR, payload("access", NOW)), "expired");
  refused(forge(HDR, payload("access", 0)), "expired");
  refused(forge(HDR, payload("access", -5)), "expired");
  assert_int_equal(verify(forge(HDR, payload("access", NOW + 1)), &eb), ML_OK);

  /* nbf beyond the 60 s leeway, and at it */
  snprintf(p, sizeof(p),
           "{\"token_type\":\"access\",\"exp\":%lld,\"nbf\":%lld,\"jti\":\"j\","
           "\"user_id\":1,\"ver\":0}",
           NOW + 600, NOW + ML_JWT_LEEWAY + 1);
  refused(forge(HDR, p), "nbf");
  snprintf(p, sizeof(p),
           "{\"token_type\":\"access\",\"exp\":%lld,\"nbf\":%lld,\"jti\":\"j\","
           "\"user_id\":1,\"ver\":0}",
           NOW + 600, NOW + ML_JWT_LEEWAY);
  assert_int_equal(verify(forge(HDR, p), &eb), ML_OK);
  /* iat in the future */
  snprintf(p, sizeof(p),
           "{\"token_type\":\"access\",\"exp\":%lld,\"iat\":%lld,\"jti\":\"j\","
           "\"user_id\":1,\"ver\":0}",
           NOW + 6000, NOW + 3600);
  refused(forge(HDR, p), "iat");
  snprintf(p, sizeof(p),
           "{\"token_type\":\"access\",\"exp\":%lld,\"iat\":%lld,\"jti\":\"j\","
           "\"user_id\":1,\"ver\":0}",
           NOW + 6000, NOW + 30);
  assert_int_equal(verify(forge(HDR, p), &eb), ML_OK);
  /* exp missing, or not an integer */
  refused(forge(HDR, "{\"token_type\":\"access\",\"jti\":\"j\",\"user_id\":1,\"ver\":0}"), "exp");
  refused(forge(HDR, "{\"token_type\":\"access\",\"exp\":\"2000000000\",\"jti\":\"j\","
                     "\"user_id\":1,\"ver\":0}"),
          "exp");
  refused(forge(HDR, "{\"token_type\":\"access\",\"exp\":2000000000.5,\"jti\":\"j\","
                     "\"user_id\":1,\"ver\":0}"),
          "exp");
  refused(forge(HDR, "{\"token_type\":\"access\",\"exp\":null,\"jti\":\"j\",\"user_id\":1,"
                     "\"ver\":0}"),
          "exp");
  refused(forge(HDR, "{\"token_type\":\"access\",\"exp\":2000000000,\"nbf\":\"x\",\"jti\":\"j\","
                     "\"user_id\":1,\"ver\":0}"),
          "nbf");
}

/* ------------------------------------------------------------ claim types */

static void test_token_type(void **state) {
  struct ml_errbuf eb = {{0}};
  (void)state;
  /* a refresh token used as an access token, and the other way round */
  refused(forge(HDR, payload("refresh", NOW + 60)), "wrong type");
  assert_int_equal(verify_as(forge(HDR, payload("access", NOW + 60)), ML_JWT_REFRESH, &eb),
                   ML_ERR_UNAUTHORIZED);
  refused(forge(HDR, payload("Access", NOW + 60)), "token_type");
  refused(forge(HDR, payload("id", NOW + 60)), "token_type");
  refused(forge(HDR, payload("", NOW + 60)), "token_type");
  refused(forge(HDR, "{\"token_type\":1,\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1,\"ver\":0}"),
          "token_type");
  refused(forge(HDR, "{\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1,\"ver\":0}"), "token_type");
}

static void test_claims(void **state) {
  char p[1024];
  const char *const bad[] = {
      /* user_id */
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":0,\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":-3,\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":\"1\",\"ver\":0}",
      /* ver */
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1,\"ver\":-1}",
      /* jti */
      "{\"token_type\":\"access\",\"exp\":2000000000,\"user_id\":1,\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"\",\"user_id\":1,\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"a b\",\"user_id\":1,\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":7,\"user_id\":1,\"ver\":0}",
      /* role */
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1,\"ver\":0,"
      "\"role\":1}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1,\"ver\":0,"
      "\"role\":\"Admin\"}",
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\",\"user_id\":1,\"ver\":0,"
      "\"role\":\"administratorrrrr\"}",
      /* not an object, duplicates, broken JSON */
      "[]",
      "\"access\"",
      "{\"token_type\":\"access\",\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\","
      "\"user_id\":1,\"ver\":0}",
      "{\"token_type\":\"access\",\"exp\":2000000000,",
      "",
  };
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    refused(forge(HDR, bad[i]), NULL);
  /* a jti of 65 characters */
  snprintf(
      p, sizeof(p),
      "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"%065d\",\"user_id\":1,\"ver\":0}",
      0);
  refused(forge(HDR, p), "jti");
  /* deep nesting in an ignored claim: bounded, no crash */
  {
    char deep[5000];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep),
                          "{\"token_type\":\"access\",\"exp\":2000000000,\"jti\":\"j\","
                          "\"user_id\":1,\"ver\":0,\"x\":");
    for(int i = 0; i < 2000; i++)
      deep[n++] = '[';
    deep[n] = '\0';
    refused(forge(HDR, deep), NULL);
  }
}

static void test_short_key(void **state) {
  struct ml_jwt_claims c;
  struct ml_errbuf eb = {{0}};
  struct ml_buf b;
  (void)state;
  memset(&c, 0, sizeof(c));
  c.type = ML_JWT_ACCESS;
  c.user_id = 1;
  c.exp = NOW + 60;
  snprintf(c.jti, sizeof(c.jti), "j");
  ml_buf_init(&b, 4096);
  assert_int_equal(ml_jwt_sign(&c, key(), 31, &b), ML_ERR_CONFIG);
  assert_int_equal(
      ml_jwt_verify(kat_token, strlen(kat_token), key(), 31, ML_JWT_ACCESS, NOW, &c, &eb),
      ML_ERR_CONFIG);
  /* claims the signer will not encode */
  c.jti[0] = '\0';
  assert_int_equal(ml_jwt_sign(&c, key(), 32, &b), ML_ERR_INTERNAL);
  snprintf(c.jti, sizeof(c.jti), "a\"b");
  assert_int_equal(ml_jwt_sign(&c, key(), 32, &b), ML_ERR_INTERNAL);
  ml_buf_free(&b);
}

/* ------------------------------------------------------------ base64url */

static void test_b64url(void **state) {
  unsigned char in[64], out[64];
  size_t n;
  struct ml_buf b;
  (void)state;
  srand(3);
  for(size_t len = 0; len <= sizeof(in); len++) {
    for(size_t i = 0; i < len; i++)
      in[i] = (unsigned char)rand();
    ml_buf_init(&b, 1024);
    assert_int_equal(ml_jwt_b64url_encode(&b, in, len), ML_OK);
    assert_int_equal(b.len, (len * 4 + 2) / 3);
    assert_null(memchr(b.data ? b.data : "", '=', b.len));
    assert_int_equal(ml_jwt_b64url_decode(b.data ? b.data : "", b.len, out, sizeof(out), &n), 0);
    assert_int_equal(n, len);
    assert_memory_equal(in, out, len);
    if(len) /* one byte too little room */
      assert_int_equal(ml_jwt_b64url_decode(b.data, b.len, out, len - 1, &n), -1);
    ml_buf_free(&b);
  }
  assert_int_equal(ml_jwt_b64url_decode("QQ", 2, out, sizeof(out), &n), 0); /* "A" */
  assert_int_equal(n, 1);
  assert_int_equal(out[0], 'A');
  assert_int_equal(ml_jwt_b64url_decode("QR", 2, out, sizeof(out), &n), -1); /* stray bits */
  assert_int_equal(ml_jwt_b64url_decode("QUI", 3, out, sizeof(out), &n), 0);
  assert_int_equal(ml_jwt_b64url_decode("QUJ", 3, out, sizeof(out), &n), -1);
  assert_int_equal(ml_jwt_b64url_decode("Q", 1, out, sizeof(out), &n), -1);
  assert_int_equal(ml_jwt_b64url_decode("QQ==", 4, out, sizeof(out), &n), -1);
  assert_int_equal(ml_jwt_b64url_decode("+/+/", 4, out, sizeof(out), &n), -1);
  assert_int_equal(ml_jwt_b64url_decode("-_-_", 4, out, sizeof(out), &n), 0);
  assert_int_equal(ml_jwt_b64url_decode("", 0, out, sizeof(out), &n), 0);
  assert_int_equal(n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kat_sign),        cmocka_unit_test(test_kat_verify),
      cmocka_unit_test(test_rfc7515_vector),  cmocka_unit_test(test_valid_round_trip),
      cmocka_unit_test(test_valid_shapes),    cmocka_unit_test(test_missing_and_garbage),
      cmocka_unit_test(test_segments),        cmocka_unit_test(test_bad_base64url),
      cmocka_unit_test(test_oversized),       cmocka_unit_test(test_alg_none_and_others),
      cmocka_unit_test(test_wrong_signature), cmocka_unit_test(test_noncanonical_signature),
      cmocka_unit_test(test_times),           cmocka_unit_test(test_token_type),
      cmocka_unit_test(test_claims),          cmocka_unit_test(test_short_key),
      cmocka_unit_test(test_b64url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
