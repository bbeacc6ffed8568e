/* test_probe.c - the image header prober (src/image/probe.c): every format's
 * dimensions, frame counts and EXIF orientation from images built byte by
 * byte here, the floods of TESTING.md B1/B2, and every truncation of every
 * fixture (run under ASan: the prefixes sit in buffers of exactly their
 * length). The fd and buffer paths are compared on every input.
 *
 * ML_PROBE_WRITE_CORPUS=dir test_probe writes the valid fixtures as fuzz
 * seeds (fuzz/corpus/probe/) instead of testing, each prefixed by the byte
 * that fuzz_probe.c maps to its MIME type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "image/probe.h"

#define PNG "image/png"
#define JPEG "image/jpeg"
#define GIF "image/gif"
#define WEBP "image/webp"
#define BMP "image/bmp"

/* ---- a growable byte string for building images ---- */

struct img {
  unsigned char *d;
  size_t n, cap;
};

static void put(struct img *b, const void *p, size_t n) {
  if(b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while(cap < b->n + n)
      cap *= 2;
    b->d = realloc(b->d, cap);
    assert_non_null(b->d);
    b->cap = cap;
  }
  if(n)
    memcpy(b->d + b->n, p, n);
  b->n += n;
}

static void put8(struct img *b, unsigned v) {
  unsigned char c = (unsigned char)v;
  put(b, &c, 1);
}

static void put_fill(struct img *b, unsigned v, size_t n) {
  for(size_t i = 0; i < n; i++)
    put8(b, v);
}

static void put16le(struct img *b, uint32_t v) {
  put8(b, v & 0xff);
  put8(b, (v >> 8) & 0xff);
}

static void put16be(struct img *b, uint32_t v) {
  put8(b, (v >> 8) & 0xff);
  put8(b, v & 0xff);
}

static void put24le(struct img *b, uint32_t v) {
  put16le(b, v & 0xffff);
  put8(b, (v >> 16) & 0xff);
}

static void put32le(struct img *b, uint32_t v) {
  put16le(b, v & 0xffff);
  put16le(b, v >> 16);
}

static void put32be(struct img *b, uint32_t v) {
  put16be(b, v >> 16);
  put16be(b, v & 0xffff);
}

static void set16be(struct img *b, size_t at, uint32_t v) {
  b->d[at] = (unsigned char)(v >> 8);
  b->d[at + 1] = (unsigned char)v;
}

static void set32le(struct img *b, size_t at, uint32_t v) {
  for(int i = 0; i < 4; i++)
    b->d[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

static void img_free(struct img *b) {
  free(b->d);
  memset(b, 0, sizeof(*b));
}

/* ---- probing helpers ---- */

/* An unlinked temporary file holding n bytes of d. */
static int tmpfd_with(const unsigned char *d, size_t n) {
  char path[] = "/tmp/test_probe_XXXXXX";
  int fd = mkstemp(path);
  size_t done = 0;
  assert_true(fd >= 0);
  unlink(path);
  while(done < n) {
    ssize_t k = write(fd, d + done, n - done);
    assert_true(k > 0);
    done += (size_t)k;
  }
  return fd;
}

/* Probes d through the buffer path (from a copy of exactly n bytes, so ASan
 * sees any over-read) and through the fd path, and checks both agree. */
static ml_err probe2(const unsigned char *d, size_t n, const char *mime,
                     struct ml_image_info *info) {
  struct ml_image_info fi;
  struct ml_errbuf eb = {{0}}, feb = {{0}};
  unsigned char *copy = malloc(n ? n : 1);
  ml_err rc, frc;
  int fd;
  assert_non_null(copy);
  if(n)
    memcpy(copy, d, n);
  rc = ml_image_probe_buf(copy, n, mime, info, &eb);
  free(copy);
  fd = tmpfd_with(d, n);
  frc = ml_image_probe_fd(fd, mime, INT64_MAX, &fi, &feb);
  close(fd);
  if(rc != frc || info->width != fi.width || info->height != fi.height ||
     info->frames != fi.frames || info->orientation != fi.orientation)
    fail_msg("%s len %zu: buf rc %d (%s) %lldx%lld f%lld o%d, fd rc %d (%s)", mime, n, (int)rc,
             eb.msg, (long long)info->width, (long long)info->height, (long long)info->frames,
             info->orientation, (int)frc, feb.msg);
  if(rc == ML_OK)
    assert_string_equal(eb.msg, "");
  else if(rc == ML_ERR_UNPROCESSABLE)
    assert_true(eb.msg[0] != '\0'); /* says why */
  return rc;
}

static void expect_ok(const struct img *b, const char *mime, int64_t w, int64_t h, int64_t frames,
                      int orientation) {
  struct ml_image_info info;
  ml_err rc = probe2(b->d, b->n, mime, &info);
  if(rc != ML_OK)
    fail_msg("%s: rc %d, want OK", mime, (int)rc);
  assert_int_equal(info.width, w);
  assert_int_equal(info.height, h);
  assert_int_equal(info.frames, frames);
  assert_int_equal(info.orientation, orientation);
}

static void expect_bad(const struct img *b, const char *mime) {
  struct ml_image_info info;
  ml_err rc = probe2(b->d, b->n, mime, &info);
  if(rc != ML_ERR_UNPROCESSABLE)
    fail_msg("%s: rc %d, want UNPROCESSABLE", mime, (int)rc);
  assert_int_equal(info.width, 0); /* zeroed on error */
  assert_int_equal(info.frames, 0);
}

/* ---- PNG ---- */

static uint32_t crc32_ref(const unsigned char *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for(size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for(int k = 0; k < 8; k++)
      crc = (crc & 1) ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
  }
  return ~crc;
}

static void png_chunk(struct img *b, const char *type, const unsigned char *data, uint32_t len) {
  size_t start;
  put32be(b, len);
  start = b->n;
  put(b, type, 4);
  put(b, data, len);
  put32be(b, crc32_ref(b->d + start, 4 + (size_t)len));
}

static void png_start(struct img *b, uint32_t w, uint32_t h) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char ihdr[13] = {0};
  put(b, sig, 8);
  for(int i = 0; i < 4; i++) {
    ihdr[i] = (unsigned char)(w >> (24 - 8 * i));
    ihdr[4 + i] = (unsigned char)(h >> (24 - 8 * i));
  }
  ihdr[8] = 8; /* bit depth */
  ihdr[9] = 2; /* RGB */
  png_chunk(b, "IHDR", ihdr, 13);
}

static void png_actl(struct img *b, uint32_t frames) {
  unsigned char d[8] = {0};
  for(int i = 0; i < 4; i++)
    d[i] = (unsigned char)(frames >> (24 - 8 * i));
  png_chunk(b, "acTL", d, 8);
}

/* A real, decodable w x h RGB PNG: red pixels, one zlib stored block. */
static void png_real(struct img *b, uint32_t w, uint32_t h, uint32_t actl_frames) {
  struct img raw = {0}, z = {0};
  uint32_t a = 1, s = 0;
  png_start(b, w, h);
  png_chunk(b, "tEXt", (const unsigned char *)"Comment\0probe test", 18);
  if(actl_frames)
    png_actl(b, actl_frames);
  for(uint32_t y = 0; y < h; y++) {
    put8(&raw, 0); /* filter: none */
    for(uint32_t x = 0; x < w; x++) {
      put8(&raw, 0xff);
      put8(&raw, 0);
      put8(&raw, 0);
    }
  }
  assert_true(raw.n < 65536);
  put8(&z, 0x78);
  put8(&z, 0x01);
  put8(&z, 0x01); /* final stored block */
  put16le(&z, (uint32_t)raw.n);
  put16le(&z, (uint32_t)raw.n ^ 0xffff);
  put(&z, raw.d, raw.n);
  for(size_t i = 0; i < raw.n; i++) {
    a = (a + raw.d[i]) % 65521;
    s = (s + a) % 65521;
  }
  put32be(&z, s << 16 | a);
  png_chunk(b, "IDAT", z.d, (uint32_t)z.n);
  png_chunk(b, "IEND", NULL, 0);
  img_free(&raw);
  img_free(&z);
}

/* A w x h PNG header followed by an IDAT of idat_len meaningless bytes. */
static void png_flood(struct img *b, uint32_t w, uint32_t h, size_t idat_len) {
  unsigned char *zeros = calloc(1, idat_len ? idat_len : 1);
  png_start(b, w, h);
  png_chunk(b, "IDAT", zeros, (uint32_t)idat_len);
  png_chunk(b, "IEND", NULL, 0);
  free(zeros);
}

static void test_png(void **state) {
  struct img b = {0};
  (void)state;
  png_real(&b, 4, 3, 0);
  expect_ok(&b, PNG, 4, 3, 1, 1);
  img_free(&b);
  png_flood(&b, 0x7fffffff, 1, 10);
  expect_ok(&b, PNG, 0x7fffffff, 1, 1, 1);
  img_free(&b);
}

static void test_apng(void **state) {
  struct img b = {0};
  (void)state;
  png_real(&b, 5, 2, 7);
  expect_ok(&b, PNG, 5, 2, 7, 1);
  img_free(&b);
  /* num_frames 0 is invalid (APNG spec) */
  png_start(&b, 5, 2);
  png_actl(&b, 0);
  png_chunk(&b, "IDAT", (const unsigned char *)"x", 1);
  expect_bad(&b, PNG);
  img_free(&b);
  /* acTL after IDAT does not make an animation */
  png_start(&b, 5, 2);
  png_chunk(&b, "IDAT", (const unsigned char *)"x", 1);
  png_actl(&b, 9);
  png_chunk(&b, "IEND", NULL, 0);
  expect_ok(&b, PNG, 5, 2, 1, 1);
  img_free(&b);
  /* an acTL with a wrong CRC */
  png_start(&b, 5, 2);
  png_actl(&b, 3);
  b.d[b.n - 1] ^= 1;
  png_chunk(&b, "IDAT", (const unsigned char *)"x", 1);
  expect_bad(&b, PNG);
  img_free(&b);
}

static void test_png_corrupt(void **state) {
  struct img b = {0};
  (void)state;
  png_real(&b, 4, 3, 0);
  b.d[0] = 0x88; /* signature */
  expect_bad(&b, PNG);
  img_free(&b);
  png_real(&b, 4, 3, 0);
  b.d[16 + 3] ^= 0x10; /* width changed, CRC not */
  expect_bad(&b, PNG);
  img_free(&b);
  /* IEND before any IDAT */
  png_start(&b, 4, 3);
  png_chunk(&b, "IEND", NULL, 0);
  expect_bad(&b, PNG);
  img_free(&b);
  /* a chunk type that is not letters */
  png_start(&b, 4, 3);
  png_chunk(&b, "a1cd", (const unsigned char *)"x", 1);
  png_chunk(&b, "IDAT", (const unsigned char *)"x", 1);
  expect_bad(&b, PNG);
  img_free(&b);
  /* IHDR not first */
  {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&b, sig, 8);
    png_chunk(&b, "CgBI", (const unsigned char *)"\x50\x00\x20\x06", 4);
    expect_bad(&b, PNG);
    img_free(&b);
  }
}

