/*
 * probe.c - reads image dimensions, frame counts and EXIF orientation from
 * PNG, JPEG, GIF, WebP and BMP headers without decoding (see probe.h).
 *
 * Every format parser reads through one reader: a fixed window on the stack
 * filled by pread (a file) or memcpy (a buffer), so the fuzzed buffer path
 * and the production fd path run the same code, windowing included. The
 * reader refuses any read past the end of the file or past the scan budget;
 * parsers step over payloads by offset and never hold a window pointer
 * across another read.
 */
#include "image/probe.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Large enough for the first read of every format and for a run of small
 * chunks; small enough for any stack. */
#define WINDOW 4096
/* Bytes read ahead, by what is being read: the first header read takes a
 * good bite (the JPEG EXIF and the small PNG chunks usually follow); chunk
 * and segment headers take a little, so that skipping large payloads does not
 * burn the scan budget on bytes stepped over; GIF sub-block lengths take only
 * themselves, so frame counting never reads LZW data. */
#define AHEAD_HEAD 512
#define AHEAD_WALK 64
#define AHEAD_EXACT 0

#define U31_MAX 0x7fffffffu

struct reader {
  int fd;
  const unsigned char *data; /* the buffer, or NULL to pread fd */
  int64_t size;              /* file length; INT64_MAX when unknown (not a regular file) */
  int64_t budget;            /* bytes that may still be read */
  int64_t max_scan;          /* the budget as given, for messages */
  int64_t win_off;           /* file offset of win[0] */
  size_t win_len;            /* valid bytes in win */
  const char *fmt;           /* "PNG": prefixes every message */
  struct ml_errbuf *eb;
  unsigned char win[WINDOW];
};

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[1] << 8 | p[0]; }

static uint32_t le24(const unsigned char *p) {
  return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Two's complement reinterpretation without implementation-defined casts. */
static int64_t s32(uint32_t v) { return v > U31_MAX ? (int64_t)v - 4294967296LL : (int64_t)v; }

/* off + delta, or -1 (which every read refuses) when it would overflow:
 * offsets come from attacker-controlled lengths. */
static int64_t off_add(int64_t off, int64_t delta) {
  if(off < 0 || delta < 0 || off > INT64_MAX - delta)
    return -1;
  return off + delta;
}

static ml_err truncated(struct reader *r, const char *what, int64_t end) {
  return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "%s: the file ends inside the %s (needs %lld bytes)",
                 r->fmt, what, (long long)end);
}

/*
 * Makes the n bytes at off available at *p (n <= WINDOW), until the next
 * call. Fails with UNPROCESSABLE when they lie past the end of the file or
 * the scan budget, with IO when pread fails.
 */
static ml_err rd_get(struct reader *r, int64_t off, size_t n, size_t ahead, const char *what,
                     const unsigned char **p) {
  size_t want, got = 0;
  if(off < 0 || n > WINDOW || off > INT64_MAX - (int64_t)n)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "%s: the %s lies beyond any possible file", r->fmt,
                   what);
  if(off >= r->win_off && off + (int64_t)n <= r->win_off + (int64_t)r->win_len) {
    *p = r->win + (off - r->win_off);
    return ML_OK;
  }
  if(off + (int64_t)n > r->size)
    return truncated(r, what, off + (int64_t)n);
  want = ahead > n ? ahead : n;
  if(want > WINDOW)
    want = WINDOW;
  if((int64_t)want > r->size - off)
    want = (size_t)(r->size - off);
  if((int64_t)want > r->budget)
    want = (size_t)r->budget;
  if(want < n)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                   "%s: the %s at byte %lld is past the scan limit of %lld bytes read", r->fmt,
                   what, (long long)off, (long long)r->max_scan);
  r->win_off = off;
  r->win_len = 0;
  if(r->data) {
    memcpy(r->win, r->data + off, want);
    got = want;
  } else {
    while(got < want) {
      ssize_t k = pread(r->fd, r->win + got, want - got, (off_t)(off + (int64_t)got));
      if(k < 0 && errno == EINTR)
        continue;
      if(k < 0)
        return ml_fail(r->eb, ML_ERR_IO, "%s: reading the %s: %s", r->fmt, what, strerror(errno));
      if(k == 0)
        break; /* the file is shorter than fstat said: it shrank */
      got += (size_t)k;
    }
  }
  r->budget -= (int64_t)got;
  r->win_len = got;
  if(got < n)
    return truncated(r, what, off + (int64_t)n);
  *p = r->win;
  return ML_OK;
}

