/*
 * transform.c - the transform segment of a derived image's URL: a strict
 * parser, the canonical form, the preset table, output size and format
 * planning, and the HMAC that signs a free-form transform.
 *
 * Pure computation over attacker bytes: every length is checked before it
 * is used, nothing here trusts a NUL terminator in a path segment, and no
 * message written to the error buffer contains request bytes.
 */
#include "image/transform.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"
#include "core/buf.h"

#define SIGN_PATH_MAX 4096
#define HMAC_SHA256_LEN 32

/* ---- parsing ---- */

/* The keys of a free-form transform, as bits of a "seen" mask. */
enum {
  KEY_W = 1 << 0,
  KEY_H = 1 << 1,
  KEY_C = 1 << 2,
  KEY_F = 1 << 3,
  KEY_Q = 1 << 4,
  KEY_T = 1 << 5
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Plain decimal in s[0..n): at least one digit, no sign, no leading zero,
 * and at most max. -1 otherwise (an overlong number is refused digit by
 * digit, before it could overflow). */
static int parse_uint(const char *s, size_t n, int max) {
  int v = 0;
  if(n == 0 || (s[0] == '0' && n > 1))
    return -1;
  for(size_t i = 0; i < n; i++) {
    if(!is_digit(s[i]))
      return -1;
    v = v * 10 + (s[i] - '0');
    if(v > max)
      return -1;
  }
  return v;
}

static int bytes_equal(const char *s, size_t n, const char *lit) {
  size_t l = strlen(lit);
  return n == l && memcmp(s, lit, l) == 0;
}

static const char *const format_names[] = {"", "jpeg", "png", "webp", "avif", "auto"};
static const char *const format_mimes[] = {NULL,         "image/jpeg", "image/png",
                                           "image/webp", "image/avif", NULL};
static const char *const crop_names[] = {"fit", "fill", "limit"};

/* One "key_value" item in s[0..n); updates *t and *seen. */
static ml_err parse_item(const char *s, size_t n, const struct ml_transform_presets *presets,
                         struct ml_transform *t, unsigned *seen, struct ml_errbuf *eb) {
  const char *v;
  size_t vn;
  unsigned key;
  int num;

  if(n == 0)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "transform has an empty item");
  if(n < 2 || s[1] != '_')
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "transform has an unknown key");
  switch(s[0]) {
  case 'w': key = KEY_W; break;
  case 'h': key = KEY_H; break;
  case 'c': key = KEY_C; break;
  case 'f': key = KEY_F; break;
  case 'q': key = KEY_Q; break;
  case 't': key = KEY_T; break;
  default: return ml_fail(eb, ML_ERR_BAD_REQUEST, "transform has an unknown key");
  }
  if(*seen & key)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "transform repeats the key %c_", s[0]);
  *seen |= key;
  v = s + 2;
  vn = n - 2;

  switch(key) {
  case KEY_W:
  case KEY_H:
    num = parse_uint(v, vn, ML_TRANSFORM_DIM_MAX);
    if(num < 1)
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "%c_ is not a number of pixels in 1..%d", s[0],
                     ML_TRANSFORM_DIM_MAX);
    if(key == KEY_W)
      t->width = num;
    else
      t->height = num;
    break;
  case KEY_Q:
    num = parse_uint(v, vn, 100);
    if(num < 1)
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "q_ is not a quality in 1..100");
    t->quality = num;
    break;
  case KEY_C:
    if(bytes_equal(v, vn, "fit"))
      t->crop = ML_TRANSFORM_FIT;
    else if(bytes_equal(v, vn, "fill"))
      t->crop = ML_TRANSFORM_FILL;
    else if(bytes_equal(v, vn, "limit"))
      t->crop = ML_TRANSFORM_LIMIT;
    else
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "c_ is not fit, fill or limit");
    break;
  case KEY_F:
    t->format = ml_transform_format_from_name(v, vn);
    if(t->format == ML_TRANSFORM_FORMAT_ORIGINAL)
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "f_ is not jpeg, png, webp, avif or auto");
    break;
  default: { /* KEY_T */
    const struct ml_transform_preset *p = ml_transform_preset_find(presets, v, vn);
    if(!presets)
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "t_ is not allowed here");
    if(!p)
      return ml_fail(eb, ML_ERR_BAD_REQUEST, "t_ names no preset");
    *t = p->t;
    t->preset = p->name;
    t->is_preset = 1;
    break;
  }
  }
  return ML_OK;
}