/* A chunk length of 0xFFFFFFFF (above PNG's 2^31-1) and one of 2^31-1 that
 * points far past the end of the file. */
static void test_png_huge_chunk_length(void **state) {
  struct img b = {0};
  (void)state;
  png_start(&b, 4, 3);
  put32be(&b, 0xffffffffu);
  put(&b, "tEXt", 4);
  put_fill(&b, 'A', 100);
  expect_bad(&b, PNG);
  img_free(&b);
  png_start(&b, 4, 3);
  put32be(&b, 0x7fffffffu);
  put(&b, "tEXt", 4);
  put_fill(&b, 'A', 100);
  expect_bad(&b, PNG);
  img_free(&b);
}

/* ---- JPEG ---- */

enum exif_order { EXIF_NONE, EXIF_II, EXIF_MM };

/* An APP1 Exif segment whose IFD0 holds Make and Orientation (the value
 * orientation), in the given byte order. */
static void jpeg_app1_exif(struct img *b, enum exif_order order, unsigned orientation) {
  struct img t = {0};
  int le = order == EXIF_II;
  void (*p16)(struct img *, uint32_t) = le ? put16le : put16be;
  void (*p32)(struct img *, uint32_t) = le ? put32le : put32be;
  put(&t, le ? "II*\0" : "MM\0*", 4);
  p32(&t, 8);      /* IFD0 right after the header */
  p16(&t, 2);      /* entries */
  p16(&t, 0x010f); /* Make, ASCII, 6 bytes at offset 38 */
  p16(&t, 2);
  p32(&t, 6);
  p32(&t, 8 + 2 + 2 * 12 + 4);
  p16(&t, 0x0112); /* Orientation, SHORT, 1 */
  p16(&t, 3);
  p32(&t, 1);
  p16(&t, orientation);
  p16(&t, 0);
  p32(&t, 0); /* no IFD1 */
  put(&t, "Canon\0", 6);
  put8(b, 0xff);
  put8(b, 0xe1);
  put16be(b, (uint32_t)(2 + 6 + t.n));
  put(b, "Exif\0\0", 6);
  put(b, t.d, t.n);
  img_free(&t);
}

static void jpeg_sof(struct img *b, unsigned marker, uint32_t w, uint32_t h) {
  put8(b, 0xff);
  put8(b, marker);
  put16be(b, 8 + 3 * 3);
  put8(b, 8);
  put16be(b, h);
  put16be(b, w);
  put8(b, 3);
  for(unsigned c = 1; c <= 3; c++) {
    put8(b, c);
    put8(b, c == 1 ? 0x22 : 0x11);
    put8(b, c == 1 ? 0 : 1);
  }
}