/* Refuses a payload (stepped over, not read) that ends past the file. */
static ml_err rd_check_end(struct reader *r, int64_t end, const char *what) {
  if(end < 0 || end > r->size)
    return truncated(r, what, end);
  return ML_OK;
}

/* CRC-32 of PNG (ISO 3309), bitwise: only the tiny IHDR and acTL are checked. */
static uint32_t crc32_png(const unsigned char *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  while(n--) {
    crc ^= *p++;
    for(int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/*
 * EXIF: the orientation tag (0x0112, SHORT) of IFD0 in the TIFF structure
 * of len bytes at byte tiff. EXIF is metadata: a malformed structure leaves
 * *orientation alone rather than failing the image. Only reader failures
 * (truncation, scan limit, I/O) are returned. Offsets are checked against
 * len, so the walk stays inside the segment or chunk.
 */
static ml_err exif_orientation(struct reader *r, int64_t tiff, int64_t len, int *orientation) {
  const unsigned char *p;
  int le;
  uint32_t ifd, count;
  ml_err rc;
  if(len < 8)
    return ML_OK;
  if((rc = rd_get(r, tiff, 8, AHEAD_WALK, "EXIF header", &p)))
    return rc;
  if(!memcmp(p, "II*\0", 4))
    le = 1;
  else if(!memcmp(p, "MM\0*", 4))
    le = 0;
  else
    return ML_OK;
  ifd = le ? le32(p + 4) : be32(p + 4);
  if(ifd < 8 || (int64_t)ifd > len - 2)
    return ML_OK;
  if((rc = rd_get(r, tiff + ifd, 2, AHEAD_HEAD, "EXIF IFD0", &p)))
    return rc;
  count = le ? le16(p) : be16(p);
  for(uint32_t i = 0; i < count; i++) {
    int64_t entry = (int64_t)ifd + 2 + 12 * (int64_t)i;
    uint32_t tag, type, n, v;
    if(entry > len - 12)
      break;
    if((rc = rd_get(r, tiff + entry, 12, AHEAD_HEAD, "EXIF IFD0 entry", &p)))
      return rc;
    tag = le ? le16(p) : be16(p);
    if(tag != 0x0112)
      continue;
    type = le ? le16(p + 2) : be16(p + 2);
    n = le ? le32(p + 4) : be32(p + 4);
    /* a SHORT with count 1 sits in the first two bytes of the value field */
    v = le ? le16(p + 8) : be16(p + 8);
    if(type == 3 && n == 1 && v >= 1 && v <= 8)
      *orientation = (int)v;
    break;
  }
  return ML_OK;
}

static int png_type_ok(const unsigned char *t) {
  for(int i = 0; i < 4; i++)
    if(!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z')))
      return 0;
  return 1;
}

/*
 * PNG: IHDR must be the first chunk (its CRC is checked: it is the chunk
 * everything is decided on). The chunks before the first IDAT are walked for
 * acTL, whose num_frames is the APNG frame count; acTL after IDAT does not
 * make an APNG, so the walk stops there.
 */
static ml_err probe_png(struct reader *r, struct ml_image_info *info) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const unsigned char *p;
  uint32_t w, h;
  int64_t off;
  int have_actl = 0;
  ml_err rc;
  if((rc = rd_get(r, 0, 33, AHEAD_HEAD, "signature and IHDR", &p)))
    return rc;
  if(memcmp(p, sig, 8))
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: bad signature");
  if(be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4))
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: the first chunk is not a 13-byte IHDR");
  if(crc32_png(p + 12, 17) != be32(p + 29))
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: IHDR CRC mismatch");
  w = be32(p + 16);
  h = be32(p + 20);
  if(w == 0 || h == 0 || w > U31_MAX || h > U31_MAX)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                   "PNG: IHDR claims %" PRIu32 "x%" PRIu32 " (each must be 1..2^31-1)", w, h);
  info->width = w;
  info->height = h;
  for(off = 33;;) {
    uint32_t len;
    if((rc = rd_get(r, off, 8, AHEAD_WALK, "chunk header", &p)))
      return rc;
    len = be32(p);
    if(len > U31_MAX)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                     "PNG: the chunk at byte %lld claims %" PRIu32 " bytes (limit 2^31-1)",
                     (long long)off, len);
    if(!png_type_ok(p + 4))
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: the chunk at byte %lld has a bad type",
                     (long long)off);
    if(!memcmp(p + 4, "IDAT", 4))
      break;
    if(!memcmp(p + 4, "IEND", 4))
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: IEND before any IDAT");
    if(!memcmp(p + 4, "acTL", 4) && !have_actl) {
      uint32_t frames;
      if(len != 8)
        return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: acTL of %" PRIu32 " bytes", len);
      /* type, data and CRC together: the CRC covers type and data */
      if((rc = rd_get(r, off + 4, 16, AHEAD_WALK, "acTL chunk", &p)))
        return rc;
      if(crc32_png(p, 12) != be32(p + 12))
        return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: acTL CRC mismatch");
      frames = be32(p + 4);
      if(frames == 0 || frames > U31_MAX)
        return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "PNG: acTL claims %" PRIu32 " frames", frames);
      info->frames = frames;
      have_actl = 1;
    }
    off = off_add(off, 12 + (int64_t)len);
    if((rc = rd_check_end(r, off, "chunk")))
      return rc;
  }
  return ML_OK;
}

/* SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range. */
static int jpeg_is_sof(unsigned m) {
  return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/*
 * JPEG: markers from SOI, segments stepped over by their lengths, up to the
 * first SOFn (dimensions). The first "Exif" APP1 before it gives the
 * orientation. A scan before any SOFn means the size cannot be known.
 */
static ml_err probe_jpeg(struct reader *r, struct ml_image_info *info) {
  const unsigned char *p;
  int64_t off = 2;
  int exif_seen = 0;
  ml_err rc;
  if((rc = rd_get(r, 0, 2, AHEAD_HEAD, "SOI marker", &p)))
    return rc;
  if(p[0] != 0xff || p[1] != 0xd8)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "JPEG: no SOI marker");
  for(;;) {
    unsigned m;
    uint32_t seg_len;
    if((rc = rd_get(r, off, 1, AHEAD_WALK, "marker", &p)))
      return rc;
    if(p[0] != 0xff)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                     "JPEG: byte %lld is 0x%02x where a marker should start", (long long)off, p[0]);
    /* any number of 0xFF fill bytes may precede the marker code */
    do {
      off = off_add(off, 1);
      if((rc = rd_get(r, off, 1, AHEAD_WALK, "marker", &p)))
        return rc;
    } while(p[0] == 0xff);
    m = p[0];
    off = off_add(off, 1);
    if(m == 0x00)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                     "JPEG: a stuffed 0x00 outside entropy-coded data at byte %lld",
                     (long long)off - 1);
    if(m == 0x01 || (m >= 0xd0 && m <= 0xd7))
      continue; /* TEM, RSTn: standalone, no length */
    if(m == 0xd8)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "JPEG: a second SOI");
    if(m == 0xd9)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "JPEG: EOI before any frame header (SOFn)");
    if((rc = rd_get(r, off, 2, AHEAD_WALK, "segment length", &p)))
      return rc;
    seg_len = be16(p);
    if(seg_len < 2)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                     "JPEG: the segment at byte %lld has length %" PRIu32, (long long)off - 2,
                     seg_len);
    if(jpeg_is_sof(m)) {
      uint32_t w, h, nf;
      if(seg_len < 8)
        return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "JPEG: SOF%u segment of %" PRIu32 " bytes",
                       m - 0xc0, seg_len);
      if((rc = rd_get(r, off + 2, 6, AHEAD_WALK, "frame header", &p)))
        return rc;
      h = be16(p + 1);
      w = be16(p + 3);
      nf = p[5];
      if(nf == 0 || seg_len < 8 + 3 * nf)
        return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                       "JPEG: SOF%u of %" PRIu32 " bytes cannot hold %" PRIu32 " components",
                       m - 0xc0, seg_len, nf);
      /* height 0 defers to a DNL marker after the first scan; refused as
       * unknowable from the header */
      if(w == 0 || h == 0)
        return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                       "JPEG: the frame header claims %" PRIu32 "x%" PRIu32, w, h);
      info->width = w;
      info->height = h;
      return ML_OK;
    }
    if(m == 0xda)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "JPEG: a scan (SOS) before any frame header");
    if(m == 0xe1 && !exif_seen && seg_len >= 2 + 6 + 8) {
      if((rc = rd_get(r, off + 2, 6, AHEAD_HEAD, "APP1 identifier", &p)))
        return rc;
      if(!memcmp(p, "Exif\0\0", 6)) {
        exif_seen = 1;
        if((rc = exif_orientation(r, off + 8, (int64_t)seg_len - 8, &info->orientation)))
          return rc;
      }
    }
    off = off_add(off, seg_len);
    if((rc = rd_check_end(r, off, "segment")))
      return rc;
  }
}