ml_err ml_transform_parse(const char *seg, size_t len, const struct ml_transform_presets *presets,
                          struct ml_transform *out, struct ml_errbuf *eb) {
  struct ml_transform t;
  unsigned seen = 0;
  size_t i = 0;
  ml_err rc = ML_OK;

  memset(&t, 0, sizeof(t));
  memset(out, 0, sizeof(*out));
  if(!seg || len == 0)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "transform is empty");
  if(len > ML_TRANSFORM_SEGMENT_MAX)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "transform is longer than %d bytes",
                   ML_TRANSFORM_SEGMENT_MAX);
  /* Items are split at every comma, so a leading, trailing or doubled comma
   * makes an empty item, which is refused. */
  for(;;) {
    const char *comma = memchr(seg + i, ',', len - i);
    size_t end = comma ? (size_t)(comma - seg) : len;
    rc = parse_item(seg + i, end - i, presets, &t, &seen, eb);
    if(rc)
      return rc;
    if(!comma)
      break;
    i = end + 1;
  }
  if((seen & KEY_T) && seen != KEY_T)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "t_ cannot be combined with other keys");
  if((seen & KEY_C) && !(seen & (KEY_W | KEY_H)))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "c_ needs w_ or h_");
  if(!(seen & KEY_T) && t.crop == ML_TRANSFORM_FILL && (!t.width || !t.height))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "c_fill needs both w_ and h_");
  *out = t;
  return ML_OK;
}

/* ---- the canonical form ---- */

void ml_transform_format(const struct ml_transform *t, char out[ML_TRANSFORM_CANONICAL_MAX]) {
  size_t n = 0;
  const char *sep = "";
  int w;

  out[0] = '\0';
  /* Keys in alphabetical order: c, f, h, q, w. snprintf truncates rather
   * than overruns should a hand-built transform hold out-of-range values. */
#define APPEND(...)                                                     \
  do {                                                                  \
    w = snprintf(out + n, ML_TRANSFORM_CANONICAL_MAX - n, __VA_ARGS__); \
    if(w < 0 || (size_t)w >= ML_TRANSFORM_CANONICAL_MAX - n)            \
      return;                                                           \
    n += (size_t)w;                                                     \
    sep = ",";                                                          \
  } while(0)
  if(t->crop == ML_TRANSFORM_FILL || t->crop == ML_TRANSFORM_LIMIT)
    APPEND("%sc_%s", sep, crop_names[t->crop]);
  if(t->format > ML_TRANSFORM_FORMAT_ORIGINAL && t->format <= ML_TRANSFORM_FORMAT_AUTO)
    APPEND("%sf_%s", sep, format_names[t->format]);
  if(t->height)
    APPEND("%sh_%d", sep, t->height);
  if(t->quality)
    APPEND("%sq_%d", sep, t->quality);
  if(t->width)
    APPEND("%sw_%d", sep, t->width);
#undef APPEND
}

/* ---- presets ---- */

static void preset_set(struct ml_transform_preset *p, const char *name, int width, int height,
                       enum ml_transform_crop crop) {
  memset(p, 0, sizeof(*p));
  snprintf(p->name, sizeof(p->name), "%s", name);
  p->t.width = width;
  p->t.height = height;
  p->t.crop = crop;
}

