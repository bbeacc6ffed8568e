/*
 * multipart.c - streaming multipart/form-data parser (RFC 7578, RFC 2046).
 *
 * Uploads are gigabytes, so the body is never held: part data is passed on
 * as slices of the caller's own buffers, and the only bytes kept between
 * feeds are a partial delimiter match (at most "\r\n--" + 70) and the header
 * block of the current part (at most 8 KiB), which is also where the decoded
 * name, filename and content type live until the part ends.
 *
 * The delimiter is "\r\n--boundary". A boundary cannot contain CR, so a
 * partial match can only restart at a CR: when a match fails, every byte
 * held so far is data, and the failing byte is looked at again. The body may
 * open with "--boundary", so matching starts as if a CRLF had come first.
 */
#include "http/multipart.h"

#include <string.h>
#include <strings.h>

#include "core/alloc.h"

#define MP_BOUNDARY_MAX 70
#define MP_HDR_MAX 8192
#define MP_MAX_PARTS 64

enum mp_state {
  MP_PREAMBLE,    /* before the first delimiter: discarded */
  MP_AFTER_DELIM, /* a delimiter was seen: "--", padding or CRLF follows */
  MP_CLOSE_DASH,  /* the first '-' of a closing "--" was seen */
  MP_PADDING,     /* transport padding (spaces, tabs) before the CRLF */
  MP_DELIM_LF,    /* the CR ending a delimiter line was seen */
  MP_HEADERS,     /* collecting a part's header block */
  MP_DATA,        /* a part's content */
  MP_EPILOGUE,    /* after the closing delimiter: discarded */
  MP_FAILED       /* refused; every later call repeats the error */
};

struct ml_multipart {
  const struct ml_multipart_cb *cb;
  void *ctx;
  enum mp_state state;
  ml_err failed_rc;
  size_t match; /* bytes of delim matched: held, not yet data */
  size_t dlen;
  unsigned nparts;
  unsigned long long offset; /* body bytes before the current feed */
  size_t hlen;
  char delim[4 + MP_BOUNDARY_MAX + 1];
  char hdr[MP_HDR_MAX + 1];
};

/* RFC 2046 bchars */
static int is_bchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("'()+_,-./:=? ", c));
}

