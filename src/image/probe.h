/*
 * probe.h - image dimensions, frame count and EXIF orientation read from the
 * headers alone, before any decoder sees the file.
 *
 * The upload path needs these numbers to refuse pixel floods (a 40 KB PNG
 * claiming 100,000 x 100,000 px) and frame floods (a GIF with 10,000 frames)
 * while the file is still just bytes on disk (TESTING.md B1, B2). The prober
 * is pure C, reads through one fixed 4 KiB window on the stack, allocates
 * nothing, and checks every length field against the file before following
 * it: it is fed by attackers and fuzzed (fuzz/fuzz_probe.c).
 *
 * Refusing is the caller's job: the prober reports what the header claims
 * (100000 x 100000 is a valid answer) and fails only when it cannot tell.
 */
#ifndef ML_IMAGE_PROBE_H
#define ML_IMAGE_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/*
 * Frame counting (GIF image descriptors, WebP ANMF chunks) stops once the
 * count exceeds this; frames is then ML_IMAGE_PROBE_MAX_FRAMES + 1, which is
 * enough for any caller limit at or below this one to refuse the file. APNG
 * frame counts are the acTL declaration (up to 2^31-1), not a count.
 */
#define ML_IMAGE_PROBE_MAX_FRAMES 100000

struct ml_image_info {
  int64_t width, height; /* pixels as stored (before EXIF rotation), >= 1 */
  int64_t frames;        /* 1 for stills; frame count for animated GIF / APNG / animated WebP */
  int orientation;       /* EXIF orientation 1..8 (1 when absent, invalid, or not JPEG/WebP) */
};

/*
 * Probes the image in fd (read with pread from offset 0; the file offset is
 * not used, the fd is neither closed nor kept) whose sniffed MIME type is
 * mime: image/png, image/jpeg, image/gif, image/webp, image/bmp.
 *
 * Reads at most max_scan bytes of the file in total, counting every byte
 * pread returns (a max_scan <= 0 reads nothing). Payloads that only need to
 * be stepped over (PNG chunks, JPEG segments, GIF LZW sub-blocks, WebP
 * chunks) are skipped by offset, not read: a GIF's frames are counted by
 * reading its block headers and sub-block length bytes only, so a
 * 10,000-frame GIF costs a few hundred KB of scan at most, never its pixels.
 *
 * What is walked: PNG chunks up to the first IDAT (for acTL); JPEG segments up
 * to the first SOFn (for the EXIF APP1 before it); every GIF block up to the
 * trailer (a GIF that ends cleanly after a frame without its trailer is
 * accepted); WebP chunks after VP8X only when the animation or EXIF flag is
 * set. EXIF that cannot be parsed is ignored (orientation 1), since it is
 * metadata, not image.
 *
 * Returns:
 *   ML_OK with *out set;
 *   ML_ERR_UNSUPPORTED_MEDIA_TYPE for another (or NULL) mime; the caller
 *     ignores it;
 *   ML_ERR_UNPROCESSABLE when the header is corrupt or truncated, claims a
 *     width or height of 0 (or a PNG/BMP one above 2^31-1), an animated
 *     image has no frames, or the structure cannot be walked within max_scan;
 *   ML_ERR_IO when fd cannot be read (fstat or pread fails).
 * eb (may be NULL) says why. On any error *out is zeroed.
 */
ml_err ml_image_probe_fd(int fd, const char *mime, int64_t max_scan, struct ml_image_info *out,
                         struct ml_errbuf *eb);

/*
 * The same on a memory buffer of len bytes (for tests and the fuzz target),
 * with no scan limit besides len; the same parser runs behind both.
 */
ml_err ml_image_probe_buf(const unsigned char *data, size_t len, const char *mime,
                          struct ml_image_info *out, struct ml_errbuf *eb);

#endif
