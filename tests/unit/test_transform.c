/*
 * test_transform.c - the transform segment (src/image/transform.h): the
 * strict parser, the canonical form, presets, planning ("never upscaling"),
 * the output format from Accept, and signed URLs.
 *
 * Known answers for signatures were computed at authoring time with Python,
 * independently of this code:
 *   python3 -c 'import hmac,hashlib,base64; print(base64.urlsafe_b64encode(
 *     hmac.new(KEY, (CANONICAL + "\n" + PATH).encode(),
 *     hashlib.sha256).digest()[:16]).rstrip(b"=").decode())'
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "image/transform.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define PATH "/media/42/v3/photo.jpg"
/* KEY, "c_fill,h_200,w_200", PATH */
#define KAT1 "13LlmB3H8VCdySmbuaI_4A"
/* the same MAC in hex: the first 16 bytes of HMAC-SHA256 */
static const unsigned char kat1_raw[16] = {0xd7, 0x72, 0xe5, 0x98, 0x1d, 0xc7, 0xf1, 0x50,
                                           0x9d, 0xc9, 0x29, 0x9b, 0xb9, 0xa2, 0x3f, 0xe0};
/* "k", "w_100", "/media/1/v1/a.png" */
#define KAT2 "CYlX6OZX1GuA95g6whuYAA"

static const unsigned char *key(void) { return (const unsigned char *)KEY; }

/* ---- helpers ---- */

/* Parses s (strlen) with the built-in presets; asserts success. */
static struct ml_transform parse_ok_p(const char *s, const struct ml_transform_presets *ps) {
  struct ml_transform t;
  struct ml_errbuf eb = {{0}};
  ml_err rc = ml_transform_parse(s, strlen(s), ps, &t, &eb);
  if(rc != ML_OK)
    fail_msg("'%s': got %d (%s), want OK", s, (int)rc, eb.msg);
  return t;
}

/* The built-in presets, filled once by the group setup: a parsed preset
 * points into its table, so the table must outlive the helpers. */
static struct ml_transform_presets builtin;

static int setup_presets(void **state) {
  (void)state;
  ml_transform_presets_init(&builtin);
  return 0;
}

static struct ml_transform parse_ok(const char *s) { return parse_ok_p(s, &builtin); }

/* Parses s[0..len) and checks it is refused with a reason and a zeroed out. */
static void parse_bad_n(const char *s, size_t len) {
  struct ml_transform t, zero;
  struct ml_errbuf eb = {{0}};
  ml_err rc;
  memset(&t, 0x5a, sizeof(t));
  memset(&zero, 0, sizeof(zero));
  rc = ml_transform_parse(s, len, &builtin, &t, &eb);
  if(rc != ML_ERR_BAD_REQUEST)
    fail_msg("'%.*s': got %d, want BAD_REQUEST", (int)len, s, (int)rc);
  assert_true(eb.msg[0] != '\0');
  assert_memory_equal(&t, &zero, sizeof(t));
}

static void parse_bad(const char *s) { parse_bad_n(s, strlen(s)); }

static void check_canon(const char *in, const char *want) {
  char out[ML_TRANSFORM_CANONICAL_MAX];
  struct ml_transform t = parse_ok(in);
  ml_transform_format(&t, out);
  if(strcmp(out, want))
    fail_msg("'%s': canonical '%s', want '%s'", in, out, want);
}

/* ---- parsing ---- */