static int boundary_ok(const char *b, size_t len) {
  if(len < 1 || len > MP_BOUNDARY_MAX || b[len - 1] == ' ')
    return 0;
  for(size_t i = 0; i < len; i++)
    if(!is_bchar((unsigned char)b[i]))
      return 0;
  return 1;
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static const char *skip_ows(const char *p) {
  while(is_ows(*p))
    p++;
  return p;
}

/* A parameter value (token or quoted-string) at *pp, unescaped into dst
 * (dstsz bytes with its NUL; NULL dst only skips it). -1 when malformed or
 * too long. */
static int param_value(const char **pp, char *dst, size_t dstsz) {
  const char *r = *pp;
  size_t w = 0;
  if(*r == '"') {
    for(r++;; r++) {
      unsigned char c = (unsigned char)*r;
      if(c == '"')
        break;
      if(c == '\\')
        c = (unsigned char)*++r;
      if(!c || (c < 0x20 && c != '\t') || c == 0x7F)
        return -1;
      if(dst) {
        if(w + 1 >= dstsz)
          return -1;
        dst[w] = (char)c;
      }
      w++;
    }
    r++;
  } else {
    if(!is_tchar((unsigned char)*r))
      return -1;
    for(; is_tchar((unsigned char)*r); r++) {
      if(dst) {
        if(w + 1 >= dstsz)
          return -1;
        dst[w] = *r;
      }
      w++;
    }
  }
  if(dst)
    dst[w] = '\0';
  *pp = r;
  return 0;
}

ml_err ml_multipart_boundary(const char *content_type, char *out, size_t outlen) {
  const char *p = content_type;
  int found = 0;
  if(!p || !out || outlen < 1)
    return ML_ERR_BAD_REQUEST;
  out[0] = '\0';
  p = skip_ows(p);
  if(strncasecmp(p, "multipart/form-data", 19))
    return ML_ERR_BAD_REQUEST;
  p += 19;
  for(;;) {
    const char *key;
    size_t keylen;
    int is_boundary;
    p = skip_ows(p);
    if(!*p)
      break;
    if(*p != ';')
      return ML_ERR_BAD_REQUEST;
    p = skip_ows(p + 1);
    if(!*p || *p == ';')
      continue;
    for(key = p; is_tchar((unsigned char)*p); p++)
      ;
    keylen = (size_t)(p - key);
    if(!keylen || *p != '=')
      return ML_ERR_BAD_REQUEST;
    p++;
    is_boundary = keylen == 8 && !strncasecmp(key, "boundary", 8);
    if(is_boundary && found)
      return ML_ERR_BAD_REQUEST; /* two boundaries: no guessing which one */
    if(param_value(&p, is_boundary ? out : NULL, outlen))
      return ML_ERR_BAD_REQUEST;
    found |= is_boundary;
  }
  if(!found || !boundary_ok(out, strlen(out))) {
    out[0] = '\0';
    return ML_ERR_BAD_REQUEST;
  }
  return ML_OK;
}

ml_err ml_multipart_create(const char *boundary, const struct ml_multipart_cb *cb, void *ctx,
                           struct ml_multipart **out) {
  struct ml_multipart *mp;
  size_t blen;
  *out = NULL;
  if(!boundary || !cb)
    return ML_ERR_BAD_REQUEST;
  blen = strnlen(boundary, MP_BOUNDARY_MAX + 1);
  if(!boundary_ok(boundary, blen))
    return ML_ERR_BAD_REQUEST;
  mp = ml_calloc(1, sizeof(*mp));
  if(!mp)
    return ML_ERR_NOMEM;
  mp->cb = cb;
  mp->ctx = ctx;
  mp->state = MP_PREAMBLE;
  memcpy(mp->delim, "\r\n--", 4);
  memcpy(mp->delim + 4, boundary, blen);
  mp->dlen = blen + 4;
  mp->match = 2; /* the CRLF before a first "--boundary" at offset 0 */
  *out = mp;
  return ML_OK;
}

void ml_multipart_destroy(struct ml_multipart **mp) {
  if(!mp || !*mp)
    return;
  ml_free(*mp);
  *mp = NULL;
}

static ml_err emit_data(struct ml_multipart *mp, const char *data, size_t len) {
  if(!len || !mp->cb->part_data)
    return ML_OK;
  return mp->cb->part_data(mp->ctx, data, len);
}

/* Preamble or part content up to the next delimiter; *ip moves past the
 * delimiter when one is found, else to len. */
static ml_err scan_body(struct ml_multipart *mp, const char *data, size_t len, size_t *ip) {
  size_t i = *ip, run = *ip, mstart = *ip, carry = mp->match, end;
  int is_data = mp->state == MP_DATA;
  ml_err rc = ML_OK;
  while(i < len) {
    if(mp->match == 0) {
      const char *cr = memchr(data + i, '\r', len - i);
      if(!cr) {
        i = len;
        break;
      }
      i = (size_t)(cr - data);
      mstart = i++;
      mp->match = 1;
      continue;
    }
    if(data[i] == mp->delim[mp->match]) {
      i++;
      if(++mp->match < mp->dlen)
        continue;
      /* A whole delimiter: the bytes before it end the part. Bytes carried
       * from earlier feeds were all delimiter, so they are dropped. */
      mp->match = 0;
      mp->state = MP_AFTER_DELIM;
      *ip = i;
      if(is_data) {
        rc = emit_data(mp, data + run, carry ? 0 : mstart - run);
        if(!rc && mp->cb->part_end)
          rc = mp->cb->part_end(mp->ctx);
      }
      return rc;
    }
    /* No delimiter after all: the held bytes are data. Those carried from an
     * earlier feed come before everything in this one; those from this feed
     * simply stay in the run. data[i] is examined again. */
    if(carry && is_data) {
      rc = emit_data(mp, mp->delim, carry);
      if(rc)
        return rc;
    }
    carry = 0;
    mp->match = 0;
  }
  *ip = len;
  /* Pass on all but a partial delimiter, which stays held. */
  if(!mp->match)
    end = len;
  else if(carry)
    end = run;
  else
    end = mstart;
  if(is_data)
    rc = emit_data(mp, data + run, end - run);
  return rc;
}

/* The filename*= ext-value (RFC 8187) in s, decoded in place to UTF-8.
 * -1 when malformed or for an unsupported charset. A decoded NUL (%00) is
 * dropped: the name is only cleaned metadata (filename.h), and refusing the
 * upload over it would help nobody (TESTING.md U3). */
static int ext_value(char *s) {
  char *q1 = strchr(s, '\''), *q2, *r, *w = s;
  int latin1;
  if(!q1)
    return -1;
  if(q1 - s == 5 && !strncasecmp(s, "UTF-8", 5))
    latin1 = 0;
  else if(q1 - s == 10 && !strncasecmp(s, "ISO-8859-1", 10))
    latin1 = 1;
  else
    return -1;
  q2 = strchr(q1 + 1, '\''); /* the language tag between them is ignored */
  if(!q2)
    return -1;
  for(r = q2 + 1; *r;) {
    unsigned char c = (unsigned char)*r;
    if(c == '%') {
      int v = 0;
      for(int k = 1; k <= 2; k++) {
        char h = r[k];
        v <<= 4;
        if(h >= '0' && h <= '9')
          v |= h - '0';
        else if(h >= 'a' && h <= 'f')
          v |= h - 'a' + 10;
        else if(h >= 'A' && h <= 'F')
          v |= h - 'A' + 10;
        else
          return -1;
      }
      r += 3;
      if(!v)
        continue;
      c = (unsigned char)v;
    } else if(c > 0x20 && c < 0x7F) {
      r++;
    } else {
      return -1;
    }
    /* Each output is no longer than its input (a %XX triple gives at most
     * two bytes), so decoding in place never overtakes the reader. */
    if(latin1 && c >= 0x80) {
      *w++ = (char)(0xC0 | (c >> 6));
      *w++ = (char)(0x80 | (c & 0x3F));
    } else {
      *w++ = (char)c;
    }
  }
  *w = '\0';
  return 0;
}

struct part_info {
  const char *name;
  const char *filename;
  const char *content_type;
};

static ml_err bad_disposition(const struct ml_multipart *mp, struct ml_errbuf *eb) {
  return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u has a malformed Content-Disposition",
                 mp->nparts);
}

