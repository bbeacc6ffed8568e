/*
 * range.c - parses the Range header (RFC 9110 section 14.2) into one byte
 * range. Several ranges get the whole representation, so a client cannot
 * make the server assemble multipart/byteranges answers from 200 overlapping
 * ranges; any syntax error makes the header ignored, as the RFC asks.
 */
#include "http/range.h"

#include <string.h>
#include <strings.h>

#define RANGE_HEADER_MAX 4096

/* What one range-spec of the list says about the representation. */
enum spec_kind { SPEC_BAD, SPEC_UNSAT, SPEC_OK };

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads 1*DIGIT at *p into *out; 0 on success, -1 when there is no digit or
 * the number does not fit in 64 bits (such a range is treated as garbage
 * rather than guessed at). */
static int parse_u64(const char **p, const char *end, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if(s >= end || !is_digit(*s))
    return -1;
  for(; s < end && is_digit(*s); s++) {
    unsigned d = (unsigned)(*s - '0');
    if(v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *p = s;
  *out = v;
  return 0;
}

/* One range-spec in [s, end), already stripped of the list's whitespace. */
static enum spec_kind parse_spec(const char *s, const char *end, uint64_t size, uint64_t *start,
                                 uint64_t *len) {
  uint64_t first, last;
  if(s < end && *s == '-') {
    /* suffix-range: the last N bytes */
    s++;
    if(parse_u64(&s, end, &last) || s != end)
      return SPEC_BAD;
    if(last == 0 || size == 0)
      return SPEC_UNSAT;
    if(last > size)
      last = size;
    *start = size - last;
    *len = last;
    return SPEC_OK;
  }
  if(parse_u64(&s, end, &first) || s >= end || *s != '-')
    return SPEC_BAD;
  s++;
  if(s == end) {
    last = UINT64_MAX; /* "first-": to the end */
  } else {
    if(parse_u64(&s, end, &last) || s != end)
      return SPEC_BAD;
    if(last < first)
      return SPEC_BAD;
  }
  if(first >= size)
    return SPEC_UNSAT;
  if(last > size - 1)
    last = size - 1;
  *start = first;
  *len = last - first + 1;
  return SPEC_OK;
}

enum ml_range_result ml_range_parse(const char *header, uint64_t size, uint64_t *start,
                                    uint64_t *len) {
  const char *p, *end;
  size_t hlen;
  unsigned nspecs = 0, nsat = 0;
  uint64_t s0 = 0, l0 = 0;
  *start = 0;
  *len = 0;
  if(!header)
    return ML_RANGE_NONE;
  hlen = strnlen(header, RANGE_HEADER_MAX + 1);
  if(hlen > RANGE_HEADER_MAX)
    return ML_RANGE_NONE;
  if(hlen < 6 || strncasecmp(header, "bytes=", 6))
    return ML_RANGE_NONE;
  p = header + 6;
  end = header + hlen;
  /* range-set = 1#range-spec: elements separated by commas with optional
   * whitespace around them; empty elements are allowed and skipped. */
  while(p < end) {
    const char *e = memchr(p, ',', (size_t)(end - p));
    const char *se;
    uint64_t s1, l1;
    enum spec_kind k;
    if(!e)
      e = end;
    se = e;
    if(p != header + 6) { /* whitespace only next to a comma */
      while(p < se && is_ows(*p))
        p++;
    }
    if(e != end) {
      while(se > p && is_ows(se[-1]))
        se--;
    }
    if(p != se) {
      k = parse_spec(p, se, size, &s1, &l1);
      if(k == SPEC_BAD)
        return ML_RANGE_NONE;
      nspecs++;
      if(k == SPEC_OK) {
        nsat++;
        s0 = s1;
        l0 = l1;
      }
    }
    p = e == end ? end : e + 1;
  }
  if(nspecs == 0)
    return ML_RANGE_NONE;
  if(nsat == 0)
    return ML_RANGE_UNSATISFIABLE;
  if(nspecs > 1)
    return ML_RANGE_NONE;
  *start = s0;
  *len = l0;
  return ML_RANGE_OK;
}