static void test_parse_each_key(void **state) {
  struct ml_transform t;
  (void)state;
  t = parse_ok("w_100");
  assert_int_equal(t.width, 100);
  assert_int_equal(t.height, 0);
  assert_int_equal(t.crop, ML_TRANSFORM_FIT);
  assert_int_equal(t.format, ML_TRANSFORM_FORMAT_ORIGINAL);
  assert_int_equal(t.quality, 0);
  assert_null(t.preset);
  assert_int_equal(t.is_preset, 0);

  t = parse_ok("h_1");
  assert_int_equal(t.height, 1);
  assert_int_equal(t.width, 0);

  t = parse_ok("w_8192,h_8192,c_fill,f_avif,q_100");
  assert_int_equal(t.width, 8192);
  assert_int_equal(t.height, 8192);
  assert_int_equal(t.crop, ML_TRANSFORM_FILL);
  assert_int_equal(t.format, ML_TRANSFORM_FORMAT_AVIF);
  assert_int_equal(t.quality, 100);

  assert_int_equal(parse_ok("w_5,c_fit").crop, ML_TRANSFORM_FIT);
  assert_int_equal(parse_ok("w_5,c_limit").crop, ML_TRANSFORM_LIMIT);
  assert_int_equal(parse_ok("h_5,c_limit").crop, ML_TRANSFORM_LIMIT);
  assert_int_equal(parse_ok("f_jpeg").format, ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(parse_ok("f_png").format, ML_TRANSFORM_FORMAT_PNG);
  assert_int_equal(parse_ok("f_webp").format, ML_TRANSFORM_FORMAT_WEBP);
  assert_int_equal(parse_ok("f_avif").format, ML_TRANSFORM_FORMAT_AVIF);
  assert_int_equal(parse_ok("f_auto").format, ML_TRANSFORM_FORMAT_AUTO);
  assert_int_equal(parse_ok("q_1").quality, 1);
  assert_int_equal(parse_ok("q_55,f_webp").quality, 55);
  /* any order */
  t = parse_ok("q_80,c_fill,h_10,f_png,w_20");
  assert_int_equal(t.width, 20);
  assert_int_equal(t.height, 10);
  assert_int_equal(t.quality, 80);
}

static void test_parse_presets(void **state) {
  struct ml_transform t;
  (void)state;
  t = parse_ok("t_thumbnail");
  assert_int_equal(t.is_preset, 1);
  assert_non_null(t.preset);
  assert_string_equal(t.preset, "thumbnail");
  assert_int_equal(t.width, 200);
  assert_int_equal(t.height, 200);
  assert_int_equal(t.crop, ML_TRANSFORM_FILL);
  t = parse_ok("t_small");
  assert_int_equal(t.width, 480);
  assert_int_equal(t.height, 0);
  assert_int_equal(parse_ok("t_medium").width, 960);
  assert_int_equal(parse_ok("t_large").width, 1920);

  /* the preset field points into the table */
  {
    struct ml_transform_presets ps;
    ml_transform_presets_init(&ps);
    t = parse_ok_p("t_large", &ps);
    assert_ptr_equal(t.preset, ml_transform_preset_find(&ps, "large", 5)->name);
  }

  parse_bad("t_nope");
  parse_bad("t_");
  parse_bad("t_Thumbnail");
  parse_bad("t_thumbnail2");
  parse_bad("t_thumb");
  /* t_ combined with anything, in either order, even a repeat of itself */
  parse_bad("t_thumbnail,w_100");
  parse_bad("w_100,t_thumbnail");
  parse_bad("t_small,f_webp");
  parse_bad("q_50,t_small");
  parse_bad("t_small,t_small");
  parse_bad("t_small,t_large");
  parse_bad("t_small,");
  /* NULL presets refuse every t_ */
  {
    struct ml_transform t2;
    assert_int_equal(ml_transform_parse("t_small", 7, NULL, &t2, NULL), ML_ERR_BAD_REQUEST);
    assert_int_equal(ml_transform_parse("w_7", 3, NULL, &t2, NULL), ML_OK);
    assert_int_equal(t2.width, 7);
  }
}

static void test_parse_repeats_and_unknown(void **state) {
  (void)state;
  parse_bad("w_100,w_100");
  parse_bad("w_100,w_200");
  parse_bad("h_1,w_1,h_1");
  parse_bad("c_fill,w_1,h_1,c_fill");
  parse_bad("f_png,f_jpeg,w_1");
  parse_bad("q_1,q_2");
  /* unknown keys */
  parse_bad("x_1");
  parse_bad("W_100");
  parse_bad("width_100");
  parse_bad("ww_100");
  parse_bad("w100");
  parse_bad("w");
  parse_bad("w-100");
  parse_bad("_100");
  parse_bad("s_abc");
  parse_bad("w_100,a_1");
  /* unknown values */
  parse_bad("w_1,c_crop");
  parse_bad("w_1,c_FILL");
  parse_bad("w_1,c_");
  parse_bad("w_1,c_fill_");
  parse_bad("f_gif");
  parse_bad("f_jpg");
  parse_bad("f_JPEG");
  parse_bad("f_");
  parse_bad("f_webpp");
  parse_bad("f_auto ");
}

static void test_parse_numbers(void **state) {
  (void)state;
  assert_int_equal(parse_ok("w_8192").width, 8192);
  assert_int_equal(parse_ok("w_9").width, 9);
  assert_int_equal(parse_ok("w_10").width, 10);
  parse_bad("w_0");
  parse_bad("h_0");
  parse_bad("w_8193");
  parse_bad("h_10000");
  parse_bad("w_01");
  parse_bad("w_00");
  parse_bad("w_0100");
  parse_bad("w_+100");
  parse_bad("w_-100");
  parse_bad("w_ 100");
  parse_bad("w_100 ");
  parse_bad("w_1e3");
  parse_bad("w_0x10");
  parse_bad("w_");
  parse_bad("w_1.5");
  parse_bad("w_4294967297"); /* 2^32 + 1: would wrap to 1 in 32 bits */
  parse_bad("w_99999999999999999999999999");
  parse_bad("w_18446744073709551617");
  /* quality */
  parse_bad("q_0");
  parse_bad("q_101");
  parse_bad("q_100000");
  parse_bad("q_-1");
  parse_bad("q_050");
  assert_int_equal(parse_ok("q_100").quality, 100);
  assert_int_equal(parse_ok("q_99").quality, 99);
}

static void test_parse_crop_rules(void **state) {
  (void)state;
  /* c_ needs w_ or h_ */
  parse_bad("c_fit");
  parse_bad("c_limit");
  parse_bad("c_fill");
  parse_bad("c_limit,f_webp,q_50");
  /* c_fill needs both */
  parse_bad("c_fill,w_100");
  parse_bad("h_100,c_fill");
  parse_ok("c_fill,w_100,h_1");
  parse_ok("c_limit,w_100");
  parse_ok("c_fit,h_100");
}

static void test_parse_shape(void **state) {
  char buf[300];
  (void)state;
  parse_bad("");
  parse_bad_n("w_100", 0);
  parse_bad(",");
  parse_bad(",w_100");
  parse_bad("w_100,");
  parse_bad("w_100,,h_100");
  parse_bad("w_100,h_100,");
  parse_bad(",,");
  /* percent-encoded comma is taken raw, and refused */
  parse_bad("w_100%2Ch_100");
  parse_bad("w_100%2ch_100");
  parse_bad("w_100%2C");
  /* other separators */
  parse_bad("w_100;h_100");
  parse_bad("w_100&h_100");
  parse_bad("w_100 ,h_100");
  parse_bad("w_100/h_100");
  /* a NUL inside len; and len shorter than the string */
  parse_bad_n("w_100\0,h_1", 10);
  parse_bad_n("w_1\0", 4);
  parse_bad_n("\0w_1", 4);
  {
    struct ml_transform t;
    assert_int_equal(ml_transform_parse("w_12345", 4, NULL, &t, NULL), ML_OK);
    assert_int_equal(t.width, 12);
    /* not NUL-terminated */
    memcpy(buf, "h_77X", 5);
    assert_int_equal(ml_transform_parse(buf, 4, NULL, &t, NULL), ML_OK);
    assert_int_equal(t.height, 77);
  }
  /* NULL segment */
  {
    struct ml_transform t;
    assert_int_equal(ml_transform_parse(NULL, 5, NULL, &t, NULL), ML_ERR_BAD_REQUEST);
  }
}

/* The length limit is checked before the content: no valid segment is
 * longer than 34 bytes, so the limit shows in the reason given. */
static void test_parse_length(void **state) {
  char seg[300];
  struct ml_transform_presets ps;
  struct ml_transform t;
  char spec[400];
  struct ml_errbuf eb = {{0}};
  (void)state;

  /* 256 bytes are parsed (and refused for their content), 257 are refused
   * for their length */
  memset(seg, 'x', sizeof(seg));
  assert_int_equal(ml_transform_parse(seg, 256, NULL, &t, &eb), ML_ERR_BAD_REQUEST);
  assert_null(strstr(eb.msg, "longer"));
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_transform_parse(seg, 257, NULL, &t, &eb), ML_ERR_BAD_REQUEST);
  assert_non_null(strstr(eb.msg, "longer"));
  ml_errbuf_clear(&eb);

  /* a valid item at the end of 257 bytes does not help */
  memset(seg, ',', 254);
  memcpy(seg + 254, "w_1", 3);
  assert_int_equal(ml_transform_parse(seg, 257, NULL, &t, &eb), ML_ERR_BAD_REQUEST);
  assert_non_null(strstr(eb.msg, "longer"));

  /* The longest valid free-form segment and a maximal preset name. */
  ml_transform_presets_init(&ps);
  snprintf(spec, sizeof(spec), "%s=w_10", "abcdefghijklmnopqrstuvwxyz012345");
  assert_int_equal(ml_transform_presets_parse(&ps, spec, NULL), ML_OK);
  parse_ok_p("t_abcdefghijklmnopqrstuvwxyz012345", &ps);
  parse_ok("c_limit,f_auto,h_8192,q_100,w_8192");
}