void ml_transform_presets_init(struct ml_transform_presets *p) {
  memset(p, 0, sizeof(*p));
  preset_set(&p->p[p->n++], "thumbnail", 200, 200, ML_TRANSFORM_FILL);
  preset_set(&p->p[p->n++], "small", 480, 0, ML_TRANSFORM_FIT);
  preset_set(&p->p[p->n++], "medium", 960, 0, ML_TRANSFORM_FIT);
  preset_set(&p->p[p->n++], "large", 1920, 0, ML_TRANSFORM_FIT);
}

const struct ml_transform_preset *ml_transform_preset_find(const struct ml_transform_presets *p,
                                                           const char *name, size_t len) {
  if(!p || !name)
    return NULL;
  for(int i = 0; i < p->n && i < ML_TRANSFORM_PRESETS_MAX; i++)
    if(strlen(p->p[i].name) == len && memcmp(p->p[i].name, name, len) == 0)
      return &p->p[i];
  return NULL;
}

static int preset_name_ok(const char *s, size_t n) {
  if(n == 0 || n > ML_TRANSFORM_PRESET_NAME_MAX)
    return 0;
  for(size_t i = 0; i < n; i++) {
    char c = s[i];
    if(!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* How much of a configuration item an error message quotes. */
#define ITEM_QUOTE_MAX 64

ml_err ml_transform_presets_parse(struct ml_transform_presets *p, const char *spec,
                                  struct ml_errbuf *eb) {
  struct ml_transform_presets next;
  size_t len, i = 0, item = 0;

  if(!spec)
    return ML_OK;
  next = *p;
  len = strlen(spec);
  /* Applied to a copy, which replaces *p only when every item is good. */
  while(i <= len) {
    const char *semi = memchr(spec + i, ';', len - i);
    size_t end = semi ? (size_t)(semi - spec) : len;
    const char *s = spec + i, *eq;
    size_t n = end - i;
    struct ml_transform def;
    struct ml_errbuf inner = {{0}};
    const struct ml_transform_preset *found;
    struct ml_transform_preset *slot;

    i = end + 1;
    if(n == 0)
      continue;
    item++;
    eq = memchr(s, '=', n);
    if(!eq || !preset_name_ok(s, (size_t)(eq - s)))
      return ml_fail(eb, ML_ERR_CONFIG,
                     "preset item %zu (\"%.*s\"): the name must be 1..%d of [a-z0-9_-] before '='",
                     item, (int)(n < ITEM_QUOTE_MAX ? n : ITEM_QUOTE_MAX), s,
                     ML_TRANSFORM_PRESET_NAME_MAX);
    if(ml_transform_parse(eq + 1, (size_t)(s + n - eq - 1), NULL, &def, &inner))
      return ml_fail(eb, ML_ERR_CONFIG, "preset \"%.*s\": %s", (int)(eq - s), s,
                     inner.msg[0] ? inner.msg : "bad definition");
    found = ml_transform_preset_find(&next, s, (size_t)(eq - s));
    if(found) {
      slot = &next.p[found - next.p];
    } else {
      if(next.n >= ML_TRANSFORM_PRESETS_MAX)
        return ml_fail(eb, ML_ERR_CONFIG, "preset \"%.*s\": more than %d presets", (int)(eq - s), s,
                       ML_TRANSFORM_PRESETS_MAX);
      slot = &next.p[next.n++];
      memset(slot, 0, sizeof(*slot));
      memcpy(slot->name, s, (size_t)(eq - s));
    }
    slot->t = def;
  }
  *p = next;
  return ML_OK;
}

/* ---- planning ---- */

/* a * b / c rounded to the nearest integer (halves up), at least 1; the
 * operands are at most 2^31 and 2^13, so nothing overflows. */
static int64_t scale_round(int64_t a, int64_t b, int64_t c) {
  int64_t v = (2 * a * b + c) / (2 * c);
  return v < 1 ? 1 : v;
}

ml_err ml_transform_plan(const struct ml_transform *t, int64_t src_width, int64_t src_height,
                         int orientation, struct ml_transform_dims *out, struct ml_errbuf *eb) {
  int64_t sw, sh, bw, bh;

  memset(out, 0, sizeof(*out));
  if(src_width < 1 || src_width > INT32_MAX || src_height < 1 || src_height > INT32_MAX)
    return ml_fail(eb, ML_ERR_INVALID_IMAGE, "the source's dimensions are out of range");
  /* Orientations 5..8 are rotated by 90 degrees: the displayed image has
   * the stored one's axes swapped. */
  if(orientation >= 5 && orientation <= 8) {
    sw = src_height;
    sh = src_width;
  } else {
    sw = src_width;
    sh = src_height;
  }
  bw = t->width > 0 ? t->width : 0;
  bh = t->height > 0 ? t->height : 0;

  out->width = sw;
  out->height = sh;
  if(!bw && !bh)
    return ML_OK;

  if(t->crop == ML_TRANSFORM_FILL && bw && bh) {
    out->crop = 1;
    if(bw <= sw && bh <= sh) {
      out->width = bw;
      out->height = bh;
    } else if(bw * sh >= bh * sw) {
      /* The box is relatively wider than the source: the whole width, a
       * band of the box's aspect ratio. */
      out->width = sw;
      out->height = scale_round(sw, bh, bw);
    } else {
      out->width = scale_round(sh, bw, bh);
      out->height = sh;
    }
    return ML_OK;
  }

  /* fit and limit (and a fill missing an axis, which the parser refuses):
   * the smaller of the two scale factors, if below 1, binds. */
  if((!bw || bw >= sw) && (!bh || bh >= sh))
    return ML_OK;
  if(bw && (!bh || bw * sh <= bh * sw)) {
    out->width = bw;
    out->height = scale_round(sh, bw, sw);
  } else {
    out->width = scale_round(sw, bh, sh);
    out->height = bh;
  }
  return ML_OK;
}

/* ---- output format ---- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static int equal_nocase(const char *s, size_t n, const char *lit) {
  size_t l = strlen(lit);
  if(n != l)
    return 0;
  for(size_t i = 0; i < n; i++)
    if(lower((unsigned char)s[i]) != lit[i])
      return 0;
  return 1;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, const char **e) {
  while(*s < *e && is_ows(**s))
    (*s)++;
  while(*e > *s && is_ows((*e)[-1]))
    (*e)--;
}

/* The end of the list element or parameter that starts at s: the next stop
 * character outside a quoted string. */
static const char *scan_to(const char *s, const char *end, char stop1, char stop2) {
  int quoted = 0;
  for(; s < end; s++) {
    if(quoted) {
      if(*s == '\\' && s + 1 < end)
        s++;
      else if(*s == '"')
        quoted = 0;
    } else if(*s == '"') {
      quoted = 1;
    } else if(*s == stop1 || *s == stop2) {
      break;
    }
  }
  return s;
}

/* A qvalue (RFC 9110 section 12.4.2): 1 when above zero, 0 when zero, -1
 * when malformed. */
static int qvalue_positive(const char *s, size_t n) {
  size_t i;
  int nonzero = 0;
  if(n == 0 || (s[0] != '0' && s[0] != '1'))
    return -1;
  if(n > 1 && (s[1] != '.' || n > 5))
    return -1;
  for(i = 2; i < n; i++) {
    if(!is_digit(s[i]) || (s[0] == '1' && s[i] != '0'))
      return -1;
    nonzero |= s[i] != '0';
  }
  return s[0] == '1' || nonzero;
}

/* Does Accept list mime (a lowercase type/subtype) with a weight above 0? A
 * wildcard is no promise; an explicit q=0, or a q the parser cannot read,
 * refuses the type even when another element lists it. */
static int accept_lists(const char *accept, const char *mime) {
  const char *p = accept, *end = accept + strlen(accept);
  int listed = 0;
  while(p <= end) {
    const char *elem_end = scan_to(p, end, ',', ',');
    const char *params = scan_to(p, elem_end, ';', ';');
    const char *ts = p, *te = params;
    int weight = 1;
    p = elem_end + 1;
    trim(&ts, &te);
    if(!equal_nocase(ts, (size_t)(te - ts), mime))
      continue;
    /* the parameters: only q matters */
    for(const char *q = params; q < elem_end;) {
      const char *ps = q + 1, *pe = scan_to(ps, elem_end, ';', ';'), *eq;
      q = pe;
      trim(&ps, &pe);
      eq = memchr(ps, '=', (size_t)(pe - ps));
      if(!eq)
        continue;
      const char *ns = ps, *ne = eq, *vs = eq + 1, *ve = pe;
      trim(&ns, &ne);
      trim(&vs, &ve);
      if(equal_nocase(ns, (size_t)(ne - ns), "q"))
        weight = qvalue_positive(vs, (size_t)(ve - vs));
    }
    if(weight <= 0)
      return 0;
    listed = 1;
  }
  return listed;
}

/* The media type of src_mime without parameters, compared in lowercase. */
static int mime_is(const char *src_mime, const char *lit) {
  const char *s = src_mime, *e = src_mime + strlen(src_mime);
  e = scan_to(s, e, ';', ';');
  trim(&s, &e);
  return equal_nocase(s, (size_t)(e - s), lit);
}

static enum ml_transform_format format_for_source(const char *src_mime) {
  if(!src_mime)
    return ML_TRANSFORM_FORMAT_JPEG;
  if(mime_is(src_mime, "image/png") || mime_is(src_mime, "image/gif"))
    return ML_TRANSFORM_FORMAT_PNG;
  if(mime_is(src_mime, "image/webp"))
    return ML_TRANSFORM_FORMAT_WEBP;
  if(mime_is(src_mime, "image/avif"))
    return ML_TRANSFORM_FORMAT_AVIF;
  return ML_TRANSFORM_FORMAT_JPEG;
}

enum ml_transform_format ml_transform_output_format(const struct ml_transform *t,
                                                    const char *src_mime, const char *accept,
                                                    int *varies) {
  if(varies)
    *varies = 0;
  switch(t->format) {
  case ML_TRANSFORM_FORMAT_JPEG:
  case ML_TRANSFORM_FORMAT_PNG:
  case ML_TRANSFORM_FORMAT_WEBP:
  case ML_TRANSFORM_FORMAT_AVIF: return t->format;
  case ML_TRANSFORM_FORMAT_AUTO:
    if(varies)
      *varies = 1;
    if(accept && accept_lists(accept, "image/avif"))
      return ML_TRANSFORM_FORMAT_AVIF;
    if(accept && accept_lists(accept, "image/webp"))
      return ML_TRANSFORM_FORMAT_WEBP;
    return format_for_source(src_mime);
  default: return format_for_source(src_mime);
  }
}

const char *ml_transform_format_mime(enum ml_transform_format f) {
  if((unsigned)f > ML_TRANSFORM_FORMAT_AUTO)
    return NULL;
  return format_mimes[f];
}

const char *ml_transform_format_name(enum ml_transform_format f) {
  if((unsigned)f > ML_TRANSFORM_FORMAT_AUTO)
    return "";
  return format_names[f];
}

enum ml_transform_format ml_transform_format_from_name(const char *name, size_t len) {
  if(!name || len == 0)
    return ML_TRANSFORM_FORMAT_ORIGINAL;
  for(int f = ML_TRANSFORM_FORMAT_JPEG; f <= ML_TRANSFORM_FORMAT_AUTO; f++)
    if(bytes_equal(name, len, format_names[f]))
      return (enum ml_transform_format)f;
  return ML_TRANSFORM_FORMAT_ORIGINAL;
}

/* ---- signed URLs ---- */

/* The truncated HMAC-SHA256 of canonical "\n" path into mac, through the one
 * buffer b (initialised by the caller, freed by it). */
static ml_err sign_raw(const unsigned char *key, size_t keylen, const char *canonical,
                       const char *path, struct ml_buf *b,
                       unsigned char mac[ML_TRANSFORM_SIG_BYTES], struct ml_errbuf *eb) {
  unsigned char full[HMAC_SHA256_LEN];
  unsigned int fulllen = 0;
  size_t clen, plen;
  ml_err rc = ML_OK;

  if(!key || keylen == 0)
    return ml_fail(eb, ML_ERR_CONFIG, "the URL signing key is empty");
  if(keylen > INT_MAX)
    return ml_fail(eb, ML_ERR_CONFIG, "the URL signing key is too long");
  if(!canonical || !path)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "nothing to sign");
  clen = strnlen(canonical, ML_TRANSFORM_CANONICAL_MAX);
  if(clen >= ML_TRANSFORM_CANONICAL_MAX)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "the transform is not in canonical form");
  plen = strnlen(path, SIGN_PATH_MAX + 1);
  if(plen > SIGN_PATH_MAX)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "the path is longer than %d bytes", SIGN_PATH_MAX);

  rc = ml_buf_add(b, canonical, clen);
  if(!rc)
    rc = ml_buf_addc(b, '\n');
  if(!rc)
    rc = ml_buf_add(b, path, plen);
  if(rc)
    return ml_fail(eb, rc, "out of memory");
  if(!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)b->data, b->len, full,
           &fulllen) ||
     fulllen != HMAC_SHA256_LEN) {
    rc = ml_fail(eb, ML_ERR_INTERNAL, "HMAC failed");
    goto out;
  }
  memcpy(mac, full, ML_TRANSFORM_SIG_BYTES);

