/*
 * cond.c - evaluates If-None-Match, If-Modified-Since and If-Range (RFC 9110
 * section 13) for GET and HEAD. Anything malformed counts as "no match", so
 * a bad header only ever costs a full 200 answer, never a wrong 304 or a
 * range spliced from another version of the file.
 */
#include "http/cond.h"

#include <string.h>

#include "core/timeutil.h"

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* etagc = %x21 / %x23-7E / obs-text */
static int is_etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7F); }

/* Parses one entity-tag at *p: sets the opaque tag (with its quotes) in
 * *op and *oplen, sets *weak, advances *p. -1 when malformed. */
static int parse_etag(const char **p, const char **op, size_t *oplen, int *weak) {
  const char *s = *p;
  *weak = 0;
  if(s[0] == 'W' && s[1] == '/') {
    *weak = 1;
    s += 2;
  }
  if(*s != '"')
    return -1;
  *op = s++;
  while(is_etagc((unsigned char)*s))
    s++;
  if(*s != '"')
    return -1;
  s++;
  *oplen = (size_t)(s - *op);
  *p = s;
  return 0;
}

/* The server's own tag, split like a received one; -1 when it is not a
 * valid entity-tag (then nothing can match it). */
static int split_own(const char *etag, const char **op, size_t *oplen, int *weak) {
  const char *p = etag;
  if(!etag || parse_etag(&p, op, oplen, weak) || *p)
    return -1;
  return 0;
}

int ml_cond_none_match(const char *if_none_match, const char *etag) {
  const char *p = if_none_match, *own;
  size_t ownlen;
  int ownweak, matched = 0, elems = 0;
  if(!p || split_own(etag, &own, &ownlen, &ownweak))
    return 0;
  while(is_ows(*p))
    p++;
  if(*p == '*') {
    p++;
    while(is_ows(*p))
      p++;
    return *p == '\0';
  }
  /* #entity-tag: the whole list is read before answering, so that a
   * malformed tail cannot ride on an early match. */
  for(;;) {
    const char *op;
    size_t oplen;
    int weak;
    while(is_ows(*p))
      p++;
    if(*p == ',') {
      p++;
      continue;
    }
    if(!*p)
      break;
    if(parse_etag(&p, &op, &oplen, &weak))
      return 0;
    elems++;
    if(oplen == ownlen && !memcmp(op, own, ownlen))
      matched = 1; /* weak comparison: W/ is ignored on both sides */
    while(is_ows(*p))
      p++;
    if(*p == ',')
      p++;
    else if(*p)
      return 0;
  }
  return elems > 0 && matched;
}

int ml_cond_not_modified(const char *if_none_match, const char *if_modified_since, const char *etag,
                         time_t last_modified) {
  time_t since;
  if(if_none_match)
    return ml_cond_none_match(if_none_match, etag);
  if(!if_modified_since || ml_time_http_parse(if_modified_since, &since))
    return 0;
  return last_modified <= since;
}

int ml_cond_if_range(const char *if_range, const char *etag, time_t last_modified) {
  const char *p = if_range, *op, *own;
  size_t oplen, ownlen;
  int weak, ownweak;
  time_t t;
  if(!if_range)
    return 1;
  while(is_ows(*p))
    p++;
  if(*p == '"' || (p[0] == 'W' && p[1] == '/')) {
    if(parse_etag(&p, &op, &oplen, &weak))
      return 0;
    while(is_ows(*p))
      p++;
    if(*p || weak || split_own(etag, &own, &ownlen, &ownweak) || ownweak)
      return 0;
    return oplen == ownlen && !memcmp(op, own, ownlen);
  }
  if(ml_time_http_parse(p, &t))
    return 0;
  return t == last_modified;
}
