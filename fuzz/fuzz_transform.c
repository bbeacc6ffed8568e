/*
 * fuzz_transform.c - the transform segment (src/image/transform.h). The
 * whole input is, in turn, a transform segment, a signature segment, an
 * Accept header and a preset spec.
 *
 * Invariants: a parsed transform is in range, its canonical form is short,
 * non-empty, parses back (without presets) to the same transform and is a
 * fixed point; a plan never exceeds the source nor the box and fill keeps
 * the box's shape; an accepted signature has exactly one spelling; the
 * output format is always concrete; a refused preset spec changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/buf.h"
#include "image/transform.h"

static const int64_t sources[][2] = {{1, 1},           {4000, 3000},    {3000, 4000}, {640, 640},
                                     {17, 2147483647}, {2147483647, 1}, {199, 201}};

static void check_plan(const struct ml_transform *t) {
  for(size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
    for(int orientation = 1; orientation <= 6; orientation += 5) {
      struct ml_transform_dims d;
      int64_t sw = sources[i][orientation >= 5], sh = sources[i][orientation < 5];
      if(ml_transform_plan(t, sources[i][0], sources[i][1], orientation, &d, NULL) != ML_OK)
        abort();
      /* never upscaled, never empty */
      if(d.width < 1 || d.height < 1 || d.width > sw || d.height > sh)
        abort();
      if(!t->width && !t->height) {
        if(d.width != sw || d.height != sh || d.crop)
          abort();
      } else if(t->crop == ML_TRANSFORM_FILL) {
        if(!d.crop || d.width > t->width || d.height > t->height)
          abort();
        /* the box's aspect ratio, to within the rounding of one axis */
        int64_t skew = d.width * t->height - d.height * t->width;
        int64_t slack = t->width > t->height ? t->width : t->height;
        if(skew > slack || -skew > slack)
          abort();
        if(sw >= t->width && sh >= t->height && (d.width != t->width || d.height != t->height))
          abort();
      } else {
        if(d.crop || (t->width && d.width > t->width) || (t->height && d.height > t->height))
          abort();
        /* one axis is exact: the bound one, or both when nothing binds */
        if(d.width != sw && d.height != sh && d.width != t->width && d.height != t->height)
          abort();
      }
    }
  }
  {
    struct ml_transform_dims d;
    if(ml_transform_plan(t, 0, 10, 1, &d, NULL) != ML_ERR_INVALID_IMAGE || d.width || d.height)
      abort();
  }
}

static void check_parse(const char *seg, size_t len, const struct ml_transform_presets *ps) {
  struct ml_transform t, back;
  struct ml_errbuf eb = {{0}};
  char canon[ML_TRANSFORM_CANONICAL_MAX], again[ML_TRANSFORM_CANONICAL_MAX];
  ml_err rc = ml_transform_parse(seg, len, ps, &t, &eb);

  if(rc != ML_OK) {
    static const struct ml_transform zero;
    if(rc != ML_ERR_BAD_REQUEST || !eb.msg[0] || memcmp(&t, &zero, sizeof(t)))
      abort();
    return;
  }
  if(len == 0 || len > ML_TRANSFORM_SEGMENT_MAX || t.width < 0 || t.width > ML_TRANSFORM_DIM_MAX ||
     t.height < 0 || t.height > ML_TRANSFORM_DIM_MAX || t.quality < 0 || t.quality > 100 ||
     (unsigned)t.crop > ML_TRANSFORM_LIMIT || (unsigned)t.format > ML_TRANSFORM_FORMAT_AUTO)
    abort();
  if(t.crop == ML_TRANSFORM_FILL && (!t.width || !t.height))
    abort();
  if(t.is_preset != (t.preset != NULL) ||
     (t.preset && ml_transform_preset_find(ps, t.preset, strlen(t.preset)) == NULL))
    abort();

  ml_transform_format(&t, canon);
  if(!canon[0] || strlen(canon) >= ML_TRANSFORM_CANONICAL_MAX)
    abort();
  /* free-form, so it parses without presets, to the same transform */
  if(ml_transform_parse(canon, strlen(canon), NULL, &back, NULL) != ML_OK)
    abort();
  if(back.width != t.width || back.height != t.height || back.crop != t.crop ||
     back.format != t.format || back.quality != t.quality || back.preset || back.is_preset)
    abort();
  ml_transform_format(&back, again);
  if(strcmp(canon, again))
    abort();
  check_plan(&t);
}