/* The parameters of a Content-Disposition value after its type token, at p:
 * "; name=\"x\"; filename=\"y\"; filename*=..." (RFC 6266, RFC 7578). Each
 * value is decoded in place: it is written one byte before where it was read
 * (over the '=' or a space), so it never overwrites anything not yet parsed.
 * name, fname and fstar get the values of those parameters (NULL when
 * absent; fstar still encoded); others are skipped. Returns 0, -1 when
 * malformed, or -2 when a parameter is repeated (*repeated names it, with
 * *repeated_len bytes). */
static int disposition_params(char *p, char **name, char **fname, char **fstar,
                              const char **repeated, size_t *repeated_len) {
  *name = *fname = *fstar = NULL;
  for(;;) {
    char *key, *dst, **slot = NULL;
    size_t keylen;
    while(is_ows(*p))
      p++;
    if(!*p)
      return 0;
    if(*p != ';')
      return -1;
    p++;
    while(is_ows(*p))
      p++;
    if(!*p || *p == ';')
      continue;
    for(key = p; is_tchar((unsigned char)*p); p++)
      ;
    keylen = (size_t)(p - key);
    while(is_ows(*p))
      p++;
    if(!keylen || *p != '=')
      return -1;
    p++;
    while(is_ows(*p))
      p++;
    dst = p - 1;
    if(keylen == 4 && !strncasecmp(key, "name", 4))
      slot = name;
    else if(keylen == 8 && !strncasecmp(key, "filename", 8))
      slot = fname;
    else if(keylen == 9 && !strncasecmp(key, "filename*", 9))
      slot = fstar;
    if(slot && *slot) {
      *repeated = key;
      *repeated_len = keylen;
      return -2;
    }
    {
      const char *r = p;
      if(param_value(&r, dst, (size_t)-1))
        return -1;
      p += r - p;
    }
    if(slot)
      *slot = dst;
  }
}

/* Content-Disposition: form-data; name="x"; filename="y"; filename*=...,
 * decoded in place (disposition_params). */
static ml_err parse_disposition(struct ml_multipart *mp, char *v, struct part_info *pi,
                                struct ml_errbuf *eb) {
  char *p = v, *fname, *fstar, *name;
  const char *type = p, *rep = NULL;
  size_t replen = 0;
  int prc;
  while(is_tchar((unsigned char)*p))
    p++;
  if(p - type != 9 || strncasecmp(type, "form-data", 9))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u is not form-data", mp->nparts);
  prc = disposition_params(p, &name, &fname, &fstar, &rep, &replen);
  if(prc == -2)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u repeats the parameter %.*s",
                   mp->nparts, (int)replen, rep);
  if(prc)
    return bad_disposition(mp, eb);
  if(fstar && ext_value(fstar))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u has a malformed filename*",
                   mp->nparts);
  pi->name = name ? name : "";
  pi->filename = fstar ? fstar : fname;
  return ML_OK;
}

