/*
 * render.c - derived images with libvips (see render.h).
 *
 * One render is one libvips pipeline: a source on the original's fd, the
 * allowed loader checked, vips_thumbnail_source (shrink-on-load, EXIF
 * auto-rotation, first frame, cover-and-crop or exact resize), flattening
 * for JPEG, metadata removal, and a saver writing to out_path.
 *
 * Metadata. libvips 8.14 has no "keep only the ICC profile" option: its JPEG,
 * WebP and HEIF savers, unless told to strip, rebuild and write an EXIF block
 * even for an image without one (resolution, dimensions), and "strip" also
 * drops the ICC profile. So:
 *   JPEG: saved with strip, and the profile written back as APP2 ICC_PROFILE
 *     segments right after SOI by the sink below, while streaming;
 *   WebP: saved to memory (the WebP saver buffers the whole file anyway),
 *     then with libwebpmux the EXIF and XMP chunks removed and the ICCP chunk
 *     set to the profile (Debian's 8.14.1 ignores strip for WebP);
 *   PNG: every metadata item but the profile removed from the image, saved
 *     without strip (the PNG saver writes EXIF only when the image has some);
 *   AVIF: the profile cannot be written without an EXIF block, so the pixels
 *     are converted to sRGB with it and the file saved with strip.
 * The metadata items are removed from the image for every format anyway, so
 * nothing depends on one saver's strip alone.
 *
 * No global state of ours: everything process-wide is libvips's, set once in
 * ml_render_init.
 */
#include "image/render.h"
#include "image/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vips/vips.h>
#include <webp/mux.h>

/* The allow-list: a sniffed MIME type and the libvips loader (the GObject
 * type name vips_foreign_find_load_source answers) that may decode it. */
static const struct {
  const char *mime;
  const char *loader;
} allowed_loaders[] = {
    {"image/jpeg", "VipsForeignLoadJpegSource"}, {"image/png", "VipsForeignLoadPngSource"},
    {"image/webp", "VipsForeignLoadWebpSource"}, {"image/gif", "VipsForeignLoadNsgifSource"},
    {"image/heif", "VipsForeignLoadHeifSource"}, {"image/heic", "VipsForeignLoadHeifSource"},
    {"image/avif", "VipsForeignLoadHeifSource"}, {"image/tiff", "VipsForeignLoadTiffSource"},
};

/* Their parent classes (source, file and buffer loaders of each format):
 * every other loader is blocked. */
static const char *const allowed_loader_types[] = {
    "VipsForeignLoadJpeg",  "VipsForeignLoadPng",  "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif", "VipsForeignLoadHeif", "VipsForeignLoadTiff",
};

/* JPEG APP2 ICC_PROFILE segments: "ICC_PROFILE\0", sequence number, count. */
#define ICC_HEADER_LEN 14
#define ICC_CHUNK_MAX (65533 - ICC_HEADER_LEN)
#define ICC_JPEG_MAX ((size_t)ICC_CHUNK_MAX * 255)

static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer user) {
  /* libvips's warnings (a JPEG with extra bytes, an odd chunk) would go to
   * stderr from deep inside a worker; failures come back as errors. */
}

ml_err ml_render_init(struct ml_errbuf *eb) {
  if(VIPS_INIT("medialib"))
    return ml_fail(eb, ML_ERR_INTERNAL, "libvips failed to start: %s", vips_error_buffer());
  vips_block_untrusted_set(TRUE);
  vips_operation_block_set("VipsForeignLoad", TRUE);
  for(size_t i = 0; i < sizeof(allowed_loader_types) / sizeof(allowed_loader_types[0]); i++)
    vips_operation_block_set(allowed_loader_types[i], FALSE);
  vips_cache_set_max(0);
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  if(!getenv("VIPS_CONCURRENCY"))
    vips_concurrency_set(1);
  g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, quiet_log,
                    NULL);
  return ML_OK;
}

void ml_render_shutdown(void) { vips_shutdown(); }

/*
 * Takes libvips's error message (and clears it): the first line, which names
 * the cause ("VipsJpeg: Premature end of input file"), without its newline.
 * An "out of memory" from libvips becomes ML_ERR_NOMEM.
 */
