/* buf.c - bounded growable buffer, JSON string and URL encoders. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void ml_buf_init(struct ml_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void ml_buf_free(struct ml_buf *b) {
  ml_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void ml_buf_reset(struct ml_buf *b) {
  b->len = 0;
  if(b->data)
    b->data[0] = '\0';
}

char *ml_buf_take(struct ml_buf *b, size_t *len) {
  char *d = b->data;
  if(len)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

static ml_err ensure(struct ml_buf *b, size_t extra) {
  size_t need, ncap;
  char *nd;
  if(extra > b->max || b->len > b->max - extra)
    return ML_ERR_TOO_LARGE;
  need = b->len + extra + 1;
  if(need <= b->cap)
    return ML_OK;
  ncap = b->cap ? b->cap : 256;
  while(ncap < need)
    ncap *= 2;
  if(ncap > b->max + 1)
    ncap = b->max + 1;
  nd = ml_realloc(b->data, ncap);
  if(!nd)
    return ML_ERR_NOMEM;
  b->data = nd;
  b->cap = ncap;
  return ML_OK;
}

ml_err ml_buf_reserve(struct ml_buf *b, size_t n) {
  ml_err rc = ensure(b, n);
  if(!rc)
    b->data[b->len] = '\0';
  return rc;
}

ml_err ml_buf_add(struct ml_buf *b, const void *data, size_t len) {
  ml_err rc = ensure(b, len);
  if(rc)
    return rc;
  if(len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return ML_OK;
}

ml_err ml_buf_adds(struct ml_buf *b, const char *s) { return ml_buf_add(b, s, strlen(s)); }

ml_err ml_buf_addc(struct ml_buf *b, char c) { return ml_buf_add(b, &c, 1); }

ml_err ml_buf_addf(struct ml_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  ml_err rc;
  char small[256];
  va_start(ap, fmt);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if(n < 0)
    return ML_ERR_INTERNAL;
  if((size_t)n < sizeof(small))
    return ml_buf_add(b, small, (size_t)n);
  rc = ensure(b, (size_t)n);
  if(rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return ML_OK;
}

/* Decimal formatting by hand: printf's machinery showed up at the top of
 * the list endpoint's profile. */
ml_err ml_buf_addi(struct ml_buf *b, int64_t v) {
  char tmp[24];
  char *p = tmp + sizeof(tmp);
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while(u);
  if(v < 0)
    *--p = '-';
  return ml_buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

size_t ml_utf8_decode(const unsigned char *s, size_t n, unsigned *cpout) {
  unsigned c = s[0], cp;
  size_t len, i;
  if(c < 0x80) {
    if(cpout)
      *cpout = c;
    return 1;
  }
  if(c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if(c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if(c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else
    return 0;
  if(n < len)
    return 0;
  for(i = 1; i < len; i++) {
    if((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
     (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  if(cpout)
    *cpout = cp;
  return len;
}

ml_err ml_buf_json_strn(struct ml_buf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, run = 0;
  ml_err rc = ml_buf_addc(b, '"');
  while(!rc && i < n) {
    unsigned char c = s[i];
    size_t seq;
    const char *esc = NULL;
    char ubuf[8];
    if(c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      run++;
      i++;
      continue;
    }
    if(run) {
      rc = ml_buf_add(b, s + i - run, run);
      run = 0;
      if(rc)
        break;
    }
    switch(c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    default: break;
    }
    if(esc) {
      rc = ml_buf_adds(b, esc);
      i++;
    } else if(c < 0x20) {
      snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
      rc = ml_buf_adds(b, ubuf);
      i++;
    } else {
      seq = ml_utf8_decode(s + i, n - i, NULL);
      if(seq) {
        rc = ml_buf_add(b, s + i, seq);
        i += seq;
      } else {
        rc = ml_buf_adds(b, "\xEF\xBF\xBD");
        i++;
      }
    }
  }
  if(!rc && run)
    rc = ml_buf_add(b, s + n - run, run);
  if(!rc)
    rc = ml_buf_addc(b, '"');
  return rc;
}

ml_err ml_buf_json_str(struct ml_buf *b, const char *s) {
  if(!s)
    return ml_buf_add(b, "null", 4);
  return ml_buf_json_strn(b, s, strlen(s));
}

ml_err ml_buf_url_encode(struct ml_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  ml_err rc = ML_OK;
  for(; *s && !rc; s++) {
    unsigned char c = (unsigned char)*s;
    if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
       c == '.' || c == '_' || c == '~') {
      rc = ml_buf_addc(b, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = ml_buf_add(b, e, 3);
    }
  }
  return rc;
}

int ml_utf8_valid(const char *str, size_t len, size_t *nchars) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, n = 0;
  while(i < len) {
    size_t seq = ml_utf8_decode(s + i, len - i, NULL);
    if(!seq)
      return 0;
    i += seq;
    n++;
  }
  if(nchars)
    *nchars = n;
  return 1;
}

void ml_hex_encode(const void *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *p = in;
  for(size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}