static void check_signature(const char *seg, size_t len) {
  unsigned char sig[ML_TRANSFORM_SIG_BYTES];
  static const unsigned char zero[ML_TRANSFORM_SIG_BYTES];
  struct ml_buf b;
  ml_err rc = ml_transform_signature_parse(seg, len, sig, NULL);
  if(rc != ML_OK) {
    if(rc != ML_ERR_BAD_REQUEST || memcmp(sig, zero, sizeof(sig)))
      abort();
    return;
  }
  if(len != 2 + ML_TRANSFORM_SIG_CHARS || !ml_transform_is_signature(seg, len))
    abort();
  /* one spelling only: re-encoding gives the input back */
  ml_buf_init(&b, 64);
  if(ml_jwt_b64url_encode(&b, sig, sizeof(sig)) || b.len != ML_TRANSFORM_SIG_CHARS ||
     memcmp(b.data, seg + 2, ML_TRANSFORM_SIG_CHARS))
    abort();
  ml_buf_free(&b);
}

static void check_accept(const char *accept) {
  static const char *const mimes[] = {"image/jpeg", "image/png", "image/gif", "image/tiff", NULL};
  struct ml_transform t;
  memset(&t, 0, sizeof(t));
  for(size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++) {
    int varies = -1;
    enum ml_transform_format f;
    t.format = ML_TRANSFORM_FORMAT_AUTO;
    f = ml_transform_output_format(&t, mimes[i], accept, &varies);
    if(varies != 1 || f < ML_TRANSFORM_FORMAT_JPEG || f > ML_TRANSFORM_FORMAT_AVIF ||
       !ml_transform_format_mime(f))
      abort();
    t.format = ML_TRANSFORM_FORMAT_ORIGINAL;
    f = ml_transform_output_format(&t, mimes[i], accept, &varies);
    if(varies != 0 || f < ML_TRANSFORM_FORMAT_JPEG || f > ML_TRANSFORM_FORMAT_AVIF)
      abort();
  }
  /* the input as a source type, too */
  t.format = ML_TRANSFORM_FORMAT_ORIGINAL;
  if(ml_transform_output_format(&t, accept, NULL, NULL) < ML_TRANSFORM_FORMAT_JPEG)
    abort();
}

static void check_presets(const char *spec) {
  struct ml_transform_presets ps, before;
  struct ml_errbuf eb = {{0}};
  ml_err rc;
  ml_transform_presets_init(&ps);
  before = ps;
  rc = ml_transform_presets_parse(&ps, spec, &eb);
  if(rc != ML_OK) {
    if(rc != ML_ERR_CONFIG || !eb.msg[0] || memcmp(&ps, &before, sizeof(ps)))
      abort();
    return;
  }
  if(ps.n < before.n || ps.n > ML_TRANSFORM_PRESETS_MAX)
    abort();
  for(int i = 0; i < ps.n; i++) {
    char canon[ML_TRANSFORM_CANONICAL_MAX];
    size_t n = strlen(ps.p[i].name);
    if(n == 0 || n > ML_TRANSFORM_PRESET_NAME_MAX || ps.p[i].t.preset || ps.p[i].t.is_preset ||
       ml_transform_preset_find(&ps, ps.p[i].name, n) != &ps.p[i])
      abort();
    ml_transform_format(&ps.p[i].t, canon);
    if(!canon[0])
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ml_transform_presets ps;
  char *s = malloc(size + 1);
  if(!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  ml_transform_presets_init(&ps);
  if(ml_transform_presets_parse(&ps, "hero=w_1600,h_600,c_fill;avatar=w_64,h_64,c_fill,f_webp",
                                NULL) != ML_OK)
    abort();
  check_parse(s, size, &ps);
  check_parse(s, size, NULL);
  check_signature(s, size);
  if(ml_transform_is_signature(s, size) != (size >= 2 && s[0] == 's' && s[1] == '_'))
    abort();
  check_accept(s);
  check_presets(s);
  free(s);
  return 0;
}
