/* test_render.c - the libvips renderer (src/image/render.c): exact output
 * sizes for resize and crop, every output format by its magic bytes, EXIF
 * and GPS gone and the ICC profile kept (TESTING.md B5), EXIF orientation
 * applied, the first frame of an animated GIF, alpha flattened for JPEG,
 * content that is not what its MIME type claims refused (B3), a truncated
 * JPEG refused, and renders on several threads at once.
 *
 * Every input is made here with libvips (or written byte by byte), in a
 * temporary directory, and each check on an input first checks that the input
 * really has the property (the GPS, the profile, the orientation, the second
 * frame), so a test cannot pass because its fixture was empty. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "image/render.h"

static char tmpdir[] = "/tmp/test_render.XXXXXX";

static void path_of(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", tmpdir, name);
}

/* ---- making inputs ---- */

/* A w x h sRGB image of one colour (3 bands, or 4 with alpha a >= 0). */
static VipsImage *solid(int w, int h, double r, double g, double b, double a) {
  VipsImage *black = NULL, *lin = NULL, *out = NULL;
  int bands = a >= 0 ? 4 : 3;
  double one[4] = {1, 1, 1, 1}, c[4] = {r, g, b, a};
  assert_int_equal(vips_black(&black, w, h, "bands", bands, NULL), 0);
  assert_int_equal(vips_linear(black, &lin, one, c, bands, NULL), 0);
  assert_int_equal(vips_cast(lin, &out, VIPS_FORMAT_UCHAR, NULL), 0);
  out->Type = VIPS_INTERPRETATION_sRGB;
  g_object_unref(black);
  g_object_unref(lin);
  return out;
}

/* sub pasted into *base at x, y (replaces *base). */
static void paste(VipsImage **base, VipsImage *sub, int x, int y) {
  VipsImage *out = NULL;
  assert_int_equal(vips_insert(*base, sub, &out, x, y, NULL), 0);
  g_object_unref(*base);
  g_object_unref(sub);
  *base = out;
}

/* A photo-like w x h image: a gradient with noise. */
static VipsImage *photo(int w, int h) {
  VipsImage *xyz = NULL, *x = NULL, *n = NULL, *sum = NULL, *rgb = NULL, *out = NULL;
  VipsImage *bands[3];
  assert_int_equal(vips_xyz(&xyz, w, h, NULL), 0);
  assert_int_equal(vips_extract_band(xyz, &x, 0, NULL), 0);
  assert_int_equal(vips_gaussnoise(&n, w, h, "sigma", 20.0, "mean", 128.0, NULL), 0);
  assert_int_equal(vips_add(x, n, &sum, NULL), 0);
  bands[0] = sum;
  bands[1] = n;
  bands[2] = x;
  assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
  assert_int_equal(vips_cast(rgb, &out, VIPS_FORMAT_UCHAR, NULL), 0);
  out->Type = VIPS_INTERPRETATION_sRGB;
  g_object_unref(xyz);
  g_object_unref(x);
  g_object_unref(n);
  g_object_unref(sum);
  g_object_unref(rgb);
  return out;
}

/* Writes img to tmpdir/name (options in brackets, e.g. "a.jpg[Q=90]") and
 * drops it; path gets the file's path. */
static void save_as(VipsImage *img, const char *name, char *path, size_t n) {
  char spec[512];
  snprintf(spec, sizeof(spec), "%s/%s", tmpdir, name);
  if(vips_image_write_to_file(img, spec, NULL))
    fail_msg("saving %s: %s", spec, vips_error_buffer());
  g_object_unref(img);
  path_of(path, n, name);
  {
    char *bracket = strchr(path, '[');
    if(bracket)
      *bracket = '\0';
  }
}

static void write_bytes(const char *name, const void *data, size_t len, char *path, size_t n) {
  FILE *f;
  path_of(path, n, name);
  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* The whole file (NUL-terminated, so strstr works on text). */
static unsigned char *slurp(const char *path, size_t *len) {
  struct stat st;
  unsigned char *d;
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fstat(fileno(f), &st), 0);
  d = malloc((size_t)st.st_size + 1);
  assert_non_null(d);
  assert_int_equal(fread(d, 1, (size_t)st.st_size, f), (size_t)st.st_size);
  d[st.st_size] = 0;
  fclose(f);
  *len = (size_t)st.st_size;
  return d;
}