static ml_err vips_fail(struct ml_errbuf *eb, ml_err code, const char *what) {
  char *msg = vips_error_buffer_copy();
  const char *line = msg ? msg : "";
  size_t len;
  while(*line == '\n' || *line == ' ')
    line++;
  len = strcspn(line, "\r\n");
  while(len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
    len--;
  if(len && strstr(msg, "out of memory"))
    code = ML_ERR_NOMEM;
  if(len)
    ml_fail(eb, code, "%s: %.*s", what, (int)len, line);
  else
    ml_fail(eb, code, "%s", what);
  g_free(msg);
  return code;
}

static const char *format_mime(enum ml_transform_format fmt) {
  switch(fmt) {
  case ML_TRANSFORM_FORMAT_JPEG: return "image/jpeg";
  case ML_TRANSFORM_FORMAT_PNG: return "image/png";
  case ML_TRANSFORM_FORMAT_WEBP: return "image/webp";
  case ML_TRANSFORM_FORMAT_AVIF: return "image/avif";
  default: return NULL;
  }
}

/* ---- the output file ---- */

/*
 * Where the encoders' bytes go: the output fd, through a libvips custom
 * target. For JPEG the ICC profile is spliced in as APP2 segments right after
 * the SOI marker, as the bytes stream past.
 */
struct sink {
  int fd;
  const unsigned char *icc; /* JPEG only: the profile to insert, or NULL */
  size_t icc_len;
  unsigned char soi[2]; /* JPEG: the first two bytes, held until complete */
  size_t soi_len;
  int64_t written;
  int err; /* errno of the first failed write; EINVAL for a bad JPEG start */
};

static int sink_put(struct sink *s, const void *data, size_t len) {
  const unsigned char *p = data;
  while(len > 0) {
    ssize_t k = write(s->fd, p, len);
    if(k < 0 && errno == EINTR)
      continue;
    if(k <= 0) {
      s->err = k < 0 ? errno : EIO;
      return -1;
    }
    p += k;
    len -= (size_t)k;
    s->written += k;
  }
  return 0;
}

static int sink_put_icc(struct sink *s) {
  size_t count = (s->icc_len + ICC_CHUNK_MAX - 1) / ICC_CHUNK_MAX;
  for(size_t i = 0; i < count; i++) {
    size_t off = i * ICC_CHUNK_MAX;
    size_t n = s->icc_len - off < ICC_CHUNK_MAX ? s->icc_len - off : ICC_CHUNK_MAX;
    size_t seglen = 2 + ICC_HEADER_LEN + n;
    unsigned char head[4 + ICC_HEADER_LEN] = {0xff, 0xe2, (unsigned char)(seglen >> 8),
                                              (unsigned char)(seglen & 0xff)};
    memcpy(head + 4, "ICC_PROFILE", 12);
    head[4 + 12] = (unsigned char)(i + 1);
    head[4 + 13] = (unsigned char)count;
    if(sink_put(s, head, sizeof(head)) || sink_put(s, s->icc + off, n))
      return -1;
  }
  return 0;
}

static gint64 sink_write(VipsTargetCustom *target, const void *data, gint64 length, gpointer user) {
  struct sink *s = user;
  const unsigned char *p = data;
  size_t len = (size_t)length;
  if(s->err)
    return -1;
  if(s->icc && s->soi_len < 2) {
    while(s->soi_len < 2 && len > 0) {
      s->soi[s->soi_len++] = *p++;
      len--;
    }
    if(s->soi_len < 2)
      return length;
    if(s->soi[0] != 0xff || s->soi[1] != 0xd8) {
      s->err = EINVAL;
      return -1;
    }
    if(sink_put(s, s->soi, 2) || sink_put_icc(s))
      return -1;
  }
  if(len && sink_put(s, p, len))
    return -1;
  return length;
}

static int sink_end(VipsTargetCustom *target, gpointer user) {
  struct sink *s = user;
  return s->err ? -1 : 0;
}

/* ---- metadata ---- */

/* Removes every metadata item of img but the ICC profile. img must be this
 * render's own (a copy), as the items are removed in place. */
static void strip_metadata(VipsImage *img) {
  gchar **fields = vips_image_get_fields(img);
  for(gchar **f = fields; f && *f; f++)
    if(strcmp(*f, VIPS_META_ICC_NAME))
      vips_image_remove(img, *f); /* a no-op for the built-in header fields */
  g_strfreev(fields);
}

/* The pixels converted to sRGB with the embedded profile, which is dropped.
 * A profile libvips cannot use is dropped too and the pixels taken as they
 * are: a broken profile must not make the image unrenderable. */
static int to_srgb(VipsImage *in, VipsImage **out) {
  if(vips_image_get_typeof(in, VIPS_META_ICC_NAME)) {
    if(!vips_icc_transform(in, out, "srgb", "embedded", TRUE, "intent", VIPS_INTENT_RELATIVE,
                           NULL)) {
      vips_image_remove(*out, VIPS_META_ICC_NAME);
      return 0;
    }
    vips_error_clear();
  }
  if(vips_copy(in, out, NULL))
    return -1;
  vips_image_remove(*out, VIPS_META_ICC_NAME);
  return 0;
}

/* ---- encoders ---- */

static ml_err save_webp(VipsImage *img, int quality, struct sink *sink, struct ml_errbuf *eb) {
  void *buf = NULL;
  size_t len = 0;
  const void *icc = NULL;
  size_t icc_len = 0;
  WebPMux *mux = NULL;
  WebPData out;
  WebPMuxError merr;
  ml_err rc = ML_OK;
  WebPDataInit(&out);
  if(vips_webpsave_buffer(img, &buf, &len, "Q", quality, "strip", TRUE, NULL))
    return vips_fail(eb, ML_ERR_INVALID_IMAGE, "rendering the image");
  if(vips_image_get_typeof(img, VIPS_META_ICC_NAME) &&
     vips_image_get_blob(img, VIPS_META_ICC_NAME, &icc, &icc_len))
    icc_len = 0;
  {
    WebPData image = {buf, len}, profile = {icc, icc_len};
    if(!(mux = WebPMuxCreate(&image, 0))) {
      rc = ml_fail(eb, ML_ERR_INTERNAL, "libwebpmux cannot read the encoded WebP");
      goto out;
    }
    /* Debian's libvips 8.14.1 ignores strip for WebP (fixed upstream in
     * 8.14.2, "fix strip arg to webpsave"): whatever metadata chunks it
     * wrote go, and the profile is set here either way. */
    for(int i = 0; i < 3; i++) {
      merr = WebPMuxDeleteChunk(mux, i == 0 ? "EXIF" : i == 1 ? "XMP " : "ICCP");
      if(merr != WEBP_MUX_OK && merr != WEBP_MUX_NOT_FOUND) {
        rc = ml_fail(eb, ML_ERR_INTERNAL, "libwebpmux cannot remove metadata (%d)", (int)merr);
        goto out;
      }
    }
    if((icc_len && WebPMuxSetChunk(mux, "ICCP", &profile, 0) != WEBP_MUX_OK) ||
       WebPMuxAssemble(mux, &out) != WEBP_MUX_OK) {
      rc = ml_fail(eb, ML_ERR_INTERNAL, "libwebpmux cannot assemble the WebP");
      goto out;
    }
  }
  if(sink_put(sink, out.bytes, out.size))
    rc = ml_fail(eb, ML_ERR_IO, "writing the rendered image: %s", strerror(sink->err));
out:
  WebPDataClear(&out);
  if(mux)
    WebPMuxDelete(mux);
  g_free(buf);
  return rc;
}

/* Encodes img into the sink. The metadata of img is already removed, but for
 * the ICC profile. */
static ml_err save(VipsImage *img, enum ml_transform_format fmt, int quality, struct sink *sink,
                   struct ml_errbuf *eb) {
  VipsTargetCustom *target = NULL;
  int failed = 0;
  ml_err rc = ML_OK;

  if(fmt == ML_TRANSFORM_FORMAT_WEBP)
    return save_webp(img, quality ? quality : ML_RENDER_WEBP_QUALITY, sink, eb);

  target = vips_target_custom_new();
  g_signal_connect(target, "write", G_CALLBACK(sink_write), sink);
  g_signal_connect(target, "end", G_CALLBACK(sink_end), sink);
  switch(fmt) {
  case ML_TRANSFORM_FORMAT_JPEG: {
    const void *icc = NULL;
    size_t icc_len = 0;
    if(vips_image_get_typeof(img, VIPS_META_ICC_NAME) &&
       !vips_image_get_blob(img, VIPS_META_ICC_NAME, &icc, &icc_len) && icc_len) {
      sink->icc = icc;
      sink->icc_len = icc_len;
    }
    failed = vips_jpegsave_target(img, VIPS_TARGET(target), "Q",
                                  quality ? quality : ML_RENDER_JPEG_QUALITY, "strip", TRUE,
                                  "optimize_coding", TRUE, NULL);
    break;
  }
  case ML_TRANSFORM_FORMAT_PNG:
    failed = vips_pngsave_target(img, VIPS_TARGET(target), "compression", 6, NULL);
    break;
  case ML_TRANSFORM_FORMAT_AVIF:
    failed = vips_heifsave_target(
        img, VIPS_TARGET(target), "Q", quality ? quality : ML_RENDER_AVIF_QUALITY, "compression",
        VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "bitdepth", 8, "strip", TRUE, NULL);
    break;
  default: failed = 1; break;
  }
  if(failed) {
    /* A write failure of ours is I/O; anything else is the pipeline: a
     * decode error surfaces here, as decoding is lazy. */
    if(sink->err && sink->err != EINVAL) {
      vips_error_clear();
      rc = ml_fail(eb, ML_ERR_IO, "writing the rendered image: %s", strerror(sink->err));
    } else {
      rc = vips_fail(eb, ML_ERR_INVALID_IMAGE, "rendering the image");
    }
  }
  g_object_unref(target);
  return rc;
}

/* A source on src_fd (from offset 0) whose content the loader for src_mime
 * reads: the loader libvips picks from the bytes must be that one (blocked
 * loaders are never picked). */
static ml_err open_source(int src_fd, const char *src_mime, VipsSource **out,
                          struct ml_errbuf *eb) {
  const char *want_loader = NULL, *loader;
  VipsSource *source;
  *out = NULL;
  for(size_t i = 0; src_mime && i < sizeof(allowed_loaders) / sizeof(allowed_loaders[0]); i++)
    if(!strcmp(src_mime, allowed_loaders[i].mime))
      want_loader = allowed_loaders[i].loader;
  if(!want_loader)
    return ml_fail(eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "cannot render %s",
                   src_mime ? src_mime : "a file of unknown type");
  vips_error_clear();
  if(lseek(src_fd, 0, SEEK_SET) < 0)
    return ml_fail(eb, ML_ERR_IO, "reading the original: %s", strerror(errno));
  if(!(source = vips_source_new_from_descriptor(src_fd)))
    return vips_fail(eb, ML_ERR_IO, "reading the original");
  loader = vips_foreign_find_load_source(source);
  if(!loader || strcmp(loader, want_loader)) {
    vips_error_clear();
    g_object_unref(source);
    return ml_fail(eb, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "the content is not a renderable %s",
                   src_mime);
  }
  *out = source;
  return ML_OK;
}

ml_err ml_render_probe(int src_fd, const char *src_mime, struct ml_image_info *out,
                       struct ml_errbuf *eb) {
  VipsSource *source = NULL;
  VipsImage *img = NULL;
  ml_err rc;
  memset(out, 0, sizeof(*out));
  rc = open_source(src_fd, src_mime, &source, eb);
  if(rc)
    return rc;
  /* Opening reads the header only; pixels are decoded on demand, and none
   * is asked for. */
  img = vips_image_new_from_source(source, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
  if(!img) {
    rc = vips_fail(eb, ML_ERR_INVALID_IMAGE, "reading the image header");
    goto out;
  }
  out->width = img->Xsize;
  out->height = vips_image_get_page_height(img);
  out->frames = vips_image_get_n_pages(img);
  out->orientation = vips_image_get_orientation(img);
  if(out->orientation < 1 || out->orientation > 8)
    out->orientation = 1;
  if(out->width < 1 || out->height < 1)
    rc = ml_fail(eb, ML_ERR_INVALID_IMAGE, "the image header gives no size");
out:
  if(img)
    g_object_unref(img);
  g_object_unref(source);
  return rc;
}

/* ---- the render ---- */

ml_err ml_render_to_fd(int src_fd, const char *src_mime, const struct ml_transform_dims *dims,
                       enum ml_transform_format fmt, int quality, int out_fd,
                       struct ml_render_result *res, struct ml_errbuf *eb) {
  VipsSource *source = NULL;
  VipsImage *img = NULL, *next = NULL;
  const char *out_mime = format_mime(fmt);
  struct sink sink = {.fd = out_fd};
  int width, height;
  struct stat st;
  ml_err rc = ML_OK;

  if(res)
    memset(res, 0, sizeof(*res));
  if(!dims || out_fd < 0 || !out_mime || quality < 0 || quality > 100 || dims->width < 1 ||
     dims->height < 1 || dims->width > ML_TRANSFORM_DIM_MAX || dims->height > ML_TRANSFORM_DIM_MAX)
    return ml_fail(eb, ML_ERR_INTERNAL, "ml_render: bad arguments");
  width = (int)dims->width;
  height = (int)dims->height;

  rc = open_source(src_fd, src_mime, &source, eb);
  if(rc)
    goto out;

  /* Shrink-on-load, auto-rotation (the dims are as displayed), the first
   * frame only (the loaders' default), and a corrupt or truncated file
   * refused rather than rendered half grey. libvips 8.14's
   * vips_thumbnail_source does not hand its fail_on to the loader, so it goes
   * in the loader's option string too. */
  if(dims->crop ? vips_thumbnail_source(source, &img, width, "height", height, "crop",
                                        VIPS_INTERESTING_CENTRE, "fail_on", VIPS_FAIL_ON_ERROR,
                                        "option_string", "fail_on=error", NULL)
                : vips_thumbnail_source(source, &img, width, "height", height, "size",
                                        VIPS_SIZE_FORCE, "fail_on", VIPS_FAIL_ON_ERROR,
                                        "option_string", "fail_on=error", NULL)) {
    rc = vips_fail(eb, ML_ERR_INVALID_IMAGE, "decoding the image");
    goto out;
  }

  /* Rounding in the resize can leave a side one pixel off: the box is exact. */
  if(img->Xsize != width || img->Ysize != height) {
    if(vips_gravity(img, &next, VIPS_COMPASS_DIRECTION_CENTRE, width, height, "extend",
                    VIPS_EXTEND_COPY, NULL))
      goto vips_error;
    g_object_unref(img);
    img = next;
    next = NULL;
  }

  if(fmt == ML_TRANSFORM_FORMAT_JPEG && vips_image_hasalpha(img)) {
    /* white, and opaque, in the image's own scale */
    double white = img->Type == VIPS_INTERPRETATION_RGB16 || img->Type == VIPS_INTERPRETATION_GREY16
                       ? 65535
                       : 255;
    VipsArrayDouble *bg = vips_array_double_new(&white, 1);
    int failed = vips_flatten(img, &next, "background", bg, "max_alpha", white, NULL);
    vips_area_unref(VIPS_AREA(bg));
    if(failed)
      goto vips_error;
    g_object_unref(img);
    img = next;
    next = NULL;
  }

  /* A private copy whose metadata we may edit; AVIF and a profile too large
   * for JPEG's 255 segments go to sRGB instead of carrying the profile. */
  {
    const void *icc = NULL;
    size_t icc_len = 0;
    int drop_icc = fmt == ML_TRANSFORM_FORMAT_AVIF;
    if(fmt == ML_TRANSFORM_FORMAT_JPEG && vips_image_get_typeof(img, VIPS_META_ICC_NAME) &&
       !vips_image_get_blob(img, VIPS_META_ICC_NAME, &icc, &icc_len) && icc_len > ICC_JPEG_MAX)
      drop_icc = 1;
    if(drop_icc ? to_srgb(img, &next) : vips_copy(img, &next, NULL))
      goto vips_error;
    g_object_unref(img);
    img = next;
    next = NULL;
  }
  strip_metadata(img);

  if((rc = save(img, fmt, quality, &sink, eb)))
    goto out;
  if(fsync(sink.fd) || fstat(sink.fd, &st)) {
    rc = ml_fail(eb, ML_ERR_IO, "syncing the rendered image: %s", strerror(errno));
    goto out;
  }
  if(res) {
    res->width = width;
    res->height = height;
    res->size = (int64_t)st.st_size;
    res->mime = out_mime;
  }
  goto out;

vips_error:
  rc = vips_fail(eb, ML_ERR_INVALID_IMAGE, "rendering the image");
out:
  if(next)
    g_object_unref(next);
  if(img)
    g_object_unref(img);
  if(source)
    g_object_unref(source);
  return rc;
}

ml_err ml_render(int src_fd, const char *src_mime, const struct ml_transform_dims *dims,
                 enum ml_transform_format fmt, int quality, const char *out_path,
                 struct ml_render_result *res, struct ml_errbuf *eb) {
  int fd;
  ml_err rc;
  if(!out_path)
    return ml_fail(eb, ML_ERR_INTERNAL, "ml_render: bad arguments");
  fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if(fd < 0)
    return ml_fail(eb, ML_ERR_IO, "creating %s: %s", out_path, strerror(errno));
  rc = ml_render_to_fd(src_fd, src_mime, dims, fmt, quality, fd, res, eb);
  if(close(fd) && !rc)
    rc = ml_fail(eb, ML_ERR_IO, "closing %s: %s", out_path, strerror(errno));
  if(rc)
    unlink(out_path);
  return rc;
}