out:
  OPENSSL_cleanse(full, sizeof(full));
  return rc;
}

/* The buffer holds canonical, a newline and the path (then, in sign, the
 * encoded signature, which is shorter). */
#define SIGN_BUF_MAX (ML_TRANSFORM_CANONICAL_MAX + 1 + SIGN_PATH_MAX)

ml_err ml_transform_sign(const unsigned char *key, size_t keylen, const char *canonical,
                         const char *path, char out[ML_TRANSFORM_SIG_CHARS + 1],
                         struct ml_errbuf *eb) {
  struct ml_buf b;
  unsigned char mac[ML_TRANSFORM_SIG_BYTES];
  ml_err rc;

  out[0] = '\0';
  ml_buf_init(&b, SIGN_BUF_MAX);
  rc = sign_raw(key, keylen, canonical, path, &b, mac, eb);
  if(rc)
    goto out;
  ml_buf_reset(&b);
  rc = ml_jwt_b64url_encode(&b, mac, sizeof(mac));
  if(rc) {
    rc = ml_fail(eb, rc, "out of memory");
    goto out;
  }
  if(b.len != ML_TRANSFORM_SIG_CHARS) {
    rc = ml_fail(eb, ML_ERR_INTERNAL, "signature has the wrong length");
    goto out;
  }
  memcpy(out, b.data, ML_TRANSFORM_SIG_CHARS);
  out[ML_TRANSFORM_SIG_CHARS] = '\0';

out:
  OPENSSL_cleanse(mac, sizeof(mac));
  ml_buf_free(&b);
  return rc;
}

