/*
 * store_s3_parse.c - the S3 store's pure parts: its URL, SigV4 query
 * signing (presigned URLs), the XML answers of S3 and the Range header.
 *
 * The XML reader is deliberately small: S3's answers are flat documents of
 * known elements, so it finds elements by name (exact match, not prefix:
 * <Key> is not <KeyCount>), takes their text up to the closing tag and
 * decodes the five predefined entities and numeric references. Anything it
 * does not understand is an error, never a guess.
 */
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/config.h"
#include "http/query.h"
#include "store/store_s3.h"

/* ------------------------------------------------------------------ URL */

static int is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static int hexval(char c) {
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Copies s into out; 0 when it does not fit. */
static int copy_str(char *out, size_t cap, const char *s) {
  size_t n = strlen(s);
  if(n >= cap)
    return 0;
  memcpy(out, s, n + 1);
  return 1;
}

static int bucket_valid(const char *b) {
  size_t n = strlen(b);
  if(n < 3 || n > 63 || !is_alnum_lower(b[0]) || !is_alnum_lower(b[n - 1]))
    return 0;
  for(size_t i = 0; i < n; i++)
    if(!is_alnum_lower(b[i]) && b[i] != '-' && b[i] != '.')
      return 0;
  return 1;
}

/* A key prefix: key characters, '/'-separated, no empty, "." or ".."
 * segment; a missing final '/' is added. */
static int prefix_normalize(char *p, size_t cap) {
  size_t n = strlen(p), seg = 0;
  while(n > 0 && p[0] == '/') {
    memmove(p, p + 1, n);
    n--;
  }
  if(n == 0)
    return 1;
  if(p[n - 1] != '/') {
    if(n + 2 > cap)
      return 0;
    p[n++] = '/';
    p[n] = '\0';
  }
  for(size_t i = 0; i < n; i++) {
    char c = p[i];
    if(c == '/') {
      if(seg == 0 || (seg == 1 && p[i - 1] == '.') ||
         (seg == 2 && p[i - 1] == '.' && p[i - 2] == '.'))
        return 0;
      seg = 0;
      continue;
    }
    if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-'))
      return 0;
    seg++;
  }
  return n < 200;
}

static int endpoint_parse(const char *e, struct ml_store_s3_url *u) {
  const char *host;
  size_t n;
  if(!strncmp(e, "http://", 7)) {
    snprintf(u->scheme, sizeof(u->scheme), "http");
    host = e + 7;
  } else if(!strncmp(e, "https://", 8)) {
    snprintf(u->scheme, sizeof(u->scheme), "https");
    host = e + 8;
  } else {
    return 0;
  }
  n = strlen(host);
  if(n > 0 && host[n - 1] == '/')
    n--;
  if(n == 0 || n >= sizeof(u->host))
    return 0;
  for(size_t i = 0; i < n; i++) {
    char c = host[i];
    if(!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == ':' || c == '[' || c == ']'))
      return 0; /* no path, user info or query: the endpoint is a host */
  }
  memcpy(u->host, host, n);
  u->host[n] = '\0';
  return 1;
}

static int region_valid(const char *r) {
  size_t n = strlen(r);
  if(n == 0 || n > 63)
    return 0;
  for(size_t i = 0; i < n; i++)
    if(!is_alnum_lower(r[i]) && r[i] != '-')
      return 0;
  return 1;
}

static int parse_long(const char *v, long lo, long hi, long *out) {
  char *end;
  long x;
  if(!*v)
    return 0;
  x = strtol(v, &end, 10);
  if(*end || x < lo || x > hi)
    return 0;
  *out = x;
  return 1;
}