static int contains(const unsigned char *hay, size_t n, const void *needle, size_t k) {
  for(size_t i = 0; i + k <= n; i++)
    if(!memcmp(hay + i, needle, k))
      return 1;
  return 0;
}

/* ---- rendering ---- */

static ml_err render(const char *src, const char *mime, int w, int h, int crop,
                     enum ml_transform_format fmt, const char *out_name, char *out, size_t n,
                     struct ml_render_result *res, struct ml_errbuf *eb) {
  struct ml_transform_dims dims = {.width = w, .height = h, .crop = crop};
  int fd = open(src, O_RDONLY);
  ml_err rc;
  assert_true(fd >= 0);
  path_of(out, n, out_name);
  unlink(out);
  ml_errbuf_clear(eb);
  rc = ml_render(fd, mime, &dims, fmt, 0, out, res, eb);
  close(fd);
  return rc;
}

static VipsImage *load(const char *path) {
  VipsImage *img = vips_image_new_from_file(path, NULL);
  if(!img)
    fail_msg("loading %s: %s", path, vips_error_buffer());
  return img;
}

/* The pixel at x, y: its first three bands (or the one grey band thrice). */
static void pixel(VipsImage *img, int x, int y, double rgb[3]) {
  double *v = NULL;
  int n = 0;
  assert_int_equal(vips_getpoint(img, &v, &n, x, y, NULL), 0);
  assert_true(n >= 1);
  for(int i = 0; i < 3; i++)
    rgb[i] = v[n >= 3 ? i : 0];
  g_free(v);
}

static void assert_colour(VipsImage *img, int x, int y, double r, double g, double b) {
  double p[3];
  pixel(img, x, y, p);
  if(p[0] < r - 40 || p[0] > r + 40 || p[1] < g - 40 || p[1] > g + 40 || p[2] < b - 40 ||
     p[2] > b + 40)
    fail_msg("pixel %d,%d is %.0f,%.0f,%.0f, expected about %.0f,%.0f,%.0f", x, y, p[0], p[1], p[2],
             r, g, b);
}

static int has_field(VipsImage *img, const char *prefix) {
  gchar **fields = vips_image_get_fields(img);
  int found = 0;
  for(gchar **f = fields; *f; f++)
    if(!strncmp(*f, prefix, strlen(prefix)))
      found = 1;
  g_strfreev(fields);
  return found;
}

/* ---- sizes ---- */