int ml_multipart_disposition_filename(const char *value, char *out, size_t outlen) {
  char copy[8192], *p = copy, *name, *fname, *fstar;
  const char *rep, *pick;
  size_t replen, n = value ? strlen(value) : sizeof(copy);
  if(n >= sizeof(copy) || !outlen)
    return -1;
  memcpy(copy, value, n + 1);
  p = (char *)skip_ows(p);
  if(!is_tchar((unsigned char)*p))
    return -1;
  while(is_tchar((unsigned char)*p)) /* attachment, inline, or any other type */
    p++;
  if(disposition_params(p, &name, &fname, &fstar, &rep, &replen))
    return -1;
  if(fstar && ext_value(fstar))
    return -1;
  pick = fstar ? fstar : fname;
  if(!pick || strlen(pick) >= outlen)
    return -1;
  memcpy(out, pick, strlen(pick) + 1);
  return 0;
}

/* The complete header block in mp->hdr (ending with an empty line). Lines
 * become NUL-terminated in place; the strings in *pi point into mp->hdr. */
static ml_err parse_headers(struct ml_multipart *mp, struct part_info *pi, struct ml_errbuf *eb) {
  char *s = mp->hdr, *end = mp->hdr + mp->hlen - 2; /* without the empty line */
  int have_disp = 0, have_type = 0;
  ml_err rc = ML_OK;
  pi->name = "";
  pi->filename = NULL;
  pi->content_type = NULL;
  while(s < end) {
    char *eol = s, *colon, *val, *vend;
    for(; eol < end && *eol != '\r'; eol++) {
      unsigned char c = (unsigned char)*eol;
      if((c < 0x20 && c != '\t') || c == 0x7F)
        return ml_fail(eb, ML_ERR_BAD_REQUEST,
                       "multipart: part %u has a control character in its headers", mp->nparts);
    }
    if(eol >= end || eol[1] != '\n')
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u has a header line without CRLF",
                     mp->nparts);
    *eol = '\0';
    for(colon = s; is_tchar((unsigned char)*colon); colon++)
      ;
    if(colon == s || *colon != ':')
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u has a malformed header line",
                     mp->nparts);
    val = (char *)skip_ows(colon + 1);
    for(vend = eol; vend > val && is_ows(vend[-1]); vend--)
      ;
    *vend = '\0';
    if(colon - s == 19 && !strncasecmp(s, "Content-Disposition", 19)) {
      if(have_disp++)
        return ml_fail(eb, ML_ERR_BAD_REQUEST,
                       "multipart: part %u has two Content-Disposition headers", mp->nparts);
      rc = parse_disposition(mp, val, pi, eb);
      if(rc)
        return rc;
    } else if(colon - s == 12 && !strncasecmp(s, "Content-Type", 12)) {
      if(have_type++)
        return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u has two Content-Type headers",
                       mp->nparts);
      pi->content_type = *val ? val : NULL;
    }
    s = eol + 2;
  }
  if(!have_disp)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: part %u has no Content-Disposition",
                   mp->nparts);
  return ML_OK;
}

/* Collects the header block; when it is complete, starts the part. */
static ml_err scan_headers(struct ml_multipart *mp, const char *data, size_t len, size_t *ip,
                           struct ml_errbuf *eb) {
  size_t i = *ip;
  ml_err rc = ML_OK;
  while(i < len) {
    size_t room = MP_HDR_MAX - mp->hlen, n = len - i;
    const char *nl;
    struct part_info pi;
    if(!room) {
      rc = ml_fail(eb, ML_ERR_BAD_REQUEST,
                   "multipart: part %u headers exceed %d bytes (at byte %llu)", mp->nparts,
                   MP_HDR_MAX, mp->offset + i);
      break;
    }
    if(n > room)
      n = room;
    nl = memchr(data + i, '\n', n);
    if(nl)
      n = (size_t)(nl - (data + i)) + 1;
    memcpy(mp->hdr + mp->hlen, data + i, n);
    mp->hlen += n;
    i += n;
    if(!nl)
      continue;
    if(mp->hlen < 2 || mp->hdr[mp->hlen - 2] != '\r') {
      rc = ml_fail(eb, ML_ERR_BAD_REQUEST,
                   "multipart: part %u has a header line without CRLF (at byte %llu)", mp->nparts,
                   mp->offset + i - 1);
      break;
    }
    if(!(mp->hlen == 2 && !memcmp(mp->hdr, "\r\n", 2)) &&
       !(mp->hlen >= 4 && !memcmp(mp->hdr + mp->hlen - 4, "\r\n\r\n", 4)))
      continue;
    mp->hdr[mp->hlen] = '\0';
    rc = parse_headers(mp, &pi, eb);
    if(!rc && mp->cb->part_begin)
      rc = mp->cb->part_begin(mp->ctx, pi.name, pi.filename, pi.content_type);
    mp->state = MP_DATA;
    mp->match = 0;
    break;
  }
  *ip = i;
  return rc;
}