/* ---- canonical form ---- */

static void test_canonical(void **state) {
  (void)state;
  check_canon("w_100", "w_100");
  check_canon("h_100", "h_100");
  check_canon("w_100,h_50", "h_50,w_100");
  check_canon("q_80,w_100,f_webp,h_50,c_fill", "c_fill,f_webp,h_50,q_80,w_100");
  check_canon("c_fit,w_100", "w_100");           /* the default is left out */
  check_canon("w_100,c_limit", "c_limit,w_100"); /* limit is kept distinct */
  check_canon("f_auto", "f_auto");
  check_canon("q_1", "q_1");
  check_canon("t_thumbnail", "c_fill,h_200,w_200");
  check_canon("t_small", "w_480");
  check_canon("t_medium", "w_960");
  check_canon("t_large", "w_1920");
  check_canon("c_limit,f_auto,h_8192,q_100,w_8192", "c_limit,f_auto,h_8192,q_100,w_8192");
  /* the same pixels spelt two ways give one name */
  {
    char a[ML_TRANSFORM_CANONICAL_MAX], b[ML_TRANSFORM_CANONICAL_MAX];
    struct ml_transform t1 = parse_ok("t_thumbnail"), t2 = parse_ok("h_200,c_fill,w_200");
    ml_transform_format(&t1, a);
    ml_transform_format(&t2, b);
    assert_string_equal(a, b);
  }
}

static void test_canonical_round_trip(void **state) {
  static const char *const inputs[] = {
      "w_1",           "h_8192",         "c_fill,w_3,h_4",
      "c_limit,h_9",   "f_png,q_7",      "f_jpeg",
      "f_webp,w_10",   "f_avif,h_10",    "q_100,f_auto",
      "t_thumbnail",   "t_small",        "t_large",
      "c_fit,w_5,h_6", "w_8192,h_1,q_1", "h_2,w_2,c_fill,q_50,f_auto",
      "c_limit,w_77"};
  (void)state;
  for(size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
    char c1[ML_TRANSFORM_CANONICAL_MAX], c2[ML_TRANSFORM_CANONICAL_MAX];
    struct ml_transform t = parse_ok(inputs[i]), back;
    ml_transform_format(&t, c1);
    assert_true(c1[0] != '\0');
    assert_true(strlen(c1) < ML_TRANSFORM_CANONICAL_MAX);
    /* the canonical form is free-form: it parses without presets */
    assert_int_equal(ml_transform_parse(c1, strlen(c1), NULL, &back, NULL), ML_OK);
    assert_int_equal(back.width, t.width);
    assert_int_equal(back.height, t.height);
    assert_int_equal(back.crop, t.crop);
    assert_int_equal(back.format, t.format);
    assert_int_equal(back.quality, t.quality);
    assert_null(back.preset);
    assert_int_equal(back.is_preset, 0);
    ml_transform_format(&back, c2);
    assert_string_equal(c1, c2);
  }
}

/* ---- presets ---- */

static void test_presets_init_find(void **state) {
  struct ml_transform_presets ps;
  const struct ml_transform_preset *p;
  (void)state;
  ml_transform_presets_init(&ps);
  assert_int_equal(ps.n, 4);
  p = ml_transform_preset_find(&ps, "thumbnail", 9);
  assert_non_null(p);
  assert_int_equal(p->t.width, 200);
  assert_int_equal(p->t.height, 200);
  assert_int_equal(p->t.crop, ML_TRANSFORM_FILL);
  assert_null(p->t.preset);
  assert_null(ml_transform_preset_find(&ps, "thumbnail", 8));
  assert_null(ml_transform_preset_find(&ps, "thumbnailx", 10));
  assert_non_null(ml_transform_preset_find(&ps, "smallXYZ", 5)); /* len, not NUL */
  assert_null(ml_transform_preset_find(&ps, "", 0));
  assert_null(ml_transform_preset_find(NULL, "small", 5));
}

static void test_presets_parse_good(void **state) {
  struct ml_transform_presets ps;
  const struct ml_transform_preset *p;
  struct ml_errbuf eb = {{0}};
  (void)state;
  ml_transform_presets_init(&ps);
  assert_int_equal(ml_transform_presets_parse(
                       &ps, "hero=w_1600,h_600,c_fill;avatar=w_64,h_64,c_fill,f_webp", &eb),
                   ML_OK);
  assert_int_equal(ps.n, 6);
  p = ml_transform_preset_find(&ps, "hero", 4);
  assert_non_null(p);
  assert_int_equal(p->t.width, 1600);
  assert_int_equal(p->t.height, 600);
  assert_int_equal(p->t.crop, ML_TRANSFORM_FILL);
  p = ml_transform_preset_find(&ps, "avatar", 6);
  assert_non_null(p);
  assert_int_equal(p->t.format, ML_TRANSFORM_FORMAT_WEBP);
  assert_int_equal(p->t.is_preset, 0);
  assert_null(p->t.preset);
  {
    struct ml_transform t = parse_ok_p("t_avatar", &ps);
    assert_int_equal(t.width, 64);
    assert_int_equal(t.is_preset, 1);
    assert_string_equal(t.preset, "avatar");
  }

  /* empty items are skipped; names may use digits, '_' and '-' */
  assert_int_equal(ml_transform_presets_parse(&ps, ";;a-1_b=q_5;;", &eb), ML_OK);
  assert_int_equal(ps.n, 7);
  assert_int_equal(ml_transform_preset_find(&ps, "a-1_b", 5)->t.quality, 5);
  assert_int_equal(ml_transform_presets_parse(&ps, "", &eb), ML_OK);
  assert_int_equal(ml_transform_presets_parse(&ps, ";", &eb), ML_OK);
  assert_int_equal(ml_transform_presets_parse(&ps, NULL, &eb), ML_OK);
  assert_int_equal(ps.n, 7);

  /* replacing a built-in keeps the count and changes the definition */
  assert_int_equal(ml_transform_presets_parse(&ps, "thumbnail=w_100,h_100,c_fill,f_auto", &eb),
                   ML_OK);
  assert_int_equal(ps.n, 7);
  p = ml_transform_preset_find(&ps, "thumbnail", 9);
  assert_int_equal(p->t.width, 100);
  assert_int_equal(p->t.format, ML_TRANSFORM_FORMAT_AUTO);
  /* a later item with the same name wins */
  assert_int_equal(ml_transform_presets_parse(&ps, "dup=w_1;dup=w_2", &eb), ML_OK);
  assert_int_equal(ps.n, 8);
  assert_int_equal(ml_transform_preset_find(&ps, "dup", 3)->t.width, 2);
}