/* A baseline JPEG's headers: SOI, APP0 JFIF, APP1 Exif, fill bytes, a TEM
 * marker, DQT, SOF0 (w x h), DHT, SOS, a little entropy data, EOI. */
static void jpeg_make(struct img *b, uint32_t w, uint32_t h, enum exif_order order,
                      unsigned orientation) {
  static const unsigned char app0[] = {0xff, 0xe0, 0x00, 0x10, 'J',  'F',  'I',  'F',  0x00,
                                       0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00};
  put8(b, 0xff);
  put8(b, 0xd8);
  put(b, app0, sizeof(app0));
  if(order != EXIF_NONE)
    jpeg_app1_exif(b, order, orientation);
  put_fill(b, 0xff, 3); /* fill bytes before the next marker */
  put8(b, 0x01);        /* TEM: no length */
  put8(b, 0xff);
  put8(b, 0xdb); /* DQT */
  put16be(b, 67);
  put8(b, 0);
  put_fill(b, 1, 64);
  jpeg_sof(b, 0xc0, w, h);
  put8(b, 0xff);
  put8(b, 0xc4); /* DHT: a marker in the SOF range that is not one */
  put16be(b, 2 + 17 + 1);
  put8(b, 0);
  put_fill(b, 0, 15);
  put8(b, 1);
  put8(b, 0);
  put8(b, 0xff);
  put8(b, 0xda); /* SOS */
  put16be(b, 12);
  put8(b, 3);
  put(b, "\x01\x00\x02\x11\x03\x11\x00\x3f\x00", 9);
  put(b, "\x12\x34\xff\x00\x56", 5); /* entropy data with a stuffed byte */
  put8(b, 0xff);
  put8(b, 0xd9);
}

static void test_jpeg(void **state) {
  struct img b = {0};
  (void)state;
  jpeg_make(&b, 3, 2, EXIF_NONE, 0);
  expect_ok(&b, JPEG, 3, 2, 1, 1);
  img_free(&b);
  jpeg_make(&b, 3, 2, EXIF_II, 6);
  expect_ok(&b, JPEG, 3, 2, 1, 6);
  img_free(&b);
  jpeg_make(&b, 3, 2, EXIF_MM, 8);
  expect_ok(&b, JPEG, 3, 2, 1, 8);
  img_free(&b);
  jpeg_make(&b, 640, 480, EXIF_MM, 3);
  expect_ok(&b, JPEG, 640, 480, 1, 3);
  img_free(&b);
  /* an orientation outside 1..8 is ignored */
  jpeg_make(&b, 3, 2, EXIF_II, 9);
  expect_ok(&b, JPEG, 3, 2, 1, 1);
  img_free(&b);
  jpeg_make(&b, 3, 2, EXIF_II, 0);
  expect_ok(&b, JPEG, 3, 2, 1, 1);
  img_free(&b);
}

/* Progressive (SOF2) and RST markers before the frame header. */
static void test_jpeg_markers(void **state) {
  struct img b = {0};
  (void)state;
  put8(&b, 0xff);
  put8(&b, 0xd8);
  put8(&b, 0xff);
  put8(&b, 0xd3); /* RST3: standalone */
  put8(&b, 0xff);
  put8(&b, 0xfe); /* COM */
  put16be(&b, 7);
  put(&b, "hello", 5);
  jpeg_sof(&b, 0xc2, 1024, 768);
  expect_ok(&b, JPEG, 1024, 768, 1, 1);
  img_free(&b);
  /* SOS before any SOF */
  put(&b, "\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", 12);
  expect_bad(&b, JPEG);
  img_free(&b);
  /* EOI before any SOF */
  put(&b, "\xff\xd8\xff\xd9", 4);
  expect_bad(&b, JPEG);
  img_free(&b);
  /* a second SOI, a stuffed 0x00 in the header area, garbage between
   * segments, a length below 2 */
  put(&b, "\xff\xd8\xff\xd8", 4);
  expect_bad(&b, JPEG);
  img_free(&b);
  put(&b, "\xff\xd8\xff\x00\xff\xc0", 6);
  expect_bad(&b, JPEG);
  img_free(&b);
  put(&b, "\xff\xd8\x12\xff\xc0", 5);
  expect_bad(&b, JPEG);
  img_free(&b);
  put(&b, "\xff\xd8\xff\xfe\x00\x01", 6);
  expect_bad(&b, JPEG);
  img_free(&b);
  /* an SOF too short for its components */
  put(&b, "\xff\xd8\xff\xc0\x00\x08\x08\x00\x02\x00\x03\x03", 12);
  expect_bad(&b, JPEG);
  img_free(&b);
  /* no SOI */
  put(&b, "\xff\xd9\xff\xc0", 4);
  expect_bad(&b, JPEG);
  img_free(&b);
}

/* Broken EXIF is metadata: ignored, the image still probes. */
static void test_jpeg_bad_exif(void **state) {
  struct img b = {0};
  size_t app1;
  (void)state;
  /* IFD0 offset pointing past the segment */
  put(&b, "\xff\xd8", 2);
  app1 = b.n;
  jpeg_app1_exif(&b, EXIF_II, 6);
  set32le(&b, app1 + 4 + 6 + 4, 0x7fffffff);
  jpeg_sof(&b, 0xc0, 3, 2);
  expect_ok(&b, JPEG, 3, 2, 1, 1);
  img_free(&b);
  /* an entry count far beyond the segment */
  put(&b, "\xff\xd8", 2);
  app1 = b.n;
  jpeg_app1_exif(&b, EXIF_MM, 6);
  set16be(&b, app1 + 4 + 6 + 8, 0xffff);
  jpeg_sof(&b, 0xc0, 3, 2);
  /* the orientation entry is still the second one */
  expect_ok(&b, JPEG, 3, 2, 1, 6);
  img_free(&b);
  /* a bad byte order mark */
  put(&b, "\xff\xd8", 2);
  app1 = b.n;
  jpeg_app1_exif(&b, EXIF_II, 6);
  b.d[app1 + 4 + 6] = 'X';
  jpeg_sof(&b, 0xc0, 3, 2);
  expect_ok(&b, JPEG, 3, 2, 1, 1);
  img_free(&b);
  /* orientation stored as LONG, not SHORT */
  put(&b, "\xff\xd8", 2);
  app1 = b.n;
  jpeg_app1_exif(&b, EXIF_II, 6);
  b.d[app1 + 4 + 6 + 8 + 2 + 12 + 2] = 4;
  jpeg_sof(&b, 0xc0, 3, 2);
  expect_ok(&b, JPEG, 3, 2, 1, 1);
  img_free(&b);
  /* only the first Exif APP1 counts */
  put(&b, "\xff\xd8", 2);
  jpeg_app1_exif(&b, EXIF_II, 5);
  jpeg_app1_exif(&b, EXIF_II, 7);
  jpeg_sof(&b, 0xc0, 3, 2);
  expect_ok(&b, JPEG, 3, 2, 1, 5);
  img_free(&b);
}