ml_err ml_transform_signature_parse(const char *seg, size_t len,
                                    unsigned char sig[ML_TRANSFORM_SIG_BYTES],
                                    struct ml_errbuf *eb) {
  unsigned char raw[ML_TRANSFORM_SIG_BYTES];
  size_t rawlen = 0;

  memset(sig, 0, ML_TRANSFORM_SIG_BYTES);
  if(!seg || !ml_transform_is_signature(seg, len))
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "not a signature segment");
  if(len != 2 + ML_TRANSFORM_SIG_CHARS)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "signature is not %d characters",
                   ML_TRANSFORM_SIG_CHARS);
  /* The strict decoder refuses padding, other alphabets and non-zero unused
   * bits, so each signature has one spelling. */
  if(ml_jwt_b64url_decode(seg + 2, ML_TRANSFORM_SIG_CHARS, raw, sizeof(raw), &rawlen) ||
     rawlen != ML_TRANSFORM_SIG_BYTES)
    return ml_fail(eb, ML_ERR_BAD_REQUEST, "signature is not canonical base64url");
  memcpy(sig, raw, ML_TRANSFORM_SIG_BYTES);
  return ML_OK;
}

int ml_transform_is_signature(const char *seg, size_t len) {
  return seg && len >= 2 && seg[0] == 's' && seg[1] == '_';
}