static void presets_bad(const char *spec) {
  struct ml_transform_presets ps, before;
  struct ml_errbuf eb = {{0}};
  ml_err rc;
  ml_transform_presets_init(&ps);
  assert_int_equal(ml_transform_presets_parse(&ps, "keep=w_5", NULL), ML_OK);
  before = ps;
  rc = ml_transform_presets_parse(&ps, spec, &eb);
  if(rc != ML_ERR_CONFIG)
    fail_msg("'%s': got %d, want CONFIG", spec, (int)rc);
  assert_true(eb.msg[0] != '\0');
  /* all or nothing */
  assert_memory_equal(&ps, &before, sizeof(ps));
}

static void test_presets_parse_bad(void **state) {
  char spec[2048];
  size_t n = 0;
  (void)state;
  /* bad names */
  presets_bad("=w_1");
  presets_bad("Hero=w_1");
  presets_bad("he ro=w_1");
  presets_bad(" hero=w_1");
  presets_bad("hero.x=w_1");
  presets_bad("héro=w_1");
  presets_bad("abcdefghijklmnopqrstuvwxyz0123456=w_1"); /* 33 */
  presets_bad("hero");
  presets_bad("hero;x=w_1");
  /* bad definitions */
  presets_bad("hero=");
  presets_bad("hero=w_0");
  presets_bad("hero=w_1,w_2");
  presets_bad("hero=c_fill,w_1");
  presets_bad("hero=w_1,");
  presets_bad("hero=w_1=");
  presets_bad("hero=x_1");
  /* t_ inside a definition */
  presets_bad("hero=t_thumbnail");
  presets_bad("hero=t_keep");
  presets_bad("hero=t_hero");
  /* a bad item after good ones leaves everything as it was, a replacement
   * of a built-in included */
  presets_bad("a=w_1;thumbnail=w_9;b=w_0");
  presets_bad("a=w_1;b=w_2;;c");
  /* more presets than the table holds */
  for(int i = 0; i < ML_TRANSFORM_PRESETS_MAX; i++)
    n += (size_t)snprintf(spec + n, sizeof(spec) - n, "p%d=w_%d;", i, i + 1);
  presets_bad(spec);
  {
    /* exactly filling it is fine: 5 in the table, 27 more */
    struct ml_transform_presets ps;
    ml_transform_presets_init(&ps);
    assert_int_equal(ml_transform_presets_parse(&ps, "keep=w_5", NULL), ML_OK);
    n = 0;
    for(int i = 0; i < ML_TRANSFORM_PRESETS_MAX - 5; i++)
      n += (size_t)snprintf(spec + n, sizeof(spec) - n, "p%d=w_%d;", i, i + 1);
    assert_int_equal(ml_transform_presets_parse(&ps, spec, NULL), ML_OK);
    assert_int_equal(ps.n, ML_TRANSFORM_PRESETS_MAX);
    /* a replacement still fits when full; an addition does not */
    assert_int_equal(ml_transform_presets_parse(&ps, "p0=w_99", NULL), ML_OK);
    assert_int_equal(ml_transform_presets_parse(&ps, "extra=w_99", NULL), ML_ERR_CONFIG);
    assert_int_equal(ps.n, ML_TRANSFORM_PRESETS_MAX);
  }
}

static void test_presets_error_names_item(void **state) {
  struct ml_transform_presets ps;
  struct ml_errbuf eb = {{0}};
  (void)state;
  ml_transform_presets_init(&ps);
  assert_int_equal(ml_transform_presets_parse(&ps, "ok=w_1;broken=q_101", &eb), ML_ERR_CONFIG);
  assert_non_null(strstr(eb.msg, "broken"));
}

/* ---- planning ---- */

static void plan(const char *seg, int64_t sw, int64_t sh, int orientation, int64_t ww, int64_t wh,
                 int wcrop) {
  struct ml_transform t = parse_ok(seg);
  struct ml_transform_dims d;
  ml_err rc = ml_transform_plan(&t, sw, sh, orientation, &d, NULL);
  if(rc != ML_OK || d.width != ww || d.height != wh || d.crop != wcrop)
    fail_msg("%s on %lldx%lld o%d: got rc %d %lldx%lld crop %d, want %lldx%lld crop %d", seg,
             (long long)sw, (long long)sh, orientation, (int)rc, (long long)d.width,
             (long long)d.height, d.crop, (long long)ww, (long long)wh, wcrop);
}

static void test_plan_fit_limit(void **state) {
  static const char *const modes[] = {"", ",c_fit", ",c_limit"};
  char seg[64];
  (void)state;
  for(int m = 0; m < 3; m++) {
    /* landscape 4000x3000 in a 400x400 box: width binds */
    snprintf(seg, sizeof(seg), "w_400,h_400%s", modes[m]);
    plan(seg, 4000, 3000, 1, 400, 300, 0);
    /* portrait: height binds */
    plan(seg, 3000, 4000, 1, 300, 400, 0);
    /* square */
    plan(seg, 1000, 1000, 1, 400, 400, 0);
    /* box bigger than the source: the source size, never upscaled */
    plan(seg, 300, 200, 1, 300, 200, 0);
    plan(seg, 400, 400, 1, 400, 400, 0);
    /* one axis over, one under: the under one binds */
    plan(seg, 1000, 200, 1, 400, 80, 0);
    plan(seg, 200, 1000, 1, 80, 400, 0);
    /* only w, only h */
    snprintf(seg, sizeof(seg), "w_400%s", modes[m]);
    plan(seg, 4000, 3000, 1, 400, 300, 0);
    plan(seg, 3000, 4000, 1, 400, 533, 0); /* 533.33 */
    plan(seg, 300, 5000, 1, 300, 5000, 0); /* narrower than the box */
    snprintf(seg, sizeof(seg), "h_400%s", modes[m]);
    plan(seg, 4000, 3000, 1, 533, 400, 0);
    plan(seg, 3000, 4000, 1, 300, 400, 0);
    plan(seg, 5000, 300, 1, 5000, 300, 0);
  }
}