/* GIF data sub-blocks: length-prefixed, up to an empty one. Only the length
 * bytes are read. */
static ml_err gif_skip_sub_blocks(struct reader *r, int64_t *off) {
  const unsigned char *p;
  ml_err rc;
  for(;;) {
    unsigned n;
    if((rc = rd_get(r, *off, 1, AHEAD_EXACT, "data sub-block", &p)))
      return rc;
    n = p[0];
    *off = off_add(*off, 1 + (int64_t)n);
    if(n == 0)
      return ML_OK;
  }
}

/*
 * GIF: the logical screen gives the size; every block is walked to count the
 * image descriptors (frames), up to the trailer or past
 * ML_IMAGE_PROBE_MAX_FRAMES. A file that ends cleanly after a frame but
 * without its trailer is accepted, as browsers do.
 */
static ml_err probe_gif(struct reader *r, struct ml_image_info *info) {
  const unsigned char *p;
  int64_t off = 13, frames = 0;
  ml_err rc;
  if((rc = rd_get(r, 0, 13, AHEAD_HEAD, "header", &p)))
    return rc;
  if(memcmp(p, "GIF87a", 6) && memcmp(p, "GIF89a", 6))
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "GIF: bad signature");
  info->width = le16(p + 6);
  info->height = le16(p + 8);
  if(info->width == 0 || info->height == 0)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "GIF: the logical screen is %lldx%lld",
                   (long long)info->width, (long long)info->height);
  if(p[10] & 0x80)
    off += 3 << ((p[10] & 7) + 1); /* global color table */
  for(;;) {
    if(off == r->size && frames > 0)
      break;
    if((rc = rd_get(r, off, 1, AHEAD_WALK, "block introducer", &p)))
      return rc;
    if(p[0] == 0x3b) /* trailer */
      break;
    if(p[0] == 0x21) { /* extension: introducer, label, sub-blocks */
      off = off_add(off, 2);
      if((rc = gif_skip_sub_blocks(r, &off)))
        return rc;
    } else if(p[0] == 0x2c) { /* image descriptor */
      unsigned packed;
      if((rc = rd_get(r, off, 10, AHEAD_WALK, "image descriptor", &p)))
        return rc;
      packed = p[9];
      off = off_add(off, 10);
      if(packed & 0x80)
        off = off_add(off, 3 << ((packed & 7) + 1)); /* local color table */
      /* the LZW minimum code size, then the image data sub-blocks */
      if((rc = rd_get(r, off, 1, AHEAD_WALK, "LZW code size", &p)))
        return rc;
      off = off_add(off, 1);
      if((rc = gif_skip_sub_blocks(r, &off)))
        return rc;
      if(++frames > ML_IMAGE_PROBE_MAX_FRAMES)
        break;
    } else {
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "GIF: unknown block 0x%02x at byte %lld", p[0],
                     (long long)off);
    }
  }
  if(frames == 0)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "GIF: no image in the file");
  info->frames = frames;
  return ML_OK;
}

#define VP8X_ANIMATION 0x02
#define VP8X_EXIF 0x08

/*
 * WebP VP8X: the chunks after VP8X, up to the RIFF end, counting ANMF frames
 * and reading the first EXIF chunk. Every chunk must fit the RIFF and the
 * file, so a truncated animation is refused rather than undercounted.
 */