ml_err ml_transform_verify(const unsigned char *key, size_t keylen, const char *canonical,
                           const char *path, const unsigned char sig[ML_TRANSFORM_SIG_BYTES],
                           struct ml_errbuf *eb) {
  struct ml_buf b;
  unsigned char mac[ML_TRANSFORM_SIG_BYTES];
  ml_err rc;

  ml_buf_init(&b, SIGN_BUF_MAX);
  rc = sign_raw(key, keylen, canonical, path, &b, mac, eb);
  if(rc)
    goto out;
  if(CRYPTO_memcmp(mac, sig, ML_TRANSFORM_SIG_BYTES) != 0)
    rc = ml_fail(eb, ML_ERR_FORBIDDEN, "the URL signature does not match");

out:
  OPENSSL_cleanse(mac, sizeof(mac));
  ml_buf_free(&b);
  return rc;
}

/* ------------------------------------------------------------ Cloudinary */

void ml_transform_cloudinary(const struct ml_transform *t, const char *src_mime,
                             char out[ML_TRANSFORM_CLOUDINARY_MAX]) {
  static const char *const cld_format[] = {"", "jpg", "png", "webp", "avif", "auto"};
  const char *crop = NULL, *fmt = NULL;
  char q[8] = "auto";
  enum ml_transform_format f = t->format;
  if(t->width || t->height)
    crop = t->crop == ML_TRANSFORM_FILL ? "lfill" : "limit";
  if(f == ML_TRANSFORM_FORMAT_ORIGINAL) {
    enum ml_transform_format chosen = ml_transform_output_format(t, src_mime, NULL, NULL);
    const char *mime = ml_transform_format_mime(chosen);
    if(!mime || !src_mime || strcasecmp(mime, src_mime))
      f = chosen;
  }
  if(f != ML_TRANSFORM_FORMAT_ORIGINAL)
    fmt = cld_format[f];
  if(t->quality)
    snprintf(q, sizeof(q), "%d", t->quality);
  /* c, f, h, q, w: sorted by name. Every part is bounded (c_lfill, f_webp,
   * h_8192, q_auto, w_8192), so the whole fits. */
  {
    size_t n = 0;
    out[0] = '\0';
    if(crop)
      n += (size_t)snprintf(out + n, ML_TRANSFORM_CLOUDINARY_MAX - n, "c_%s,", crop);
    if(fmt)
      n += (size_t)snprintf(out + n, ML_TRANSFORM_CLOUDINARY_MAX - n, "f_%s,", fmt);
    if(t->height)
      n += (size_t)snprintf(out + n, ML_TRANSFORM_CLOUDINARY_MAX - n, "h_%d,", t->height);
    n += (size_t)snprintf(out + n, ML_TRANSFORM_CLOUDINARY_MAX - n, "q_%s", q);
    if(t->width)
      snprintf(out + n, ML_TRANSFORM_CLOUDINARY_MAX - n, ",w_%d", t->width);
  }
}