static void test_plan_fill(void **state) {
  (void)state;
  /* the source covers the box: exactly the box */
  plan("w_200,h_200,c_fill", 4000, 3000, 1, 200, 200, 1);
  plan("w_200,h_100,c_fill", 3000, 4000, 1, 200, 100, 1);
  plan("w_300,h_300,c_fill", 300, 300, 1, 300, 300, 1);
  plan("t_thumbnail", 1000, 1000, 1, 200, 200, 1);
  /* the box larger than the source: the largest region of the box's
   * aspect inside it, never enlarged */
  plan("w_2000,h_1000,c_fill", 1000, 1000, 1, 1000, 500, 1);
  plan("w_1000,h_2000,c_fill", 1000, 1000, 1, 500, 1000, 1);
  plan("w_400,h_400,c_fill", 300, 200, 1, 200, 200, 1);
  plan("w_400,h_400,c_fill", 200, 300, 1, 200, 200, 1);
  plan("w_2000,h_1000,c_fill", 1000, 500, 1, 1000, 500, 1);
  /* one axis larger only: still of the box's aspect */
  plan("w_2000,h_100,c_fill", 1000, 500, 1, 1000, 50, 1);
  plan("w_100,h_2000,c_fill", 500, 1000, 1, 50, 1000, 1);
  plan("w_300,h_200,c_fill", 1000, 100, 1, 150, 100, 1);
  /* rounding to nearest, at least 1 */
  plan("w_3,h_2,c_fill", 1, 1, 1, 1, 1, 1);
  plan("w_8192,h_1,c_fill", 1, 1000, 1, 1, 1, 1);
  plan("w_3000,h_2000,c_fill", 1000, 1000, 1, 1000, 667, 1); /* 666.67 */
}

static void test_plan_no_box(void **state) {
  (void)state;
  plan("f_webp", 4000, 3000, 1, 4000, 3000, 0);
  plan("q_50", 1, 1, 1, 1, 1, 0);
  plan("f_auto,q_10", 4000, 3000, 6, 3000, 4000, 0);
}

static void test_plan_orientation(void **state) {
  (void)state;
  /* stored 4000x3000; 5..8 display as 3000x4000 */
  for(int o = 5; o <= 8; o++) {
    plan("w_400,h_400", 4000, 3000, o, 300, 400, 0);
    plan("w_300", 4000, 3000, o, 300, 400, 0);
    plan("w_300,h_100,c_fill", 4000, 3000, o, 300, 100, 1);
    plan("w_4000,h_4000,c_fill", 4000, 3000, o, 3000, 3000, 1);
  }
  for(int o = 1; o <= 4; o++)
    plan("w_400,h_400", 4000, 3000, o, 400, 300, 0);
  /* anything else is 1 */
  plan("w_400,h_400", 4000, 3000, 0, 400, 300, 0);
  plan("w_400,h_400", 4000, 3000, 9, 400, 300, 0);
  plan("w_400,h_400", 4000, 3000, -6, 400, 300, 0);
}

static void test_plan_rounding(void **state) {
  (void)state;
  plan("w_100", 3, 2, 1, 3, 2, 0);       /* no upscale */
  plan("w_2", 3, 2, 1, 2, 1, 0);         /* 1.33 -> 1 */
  plan("w_1", 10000, 1, 1, 1, 1, 0);     /* 0.0001 -> at least 1 */
  plan("h_1", 1, 10000, 1, 1, 1, 0);     /* the same on the other axis */
  plan("w_100", 1000, 15, 1, 100, 2, 0); /* 1.5 rounds up */
  plan("w_100", 1000, 14, 1, 100, 1, 0); /* 1.4 rounds down */
  plan("w_100", 1000, 25, 1, 100, 3, 0); /* 2.5 rounds up */
  plan("w_7,h_7", 2147483647, 2147483647, 1, 7, 7, 0);
  plan("w_8192", 2147483647, 2147483646, 1, 8192, 8192, 0);
  plan("w_8192,h_1,c_fill", 2147483647, 1, 1, 8192, 1, 1);
  plan("w_8192,h_8192,c_fill", 2147483647, 1, 1, 1, 1, 1); /* a square inside a line */
  plan("w_8192,h_2,c_fill", 2147483647, 1, 1, 4096, 1, 1);
}

static void test_plan_bad_source(void **state) {
  static const int64_t bad[][2] = {{0, 10},        {10, 0},          {-1, 10},
                                   {10, -1},       {2147483648, 10}, {10, 2147483648},
                                   {INT64_MAX, 1}, {INT64_MIN, 1}};
  struct ml_transform t = parse_ok("w_10");
  struct ml_transform_dims d, zero;
  struct ml_errbuf eb = {{0}};
  (void)state;
  memset(&zero, 0, sizeof(zero));
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&d, 0x5a, sizeof(d));
    assert_int_equal(ml_transform_plan(&t, bad[i][0], bad[i][1], 1, &d, &eb), ML_ERR_INVALID_IMAGE);
    assert_memory_equal(&d, &zero, sizeof(d));
    assert_true(eb.msg[0] != '\0');
  }
  assert_int_equal(ml_transform_plan(&t, 2147483647, 1, 1, &d, NULL), ML_OK);
}

/* ---- output format ---- */

static enum ml_transform_format outfmt(const char *seg, const char *mime, const char *accept,
                                       int want_varies) {
  struct ml_transform t = parse_ok(seg);
  int varies = 7;
  enum ml_transform_format f = ml_transform_output_format(&t, mime, accept, &varies);
  assert_int_equal(varies, want_varies);
  /* always concrete */
  assert_true(f >= ML_TRANSFORM_FORMAT_JPEG && f <= ML_TRANSFORM_FORMAT_AVIF);
  return f;
}