/* Segment lengths that point past the end of the file. */
static void test_jpeg_segment_past_eof(void **state) {
  struct img b = {0};
  (void)state;
  put(&b, "\xff\xd8\xff\xe2\xff\xff", 6); /* APP2 of 65535 bytes */
  put_fill(&b, 0, 100);
  jpeg_sof(&b, 0xc0, 3, 2); /* inside the APP2 payload: must not be seen */
  expect_bad(&b, JPEG);
  img_free(&b);
  /* an Exif APP1 claiming more than the file holds */
  put(&b,
      "\xff\xd8\xff\xe1\xff\xf0"
      "Exif\0\0II*\0\x08\0\0\0",
      18);
  expect_bad(&b, JPEG);
  img_free(&b);
}

/* ---- GIF ---- */

/* A GIF89a of w x h with frames frames, each with a graphic control
 * extension and data_len bytes of LZW data in 255-byte sub-blocks. */
static void gif_make(struct img *b, uint32_t w, uint32_t h, long frames, size_t data_len,
                     int trailer) {
  put(b, "GIF89a", 6);
  put16le(b, w);
  put16le(b, h);
  put8(b, 0x80); /* a global color table of 2 entries */
  put8(b, 0);
  put8(b, 0);
  put(b, "\x00\x00\x00\xff\xff\xff", 6);
  if(frames > 1) /* NETSCAPE2.0 loop extension */
    put(b, "\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00", 19);
  for(long f = 0; f < frames; f++) {
    size_t left = data_len;
    put(b, "\x21\xf9\x04\x04\x0a\x00\x00\x00", 8);
    put8(b, 0x2c);
    put16le(b, 0);
    put16le(b, 0);
    put16le(b, w);
    put16le(b, h);
    /* every other frame has a local color table */
    put8(b, (f & 1) ? 0x81 : 0);
    if(f & 1)
      put_fill(b, 0x7f, 12);
    put8(b, 2); /* LZW minimum code size */
    if(data_len == 0) {
      put(b, "\x02\x44\x01", 3); /* the classic 1x1 image data */
    }
    while(left > 0) {
      size_t n = left > 255 ? 255 : left;
      put8(b, (unsigned)n);
      put_fill(b, 0x55, n);
      left -= n;
    }
    put8(b, 0);
  }
  if(trailer)
    put8(b, 0x3b);
}

static void test_gif(void **state) {
  struct img b = {0};
  (void)state;
  gif_make(&b, 5, 4, 3, 0, 1);
  expect_ok(&b, GIF, 5, 4, 3, 1);
  img_free(&b);
  gif_make(&b, 1, 1, 1, 0, 1);
  expect_ok(&b, GIF, 1, 1, 1, 1);
  img_free(&b);
  gif_make(&b, 300, 200, 2, 1000, 1);
  expect_ok(&b, GIF, 300, 200, 2, 1);
  img_free(&b);
  /* GIF87a, no global color table */
  put(&b, "GIF87a\x02\x00\x03\x00\x00\x00\x00", 13);
  put(&b, "\x2c\x00\x00\x00\x00\x02\x00\x03\x00\x00\x02\x02\x44\x01\x00\x3b", 16);
  expect_ok(&b, GIF, 2, 3, 1, 1);
  img_free(&b);
  /* no trailer after a whole frame: accepted */
  gif_make(&b, 5, 4, 2, 0, 0);
  expect_ok(&b, GIF, 5, 4, 2, 1);
  img_free(&b);
}