ml_err ml_multipart_feed(struct ml_multipart *mp, const char *data, size_t len,
                         struct ml_errbuf *eb) {
  size_t i = 0;
  ml_err rc = ML_OK;
  if(mp->state == MP_FAILED)
    return ml_fail(eb, mp->failed_rc, "multipart: the body was already refused");
  while(!rc && i < len) {
    char c;
    switch(mp->state) {
    case MP_PREAMBLE:
    case MP_DATA: rc = scan_body(mp, data, len, &i); break;
    case MP_HEADERS: rc = scan_headers(mp, data, len, &i, eb); break;
    case MP_AFTER_DELIM:
      c = data[i++];
      if(c == '-')
        mp->state = MP_CLOSE_DASH;
      else if(c == '\r')
        mp->state = MP_DELIM_LF;
      else if(is_ows(c))
        mp->state = MP_PADDING;
      else
        rc = ml_fail(eb, ML_ERR_BAD_REQUEST,
                     "multipart: unexpected byte after a boundary "
                     "(at byte %llu)",
                     mp->offset + i - 1);
      break;
    case MP_CLOSE_DASH:
      if(data[i++] == '-')
        mp->state = MP_EPILOGUE;
      else
        rc = ml_fail(eb, ML_ERR_BAD_REQUEST,
                     "multipart: unexpected byte after a boundary "
                     "(at byte %llu)",
                     mp->offset + i - 1);
      break;
    case MP_PADDING:
      c = data[i++];
      if(c == '\r')
        mp->state = MP_DELIM_LF;
      else if(!is_ows(c))
        rc = ml_fail(eb, ML_ERR_BAD_REQUEST,
                     "multipart: unexpected byte after a boundary "
                     "(at byte %llu)",
                     mp->offset + i - 1);
      break;
    case MP_DELIM_LF:
      if(data[i++] != '\n') {
        rc = ml_fail(eb, ML_ERR_BAD_REQUEST,
                     "multipart: boundary line not ended by CRLF "
                     "(at byte %llu)",
                     mp->offset + i - 1);
      } else if(mp->nparts == MP_MAX_PARTS) {
        rc = ml_fail(eb, ML_ERR_BAD_REQUEST, "multipart: more than %d parts", MP_MAX_PARTS);
      } else {
        mp->nparts++;
        mp->hlen = 0;
        mp->state = MP_HEADERS;
      }
      break;
    case MP_EPILOGUE: i = len; break;
    case MP_FAILED: rc = mp->failed_rc; break;
    }
  }
  if(rc) {
    mp->state = MP_FAILED;
    mp->failed_rc = rc;
  }
  mp->offset += len;
  return rc;
}

ml_err ml_multipart_finish(struct ml_multipart *mp, struct ml_errbuf *eb) {
  switch(mp->state) {
  case MP_EPILOGUE: return ML_OK;
  case MP_FAILED: return ml_fail(eb, mp->failed_rc, "multipart: the body was already refused");
  case MP_PREAMBLE: return ml_fail(eb, ML_ERR_TRUNCATED, "multipart: the body has no boundary");
  case MP_HEADERS:
    return ml_fail(eb, ML_ERR_TRUNCATED, "multipart: the body ended in the headers of part %u",
                   mp->nparts);
  case MP_DATA:
    return ml_fail(eb, ML_ERR_TRUNCATED, "multipart: the body ended in part %u", mp->nparts);
  default:
    return ml_fail(eb, ML_ERR_TRUNCATED, "multipart: the body ended before the closing boundary");
  }
}