static ml_err webp_walk(struct reader *r, int64_t off, int64_t riff_end, int64_t *frames,
                        int *orientation) {
  const unsigned char *p;
  int exif_seen = 0;
  ml_err rc;
  while(off < riff_end) {
    uint32_t csize;
    int64_t end;
    int is_anmf, is_exif;
    if(riff_end - off < 8)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: a chunk header crosses the RIFF end");
    if((rc = rd_get(r, off, 8, AHEAD_WALK, "chunk header", &p)))
      return rc;
    is_anmf = !memcmp(p, "ANMF", 4);
    is_exif = !memcmp(p, "EXIF", 4);
    csize = le32(p + 4);
    end = off + 8 + (int64_t)csize;
    if(end > riff_end)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE,
                     "WebP: the chunk at byte %lld runs past the RIFF end", (long long)off);
    if((rc = rd_check_end(r, end, "chunk")))
      return rc;
    if(is_anmf && ++*frames > ML_IMAGE_PROBE_MAX_FRAMES)
      break;
    if(is_exif && !exif_seen) {
      int64_t tiff = off + 8, len = csize;
      exif_seen = 1;
      /* the spec stores bare TIFF; some writers keep JPEG's "Exif\0\0" */
      if(len >= 6) {
        if((rc = rd_get(r, tiff, 6, AHEAD_WALK, "EXIF chunk", &p)))
          return rc;
        if(!memcmp(p, "Exif\0\0", 6)) {
          tiff += 6;
          len -= 6;
        }
      }
      if((rc = exif_orientation(r, tiff, len, orientation)))
        return rc;
    }
    off = end + (csize & 1); /* chunks are padded to even sizes */
  }
  return ML_OK;
}

/*
 * WebP: RIFF/WEBP, then the first chunk decides: VP8 (lossy key frame), VP8L
 * (lossless) or VP8X (extended: canvas size, flags, then more chunks).
 */
static ml_err probe_webp(struct reader *r, struct ml_image_info *info) {
  const unsigned char *p;
  int64_t riff_end;
  uint32_t csize;
  char fourcc[4];
  ml_err rc;
  if((rc = rd_get(r, 0, 20, AHEAD_HEAD, "RIFF header", &p)))
    return rc;
  if(memcmp(p, "RIFF", 4) || memcmp(p + 8, "WEBP", 4))
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: not a RIFF WEBP file");
  riff_end = 8 + (int64_t)le32(p + 4);
  memcpy(fourcc, p + 12, 4);
  csize = le32(p + 16);
  if((int64_t)csize > riff_end - 20)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: the first chunk runs past the RIFF end");
  if(!memcmp(fourcc, "VP8 ", 4)) {
    uint32_t tag;
    if(csize < 10)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: VP8 chunk of %" PRIu32 " bytes", csize);
    if((rc = rd_get(r, 20, 10, AHEAD_WALK, "VP8 frame header", &p)))
      return rc;
    tag = le24(p);
    if(tag & 1)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: the VP8 frame is not a key frame");
    if(p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: no VP8 start code");
    /* the top two bits of each are an upscaling hint, not size */
    info->width = le16(p + 6) & 0x3fff;
    info->height = le16(p + 8) & 0x3fff;
  } else if(!memcmp(fourcc, "VP8L", 4)) {
    uint32_t bits;
    if(csize < 5)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: VP8L chunk of %" PRIu32 " bytes", csize);
    if((rc = rd_get(r, 20, 5, AHEAD_WALK, "VP8L header", &p)))
      return rc;
    if(p[0] != 0x2f)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: bad VP8L signature");
    bits = le32(p + 1);
    if(bits >> 29)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: VP8L version %" PRIu32, bits >> 29);
    info->width = (int64_t)(bits & 0x3fff) + 1;
    info->height = (int64_t)((bits >> 14) & 0x3fff) + 1;
  } else if(!memcmp(fourcc, "VP8X", 4)) {
    unsigned flags;
    if(csize < 10)
      return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: VP8X chunk of %" PRIu32 " bytes", csize);
    if((rc = rd_get(r, 20, 10, AHEAD_WALK, "VP8X header", &p)))
      return rc;
    flags = p[0];
    info->width = (int64_t)le24(p + 4) + 1;
    info->height = (int64_t)le24(p + 7) + 1;
    if(flags & (VP8X_ANIMATION | VP8X_EXIF)) {
      int64_t frames = 0;
      if((rc = webp_walk(r, 20 + (int64_t)csize + (csize & 1), riff_end, &frames,
                         &info->orientation)))
        return rc;
      if(flags & VP8X_ANIMATION) {
        if(frames == 0)
          return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: an animation without ANMF frames");
        info->frames = frames;
      }
    }
  } else {
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: the first chunk is not VP8, VP8L or VP8X");
  }
  if(info->width == 0 || info->height == 0)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "WebP: the frame header claims %lldx%lld",
                   (long long)info->width, (long long)info->height);
  return ML_OK;
}