ml_err ml_store_s3_url_parse(const char *url, struct ml_store_s3_url *u, struct ml_errbuf *eb) {
  const char *p, *q;
  size_t n;
  char endpoint[512] = "", style[16] = "", prefix[256] = "";
  memset(u, 0, sizeof(*u));
  snprintf(u->region, sizeof(u->region), "us-east-1");
  u->part_size = 16 << 20;
  u->multipart_threshold = 16 << 20;
  u->list_page = 1000;
  u->timeout_s = 30;
  u->connect_timeout_s = 5;
  u->tries = 3;
  if(strncmp(url, "s3://", 5))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: an S3 URL starts with s3://");
  p = url + 5;
  n = strcspn(p, "/?");
  if(n >= sizeof(u->bucket))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: the bucket name is too long");
  memcpy(u->bucket, p, n);
  u->bucket[n] = '\0';
  if(!bucket_valid(u->bucket))
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_STORAGE_URL: '%s' is not a valid bucket name (3-63 of a-z 0-9 . -)",
                   u->bucket);
  p += n;
  if(*p == '/') {
    p++;
    n = strcspn(p, "?");
    if(n >= sizeof(prefix))
      return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: the key prefix is too long");
    memcpy(prefix, p, n);
    prefix[n] = '\0';
    p += n;
  }
  if(*p == '?')
    p++;
  while(*p) {
    char name[32], value[512];
    const char *eq;
    n = strcspn(p, "&");
    q = p + n;
    eq = memchr(p, '=', n);
    if(!eq || (size_t)(eq - p) >= sizeof(name))
      return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: '%.*s' is not name=value", (int)n,
                     p);
    memcpy(name, p, (size_t)(eq - p));
    name[eq - p] = '\0';
    if(ml_url_decode_to(eq + 1, (size_t)(q - eq - 1), value, sizeof(value), 1) < 0)
      return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: the value of %s is malformed", name);
    if(!strcmp(name, "endpoint")) {
      if(!copy_str(endpoint, sizeof(endpoint), value))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: the endpoint is too long");
    } else if(!strcmp(name, "region")) {
      if(!region_valid(value) || !copy_str(u->region, sizeof(u->region), value))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: '%s' is not a region", value);
    } else if(!strcmp(name, "style")) {
      if(!copy_str(style, sizeof(style), value))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: style is path or virtual");
    } else if(!strcmp(name, "prefix")) {
      if(*prefix)
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: the prefix is given twice");
      if(!copy_str(prefix, sizeof(prefix), value))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: the key prefix is too long");
    } else if(!strcmp(name, "part_size") || !strcmp(name, "multipart_threshold")) {
      int64_t v;
      if(ml_config_parse_size(value, &v) || v < 1 || v > ((int64_t)5 << 30))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: %s '%s' is not a size (1..5GiB)",
                       name, value);
      if(name[0] == 'p')
        u->part_size = v;
      else
        u->multipart_threshold = v;
    } else if(!strcmp(name, "list_page")) {
      long v;
      if(!parse_long(value, 1, 1000, &v))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: list_page must be 1..1000");
      u->list_page = (int)v;
    } else if(!strcmp(name, "timeout")) {
      if(!parse_long(value, 1, 3600, &u->timeout_s))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: timeout must be 1..3600 s");
    } else if(!strcmp(name, "connect_timeout")) {
      if(!parse_long(value, 1, 600, &u->connect_timeout_s))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: connect_timeout must be 1..600 s");
    } else if(!strcmp(name, "tries")) {
      long v;
      if(!parse_long(value, 1, 10, &v))
        return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: tries must be 1..10");
      u->tries = (int)v;
    } else
      return ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_STORAGE_URL: unknown parameter '%s' (endpoint, region, style, "
                     "prefix, part_size, multipart_threshold, list_page, timeout, "
                     "connect_timeout, tries)",
                     name);
    p = *q ? q + 1 : q;
  }
  if(*endpoint) {
    if(!endpoint_parse(endpoint, u))
      return ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_STORAGE_URL: endpoint '%s' is not http(s)://host[:port]", endpoint);
  } else {
    snprintf(u->scheme, sizeof(u->scheme), "https");
    snprintf(u->host, sizeof(u->host), "s3.%s.amazonaws.com", u->region);
  }
  if(!*style)
    u->virtual_style = !*endpoint;
  else if(!strcmp(style, "path"))
    u->virtual_style = 0;
  else if(!strcmp(style, "virtual"))
    u->virtual_style = 1;
  else
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_STORAGE_URL: style '%s' is not path or virtual",
                   style);
  if(u->virtual_style && strchr(u->bucket, '.') && !strcmp(u->scheme, "https"))
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_STORAGE_URL: a bucket name with dots breaks TLS in virtual style; "
                   "use style=path");
  if(!prefix_normalize(prefix, sizeof(prefix)))
    return ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_STORAGE_URL: the prefix must be '/'-separated segments of "
                   "A-Z a-z 0-9 . _ -");
  copy_str(u->prefix, sizeof(u->prefix), prefix);
  return ML_OK;
}