static void test_gif_corrupt(void **state) {
  struct img b = {0};
  (void)state;
  /* no frame at all */
  gif_make(&b, 5, 4, 0, 0, 1);
  expect_bad(&b, GIF);
  img_free(&b);
  /* an unknown block */
  gif_make(&b, 5, 4, 1, 0, 0);
  put8(&b, 0x99);
  expect_bad(&b, GIF);
  img_free(&b);
  /* a sub-block running past the end */
  gif_make(&b, 5, 4, 1, 0, 0);
  put(&b, "\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\xff\x01\x02", 14);
  expect_bad(&b, GIF);
  img_free(&b);
  /* a bad signature */
  gif_make(&b, 5, 4, 1, 0, 1);
  b.d[4] = '8';
  b.d[5] = 'b';
  expect_bad(&b, GIF);
  img_free(&b);
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* TESTING.md B2: 10,000 frames are counted, quickly; past the cap counting
 * stops at ML_IMAGE_PROBE_MAX_FRAMES + 1. */
static void test_gif_frame_flood(void **state) {
  struct img b = {0};
  struct ml_image_info info;
  double t0;
  (void)state;
  gif_make(&b, 1, 1, 10000, 0, 1);
  t0 = now_sec();
  assert_int_equal(ml_image_probe_buf(b.d, b.n, GIF, &info, NULL), ML_OK);
  assert_true(now_sec() - t0 < 2.0);
  assert_int_equal(info.frames, 10000);
  expect_ok(&b, GIF, 1, 1, 10000, 1);
  img_free(&b);
  gif_make(&b, 1, 1, ML_IMAGE_PROBE_MAX_FRAMES + 50, 0, 1);
  expect_ok(&b, GIF, 1, 1, ML_IMAGE_PROBE_MAX_FRAMES + 1, 1);
  img_free(&b);
}

/* Frame counting reads block headers and sub-block lengths, not pixel data:
 * 40 frames of 100 KB each are counted within a 64 KiB scan of a 4 MB file. */
static void test_gif_skips_pixel_data(void **state) {
  struct img b = {0};
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  int fd;
  (void)state;
  gif_make(&b, 640, 480, 40, 100000, 1);
  assert_true(b.n > 4000000);
  fd = tmpfd_with(b.d, b.n);
  assert_int_equal(ml_image_probe_fd(fd, GIF, 65536, &info, &eb), ML_OK);
  assert_int_equal(info.frames, 40);
  assert_int_equal(info.width, 640);
  /* and a scan limit too small for the walk is refused, not undercounted */
  assert_int_equal(ml_image_probe_fd(fd, GIF, 4096, &info, &eb), ML_ERR_UNPROCESSABLE);
  assert_non_null(strstr(eb.msg, "scan limit"));
  close(fd);
  img_free(&b);
}

/* ---- WebP ---- */

static void riff_chunk(struct img *b, const char *fourcc, const struct img *payload) {
  put(b, fourcc, 4);
  put32le(b, (uint32_t)payload->n);
  put(b, payload->d, payload->n);
  if(payload->n & 1)
    put8(b, 0);
}

static void riff_finish(struct img *b) { set32le(b, 4, (uint32_t)(b->n - 8)); }

static void vp8l_payload(struct img *p, uint32_t w, uint32_t h) {
  put8(p, 0x2f);
  put32le(p, (w - 1) | (h - 1) << 14 | 1u << 28);
  put(p, "\x88\x88\x08", 3); /* some bits of image data */
}

static void webp_vp8l(struct img *b, uint32_t w, uint32_t h) {
  struct img p = {0};
  put(b, "RIFF\0\0\0\0WEBP", 12);
  vp8l_payload(&p, w, h);
  riff_chunk(b, "VP8L", &p);
  riff_finish(b);
  img_free(&p);
}

static void webp_vp8(struct img *b, uint32_t w, uint32_t h) {
  struct img p = {0};
  uint32_t first_part = 10;
  put(b, "RIFF\0\0\0\0WEBP", 12);
  /* frame tag: key frame (bit 0 clear), version 0, shown, partition size */
  put24le(&p, 0u | 1u << 4 | first_part << 5);
  put(&p, "\x9d\x01\x2a", 3);
  put16le(&p, w);
  put16le(&p, h);
  put_fill(&p, 0, first_part + 5);
  riff_chunk(b, "VP8 ", &p);
  riff_finish(b);
  img_free(&p);
}

/* A TIFF structure with only the Orientation entry. */
static void tiff_orientation(struct img *t, enum exif_order order, unsigned orientation) {
  int le = order == EXIF_II;
  void (*p16)(struct img *, uint32_t) = le ? put16le : put16be;
  void (*p32)(struct img *, uint32_t) = le ? put32le : put32be;
  put(t, le ? "II*\0" : "MM\0*", 4);
  p32(t, 8);
  p16(t, 1);
  p16(t, 0x0112);
  p16(t, 3);
  p32(t, 1);
  p16(t, orientation);
  p16(t, 0);
  p32(t, 0);
}

/* VP8X w x h; frames > 0 makes it animated (ANIM and ANMF chunks); an EXIF
 * chunk at the end when order is not EXIF_NONE (with JPEG's "Exif\0\0"
 * prefix when exif_prefix). */
static void webp_vp8x(struct img *b, uint32_t w, uint32_t h, int frames, enum exif_order order,
                      unsigned orientation, int exif_prefix) {
  struct img p = {0};
  unsigned flags = (frames > 0 ? 0x02 : 0) | (order != EXIF_NONE ? 0x08 : 0) | 0x10;
  put(b, "RIFF\0\0\0\0WEBP", 12);
  put8(&p, flags);
  put_fill(&p, 0, 3);
  put24le(&p, w - 1);
  put24le(&p, h - 1);
  riff_chunk(b, "VP8X", &p);
  img_free(&p);
  if(frames > 0) {
    put32le(&p, 0xffffffffu); /* background */
    put16le(&p, 0);           /* loop forever */
    riff_chunk(b, "ANIM", &p);
    img_free(&p);
    for(int f = 0; f < frames; f++) {
      struct img sub = {0};
      put24le(&p, 0);
      put24le(&p, 0);
      put24le(&p, w - 1);
      put24le(&p, h - 1);
      put24le(&p, 100); /* duration */
      put8(&p, 0);
      vp8l_payload(&sub, w, h);
      riff_chunk(&p, "VP8L", &sub);
      riff_chunk(b, "ANMF", &p);
      img_free(&sub);
      img_free(&p);
    }
  } else {
    vp8l_payload(&p, w, h);
    riff_chunk(b, "VP8L", &p);
    img_free(&p);
  }
  if(order != EXIF_NONE) {
    if(exif_prefix)
      put(&p, "Exif\0\0", 6);
    tiff_orientation(&p, order, orientation);
    riff_chunk(b, "EXIF", &p);
    img_free(&p);
  }
  riff_finish(b);
}

static void test_webp(void **state) {
  struct img b = {0};
  (void)state;
  webp_vp8l(&b, 7, 5);
  expect_ok(&b, WEBP, 7, 5, 1, 1);
  img_free(&b);
  webp_vp8l(&b, 16384, 16384);
  expect_ok(&b, WEBP, 16384, 16384, 1, 1);
  img_free(&b);
  webp_vp8(&b, 9, 6);
  expect_ok(&b, WEBP, 9, 6, 1, 1);
  img_free(&b);
  webp_vp8x(&b, 300, 200, 0, EXIF_NONE, 0, 0);
  expect_ok(&b, WEBP, 300, 200, 1, 1);
  img_free(&b);
  webp_vp8x(&b, 1 << 24, 3, 0, EXIF_NONE, 0, 0);
  expect_ok(&b, WEBP, 1 << 24, 3, 1, 1);
  img_free(&b);
  webp_vp8x(&b, 30, 20, 4, EXIF_NONE, 0, 0);
  expect_ok(&b, WEBP, 30, 20, 4, 1);
  img_free(&b);
  webp_vp8x(&b, 30, 20, 0, EXIF_II, 3, 0);
  expect_ok(&b, WEBP, 30, 20, 1, 3);
  img_free(&b);
  webp_vp8x(&b, 30, 20, 2, EXIF_MM, 5, 1);
  expect_ok(&b, WEBP, 30, 20, 2, 5);
  img_free(&b);
}

static void test_webp_corrupt(void **state) {
  struct img b = {0};
  (void)state;
  /* animated without frames */
  webp_vp8x(&b, 30, 20, 0, EXIF_NONE, 0, 0);
  b.d[20] |= 0x02;
  expect_bad(&b, WEBP);
  img_free(&b);
  /* VP8 inter frame */
  webp_vp8(&b, 9, 6);
  b.d[20] |= 1;
  expect_bad(&b, WEBP);
  img_free(&b);
  /* VP8 without its start code */
  webp_vp8(&b, 9, 6);
  b.d[23] = 0;
  expect_bad(&b, WEBP);
  img_free(&b);
  /* VP8L signature and version */
  webp_vp8l(&b, 7, 5);
  b.d[20] = 0x2e;
  expect_bad(&b, WEBP);
  img_free(&b);
  webp_vp8l(&b, 7, 5);
  b.d[24] |= 0x20;
  expect_bad(&b, WEBP);
  img_free(&b);
  /* an unknown first chunk */
  webp_vp8l(&b, 7, 5);
  memcpy(b.d + 12, "ALPH", 4);
  expect_bad(&b, WEBP);
  img_free(&b);
  /* a RIFF size too small for its first chunk */
  webp_vp8l(&b, 7, 5);
  set32le(&b, 4, 12);
  expect_bad(&b, WEBP);
  img_free(&b);
  /* an ANMF chunk running past the RIFF end */
  webp_vp8x(&b, 30, 20, 2, EXIF_NONE, 0, 0);
  set32le(&b, 4, (uint32_t)(b.n - 8 - 10));
  expect_bad(&b, WEBP);
  img_free(&b);
  /* a RIFF size past the end of the file (a truncated animation) */
  webp_vp8x(&b, 30, 20, 2, EXIF_NONE, 0, 0);
  set32le(&b, 4, (uint32_t)(b.n - 8 + 100));
  expect_bad(&b, WEBP);
  img_free(&b);
  /* not RIFF */
  webp_vp8l(&b, 7, 5);
  b.d[0] = 'X';
  expect_bad(&b, WEBP);
  img_free(&b);
}

/* ---- BMP ---- */

static void bmp_make(struct img *b, int32_t w, int32_t h, uint32_t hsize) {
  uint32_t abs_h = h < 0 ? (uint32_t)(-(int64_t)h) : (uint32_t)h;
  uint32_t row = ((uint32_t)(w > 0 ? w : 0) * 3 + 3) & ~3u;
  uint32_t pixels = abs_h <= 64 ? row * abs_h : 0;
  put(b, "BM", 2);
  put32le(b, 14 + hsize + pixels);
  put32le(b, 0);
  put32le(b, 14 + hsize);
  put32le(b, hsize);
  if(hsize == 12) {
    put16le(b, (uint32_t)w);
    put16le(b, (uint32_t)h);
    put16le(b, 1);
    put16le(b, 24);
  } else {
    put32le(b, (uint32_t)w);
    put32le(b, (uint32_t)h);
    put16le(b, 1);
    put16le(b, 24);
    put_fill(b, 0, hsize - 16);
  }
  put_fill(b, 0x80, pixels);
}

static void test_bmp(void **state) {
  struct img b = {0};
  (void)state;
  bmp_make(&b, 6, 4, 40);
  expect_ok(&b, BMP, 6, 4, 1, 1);
  img_free(&b);
  bmp_make(&b, 6, -4, 40); /* top-down */
  expect_ok(&b, BMP, 6, 4, 1, 1);
  img_free(&b);
  bmp_make(&b, 5, 3, 12); /* BITMAPCOREHEADER */
  expect_ok(&b, BMP, 5, 3, 1, 1);
  img_free(&b);
  bmp_make(&b, 5, 3, 124); /* BITMAPV5HEADER */
  expect_ok(&b, BMP, 5, 3, 1, 1);
  img_free(&b);
  bmp_make(&b, INT32_MAX, -INT32_MAX, 40);
  expect_ok(&b, BMP, INT32_MAX, INT32_MAX, 1, 1);
  img_free(&b);
  /* corrupt: negative width, INT32_MIN height, unknown header size, bad
   * signature */
  bmp_make(&b, -6, 4, 40);
  expect_bad(&b, BMP);
  img_free(&b);
  bmp_make(&b, 6, INT32_MIN, 40);
  expect_bad(&b, BMP);
  img_free(&b);
  bmp_make(&b, 6, 4, 41);
  expect_bad(&b, BMP);
  img_free(&b);
  bmp_make(&b, 6, 4, 40);
  b.d[1] = 'A';
  expect_bad(&b, BMP);
  img_free(&b);
}

/* ---- across formats ---- */

/* Claims of a zero width or height. */
static void test_zero_dimensions(void **state) {
  struct img b = {0};
  (void)state;
  png_flood(&b, 0, 3, 4);
  expect_bad(&b, PNG);
  img_free(&b);
  png_flood(&b, 4, 0, 4);
  expect_bad(&b, PNG);
  img_free(&b);
  png_flood(&b, 0x80000000u, 3, 4); /* above 2^31-1 */
  expect_bad(&b, PNG);
  img_free(&b);
  jpeg_make(&b, 0, 2, EXIF_NONE, 0);
  expect_bad(&b, JPEG);
  img_free(&b);
  jpeg_make(&b, 3, 0, EXIF_II, 6); /* height deferred to DNL */
  expect_bad(&b, JPEG);
  img_free(&b);
  gif_make(&b, 0, 4, 1, 0, 1);
  expect_bad(&b, GIF);
  img_free(&b);
  gif_make(&b, 5, 0, 1, 0, 1);
  expect_bad(&b, GIF);
  img_free(&b);
  webp_vp8(&b, 0, 6);
  expect_bad(&b, WEBP);
  img_free(&b);
  webp_vp8(&b, 9, 0x4000); /* only the scale bits set: height 0 */
  expect_bad(&b, WEBP);
  img_free(&b);
  bmp_make(&b, 0, 4, 40);
  expect_bad(&b, BMP);
  img_free(&b);
  bmp_make(&b, 6, 0, 12);
  expect_bad(&b, BMP);
  img_free(&b);
}

/* TESTING.md B1: a 40 KB PNG claiming 100,000 x 100,000 and a JPEG claiming
 * 65,535 x 65,535 report their claims from a 64-byte scan: nothing past the
 * header is read. Refusing them is the caller's job. */
static void test_pixel_flood(void **state) {
  struct img b = {0};
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  int fd;
  (void)state;
  png_flood(&b, 100000, 100000, 40000);
  fd = tmpfd_with(b.d, b.n);
  assert_int_equal(ml_image_probe_fd(fd, PNG, 64, &info, &eb), ML_OK);
  assert_int_equal(info.width, 100000);
  assert_int_equal(info.height, 100000);
  assert_int_equal(info.frames, 1);
  close(fd);
  img_free(&b);

  put(&b, "\xff\xd8", 2);
  jpeg_sof(&b, 0xc0, 65535, 65535);
  put(&b, "\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00", 14);
  put_fill(&b, 0x5a, 40000);
  put(&b, "\xff\xd9", 2);
  fd = tmpfd_with(b.d, b.n);
  assert_int_equal(ml_image_probe_fd(fd, JPEG, 64, &info, &eb), ML_OK);
  assert_int_equal(info.width, 65535);
  assert_int_equal(info.height, 65535);
  close(fd);
  img_free(&b);
}

/* A scan limit below what the header needs is refused, whatever the format. */
static void test_max_scan(void **state) {
  struct img b = {0};
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  int fd;
  (void)state;
  png_real(&b, 4, 3, 0);
  fd = tmpfd_with(b.d, b.n);
  assert_int_equal(ml_image_probe_fd(fd, PNG, 20, &info, &eb), ML_ERR_UNPROCESSABLE);
  assert_non_null(strstr(eb.msg, "scan limit"));
  assert_int_equal(info.width, 0);
  assert_int_equal(ml_image_probe_fd(fd, PNG, 0, &info, NULL), ML_ERR_UNPROCESSABLE);
  assert_int_equal(ml_image_probe_fd(fd, PNG, -5, &info, NULL), ML_ERR_UNPROCESSABLE);
  assert_int_equal(ml_image_probe_fd(fd, PNG, (int64_t)b.n, &info, NULL), ML_OK);
  close(fd);
  img_free(&b);

  /* a JPEG whose frame header follows 200 comment segments of 1000 bytes:
   * each costs a segment header read, so a 1 KiB scan does not reach it */
  put(&b, "\xff\xd8", 2);
  for(int i = 0; i < 200; i++) {
    put(&b, "\xff\xfe", 2);
    put16be(&b, 1000);
    put_fill(&b, 'c', 998);
  }
  jpeg_sof(&b, 0xc0, 3, 2);
  fd = tmpfd_with(b.d, b.n);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_image_probe_fd(fd, JPEG, 1024, &info, &eb), ML_ERR_UNPROCESSABLE);
  assert_non_null(strstr(eb.msg, "scan limit"));
  assert_int_equal(ml_image_probe_fd(fd, JPEG, 64 * 1024, &info, NULL), ML_OK);
  assert_int_equal(info.width, 3);
  close(fd);
  img_free(&b);
}

