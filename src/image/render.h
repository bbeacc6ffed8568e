/*
 * render.h - makes a derived image (API.md "File delivery") from a stored
 * original with libvips: decode, auto-rotate, resize or cover-and-crop to an
 * exact size, strip metadata, encode.
 *
 * The renderer knows nothing of URLs, HTTP or the database: the domain plans
 * the output (ml_transform_plan, ml_transform_output_format in transform.h),
 * opens the original in the blob store, and calls ml_render from a worker
 * thread with the fd and the plan. Everything libvips decodes here was
 * uploaded by someone else, so:
 *
 * - only six loaders can run (JPEG, PNG, WebP, GIF, HEIF/AVIF, TIFF), and only
 *   the one matching the sniffed MIME type: every other libvips loader is
 *   blocked process-wide by ml_render_init (ImageMagick, SVG, PDF, matlab,
 *   FITS, vips, CSV, ...), and ml_render checks the loader libvips picks
 *   from the content against the MIME type before decoding a pixel;
 * - pixel and frame floods are refused before rendering, from the header,
 *   by the upload path (probe.h); the renderer additionally decodes only the
 *   first frame and shrinks on load where the format allows it;
 * - metadata never leaks into a derived image (TESTING.md B5): EXIF (GPS,
 *   serial numbers), XMP, IPTC and comments are removed; only the ICC
 *   profile is carried over (see ml_render for AVIF).
 */
#ifndef ML_IMAGE_RENDER_H
#define ML_IMAGE_RENDER_H

#include <stdint.h>

#include "core/err.h"
#include "image/probe.h"
#include "image/transform.h"

/* Default qualities for quality 0 (the transform had no q_). PNG is lossless
 * and ignores the quality. */
#define ML_RENDER_JPEG_QUALITY 85
#define ML_RENDER_WEBP_QUALITY 80
#define ML_RENDER_AVIF_QUALITY 50

struct ml_render_result {
  int width, height; /* the output, always the dims asked for */
  int64_t size;      /* bytes written to out_path */
  const char *mime;  /* "image/jpeg", ...: a static string */
};

/*
 * Starts libvips for the process: call once from main before any worker
 * thread renders (libvips's own start-up is not thread-safe), and not again
 * after ml_render_shutdown. Sets, process-wide:
 *
 * - every loader blocked except the six of the allow-list (and libvips's
 *   "untrusted" operations blocked too, vips_block_untrusted_set);
 * - the operation cache off: each render is a one-off, and a cache would keep
 *   decoded images (and open sources) alive across requests;
 * - one libvips thread per render (vips_concurrency_set(1)): the parallelism
 *   comes from the bounded worker pool, one render per worker, so N workers
 *   use about N cores and N pipelines' worth of memory and never oversubscribe
 *   the machine; a thumbnail's time is mostly the (sequential) JPEG decode,
 *   which more threads per render would not speed up. The VIPS_CONCURRENCY
 *   environment variable, when set, still overrides this;
 * - libvips's warnings (GLib log domain "VIPS") silenced: they would go to
 *   stderr from deep inside; what matters comes back as the error of the
 *   render.
 *
 * Returns ML_OK, or ML_ERR_INTERNAL when libvips fails to start (eb says why).
 */
ml_err ml_render_init(struct ml_errbuf *eb);

/* Shuts libvips down (vips_shutdown): after every render has finished, at
 * exit. Lets leak checkers see libvips's own memory returned. */
void ml_render_shutdown(void);

/*
 * Renders the image in src_fd, whose sniffed type is src_mime (image/jpeg,
 * image/png, image/webp, image/gif, image/heif, image/heic, image/avif,
 * image/tiff), to exactly dims->width x dims->height pixels as displayed
 * (after EXIF orientation is applied), encoded as fmt, into a new file at
 * out_path.
 *
 * src_fd: read from offset 0 (the fd's file offset is moved; it is neither
 *   closed nor kept). One fd per concurrent render.
 * dims: from ml_transform_plan, so already aspect-correct. crop = 1: scaled to
 *   cover the box, then the centre cut out; crop = 0: resized to exactly the
 *   size. Each side 1..ML_TRANSFORM_DIM_MAX. JPEG, WebP and HEIF/AVIF shrink
 *   on load. Animated images give their first frame.
 * fmt: JPEG, PNG, WEBP or AVIF (resolve ORIGINAL and AUTO first, with
 *   ml_transform_output_format). JPEG has no alpha: transparency is
 *   flattened on white. AVIF is AV1 in HEIF, 8 bits.
 * quality: 1..100, or 0 for the ML_RENDER_*_QUALITY default.
 * Metadata: none is written but the ICC profile, when the source has one, in
 *   JPEG, PNG and WebP. AVIF gets no ICC profile: libvips 8.14's HEIF saver
 *   writes an ICC profile only together with an EXIF block, so for AVIF the
 *   pixels are converted to sRGB with the source's profile instead (the
 *   colours stay right; AVIF's default colour information is sRGB).
 * out_path: created here (O_EXCL, mode 0600; it must not exist), written,
 *   fsynced and closed. On error it is removed. Renaming it into place and
 *   syncing the directory are the caller's.
 * res (may be NULL): the output's size, byte count and MIME type.
 *
 * Thread-safe: any number of threads may render at once.
 *
 * Returns ML_OK, or:
 *   ML_ERR_UNSUPPORTED_MEDIA_TYPE: src_mime is not a renderable type, or the
 *     content is not what it claims (the loader libvips would pick from the
 *     bytes does not belong to src_mime, or none of the allowed loaders
 *     recognises them);
 *   ML_ERR_INVALID_IMAGE: the image cannot be decoded (corrupt, truncated);
 *     eb has libvips's message, one line;
 *   ML_ERR_IO: out_path cannot be created, written or synced (disk full
 *     included), or src_fd cannot be read;
 *   ML_ERR_NOMEM: out of memory;
 *   ML_ERR_INTERNAL: bad arguments (fmt not concrete, dims or quality out of
 *     range) or an encoder failure.
 * libvips's error buffer is process-wide in 8.14: with several renders
 * failing at the same moment, eb's message may be another render's; the
 * returned code is always this render's.
 */
ml_err ml_render(int src_fd, const char *src_mime, const struct ml_transform_dims *dims,
                 enum ml_transform_format fmt, int quality, const char *out_path,
                 struct ml_render_result *res, struct ml_errbuf *eb);

/* Reads the header of the image in src_fd with the loader of src_mime (the
 * same checks as ml_render; no pixel decoded): the size as stored (page
 * height for multi-page files), the frame or page count, the EXIF
 * orientation. For the formats probe.h does not read (HEIF, AVIF, TIFF).
 * ML_ERR_UNSUPPORTED_MEDIA_TYPE, ML_ERR_INVALID_IMAGE, ML_ERR_IO. */
ml_err ml_render_probe(int src_fd, const char *src_mime, struct ml_image_info *out,
                       struct ml_errbuf *eb);

/* The same into out_fd, an empty file open for writing (neither closed nor
 * removed here; fsynced on success). What a render worker does with the fd
 * its server hands it (renderd.h). */
ml_err ml_render_to_fd(int src_fd, const char *src_mime, const struct ml_transform_dims *dims,
                       enum ml_transform_format fmt, int quality, int out_fd,
                       struct ml_render_result *res, struct ml_errbuf *eb);

#endif