ml_err ml_store_s3_target(const struct ml_store_s3_url *u, const char *key, struct ml_buf *host,
                          struct ml_buf *path) {
  ml_err rc = ML_OK;
  if(u->virtual_style)
    rc = ml_buf_addf(host, "%s.%s", u->bucket, u->host);
  else
    rc = ml_buf_adds(host, u->host);
  if(!rc && !u->virtual_style)
    rc = ml_buf_addf(path, "/%s", u->bucket);
  if(!rc && *key)
    rc = ml_buf_addf(path, "/%s%s", u->prefix, key);
  else if(!rc && u->virtual_style)
    rc = ml_buf_addc(path, '/');
  return rc;
}

/* ----------------------------------------------------------- SigV4 query */

ml_err ml_store_s3_uri_encode(struct ml_buf *b, const char *s, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  ml_err rc = ML_OK;
  for(; *s && !rc; s++) {
    unsigned char c = (unsigned char)*s;
    if((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
       c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash))
      rc = ml_buf_addc(b, (char)c);
    else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = ml_buf_add(b, e, 3);
    }
  }
  return rc;
}

static int hmac(const void *key, size_t keylen, const char *data, unsigned char out[32]) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), out,
              &len) != NULL &&
         len == 32;
}

struct qparam {
  char *name; /* encoded */
  char *value;
};