static void test_unsupported(void **state) {
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  int fd = tmpfd_with((const unsigned char *)"II*\0", 4);
  (void)state;
  assert_int_equal(ml_image_probe_buf((const unsigned char *)"II*\0", 4, "image/tiff", &info, &eb),
                   ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(ml_image_probe_buf(NULL, 0, NULL, &info, NULL), ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(ml_image_probe_fd(fd, "image/svg+xml", 100, &info, NULL),
                   ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(ml_image_probe_fd(fd, "IMAGE/PNG", 100, &info, NULL),
                   ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  close(fd);
  /* an empty buffer, and a NULL one */
  assert_int_equal(ml_image_probe_buf(NULL, 0, PNG, &info, NULL), ML_ERR_UNPROCESSABLE);
  assert_int_equal(ml_image_probe_buf((const unsigned char *)"", 0, GIF, &info, NULL),
                   ML_ERR_UNPROCESSABLE);
}

/* An fd that cannot be read: closed, or a pipe (no pread). */
static void test_bad_fd(void **state) {
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  int fds[2];
  (void)state;
  assert_int_equal(ml_image_probe_fd(-1, PNG, 100, &info, &eb), ML_ERR_IO);
  assert_true(eb.msg[0] != '\0');
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(write(fds[1], "GIF89a", 6), 6);
  ml_errbuf_clear(&eb);
  assert_int_equal(ml_image_probe_fd(fds[0], GIF, 100, &info, &eb), ML_ERR_IO);
  close(fds[0]);
  close(fds[1]);
}

/* ---- every prefix of every fixture ---- */

struct fixture {
  const char *name;
  const char *mime;
  struct img b;
};

#define N_FIXTURES 16

static void fixtures_make(struct fixture *f) {
  memset(f, 0, sizeof(*f) * N_FIXTURES);
  f[0] = (struct fixture){"png_4x3", PNG, {0}};
  png_real(&f[0].b, 4, 3, 0);
  f[1] = (struct fixture){"apng_5x2_7f", PNG, {0}};
  png_real(&f[1].b, 5, 2, 7);
  f[2] = (struct fixture){"jpeg_3x2", JPEG, {0}};
  jpeg_make(&f[2].b, 3, 2, EXIF_NONE, 0);
  f[3] = (struct fixture){"jpeg_exif_ii_6", JPEG, {0}};
  jpeg_make(&f[3].b, 3, 2, EXIF_II, 6);
  f[4] = (struct fixture){"jpeg_exif_mm_8", JPEG, {0}};
  jpeg_make(&f[4].b, 3, 2, EXIF_MM, 8);
  f[5] = (struct fixture){"gif_3f", GIF, {0}};
  gif_make(&f[5].b, 5, 4, 3, 0, 1);
  f[6] = (struct fixture){"gif_2f_data", GIF, {0}};
  gif_make(&f[6].b, 30, 20, 2, 300, 1);
  f[7] = (struct fixture){"webp_vp8l", WEBP, {0}};
  webp_vp8l(&f[7].b, 7, 5);
  f[8] = (struct fixture){"webp_vp8", WEBP, {0}};
  webp_vp8(&f[8].b, 9, 6);
  f[9] = (struct fixture){"webp_vp8x", WEBP, {0}};
  webp_vp8x(&f[9].b, 300, 200, 0, EXIF_NONE, 0, 0);
  f[10] = (struct fixture){"webp_anim_3f", WEBP, {0}};
  webp_vp8x(&f[10].b, 30, 20, 3, EXIF_NONE, 0, 0);
  f[11] = (struct fixture){"webp_exif_ii_3", WEBP, {0}};
  webp_vp8x(&f[11].b, 30, 20, 0, EXIF_II, 3, 0);
  f[12] = (struct fixture){"webp_anim_exif_mm_5", WEBP, {0}};
  webp_vp8x(&f[12].b, 30, 20, 2, EXIF_MM, 5, 1);
  f[13] = (struct fixture){"bmp_6x4", BMP, {0}};
  bmp_make(&f[13].b, 6, 4, 40);
  f[14] = (struct fixture){"bmp_topdown", BMP, {0}};
  bmp_make(&f[14].b, 6, -4, 40);
  f[15] = (struct fixture){"bmp_core", BMP, {0}};
  bmp_make(&f[15].b, 5, 3, 12);
}

static void fixtures_free(struct fixture *f) {
  for(int i = 0; i < N_FIXTURES; i++)
    img_free(&f[i].b);
}

/* Every prefix (and the whole) of each fixture: OK with the full file's
 * dimensions (a GIF cut between frames may count fewer), or UNPROCESSABLE;
 * the same through fd and buffer; never an over-read (ASan, exact-length
 * copies). Also every byte of each fixture flipped, for the same promises. */
static void test_truncations(void **state) {
  struct fixture f[N_FIXTURES];
  long ok = 0, bad = 0;
  (void)state;
  fixtures_make(f);
  for(int i = 0; i < N_FIXTURES; i++) {
    struct ml_image_info full, info;
    assert_int_equal(probe2(f[i].b.d, f[i].b.n, f[i].mime, &full), ML_OK);
    for(size_t len = 0; len < f[i].b.n; len++) {
      ml_err rc = probe2(f[i].b.d, len, f[i].mime, &info);
      if(rc == ML_OK) {
        if(info.width != full.width || info.height != full.height || info.frames > full.frames ||
           info.frames < 1 || info.orientation != full.orientation)
          fail_msg("%s cut at %zu: %lldx%lld f%lld", f[i].name, len, (long long)info.width,
                   (long long)info.height, (long long)info.frames);
        ok++;
      } else {
        if(rc != ML_ERR_UNPROCESSABLE)
          fail_msg("%s cut at %zu: rc %d", f[i].name, len, (int)rc);
        bad++;
      }
    }
    for(size_t at = 0; at < f[i].b.n; at++) {
      for(unsigned x = 1; x < 256; x <<= 1) {
        ml_err rc;
        f[i].b.d[at] ^= (unsigned char)x;
        rc = probe2(f[i].b.d, f[i].b.n, f[i].mime, &info);
        f[i].b.d[at] ^= (unsigned char)x;
        assert_true(rc == ML_OK || rc == ML_ERR_UNPROCESSABLE);
        if(rc == ML_OK)
          assert_true(info.width > 0 && info.height > 0 && info.frames >= 1 &&
                      info.orientation >= 1 && info.orientation <= 8);
      }
    }
  }
  /* the empty prefix fails and the headers end inside most prefixes */
  assert_true(bad > ok);
  fixtures_free(f);
}

/* Writes the fixtures as fuzz seeds into dir; the first byte selects the
 * MIME type as fuzz_probe.c does. */
static int write_corpus(const char *dir) {
  static const char *mimes[] = {PNG, JPEG, GIF, WEBP, BMP};
  struct fixture f[N_FIXTURES];
  int rc = 0;
  fixtures_make(f);
  for(int i = 0; i < N_FIXTURES && !rc; i++) {
    char path[4096];
    unsigned char sel = 0;
    FILE *out;
    for(unsigned m = 0; m < 5; m++)
      if(!strcmp(mimes[m], f[i].mime))
        sel = (unsigned char)m;
    snprintf(path, sizeof(path), "%s/%s", dir, f[i].name);
    out = fopen(path, "wb");
    if(!out || fwrite(&sel, 1, 1, out) != 1 || fwrite(f[i].b.d, 1, f[i].b.n, out) != f[i].b.n)
      rc = -1;
    if(out && fclose(out))
      rc = -1;
    if(rc)
      fprintf(stderr, "cannot write %s\n", path);
  }
  fixtures_free(f);
  return rc;
}

/* ---- a real encoder, when one is installed ---- */

/* Runs cmd through the shell; 0 when it exited 0. */
static int run(const char *cmd) {
  int st = system(cmd);
  return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Probes path (a file ImageMagick wrote) through the fd path. */
static void expect_file(const char *path, const char *mime, int64_t w, int64_t h, int64_t frames,
                        int orientation) {
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  FILE *f = fopen(path, "rb");
  ml_err rc;
  assert_non_null(f);
  rc = ml_image_probe_fd(fileno(f), mime, 1 << 20, &info, &eb);
  fclose(f);
  if(rc != ML_OK)
    fail_msg("%s: rc %d: %s", path, (int)rc, eb.msg);
  assert_int_equal(info.width, w);
  assert_int_equal(info.height, h);
  assert_int_equal(info.frames, frames);
  assert_int_equal(info.orientation, orientation);
}

/* Cross-checks the parsers against ImageMagick's encoders. Skipped where
 * convert is missing or is not ImageMagick; each format is checked only when
 * this ImageMagick can write it. (ImageMagick 6 writes no EXIF for -orient,
 * so orientation is checked on the bytes built above only.) */
static void test_imagemagick(void **state) {
  char dir[] = "/tmp/test_probe_im_XXXXXX";
  char cmd[8192];
  int checked = 0;
  (void)state;
  if(!mkdtemp(dir))
    fail_msg("mkdtemp failed");
  snprintf(cmd, sizeof(cmd), "convert -size 4x4 xc:red %s/probe.png >/dev/null 2>&1", dir);
  if(run(cmd)) {
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void)run(cmd);
    skip();
  }
  {
    static const struct {
      const char *args, *file, *mime;
      int64_t w, h, frames;
      int orientation;
    } cases[] = {
        {"-size 40x30 xc:red", "a.png", PNG, 40, 30, 1, 1},
        {"-size 40x30 xc:red", "a.jpg", JPEG, 40, 30, 1, 1},
        {"-size 40x30 xc:red -quality 90 -interlace Plane", "p.jpg", JPEG, 40, 30, 1, 1},
        {"-size 40x30 xc:red xc:blue xc:green -loop 0", "a.gif", GIF, 40, 30, 3, 1},
        {"-size 40x30 xc:red", "a.webp", WEBP, 40, 30, 1, 1},
        {"-size 40x30 xc:red -define webp:lossless=true", "l.webp", WEBP, 40, 30, 1, 1},
        {"-size 40x30 xc:red xc:blue -loop 0", "anim.webp", WEBP, 40, 30, 2, 1},
        {"-size 40x30 xc:red", "a.bmp", BMP, 40, 30, 1, 1},
        {"-size 40x30 xc:red xc:blue xc:green", "APNG:anim.png", PNG, 40, 30, 3, 1},
    };
    for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
      char path[4096];
      const char *file = cases[i].file;
      const char *colon = strchr(file, ':');
      snprintf(cmd, sizeof(cmd), "convert %s %s/%s >/dev/null 2>&1", cases[i].args, dir, file);
      /* ImageMagick's "FORMAT:" prefix goes before the path */
      if(colon) {
        snprintf(cmd, sizeof(cmd), "convert %s %.*s%s/%s >/dev/null 2>&1", cases[i].args,
                 (int)(colon - file + 1), file, dir, colon + 1);
        file = colon + 1;
      }
      snprintf(path, sizeof(path), "%s/%s", dir, file);
      if(run(cmd)) {
        print_message("imagemagick: cannot write %s here; not checked\n", cases[i].file);
        continue;
      }
      expect_file(path, cases[i].mime, cases[i].w, cases[i].h, cases[i].frames,
                  cases[i].orientation);
      checked++;
    }
  }
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  (void)run(cmd);
  assert_true(checked > 0);
}

int main(void) {
  const char *corpus = getenv("ML_PROBE_WRITE_CORPUS");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_png),
      cmocka_unit_test(test_apng),
      cmocka_unit_test(test_png_corrupt),
      cmocka_unit_test(test_png_huge_chunk_length),
      cmocka_unit_test(test_jpeg),
      cmocka_unit_test(test_jpeg_markers),
      cmocka_unit_test(test_jpeg_bad_exif),
      cmocka_unit_test(test_jpeg_segment_past_eof),
      cmocka_unit_test(test_gif),
      cmocka_unit_test(test_gif_corrupt),
      cmocka_unit_test(test_gif_frame_flood),
      cmocka_unit_test(test_gif_skips_pixel_data),
      cmocka_unit_test(test_webp),
      cmocka_unit_test(test_webp_corrupt),
      cmocka_unit_test(test_bmp),
      cmocka_unit_test(test_zero_dimensions),
      cmocka_unit_test(test_pixel_flood),
      cmocka_unit_test(test_max_scan),
      cmocka_unit_test(test_unsupported),
      cmocka_unit_test(test_bad_fd),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_imagemagick),
  };
  if(corpus && *corpus)
    return write_corpus(corpus) ? 1 : 0;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
