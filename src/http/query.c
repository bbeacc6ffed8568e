/*
 * query.c - percent-decoding and application/x-www-form-urlencoded query
 * strings. Decoding is strict (a bad escape is an error, not passed through)
 * and a decoded NUL is refused, so that no later C-string handling can be
 * tricked into seeing a different key or value than the one checked here.
 */
#include "http/query.h"

#include <string.h>

#define QUERY_MAX_LEN 8192
#define QUERY_MAX_PAIRS 64

static int hex_val(char c) {
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

long ml_url_decode_to(const char *s, size_t len, char *out, size_t cap, int plus_as_space) {
  size_t r = 0, w = 0;
  while(r < len) {
    char c = s[r];
    if(c == '%') {
      int hi, lo;
      if(len - r < 3)
        return -1;
      hi = hex_val(s[r + 1]);
      lo = hex_val(s[r + 2]);
      if(hi < 0 || lo < 0)
        return -1;
      c = (char)(hi << 4 | lo);
      r += 3;
    } else {
      if(c == '+' && plus_as_space)
        c = ' ';
      r++;
    }
    if(c == '\0' || w + 1 >= cap)
      return -1;
    out[w++] = c;
  }
  if(cap == 0)
    return -1;
  out[w] = '\0';
  return (long)w;
}

long ml_url_decode(char *s, size_t len, int plus_as_space) {
  return ml_url_decode_to(s, len, s, len + 1, plus_as_space); /* writes never pass reads */
}

struct pair {
  const char *key;
  const char *val;
};

ml_err ml_query_parse(const char *qs, size_t len,
                      ml_err (*cb)(void *ctx, const char *key, const char *val), void *ctx) {
  /* A private copy, decoded in place: the pairs are all checked before the
   * first callback, so a caller never acts on half of a bad query. */
  char copy[QUERY_MAX_LEN + 1];
  struct pair pairs[QUERY_MAX_PAIRS];
  size_t npairs = 0, p = 0;
  ml_err rc = ML_OK;
  if(len > QUERY_MAX_LEN)
    return ML_ERR_BAD_REQUEST;
  if(len)
    memcpy(copy, qs, len);
  copy[len] = '\0';
  while(p < len) {
    char *seg = copy + p;
    char *amp = memchr(seg, '&', len - p);
    size_t seglen = amp ? (size_t)(amp - seg) : len - p;
    char *eq;
    size_t klen;
    p += seglen + 1;
    if(seglen == 0)
      continue;
    if(npairs == QUERY_MAX_PAIRS)
      return ML_ERR_BAD_REQUEST;
    seg[seglen] = '\0';
    eq = memchr(seg, '=', seglen);
    klen = eq ? (size_t)(eq - seg) : seglen;
    if(ml_url_decode(seg, klen, 1) < 0)
      return ML_ERR_BAD_REQUEST;
    pairs[npairs].key = seg;
    if(eq) {
      if(ml_url_decode(eq + 1, seglen - klen - 1, 1) < 0)
        return ML_ERR_BAD_REQUEST;
      pairs[npairs].val = eq + 1;
    } else {
      pairs[npairs].val = "";
    }
    npairs++;
  }
  for(size_t i = 0; !rc && i < npairs; i++)
    rc = cb(ctx, pairs[i].key, pairs[i].val);
  return rc;
}

ml_err ml_query_int(const char *s, int64_t min, int64_t max, int64_t *out) {
  /* Accumulated as a negative number so that INT64_MIN is reachable. */
  int64_t v = 0;
  int neg = 0;
  if(!s)
    return ML_ERR_VALIDATION;
  if(*s == '-') {
    neg = 1;
    s++;
  }
  if(!*s)
    return ML_ERR_VALIDATION;
  for(; *s; s++) {
    int d;
    if(*s < '0' || *s > '9')
      return ML_ERR_VALIDATION;
    d = *s - '0';
    if(v < (INT64_MIN + d) / 10)
      return ML_ERR_VALIDATION;
    v = v * 10 - d;
  }
  if(!neg) {
    if(v == INT64_MIN)
      return ML_ERR_VALIDATION;
    v = -v;
  }
  if(v < min || v > max)
    return ML_ERR_VALIDATION;
  *out = v;
  return ML_OK;
}