/*
 * BMP: the file header, then the DIB header, whose size says its kind:
 * BITMAPCOREHEADER (12, 16-bit unsigned sizes) or one of the 32-bit signed
 * ones (OS/2 2.x 16/64, BITMAPINFOHEADER 40, V2 52, V3 56, V4 108, V5 124). A
 * negative height is a top-down bitmap.
 */
static ml_err probe_bmp(struct reader *r, struct ml_image_info *info) {
  const unsigned char *p;
  uint32_t hsize;
  int64_t w, h, h_raw;
  ml_err rc;
  if((rc = rd_get(r, 0, 26, AHEAD_HEAD, "file and DIB headers", &p)))
    return rc;
  if(p[0] != 'B' || p[1] != 'M')
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "BMP: bad signature");
  hsize = le32(p + 14);
  if(hsize == 12) {
    w = le16(p + 18);
    h_raw = le16(p + 20);
  } else if(hsize == 16 || hsize == 40 || hsize == 52 || hsize == 56 || hsize == 64 ||
            hsize == 108 || hsize == 124) {
    w = s32(le32(p + 18));
    h_raw = s32(le32(p + 22));
  } else {
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "BMP: unknown DIB header size %" PRIu32, hsize);
  }
  h = h_raw < 0 ? -h_raw : h_raw;
  if(w <= 0 || h <= 0 || h > U31_MAX)
    return ml_fail(r->eb, ML_ERR_UNPROCESSABLE, "BMP: the DIB header claims %lldx%lld",
                   (long long)w, (long long)h_raw);
  info->width = w;
  info->height = h;
  return ML_OK;
}

static const struct {
  const char *mime;
  const char *name;
  ml_err (*probe)(struct reader *r, struct ml_image_info *info);
} formats[] = {
    {"image/png", "PNG", probe_png}, {"image/jpeg", "JPEG", probe_jpeg},
    {"image/gif", "GIF", probe_gif}, {"image/webp", "WebP", probe_webp},
    {"image/bmp", "BMP", probe_bmp},
};

/* Picks the parser for mime and runs it over a reader the caller set up
 * (source, size, budget); *out is zeroed unless the parser succeeds. */
static ml_err probe(struct reader *r, const char *mime, struct ml_image_info *out) {
  struct ml_image_info info = {0, 0, 1, 1};
  ml_err rc;
  for(size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
    if(strcmp(mime, formats[i].mime))
      continue;
    r->fmt = formats[i].name;
    rc = formats[i].probe(r, &info);
    if(rc == ML_OK)
      *out = info;
    return rc;
  }
  return ml_fail(r->eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "no header prober for %s", mime);
}

static int mime_known(const char *mime) {
  if(!mime)
    return 0;
  for(size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
    if(!strcmp(mime, formats[i].mime))
      return 1;
  return 0;
}

static void reader_init(struct reader *r, int64_t size, int64_t budget, struct ml_errbuf *eb) {
  r->fd = -1;
  r->data = NULL;
  r->size = size;
  r->budget = budget > 0 ? budget : 0;
  r->max_scan = budget;
  r->win_off = 0;
  r->win_len = 0;
  r->fmt = "image";
  r->eb = eb;
}

ml_err ml_image_probe_fd(int fd, const char *mime, int64_t max_scan, struct ml_image_info *out,
                         struct ml_errbuf *eb) {
  struct reader r;
  struct stat st;
  memset(out, 0, sizeof(*out));
  if(!mime_known(mime))
    return ml_fail(eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "no header prober for %s",
                   mime ? mime : "(none)");
  if(fstat(fd, &st))
    return ml_fail(eb, ML_ERR_IO, "image probe: fstat: %s", strerror(errno));
  reader_init(&r, S_ISREG(st.st_mode) ? (int64_t)st.st_size : INT64_MAX, max_scan, eb);
  r.fd = fd;
  return probe(&r, mime, out);
}

ml_err ml_image_probe_buf(const unsigned char *data, size_t len, const char *mime,
                          struct ml_image_info *out, struct ml_errbuf *eb) {
  struct reader r;
  memset(out, 0, sizeof(*out));
  if(!mime_known(mime))
    return ml_fail(eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "no header prober for %s",
                   mime ? mime : "(none)");
  if(!data)
    len = 0;
  reader_init(&r, len > (size_t)INT64_MAX ? INT64_MAX : (int64_t)len, INT64_MAX, eb);
  /* never NULL, so the reader copies from memory rather than calling pread */
  r.data = data ? data : (const unsigned char *)"";
  return probe(&r, mime, out);
}