static void test_output_explicit(void **state) {
  (void)state;
  assert_int_equal(outfmt("f_jpeg", "image/png", "image/avif", 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("f_png", "image/jpeg", "image/avif", 0), ML_TRANSFORM_FORMAT_PNG);
  assert_int_equal(outfmt("f_webp", "image/jpeg", NULL, 0), ML_TRANSFORM_FORMAT_WEBP);
  assert_int_equal(outfmt("f_avif", "image/gif", "image/webp", 0), ML_TRANSFORM_FORMAT_AVIF);
}

static void test_output_from_source(void **state) {
  (void)state;
  assert_int_equal(outfmt("w_1", "image/jpeg", "image/avif", 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", "image/png", NULL, 0), ML_TRANSFORM_FORMAT_PNG);
  assert_int_equal(outfmt("w_1", "image/webp", NULL, 0), ML_TRANSFORM_FORMAT_WEBP);
  assert_int_equal(outfmt("w_1", "image/avif", NULL, 0), ML_TRANSFORM_FORMAT_AVIF);
  assert_int_equal(outfmt("w_1", "image/gif", "image/webp", 0), ML_TRANSFORM_FORMAT_PNG);
  assert_int_equal(outfmt("w_1", "image/tiff", NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", "image/heif", NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", "image/heic", NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", "application/octet-stream", NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", "", NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", NULL, NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  /* the media type, not a prefix of it */
  assert_int_equal(outfmt("w_1", "image/pngx", NULL, 0), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(outfmt("w_1", "IMAGE/PNG", NULL, 0), ML_TRANSFORM_FORMAT_PNG);
  /* a NULL varies pointer is allowed */
  {
    struct ml_transform t = parse_ok("f_auto");
    assert_int_equal(ml_transform_output_format(&t, "image/png", "image/webp", NULL),
                     ML_TRANSFORM_FORMAT_WEBP);
  }
}

static void test_output_auto(void **state) {
  (void)state;
#define AUTO(mime, accept, want) assert_int_equal(outfmt("f_auto", mime, accept, 1), want)
  AUTO("image/jpeg", "image/avif,image/webp,*/*", ML_TRANSFORM_FORMAT_AVIF);
  AUTO("image/jpeg", "image/webp,*/*", ML_TRANSFORM_FORMAT_WEBP);
  AUTO("image/png", "image/webp", ML_TRANSFORM_FORMAT_WEBP);
  /* Chrome's and Firefox's image Accept headers */
  AUTO("image/jpeg", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
       ML_TRANSFORM_FORMAT_AVIF);
  AUTO("image/jpeg", "image/webp,*/*", ML_TRANSFORM_FORMAT_WEBP);
  /* nothing useful: as with no f_ */
  AUTO("image/jpeg", NULL, ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/png", "", ML_TRANSFORM_FORMAT_PNG);
  AUTO("image/gif", "text/html", ML_TRANSFORM_FORMAT_PNG);
  AUTO("image/tiff", "image/jpeg", ML_TRANSFORM_FORMAT_JPEG);
  /* wildcards promise nothing */
  AUTO("image/jpeg", "*/*", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/png", "image/*", ML_TRANSFORM_FORMAT_PNG);
  AUTO("image/png", "image/*;q=1,*/*", ML_TRANSFORM_FORMAT_PNG);
  /* q=0 refuses */
  AUTO("image/jpeg", "image/avif;q=0,image/webp", ML_TRANSFORM_FORMAT_WEBP);
  AUTO("image/jpeg", "image/avif;q=0.0,image/webp;q=0.000", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif; q=0 ,image/webp;q=0.001", ML_TRANSFORM_FORMAT_WEBP);
  AUTO("image/jpeg", "image/avif;Q=0", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif;q=0.5", ML_TRANSFORM_FORMAT_AVIF);
  AUTO("image/jpeg", "image/avif;q=1", ML_TRANSFORM_FORMAT_AVIF);
  AUTO("image/jpeg", "image/avif;q=1.000", ML_TRANSFORM_FORMAT_AVIF);
  /* listed twice, refused once: refused */
  AUTO("image/jpeg", "image/avif,image/avif;q=0", ML_TRANSFORM_FORMAT_JPEG);
  /* a malformed weight is not a promise */
  AUTO("image/jpeg", "image/avif;q=2", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif;q=1.5", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif;q=", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif;q=0.0001", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif;q=abc", ML_TRANSFORM_FORMAT_JPEG);
  /* other parameters do not matter */
  AUTO("image/jpeg", "image/avif;level=1", ML_TRANSFORM_FORMAT_AVIF);
  AUTO("image/jpeg", "image/avif;x=\"q=0\"", ML_TRANSFORM_FORMAT_AVIF);
  /* spacing and case */
  AUTO("image/jpeg", "  image/webp  ,  text/html", ML_TRANSFORM_FORMAT_WEBP);
  AUTO("image/jpeg", "text/html,\timage/webp\t;\tq=0.9", ML_TRANSFORM_FORMAT_WEBP);
  AUTO("image/jpeg", "IMAGE/AVIF", ML_TRANSFORM_FORMAT_AVIF);
  AUTO("image/jpeg", "Image/WebP", ML_TRANSFORM_FORMAT_WEBP);
  /* near misses */
  AUTO("image/jpeg", "image/avifx,image/web", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image/avif2", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "xmage/avif", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "image / avif", ML_TRANSFORM_FORMAT_JPEG);
  /* a comma inside a quoted parameter does not start an element */
  AUTO("image/jpeg", "text/x;p=\"a,image/avif,b\"", ML_TRANSFORM_FORMAT_JPEG);
  AUTO("image/jpeg", "text/x;p=\"a\\\",image/avif\",image/webp", ML_TRANSFORM_FORMAT_WEBP);
  /* empty list elements */
  AUTO("image/jpeg", ",,image/webp,,", ML_TRANSFORM_FORMAT_WEBP);
#undef AUTO
}

static void test_format_names(void **state) {
  (void)state;
  assert_string_equal(ml_transform_format_mime(ML_TRANSFORM_FORMAT_JPEG), "image/jpeg");
  assert_string_equal(ml_transform_format_mime(ML_TRANSFORM_FORMAT_PNG), "image/png");
  assert_string_equal(ml_transform_format_mime(ML_TRANSFORM_FORMAT_WEBP), "image/webp");
  assert_string_equal(ml_transform_format_mime(ML_TRANSFORM_FORMAT_AVIF), "image/avif");
  assert_null(ml_transform_format_mime(ML_TRANSFORM_FORMAT_ORIGINAL));
  assert_null(ml_transform_format_mime(ML_TRANSFORM_FORMAT_AUTO));
  assert_string_equal(ml_transform_format_name(ML_TRANSFORM_FORMAT_ORIGINAL), "");
  for(int f = ML_TRANSFORM_FORMAT_JPEG; f <= ML_TRANSFORM_FORMAT_AUTO; f++) {
    const char *n = ml_transform_format_name((enum ml_transform_format)f);
    assert_true(n[0] != '\0');
    assert_int_equal(ml_transform_format_from_name(n, strlen(n)), f);
  }
  assert_string_equal(ml_transform_format_name(ML_TRANSFORM_FORMAT_AUTO), "auto");
  assert_int_equal(ml_transform_format_from_name("jpg", 3), ML_TRANSFORM_FORMAT_ORIGINAL);
  assert_int_equal(ml_transform_format_from_name("jpegx", 4), ML_TRANSFORM_FORMAT_JPEG);
  assert_int_equal(ml_transform_format_from_name("", 0), ML_TRANSFORM_FORMAT_ORIGINAL);
  assert_int_equal(ml_transform_format_from_name("PNG", 3), ML_TRANSFORM_FORMAT_ORIGINAL);
  assert_int_equal(ml_transform_format_from_name(NULL, 3), ML_TRANSFORM_FORMAT_ORIGINAL);
}

/* ---- signed URLs ---- */

static void test_sign_known_answer(void **state) {
  char out[ML_TRANSFORM_SIG_CHARS + 1];
  char canon[ML_TRANSFORM_CANONICAL_MAX];
  struct ml_transform t = parse_ok("t_thumbnail");
  (void)state;
  ml_transform_format(&t, canon);
  assert_string_equal(canon, "c_fill,h_200,w_200");
  assert_int_equal(ml_transform_sign(key(), 32, canon, PATH, out, NULL), ML_OK);
  assert_string_equal(out, KAT1);
  assert_int_equal(strlen(out), ML_TRANSFORM_SIG_CHARS);
  assert_int_equal(
      ml_transform_sign((const unsigned char *)"k", 1, "w_100", "/media/1/v1/a.png", out, NULL),
      ML_OK);
  assert_string_equal(out, KAT2);
}

static void test_signature_parse(void **state) {
  unsigned char sig[ML_TRANSFORM_SIG_BYTES], zero[ML_TRANSFORM_SIG_BYTES] = {0};
  char seg[64];
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_transform_signature_parse("s_" KAT1, 24, sig, &eb), ML_OK);
  assert_memory_equal(sig, kat1_raw, sizeof(sig));

#define SIG_BAD(s, n)                                                                    \
  do {                                                                                   \
    memset(sig, 0x5a, sizeof(sig));                                                      \
    assert_int_equal(ml_transform_signature_parse(s, n, sig, NULL), ML_ERR_BAD_REQUEST); \
    assert_memory_equal(sig, zero, sizeof(sig));                                         \
  } while(0)
  /* length */
  SIG_BAD("s_" KAT1, 23);
  SIG_BAD("s_" KAT1 "A", 25);
  SIG_BAD("s_", 2);
  SIG_BAD("s", 1);
  SIG_BAD("", 0);
  SIG_BAD(NULL, 24);
  /* prefix */
  SIG_BAD("S_" KAT1, 24);
  SIG_BAD("t_" KAT1, 24);
  SIG_BAD("s-" KAT1, 24);
  /* alphabet: standard base64 and stray bytes */
  SIG_BAD("s_13LlmB3H8VCdySmbuaI/4A", 24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI+4A", 24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI.4A", 24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI 4A", 24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI\0"
          "4A",
          24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI%4A", 24);
  /* padding */
  SIG_BAD("s_" KAT1 "==", 26);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI_==", 24);
  /* non-zero unused low bits of the last character: 'A' + 1..15 */
  SIG_BAD("s_13LlmB3H8VCdySmbuaI_4B", 24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI_4P", 24);
  SIG_BAD("s_13LlmB3H8VCdySmbuaI_4_", 24);
#undef SIG_BAD
  /* the four characters with zero low bits are the canonical ones */
  memcpy(seg, "s_" KAT1, 25);
  seg[23] = 'Q';
  assert_int_equal(ml_transform_signature_parse(seg, 24, sig, NULL), ML_OK);
  seg[23] = 'w';
  assert_int_equal(ml_transform_signature_parse(seg, 24, sig, NULL), ML_OK);

  assert_true(ml_transform_is_signature("s_", 2));
  assert_true(ml_transform_is_signature("s_x", 3));
  assert_false(ml_transform_is_signature("s_x", 1));
  assert_false(ml_transform_is_signature("s", 1));
  assert_false(ml_transform_is_signature("w_100", 5));
  assert_false(ml_transform_is_signature("S_abc", 5));
  assert_false(ml_transform_is_signature(NULL, 5));
}

static void test_verify(void **state) {
  unsigned char sig[ML_TRANSFORM_SIG_BYTES];
  char out[ML_TRANSFORM_SIG_CHARS + 1], seg[ML_TRANSFORM_SIG_CHARS + 3];
  struct ml_errbuf eb = {{0}};
  (void)state;
  assert_int_equal(ml_transform_verify(key(), 32, "c_fill,h_200,w_200", PATH, kat1_raw, &eb),
                   ML_OK);
  /* sign, then parse the segment, then verify: the whole trip */
  assert_int_equal(ml_transform_sign(key(), 32, "f_webp,w_640", "/media/7/v1/x.png", out, NULL),
                   ML_OK);
  snprintf(seg, sizeof(seg), "s_%s", out);
  assert_int_equal(ml_transform_signature_parse(seg, strlen(seg), sig, NULL), ML_OK);
  assert_int_equal(ml_transform_verify(key(), 32, "f_webp,w_640", "/media/7/v1/x.png", sig, NULL),
                   ML_OK);

  /* changed path (other file, other version), transform or key */
  assert_int_equal(ml_transform_verify(key(), 32, "f_webp,w_640", "/media/7/v2/x.png", sig, &eb),
                   ML_ERR_FORBIDDEN);
  assert_true(eb.msg[0] != '\0');
  assert_int_equal(ml_transform_verify(key(), 32, "f_webp,w_640", "/media/8/v1/x.png", sig, NULL),
                   ML_ERR_FORBIDDEN);
  assert_int_equal(ml_transform_verify(key(), 32, "f_webp,w_641", "/media/7/v1/x.png", sig, NULL),
                   ML_ERR_FORBIDDEN);
  assert_int_equal(ml_transform_verify(key(), 32, "w_640", "/media/7/v1/x.png", sig, NULL),
                   ML_ERR_FORBIDDEN);
  assert_int_equal(ml_transform_verify(key(), 31, "f_webp,w_640", "/media/7/v1/x.png", sig, NULL),
                   ML_ERR_FORBIDDEN);
  assert_int_equal(ml_transform_verify((const unsigned char *)"1123456789abcdef0123456789abcdef",
                                       32, "f_webp,w_640", "/media/7/v1/x.png", sig, NULL),
                   ML_ERR_FORBIDDEN);
  /* the separator is part of what is signed: moving bytes across it fails */
  assert_int_equal(ml_transform_verify(key(), 32, "f_webp,w_640\n", "media/7/v1/x.png", sig, NULL),
                   ML_ERR_FORBIDDEN);
  /* every single bit of the signature matters */
  for(int i = 0; i < ML_TRANSFORM_SIG_BYTES * 8; i++) {
    unsigned char bad[ML_TRANSFORM_SIG_BYTES];
    memcpy(bad, sig, sizeof(bad));
    bad[i / 8] ^= (unsigned char)(1u << (i % 8));
    assert_int_equal(ml_transform_verify(key(), 32, "f_webp,w_640", "/media/7/v1/x.png", bad, NULL),
                     ML_ERR_FORBIDDEN);
  }
}

static void test_sign_errors(void **state) {
  char out[ML_TRANSFORM_SIG_CHARS + 1];
  static char path[4100];
  unsigned char sig[ML_TRANSFORM_SIG_BYTES] = {0};
  struct ml_errbuf eb = {{0}};
  (void)state;
  memset(out, 'x', sizeof(out));
  assert_int_equal(ml_transform_sign(key(), 0, "w_1", PATH, out, &eb), ML_ERR_CONFIG);
  assert_string_equal(out, "");
  assert_true(eb.msg[0] != '\0');
  assert_int_equal(ml_transform_sign(NULL, 32, "w_1", PATH, out, NULL), ML_ERR_CONFIG);
  assert_int_equal(ml_transform_verify(key(), 0, "w_1", PATH, sig, NULL), ML_ERR_CONFIG);
  /* a one-byte key is allowed */
  assert_int_equal(ml_transform_sign(key(), 1, "w_1", PATH, out, NULL), ML_OK);

  /* path: 4096 bytes are fine, 4097 are not */
  memset(path, 'p', sizeof(path));
  path[0] = '/';
  path[4096] = '\0';
  assert_int_equal(ml_transform_sign(key(), 32, "w_1", path, out, NULL), ML_OK);
  path[4096] = 'p';
  path[4097] = '\0';
  assert_int_equal(ml_transform_sign(key(), 32, "w_1", path, out, NULL), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_transform_verify(key(), 32, "w_1", path, sig, NULL), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_transform_sign(key(), 32, "w_1", NULL, out, NULL), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_transform_sign(key(), 32, NULL, PATH, out, NULL), ML_ERR_BAD_REQUEST);
  /* a canonical form is shorter than ML_TRANSFORM_CANONICAL_MAX */
  assert_int_equal(
      ml_transform_sign(key(), 32, "0123456789012345678901234567890123456789", PATH, out, NULL),
      ML_ERR_BAD_REQUEST);
  assert_int_equal(
      ml_transform_sign(key(), 32, "012345678901234567890123456789012345678", PATH, out, NULL),
      ML_OK);
}

/* Cloudinary transformations: parameters sorted by name; crops that never
 * enlarge (c_limit, c_lfill); f_ only where the output format differs
 * from the source's; q_auto unless q_ says. */
static void test_cloudinary_mapping(void **state) {
  static const struct {
    const char *seg, *mime, *want;
  } cases[] = {
      {"t_thumbnail", "image/jpeg", "c_lfill,h_200,q_auto,w_200"},
      {"t_small", "image/png", "c_limit,q_auto,w_480"},
      {"w_300", "image/jpeg", "c_limit,q_auto,w_300"},
      {"h_300,c_limit", "image/webp", "c_limit,h_300,q_auto"},
      {"w_100,h_50,c_fill,f_auto,q_80", "image/jpeg", "c_lfill,f_auto,h_50,q_80,w_100"},
      {"f_jpeg", "image/png", "f_jpg,q_auto"},
      {"f_webp,q_1", "image/jpeg", "f_webp,q_1"},
      {"f_avif", "image/jpeg", "f_avif,q_auto"},
      {"f_png", "image/png", "f_png,q_auto"},
      {"w_64", "image/gif", "c_limit,f_png,q_auto,w_64"}, /* a still of the first frame */
      {"w_64", "image/tiff", "c_limit,f_jpg,q_auto,w_64"},
      {"w_64", "image/heif", "c_limit,f_jpg,q_auto,w_64"},
      {"w_8192,h_8192,c_limit,f_webp,q_100", "image/jpeg", "c_limit,f_webp,h_8192,q_100,w_8192"},
  };
  (void)state;
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct ml_transform t = parse_ok(cases[i].seg);
    char out[ML_TRANSFORM_CLOUDINARY_MAX];
    ml_transform_cloudinary(&t, cases[i].mime, out);
    if(strcmp(out, cases[i].want))
      fail_msg("%s (%s): got %s, want %s", cases[i].seg, cases[i].mime, out, cases[i].want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_each_key),
      cmocka_unit_test(test_parse_presets),
      cmocka_unit_test(test_parse_repeats_and_unknown),
      cmocka_unit_test(test_parse_numbers),
      cmocka_unit_test(test_parse_crop_rules),
      cmocka_unit_test(test_parse_shape),
      cmocka_unit_test(test_parse_length),
      cmocka_unit_test(test_canonical),
      cmocka_unit_test(test_canonical_round_trip),
      cmocka_unit_test(test_presets_init_find),
      cmocka_unit_test(test_presets_parse_good),
      cmocka_unit_test(test_presets_parse_bad),
      cmocka_unit_test(test_presets_error_names_item),
      cmocka_unit_test(test_plan_fit_limit),
      cmocka_unit_test(test_plan_fill),
      cmocka_unit_test(test_plan_no_box),
      cmocka_unit_test(test_plan_orientation),
      cmocka_unit_test(test_plan_rounding),
      cmocka_unit_test(test_plan_bad_source),
      cmocka_unit_test(test_output_explicit),
      cmocka_unit_test(test_output_from_source),
      cmocka_unit_test(test_output_auto),
      cmocka_unit_test(test_format_names),
      cmocka_unit_test(test_cloudinary_mapping),
      cmocka_unit_test(test_sign_known_answer),
      cmocka_unit_test(test_signature_parse),
      cmocka_unit_test(test_verify),
      cmocka_unit_test(test_sign_errors),
  };
  return cmocka_run_group_tests(tests, setup_presets, NULL);
}