static void test_exact_size_resize(void **state) {
  char src[512], out[512];
  struct ml_render_result res;
  struct ml_errbuf eb = {{0}};
  VipsImage *img;
  save_as(photo(640, 480), "photo.jpg[Q=90]", src, sizeof(src));
  /* the planner's fit of 640x480 into 100 wide, and a size rounded on one
   * axis (aspect 1.333 vs 1.3409): both exact */
  assert_int_equal(render(src, "image/jpeg", 100, 75, 0, ML_TRANSFORM_FORMAT_JPEG, "fit.jpg", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  assert_int_equal(res.width, 100);
  assert_int_equal(res.height, 75);
  img = load(out);
  assert_int_equal(img->Xsize, 100);
  assert_int_equal(img->Ysize, 75);
  g_object_unref(img);
  assert_int_equal(render(src, "image/jpeg", 59, 44, 0, ML_TRANSFORM_FORMAT_PNG, "odd.png", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  img = load(out);
  assert_int_equal(img->Xsize, 59);
  assert_int_equal(img->Ysize, 44);
  g_object_unref(img);
  /* the source size itself (no resize at all) */
  assert_int_equal(render(src, "image/jpeg", 640, 480, 0, ML_TRANSFORM_FORMAT_JPEG, "same.jpg", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  assert_int_equal(res.width, 640);
  assert_int_equal(res.height, 480);
}

/* A 96x48 green image with a 16 px red band on the left and a blue one on the
 * right: cover-and-crop to 20x20 cuts both bands off (scale 20/48 makes the
 * image 40 wide, 10 px cut on each side, the bands 6.7 px), while a resize to
 * 20x20 squashes them in (3.3 px each). The kernel's reach (3 output px) is
 * kept clear of the edges the test looks at. */
static void test_crop_centre(void **state) {
  char src[512], out[512];
  struct ml_render_result res;
  struct ml_errbuf eb = {{0}};
  VipsImage *img = solid(96, 48, 0, 200, 0, -1);
  paste(&img, solid(16, 48, 220, 0, 0, -1), 0, 0);
  paste(&img, solid(16, 48, 0, 0, 220, -1), 80, 0);
  save_as(img, "bands.png", src, sizeof(src));

  assert_int_equal(render(src, "image/png", 20, 20, 1, ML_TRANSFORM_FORMAT_PNG, "crop.png", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  assert_int_equal(res.width, 20);
  assert_int_equal(res.height, 20);
  img = load(out);
  assert_int_equal(img->Xsize, 20);
  assert_int_equal(img->Ysize, 20);
  assert_colour(img, 0, 10, 0, 200, 0);
  assert_colour(img, 19, 10, 0, 200, 0);
  g_object_unref(img);

  assert_int_equal(render(src, "image/png", 20, 20, 0, ML_TRANSFORM_FORMAT_PNG, "squash.png", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  img = load(out);
  assert_int_equal(img->Xsize, 20);
  assert_int_equal(img->Ysize, 20);
  assert_colour(img, 0, 10, 220, 0, 0);
  assert_colour(img, 19, 10, 0, 0, 220);
  g_object_unref(img);
}

/* ---- formats ---- */

static void test_formats_by_magic(void **state) {
  static const struct {
    enum ml_transform_format fmt;
    const char *name, *mime;
  } cases[] = {
      {ML_TRANSFORM_FORMAT_JPEG, "o.jpg", "image/jpeg"},
      {ML_TRANSFORM_FORMAT_PNG, "o.png", "image/png"},
      {ML_TRANSFORM_FORMAT_WEBP, "o.webp", "image/webp"},
      {ML_TRANSFORM_FORMAT_AVIF, "o.avif", "image/avif"},
  };
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  save_as(photo(96, 64), "src.png", src, sizeof(src));
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct ml_render_result res;
    unsigned char *d;
    size_t len;
    VipsImage *img;
    ml_err rc = render(src, "image/png", 48, 32, 0, cases[i].fmt, cases[i].name, out, sizeof(out),
                       &res, &eb);
    if(rc)
      fail_msg("%s: %s: %s", cases[i].name, ml_err_code(rc), eb.msg);
    assert_string_equal(res.mime, cases[i].mime);
    d = slurp(out, &len);
    assert_int_equal(res.size, (int64_t)len);
    assert_true(len > 12);
    switch(cases[i].fmt) {
    case ML_TRANSFORM_FORMAT_JPEG: assert_memory_equal(d, "\xff\xd8\xff", 3); break;
    case ML_TRANSFORM_FORMAT_PNG: assert_memory_equal(d, "\x89PNG\r\n\x1a\n", 8); break;
    case ML_TRANSFORM_FORMAT_WEBP:
      assert_memory_equal(d, "RIFF", 4);
      assert_memory_equal(d + 8, "WEBP", 4);
      break;
    default:
      assert_memory_equal(d + 4, "ftypavif", 8);
      /* AV1, not HEVC: an av01 item, no hvc1 */
      assert_true(contains(d, len, "av01", 4));
      assert_false(contains(d, len, "hvc1", 4));
      break;
    }
    free(d);
    img = load(out);
    assert_int_equal(img->Xsize, 48);
    assert_int_equal(img->Ysize, 32);
    g_object_unref(img);
    /* the file is the caller's temp file: private until it is renamed */
    {
      struct stat st;
      assert_int_equal(stat(out, &st), 0);
      assert_int_equal(st.st_mode & 0777, 0600);
    }
  }
}

static void test_quality(void **state) {
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_transform_dims dims = {.width = 200, .height = 150, .crop = 0};
  struct ml_render_result low, dflt;
  int fd;
  save_as(photo(400, 300), "q.png", src, sizeof(src));
  fd = open(src, O_RDONLY);
  assert_true(fd >= 0);
  path_of(out, sizeof(out), "q10.jpg");
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_JPEG, 10, out, &low, &eb),
                   ML_OK);
  path_of(out, sizeof(out), "q0.jpg");
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_JPEG, 0, out, &dflt, &eb),
                   ML_OK);
  close(fd);
  assert_true(low.size * 2 < dflt.size);
}

/* ---- metadata ---- */

/* An EXIF block ("Exif\0\0" + TIFF, little-endian): IFD0 with Make (a serial
 * number stand-in) and a GPS IFD with GPSLatitudeRef N and GPSLatitude
 * 51 deg 30 min 0 s. */
static const unsigned char exif_blob[] = {
    'E', 'x', 'i', 'f', 0, 0,
    /* TIFF header, IFD0 at 8 */
    'I', 'I', 0x2a, 0, 8, 0, 0, 0,
    /* IFD0: 2 entries */
    2, 0,
    /* Make, ASCII, 17, at 38 */
    0x0f, 0x01, 2, 0, 17, 0, 0, 0, 38, 0, 0, 0,
    /* GPSInfo, LONG, 1, 56 */
    0x25, 0x88, 4, 0, 1, 0, 0, 0, 56, 0, 0, 0,
    /* next IFD */
    0, 0, 0, 0,
    /* 38: Make */
    'S', 'E', 'R', 'I', 'A', 'L', '-', '1', '2', '3', '4', '5', '-', 'C', 'A', 'M', 0,
    /* 55: pad */
    0,
    /* 56: GPS IFD: 2 entries */
    2, 0,
    /* GPSLatitudeRef, ASCII, 2, "N" */
    0x01, 0x00, 2, 0, 2, 0, 0, 0, 'N', 0, 0, 0,
    /* GPSLatitude, RATIONAL, 3, at 86 */
    0x02, 0x00, 5, 0, 3, 0, 0, 0, 86, 0, 0, 0,
    /* next IFD */
    0, 0, 0, 0,
    /* 86: 51/1 30/1 0/1 */
    51, 0, 0, 0, 1, 0, 0, 0, 30, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

static const char xmp_packet[] =
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
    "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description "
    "xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" exif:GPSLatitude=\"51,30.0N\" "
    "exif:BodySerialNumber=\"XMP-SERIAL-987\"/></rdf:RDF></x:xmpmeta>";

/* A JPEG with EXIF (GPS, "serial number"), XMP and a P3 ICC profile. */
static void make_tagged_jpeg(char *src, size_t n, VipsBlob **icc) {
  VipsImage *img = photo(120, 80), *copy = NULL;
  const void *p;
  size_t len;
  assert_int_equal(vips_profile_load("p3", icc, NULL), 0);
  p = vips_blob_get(*icc, &len);
  assert_int_equal(vips_copy(img, &copy, NULL), 0);
  g_object_unref(img);
  vips_image_set_blob_copy(copy, VIPS_META_EXIF_NAME, exif_blob, sizeof(exif_blob));
  vips_image_set_blob_copy(copy, VIPS_META_XMP_NAME, xmp_packet, strlen(xmp_packet));
  vips_image_set_blob_copy(copy, VIPS_META_ICC_NAME, p, len);
  save_as(copy, "tagged.jpg[Q=90]", src, n);
}

static void test_metadata_stripped_icc_kept(void **state) {
  static const struct {
    enum ml_transform_format fmt;
    const char *name;
  } cases[] = {
      {ML_TRANSFORM_FORMAT_JPEG, "m.jpg"},
      {ML_TRANSFORM_FORMAT_PNG, "m.png"},
      {ML_TRANSFORM_FORMAT_WEBP, "m.webp"},
      {ML_TRANSFORM_FORMAT_AVIF, "m.avif"},
  };
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  VipsBlob *icc = NULL;
  const void *icc_data;
  size_t icc_len, len;
  unsigned char *d;
  VipsImage *img;

  make_tagged_jpeg(src, sizeof(src), &icc);
  icc_data = vips_blob_get(icc, &icc_len);
  /* the input really carries all of it */
  d = slurp(src, &len);
  assert_true(contains(d, len, "Exif\0\0", 6));
  assert_true(contains(d, len, "SERIAL-12345-CAM", 16));
  assert_true(contains(d, len, "XMP-SERIAL-987", 14));
  free(d);
  img = load(src);
  assert_true(vips_image_get_typeof(img, "exif-ifd3-GPSLatitude") != 0);
  assert_true(vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0);
  g_object_unref(img);

  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct ml_render_result res;
    ml_err rc = render(src, "image/jpeg", 60, 40, 0, cases[i].fmt, cases[i].name, out, sizeof(out),
                       &res, &eb);
    if(rc)
      fail_msg("%s: %s: %s", cases[i].name, ml_err_code(rc), eb.msg);
    d = slurp(out, &len);
    {
      static const char *const leaks[] = {"Exif",       "eXIf",    "EXIF", "SERIAL-12345",
                                          "XMP-SERIAL", "xmpmeta", "XMP "};
      for(size_t k = 0; k < sizeof(leaks) / sizeof(leaks[0]); k++)
        if(contains(d, len, leaks[k], strlen(leaks[k])))
          fail_msg("%s: \"%s\" left in the output", cases[i].name, leaks[k]);
    }
    free(d);
    img = load(out);
    assert_false(vips_image_get_typeof(img, VIPS_META_EXIF_NAME));
    assert_false(vips_image_get_typeof(img, VIPS_META_XMP_NAME));
    assert_false(has_field(img, "exif-"));
    if(cases[i].fmt == ML_TRANSFORM_FORMAT_AVIF) {
      /* converted to sRGB instead (render.h) */
      assert_false(vips_image_get_typeof(img, VIPS_META_ICC_NAME));
    } else {
      const void *p;
      size_t n;
      if(!vips_image_get_typeof(img, VIPS_META_ICC_NAME))
        fail_msg("%s: the ICC profile is gone", cases[i].name);
      assert_int_equal(vips_image_get_blob(img, VIPS_META_ICC_NAME, &p, &n), 0);
      assert_int_equal(n, icc_len);
      assert_memory_equal(p, icc_data, n);
    }
    g_object_unref(img);
  }
  vips_area_unref(VIPS_AREA(icc));
}

/* A profile too large for one JPEG APP2 segment (65,519 bytes) is split over
 * several and read back whole. */
static void test_large_icc_jpeg(void **state) {
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  VipsImage *img = photo(64, 48), *copy = NULL;
  VipsBlob *p3 = NULL;
  size_t p3_len, big_len = 150000, n;
  unsigned char *big = calloc(1, big_len);
  const void *p;
  assert_non_null(big);
  /* the P3 profile padded to 150,000 bytes, its header's size field to match */
  assert_int_equal(vips_profile_load("p3", &p3, NULL), 0);
  p = vips_blob_get(p3, &p3_len);
  assert_true(p3_len < big_len);
  memcpy(big, p, p3_len);
  vips_area_unref(VIPS_AREA(p3));
  big[0] = (unsigned char)(big_len >> 24);
  big[1] = (unsigned char)(big_len >> 16);
  big[2] = (unsigned char)(big_len >> 8);
  big[3] = (unsigned char)big_len;
  assert_int_equal(vips_copy(img, &copy, NULL), 0);
  g_object_unref(img);
  vips_image_set_blob_copy(copy, VIPS_META_ICC_NAME, big, big_len);
  save_as(copy, "bigicc.jpg", src, sizeof(src));
  img = load(src);
  assert_int_equal(vips_image_get_blob(img, VIPS_META_ICC_NAME, &p, &n), 0);
  assert_int_equal(n, big_len);
  g_object_unref(img);

  assert_int_equal(render(src, "image/jpeg", 32, 24, 0, ML_TRANSFORM_FORMAT_JPEG, "bigicc.jpg.out",
                          out, sizeof(out), &res, &eb),
                   ML_OK);
  img = vips_image_new_from_file(out, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
  assert_non_null(img);
  assert_int_equal(vips_image_get_blob(img, VIPS_META_ICC_NAME, &p, &n), 0);
  assert_int_equal(n, big_len);
  assert_memory_equal(p, big, n);
  g_object_unref(img);
  free(big);
}

/* ---- orientation, frames, alpha ---- */

/* 40x20 stored, blue with a red 10x10 top-left corner, EXIF orientation 6
 * (rotate 90 degrees clockwise to display): displayed 20x40 with the red
 * corner top-right. */
static void test_orientation_applied(void **state) {
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  VipsImage *img = solid(40, 20, 0, 0, 230, -1), *copy = NULL;
  paste(&img, solid(10, 10, 230, 0, 0, -1), 0, 0);
  assert_int_equal(vips_copy(img, &copy, NULL), 0);
  g_object_unref(img);
  vips_image_set_int(copy, VIPS_META_ORIENTATION, 6);
  save_as(copy, "rot.jpg[Q=95]", src, sizeof(src));
  img = load(src);
  assert_int_equal(vips_image_get_orientation(img), 6);
  assert_int_equal(img->Xsize, 40);
  g_object_unref(img);

  assert_int_equal(render(src, "image/jpeg", 20, 40, 0, ML_TRANSFORM_FORMAT_PNG, "rot.png", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  assert_int_equal(res.width, 20);
  assert_int_equal(res.height, 40);
  img = load(out);
  assert_int_equal(img->Xsize, 20);
  assert_int_equal(img->Ysize, 40);
  assert_colour(img, 16, 3, 230, 0, 0); /* top-right: the stored top-left */
  assert_colour(img, 3, 3, 0, 0, 230);
  assert_colour(img, 16, 36, 0, 0, 230);
  /* and the output does not ask to be rotated again */
  assert_true(vips_image_get_orientation(img) <= 1);
  g_object_unref(img);
}

static void test_animated_gif_first_frame(void **state) {
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  VipsImage *img = solid(16, 32, 0, 0, 230, -1), *copy = NULL; /* frame 2 blue */
  int delays[2] = {100, 100};
  paste(&img, solid(16, 16, 230, 0, 0, -1), 0, 0); /* frame 1 red */
  assert_int_equal(vips_copy(img, &copy, NULL), 0);
  g_object_unref(img);
  vips_image_set_int(copy, VIPS_META_PAGE_HEIGHT, 16);
  vips_image_set_int(copy, VIPS_META_N_PAGES, 2);
  vips_image_set_array_int(copy, "delay", delays, 2);
  vips_image_set_int(copy, "loop", 0);
  save_as(copy, "anim.gif", src, sizeof(src));
  img = load(src);
  assert_int_equal(vips_image_get_n_pages(img), 2);
  g_object_unref(img);

  assert_int_equal(render(src, "image/gif", 8, 8, 0, ML_TRANSFORM_FORMAT_PNG, "anim.png", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  img = load(out);
  assert_int_equal(img->Xsize, 8);
  assert_int_equal(img->Ysize, 8);
  assert_colour(img, 4, 4, 230, 0, 0);
  assert_colour(img, 4, 7, 230, 0, 0);
  g_object_unref(img);
  /* WebP out is a still, not an animation */
  assert_int_equal(render(src, "image/gif", 8, 8, 0, ML_TRANSFORM_FORMAT_WEBP, "anim.webp", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  img = load(out);
  assert_int_equal(vips_image_get_n_pages(img), 1);
  assert_int_equal(img->Ysize, 8);
  g_object_unref(img);
}

/* Transparent left half, opaque red right half: white and red in JPEG. */
static void test_alpha_flattened_for_jpeg(void **state) {
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  VipsImage *img = solid(32, 16, 0, 0, 0, 0);
  paste(&img, solid(16, 16, 220, 0, 0, 255), 16, 0);
  save_as(img, "alpha.png", src, sizeof(src));
  assert_int_equal(render(src, "image/png", 32, 16, 0, ML_TRANSFORM_FORMAT_JPEG, "alpha.jpg", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  img = load(out);
  assert_int_equal(img->Bands, 3);
  assert_colour(img, 4, 8, 255, 255, 255);
  assert_colour(img, 27, 8, 220, 0, 0);
  g_object_unref(img);
  /* PNG keeps the alpha */
  assert_int_equal(render(src, "image/png", 32, 16, 0, ML_TRANSFORM_FORMAT_PNG, "alpha2.png", out,
                          sizeof(out), &res, &eb),
                   ML_OK);
  img = load(out);
  assert_int_equal(img->Bands, 4);
  g_object_unref(img);
}

/* ---- refusals ---- */

static void assert_refused(const char *src, const char *mime, ml_err want) {
  char out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  struct stat st;
  ml_err rc = render(src, mime, 16, 16, 0, ML_TRANSFORM_FORMAT_PNG, "refused.png", out, sizeof(out),
                     &res, &eb);
  if(rc != want)
    fail_msg("%s as %s: got %s (%s), expected %s", src, mime, ml_err_code(rc), eb.msg,
             ml_err_code(want));
  assert_true(eb.msg[0] != '\0');
  assert_null(strchr(eb.msg, '\n'));
  assert_int_equal(res.size, 0);
  assert_int_not_equal(stat(out, &st), 0); /* no output left */
}

static void test_disguised_content_refused(void **state) {
  static const char svg[] = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                            "width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/></svg>\n";
  static const char mvg[] = "push graphic-context\nviewbox 0 0 640 480\n"
                            "fill 'url(https://example.com/x.jpg\"|touch /tmp/pwned\")'\n"
                            "pop graphic-context\n";
  static const char text[] = "hello, this is not an image\n";
  static const char pgm[] = "P5\n4 4\n255\n0123456789abcdef";
  char path[512], jpeg[512];
  write_bytes("x.svg", svg, sizeof(svg) - 1, path, sizeof(path));
  assert_refused(path, "image/png", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_refused(path, "image/svg+xml", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  write_bytes("x.mvg", mvg, sizeof(mvg) - 1, path, sizeof(path));
  assert_refused(path, "image/jpeg", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  write_bytes("x.txt", text, sizeof(text) - 1, path, sizeof(path));
  assert_refused(path, "image/png", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  /* a format libvips decodes but that is not on the allow-list */
  write_bytes("x.pgm", pgm, sizeof(pgm) - 1, path, sizeof(path));
  assert_refused(path, "image/png", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_refused(path, "image/x-portable-graymap", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_refused(path, NULL, ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  /* an allowed format under another allowed type */
  save_as(photo(32, 32), "real.jpg", jpeg, sizeof(jpeg));
  assert_refused(jpeg, "image/png", ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  /* ... and the same file as what it is renders (the refusals were not
   * a broken renderer) */
  {
    char out[512];
    struct ml_errbuf eb = {{0}};
    struct ml_render_result res;
    assert_int_equal(render(jpeg, "image/jpeg", 16, 16, 0, ML_TRANSFORM_FORMAT_PNG, "ok.png", out,
                            sizeof(out), &res, &eb),
                     ML_OK);
  }
}

static void test_truncated_jpeg_invalid(void **state) {
  char src[512], cut[512];
  unsigned char *d;
  size_t len;
  save_as(photo(256, 192), "whole.jpg[Q=90]", src, sizeof(src));
  d = slurp(src, &len);
  assert_true(len > 4000);
  write_bytes("cut.jpg", d, len / 2, cut, sizeof(cut));
  assert_refused(cut, "image/jpeg", ML_ERR_INVALID_IMAGE);
  /* cut inside the headers */
  write_bytes("cut2.jpg", d, 200, cut, sizeof(cut));
  assert_refused(cut, "image/jpeg", ML_ERR_INVALID_IMAGE);
  free(d);
  /* a PNG cut in its pixel data */
  save_as(photo(128, 96), "whole.png", src, sizeof(src));
  d = slurp(src, &len);
  write_bytes("cut.png", d, len / 2, cut, sizeof(cut));
  assert_refused(cut, "image/png", ML_ERR_INVALID_IMAGE);
  free(d);
}

static void test_bad_arguments(void **state) {
  char src[512], out[512];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  struct ml_transform_dims dims = {.width = 8, .height = 8};
  int fd;
  unsigned char *d;
  size_t len;
  save_as(photo(32, 32), "args.png", src, sizeof(src));
  fd = open(src, O_RDONLY);
  assert_true(fd >= 0);
  path_of(out, sizeof(out), "args.jpg");
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_AUTO, 0, out, &res, &eb),
                   ML_ERR_INTERNAL);
  assert_int_equal(
      ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_ORIGINAL, 0, out, &res, &eb),
      ML_ERR_INTERNAL);
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_JPEG, 101, out, &res, &eb),
                   ML_ERR_INTERNAL);
  dims.width = 0;
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_JPEG, 0, out, &res, &eb),
                   ML_ERR_INTERNAL);
  dims.width = 8;
  /* an existing out_path is neither followed nor overwritten (O_EXCL) */
  write_bytes("args.jpg", "keep", 4, out, sizeof(out));
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_JPEG, 0, out, &res, &eb),
                   ML_ERR_IO);
  d = slurp(out, &len);
  assert_int_equal(len, 4);
  assert_memory_equal(d, "keep", 4);
  free(d);
  /* a directory that does not exist */
  path_of(out, sizeof(out), "nowhere/x.jpg");
  assert_int_equal(ml_render(fd, "image/png", &dims, ML_TRANSFORM_FORMAT_JPEG, 0, out, &res, &eb),
                   ML_ERR_IO);
  close(fd);
}

/* ---- threads ---- */

#define THREADS 4
#define RENDERS 10

struct worker {
  int id;
  const char *src;
  int ok;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  static const enum ml_transform_format fmts[] = {ML_TRANSFORM_FORMAT_JPEG, ML_TRANSFORM_FORMAT_PNG,
                                                  ML_TRANSFORM_FORMAT_WEBP};
  for(int i = 0; i < RENDERS; i++) {
    char out[512], name[64];
    struct ml_errbuf eb = {{0}};
    struct ml_render_result res;
    struct ml_transform_dims dims = {.width = 40 + i, .height = 30 + w->id, .crop = i & 1};
    int fd = open(w->src, O_RDONLY);
    ml_err rc;
    if(fd < 0)
      return NULL;
    snprintf(name, sizeof(name), "t%d-%d", w->id, i);
    path_of(out, sizeof(out), name);
    rc = ml_render(fd, "image/jpeg", &dims, fmts[i % 3], 0, out, &res, &eb);
    close(fd);
    if(rc || res.width != 40 + i || res.height != 30 + w->id)
      return NULL;
    {
      VipsImage *img = vips_image_new_from_file(out, NULL);
      int good = img && img->Xsize == 40 + i && img->Ysize == 30 + w->id;
      if(img)
        g_object_unref(img);
      if(!good)
        return NULL;
    }
    unlink(out);
    w->ok++;
  }
  return NULL;
}

static void test_threads(void **state) {
  char src[512];
  pthread_t th[THREADS];
  struct worker w[THREADS];
  save_as(photo(320, 240), "threads.jpg[Q=90]", src, sizeof(src));
  for(int i = 0; i < THREADS; i++) {
    w[i] = (struct worker){.id = i, .src = src};
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  for(int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].ok, RENDERS);
  }
}

/* ---- setup ---- */

static int setup(void **state) {
  struct ml_errbuf eb = {{0}};
  if(!mkdtemp(tmpdir))
    return -1;
  if(ml_render_init(&eb)) {
    fprintf(stderr, "ml_render_init: %s\n", eb.msg);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  /* ML_RENDER_KEEP=1 keeps the inputs and outputs to look at */
  if(!getenv("ML_RENDER_KEEP") && system(cmd) != 0)
    return -1;
  ml_render_shutdown();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_size_resize),
      cmocka_unit_test(test_crop_centre),
      cmocka_unit_test(test_formats_by_magic),
      cmocka_unit_test(test_quality),
      cmocka_unit_test(test_metadata_stripped_icc_kept),
      cmocka_unit_test(test_large_icc_jpeg),
      cmocka_unit_test(test_orientation_applied),
      cmocka_unit_test(test_animated_gif_first_frame),
      cmocka_unit_test(test_alpha_flattened_for_jpeg),
      cmocka_unit_test(test_disguised_content_refused),
      cmocka_unit_test(test_truncated_jpeg_invalid),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