static int qparam_cmp(const void *a, const void *b) {
  const struct qparam *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

#define PRESIGN_MAX_PARAMS 16

ml_err ml_store_s3_presign(const char *access_key, const char *secret_key, const char *region,
                           const char *method, const char *scheme, const char *host,
                           const char *path, const struct ml_store_s3_param *extra, size_t nextra,
                           time_t now, int64_t expires, struct ml_buf *out, struct ml_errbuf *eb) {
  struct ml_store_s3_param base[5];
  struct qparam qp[PRESIGN_MAX_PARAMS];
  struct ml_buf enc, canon, query, secret;
  char date[17], day[9], scope[128], cred[256], exp[24], sts[512], hash_hex[65], sig_hex[65];
  unsigned char md[32], k1[32], k2[32], k3[32], k4[32], sig[32];
  size_t n = 0;
  struct tm tm;
  ml_err rc = ML_OK;
  if(nextra + 5 > PRESIGN_MAX_PARAMS)
    return ml_fail(eb, ML_ERR_INTERNAL, "presign: too many parameters");
  if(expires < 1 || expires > 7 * 86400)
    return ml_fail(eb, ML_ERR_INTERNAL, "presign: expiry must be 1 s .. 7 days");
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
  memcpy(day, date, 8);
  day[8] = '\0';
  snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", day, region);
  snprintf(cred, sizeof(cred), "%s/%s", access_key, scope);
  snprintf(exp, sizeof(exp), "%lld", (long long)expires);
  base[0] = (struct ml_store_s3_param){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
  base[1] = (struct ml_store_s3_param){"X-Amz-Credential", cred};
  base[2] = (struct ml_store_s3_param){"X-Amz-Date", date};
  base[3] = (struct ml_store_s3_param){"X-Amz-Expires", exp};
  base[4] = (struct ml_store_s3_param){"X-Amz-SignedHeaders", "host"};
  ml_buf_init(&enc, 64 * 1024);
  ml_buf_init(&canon, 64 * 1024);
  ml_buf_init(&query, 64 * 1024);
  ml_buf_init(&secret, 1024);
  memset(qp, 0, sizeof(qp));
  /* Encode every name and value, then sort by encoded name (SigV4). */
  for(size_t i = 0; i < 5 + nextra && !rc; i++) {
    const struct ml_store_s3_param *p = i < 5 ? &base[i] : &extra[i - 5];
    ml_buf_reset(&enc);
    rc = ml_store_s3_uri_encode(&enc, p->name, 0);
    if(!rc) {
      qp[n].name = ml_buf_take(&enc, NULL);
      rc = qp[n].name ? ml_store_s3_uri_encode(&enc, p->value, 0) : ML_ERR_NOMEM;
    }
    if(!rc && !enc.data)
      rc = ml_buf_add(&enc, "", 0);
    if(!rc) {
      qp[n].value = ml_buf_take(&enc, NULL);
      rc = qp[n].value ? ML_OK : ML_ERR_NOMEM;
      n++;
    }
  }
  if(rc)
    goto out;
  qsort(qp, n, sizeof(qp[0]), qparam_cmp);
  for(size_t i = 0; i < n && !rc; i++)
    rc = ml_buf_addf(&query, "%s%s=%s", i ? "&" : "", qp[i].name, qp[i].value);
  /* The canonical request. */
  if(!rc)
    rc = ml_buf_addf(&canon, "%s\n", method);
  if(!rc)
    rc = ml_store_s3_uri_encode(&canon, path, 1);
  if(!rc)
    rc = ml_buf_addf(&canon, "\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", query.data, host);
  if(rc)
    goto out;
  SHA256((const unsigned char *)canon.data, canon.len, md);
  ml_hex_encode(md, 32, hash_hex);
  snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, hash_hex);
  /* The signing key: secret -> day -> region -> service -> "aws4_request". */
  rc = ml_buf_addf(&secret, "AWS4%s", secret_key);
  if(rc)
    goto out;
  if(!hmac(secret.data, secret.len, day, k1) || !hmac(k1, 32, region, k2) ||
     !hmac(k2, 32, "s3", k3) || !hmac(k3, 32, "aws4_request", k4) || !hmac(k4, 32, sts, sig)) {
    rc = ml_fail(eb, ML_ERR_INTERNAL, "presign: HMAC-SHA256 failed");
    goto out;
  }
  ml_hex_encode(sig, 32, sig_hex);
  rc = ml_buf_addf(out, "%s://%s", scheme, host);
  if(!rc)
    rc = ml_store_s3_uri_encode(out, path, 1);
  if(!rc)
    rc = ml_buf_addf(out, "?%s&X-Amz-Signature=%s", query.data, sig_hex);
out:
  for(size_t i = 0; i < PRESIGN_MAX_PARAMS; i++) {
    ml_free(qp[i].name);
    ml_free(qp[i].value);
  }
  if(secret.data)
    memset(secret.data, 0, secret.len);
  memset(k1, 0, sizeof(k1));
  memset(k4, 0, sizeof(k4));
  ml_buf_free(&secret);
  ml_buf_free(&enc);
  ml_buf_free(&canon);
  ml_buf_free(&query);
  if(rc == ML_ERR_NOMEM)
    ml_fail(eb, rc, "presign: out of memory");
  return rc;
}

/* ------------------------------------------------------------------ XML */

/* Finds the next element <name> in [p, end): its text span and where the
 * scan continues. 0: none; -1: malformed (no closing tag). A self-closing
 * <name/> has an empty text. */
static int xml_find(const char *p, const char *end, const char *name, const char **text,
                    size_t *tlen, const char **next) {
  size_t nlen = strlen(name);
  while(p < end) {
    const char *lt = memchr(p, '<', (size_t)(end - p)), *gt, *close;
    if(!lt)
      return 0;
    p = lt + 1;
    if((size_t)(end - p) < nlen + 1 || memcmp(p, name, nlen))
      continue;
    gt = p + nlen;
    if(*gt != '>' && *gt != ' ' && *gt != '/' && *gt != '\t' && *gt != '\r' && *gt != '\n')
      continue; /* <KeyCount> is not <Key> */
    gt = memchr(gt, '>', (size_t)(end - gt));
    if(!gt)
      return -1;
    if(gt[-1] == '/') {
      *text = gt;
      *tlen = 0;
      *next = gt + 1;
      return 1;
    }
    /* the closing tag </name> */
    for(close = gt + 1;; close++) {
      close = memchr(close, '<', (size_t)(end - close));
      if(!close || (size_t)(end - close) < nlen + 3)
        return -1;
      if(close[1] == '/' && !memcmp(close + 2, name, nlen) && close[2 + nlen] == '>')
        break;
    }
    *text = gt + 1;
    *tlen = (size_t)(close - gt - 1);
    *next = close + 3 + nlen;
    return 1;
  }
  return 0;
}

static size_t utf8_put(unsigned long cp, char *out) {
  if(cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if(cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if(cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes XML text (entities, character references) into out (NUL-ended);
 * -1 when an entity is unknown or malformed, a '<' appears (markup inside a
 * text we expect plain), or it does not fit. */
static int xml_decode(const char *s, size_t n, char *out, size_t cap) {
  static const struct {
    const char *name;
    char c;
  } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
  size_t o = 0;
  if(cap == 0)
    return -1;
  for(size_t i = 0; i < n;) {
    char buf[4];
    size_t blen = 1;
    if(s[i] == '<' || s[i] == '\0')
      return -1;
    if(s[i] != '&') {
      buf[0] = s[i++];
    } else {
      const char *semi = memchr(s + i, ';', n - i > 12 ? 12 : n - i);
      size_t elen;
      int found = 0;
      if(!semi)
        return -1;
      elen = (size_t)(semi - (s + i + 1));
      if(elen >= 2 && s[i + 1] == '#') {
        unsigned long cp = 0;
        size_t j = i + 2;
        int base = 10, digits = 0;
        if(s[j] == 'x') {
          base = 16;
          j++;
        }
        for(; s + j < semi; j++, digits++) {
          int d = base == 16 ? hexval(s[j]) : (s[j] >= '0' && s[j] <= '9' ? s[j] - '0' : -1);
          if(d < 0 || digits > 6)
            return -1;
          cp = cp * (unsigned long)base + (unsigned long)d;
        }
        if(!digits || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
          return -1;
        blen = utf8_put(cp, buf);
      } else {
        for(size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
          if(strlen(named[k].name) == elen && !memcmp(s + i + 1, named[k].name, elen)) {
            buf[0] = named[k].c;
            found = 1;
            break;
          }
        }
        if(!found)
          return -1;
      }
      i = (size_t)(semi - s) + 1;
    }
    if(o + blen >= cap)
      return -1;
    memcpy(out + o, buf, blen);
    o += blen;
  }
  out[o] = '\0';
  return 0;
}

ml_err ml_store_s3_xml_text(const char *xml, size_t len, const char *name, char *out, size_t cap) {
  const char *text, *next;
  size_t tlen;
  int r = xml_find(xml, xml + len, name, &text, &tlen, &next);
  if(r == 0)
    return ML_ERR_NOT_FOUND;
  if(r < 0 || xml_decode(text, tlen, out, cap))
    return ML_ERR_IO;
  return ML_OK;
}

static int days_from_civil(int y, int m, int d, int64_t *out) {
  /* Howard Hinnant's days_from_civil: no timegm, no TZ, no locale. */
  int64_t era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  *out = era * 146097 + doe - 719468;
  return 0;
}

int64_t ml_store_s3_parse_iso8601(const char *s, size_t len) {
  int v[6] = {0};
  static const int widths[6] = {4, 2, 2, 2, 2, 2};
  static const char seps[6] = {'-', '-', 'T', ':', ':', 0};
  static const int maxes[6] = {9999, 12, 31, 23, 59, 60};
  size_t i = 0;
  int64_t days, ms = 0;
  for(int f = 0; f < 6; f++) {
    for(int k = 0; k < widths[f]; k++, i++) {
      if(i >= len || s[i] < '0' || s[i] > '9')
        return -1;
      v[f] = v[f] * 10 + (s[i] - '0');
    }
    if(v[f] > maxes[f] || (f == 1 && v[f] < 1) || (f == 2 && v[f] < 1))
      return -1;
    if(seps[f]) {
      if(i >= len || s[i] != seps[f])
        return -1;
      i++;
    }
  }
  if(i < len && s[i] == '.') {
    int digits = 0;
    for(i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
      if(digits < 3)
        ms = ms * 10 + (s[i] - '0');
    if(digits == 0)
      return -1;
    for(; digits < 3; digits++)
      ms *= 10;
  }
  if(i + 1 != len || s[i] != 'Z')
    return -1;
  days_from_civil(v[0], v[1], v[2], &days);
  return ((days * 24 + v[3]) * 60 + v[4]) * 60000 + (int64_t)v[5] * 1000 + ms;
}

static int parse_i64(const char *s, int64_t *out) {
  int64_t v = 0;
  if(!*s)
    return -1;
  for(; *s; s++) {
    if(*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 0;
}

ml_err ml_store_s3_parse_list(const char *xml, size_t len,
                              int (*item)(void *ctx, const char *key, int64_t size,
                                          int64_t mtime_ms),
                              void *ctx, int *truncated, char *token, size_t token_cap,
                              int *stopped, struct ml_errbuf *eb) {
  const char *end = xml + len, *p, *text, *next, *root;
  size_t tlen;
  char key[1100], num[32], when[64], trunc[8];
  int r;
  *truncated = 0;
  *stopped = 0;
  if(token_cap)
    token[0] = '\0';
  if(xml_find(xml, end, "ListBucketResult", &root, &tlen, &next) != 1)
    return ml_fail(eb, ML_ERR_IO, "S3 list: not a ListBucketResult");
  end = root + tlen; /* only the root's content */
  p = root;
  while((r = xml_find(p, end, "Contents", &text, &tlen, &next)) == 1) {
    int64_t size = 0, mtime = 0;
    ml_err rc = ml_store_s3_xml_text(text, tlen, "Key", key, sizeof(key));
    if(rc)
      return ml_fail(eb, ML_ERR_IO, "S3 list: a <Contents> without a valid <Key>");
    rc = ml_store_s3_xml_text(text, tlen, "Size", num, sizeof(num));
    if(rc || parse_i64(num, &size))
      return ml_fail(eb, ML_ERR_IO, "S3 list: a <Contents> without a valid <Size>");
    rc = ml_store_s3_xml_text(text, tlen, "LastModified", when, sizeof(when));
    if(rc == ML_OK) {
      mtime = ml_store_s3_parse_iso8601(when, strlen(when));
      if(mtime < 0)
        return ml_fail(eb, ML_ERR_IO, "S3 list: a malformed <LastModified>");
    } else if(rc != ML_ERR_NOT_FOUND) {
      return ml_fail(eb, ML_ERR_IO, "S3 list: a malformed <LastModified>");
    }
    if(item(ctx, key, size, mtime)) {
      *stopped = 1;
      return ML_OK;
    }
    p = next;
  }
  if(r < 0)
    return ml_fail(eb, ML_ERR_IO, "S3 list: truncated <Contents>");
  /* IsTruncated and the token are outside <Contents>, before or after. */
  r = ml_store_s3_xml_text(root, (size_t)(end - root), "IsTruncated", trunc, sizeof(trunc));
  if(r == ML_OK)
    *truncated = !strcmp(trunc, "true");
  else if(r != ML_ERR_NOT_FOUND)
    return ml_fail(eb, ML_ERR_IO, "S3 list: a malformed <IsTruncated>");
  if(*truncated) {
    if(ml_store_s3_xml_text(root, (size_t)(end - root), "NextContinuationToken", token,
                            token_cap) ||
       !token[0])
      return ml_fail(eb, ML_ERR_IO, "S3 list: truncated without a NextContinuationToken");
  }
  return ML_OK;
}

int ml_store_s3_parse_error(const char *xml, size_t len, char *out, size_t cap) {
  const char *root, *next;
  size_t tlen, o;
  char code[128], msg[512];
  if(cap == 0)
    return 0;
  out[0] = '\0';
  if(xml_find(xml, xml + len, "Error", &root, &tlen, &next) != 1)
    return 0;
  if(ml_store_s3_xml_text(root, tlen, "Code", code, sizeof(code)))
    snprintf(code, sizeof(code), "UnknownError");
  if(ml_store_s3_xml_text(root, tlen, "Message", msg, sizeof(msg)))
    msg[0] = '\0';
  snprintf(out, cap, "%s%s%s", code, msg[0] ? ": " : "", msg);
  /* One line for the log: no control characters. */
  for(o = 0; out[o]; o++)
    if((unsigned char)out[o] < 0x20 || out[o] == 0x7f)
      out[o] = ' ';
  return 1;
}

ml_err ml_store_s3_range(uint64_t start, uint64_t len, char *out, size_t cap) {
  int n;
  if(len == 0 || start + len < start)
    return ML_ERR_INTERNAL;
  n = snprintf(out, cap, "bytes=%llu-%llu", (unsigned long long)start,
               (unsigned long long)(start + len - 1));
  if(n < 0 || (size_t)n >= cap)
    return ML_ERR_INTERNAL;
  return ML_OK;
}
