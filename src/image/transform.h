/*
 * transform.h - the transform segment of a derived image's URL: parsing,
 * the canonical form, presets, output size and format planning, and signed
 * URLs (API.md "File delivery").
 *
 *   /media/{id}/v{version}/{transform}/{filename}
 *   /media/{id}/v{version}/s_{signature}/{transform}/{filename}
 *
 * A transform is `t_<preset>` or a comma-joined set of `w_<px>`, `h_<px>`,
 * `c_<fit|fill|limit>`, `f_<jpeg|png|webp|avif|auto>`, `q_<1-100>`. The
 * parser is strict, because every distinct spelling would be a distinct
 * variant to render and store: each key at most once, numbers in plain
 * decimal (no sign, no leading zero), nothing unknown, at most
 * ML_TRANSFORM_SEGMENT_MAX bytes. The segment is taken raw, as it appears in
 * the request path: a percent-encoded comma is refused, not decoded.
 *
 * Everything here is pure computation: no I/O, no libvips (which is only
 * linked into the medialib-render worker, see render.h), no allocation but
 * the one buffer of ml_transform_sign/verify. It is fed by attackers and
 * fuzzed (fuzz/fuzz_transform.c).
 *
 * Never upscaling. No transform makes an image larger than its source (in
 * either dimension): fit and limit stop at the source size, and fill, when
 * the box is larger than the source, crops the largest region of the box's
 * aspect ratio the source holds instead of enlarging it. "Unless asked"
 * (issue 5) has no URL spelling yet; c_fit and c_limit therefore give the
 * same pixels today. They keep distinct canonical forms so that a future
 * explicit upscale flag can make c_fit (and c_fill) enlarge while c_limit
 * never does, without changing what an existing URL means.
 */
#ifndef ML_IMAGE_TRANSFORM_H
#define ML_IMAGE_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define ML_TRANSFORM_SEGMENT_MAX 256
#define ML_TRANSFORM_DIM_MAX 8192
/* Longest canonical form, "c_limit,f_auto,h_8192,q_100,w_8192", and its NUL. */
#define ML_TRANSFORM_CANONICAL_MAX 40
#define ML_TRANSFORM_PRESET_NAME_MAX 32
#define ML_TRANSFORM_PRESETS_MAX 32
/* HMAC-SHA256 truncated to 128 bits: 22 base64url characters, no padding. */
#define ML_TRANSFORM_SIG_BYTES 16
#define ML_TRANSFORM_SIG_CHARS 22

enum ml_transform_crop {
  ML_TRANSFORM_FIT = 0, /* the default: within the box, aspect kept */
  ML_TRANSFORM_FILL,    /* cover the box, then crop to it (centre); needs w_ and h_ */
  ML_TRANSFORM_LIMIT    /* like fit; see "Never upscaling" above */
};

enum ml_transform_format {
  ML_TRANSFORM_FORMAT_ORIGINAL = 0, /* no f_: as the source (see ml_transform_output_format) */
  ML_TRANSFORM_FORMAT_JPEG,
  ML_TRANSFORM_FORMAT_PNG,
  ML_TRANSFORM_FORMAT_WEBP,
  ML_TRANSFORM_FORMAT_AVIF,
  ML_TRANSFORM_FORMAT_AUTO /* f_auto: chosen from the request's Accept */
};

struct ml_transform {
  int width, height; /* box in pixels, 1..ML_TRANSFORM_DIM_MAX; 0 when not given */
  enum ml_transform_crop crop;
  enum ml_transform_format format;
  int quality;        /* 1..100; 0 when not given (the encoder's default) */
  const char *preset; /* t_<name>: the name inside the preset table, else NULL */
  int is_preset;      /* 1 for t_<name>: needs no signature */
};

struct ml_transform_preset {
  char name[ML_TRANSFORM_PRESET_NAME_MAX + 1];
  struct ml_transform t; /* a free-form transform (t.preset is NULL) */
};

/* The preset table: owned by its creator (the configuration), read-only once
 * requests are served. A parsed transform's preset field points into it. */
struct ml_transform_presets {
  int n;
  struct ml_transform_preset p[ML_TRANSFORM_PRESETS_MAX];
};

/*
 * Parses one raw path segment of len bytes (seg need not be NUL-terminated).
 * presets may be NULL, which refuses every t_. On success *out is the
 * transform; a preset is expanded into its definition, with preset and
 * is_preset set.
 *
 * Returns ML_OK, or ML_ERR_BAD_REQUEST with the reason in eb (may be NULL):
 * empty or longer than ML_TRANSFORM_SEGMENT_MAX, an empty or unknown key, a
 * repeated key, a malformed or out-of-range number, an unknown value, t_
 * combined with anything, an unknown preset, c_ without w_ or h_, c_fill
 * without both. *out is zeroed on error.
 */
ml_err ml_transform_parse(const char *seg, size_t len, const struct ml_transform_presets *presets,
                          struct ml_transform *out, struct ml_errbuf *eb);

/*
 * The canonical form: keys sorted (c, f, h, q, w), defaults left out (c_fit
 * is not written), presets expanded ("t_thumbnail" gives "c_fill,h_200,
 * w_200"). Two transforms that render the same pixels with the same
 * parameters have the same canonical form, so it names a variant in the
 * store and is what a signature covers. It parses back to the same
 * transform (minus the preset name). Never empty for a parsed transform.
 */
void ml_transform_format(const struct ml_transform *t, char out[ML_TRANSFORM_CANONICAL_MAX]);

/* ---- presets ---- */

/* Fills *p with the built-in presets: thumbnail (200x200 fill), small (480
 * wide), medium (960 wide), large (1920 wide). */
void ml_transform_presets_init(struct ml_transform_presets *p);

/*
 * Adds or replaces presets from a spec such as
 * "hero=w_1600,h_600,c_fill;avatar=w_64,h_64,c_fill,f_webp" (the format of a
 * future MEDIALIB_PRESETS setting). Names are 1..ML_TRANSFORM_PRESET_NAME_MAX
 * of [a-z0-9_-]; definitions are free-form transforms (no t_). Empty items
 * (";;", a trailing ';') are skipped.
 * Returns ML_OK, or ML_ERR_CONFIG naming the bad item; *p is left unchanged
 * on error (the spec is applied all or nothing).
 */
ml_err ml_transform_presets_parse(struct ml_transform_presets *p, const char *spec,
                                  struct ml_errbuf *eb);

/* The preset called name (len bytes), or NULL. */
const struct ml_transform_preset *ml_transform_preset_find(const struct ml_transform_presets *p,
                                                           const char *name, size_t len);

/* ---- planning ---- */

struct ml_transform_dims {
  int64_t width, height; /* the output size, as displayed (after EXIF rotation) */
  int crop;              /* 1 when the output is cropped to the box (fill) */
};

/*
 * The output size of t applied to a source of src_width x src_height stored
 * pixels with EXIF orientation (1..8; anything else is taken as 1; 5..8 swap
 * the axes, as the renderer auto-rotates). See "Never upscaling" above.
 *
 * fit, limit: the largest size within the box (a missing w_ or h_ leaves
 *   that axis unbounded) keeping the aspect ratio, and never above the source;
 *   the bound axis is exact and the other rounded to nearest, at least 1.
 * fill: exactly w_ x h_ when the source covers the box after scaling down;
 *   otherwise the largest region of the box's aspect ratio inside the source.
 * No w_ and no h_ (f_ or q_ only): the source size.
 *
 * Returns ML_OK, or ML_ERR_INVALID_IMAGE when a source dimension is outside
 * 1..2^31-1. *out is zeroed on error.
 */
ml_err ml_transform_plan(const struct ml_transform *t, int64_t src_width, int64_t src_height,
                         int orientation, struct ml_transform_dims *out, struct ml_errbuf *eb);

/* ---- output format ---- */

/*
 * The concrete format (JPEG, PNG, WEBP or AVIF) to encode t in, for a source
 * of src_mime and a request's Accept header (may be NULL).
 *
 * f_jpeg/png/webp/avif are taken as they are. With no f_, the source's
 * format when browsers show it (image/jpeg, image/png, image/webp,
 * image/avif), PNG for image/gif (a still of the first frame, lossless),
 * JPEG for anything else (image/tiff, image/heif). f_auto: AVIF when Accept
 * lists image/avif, else WebP when it lists image/webp, else as with no f_.
 * Only an explicit type counts: image/x;q=0 refuses it, and wildcards
 * (image/ *, * / *) are not taken as a promise of AVIF or WebP support.
 *
 * *varies (may be NULL) is set to 1 when the answer depends on Accept (f_auto:
 * answer with Vary: Accept), else 0.
 */
enum ml_transform_format ml_transform_output_format(const struct ml_transform *t,
                                                    const char *src_mime, const char *accept,
                                                    int *varies);

/* "image/jpeg"... for a concrete format; NULL for ORIGINAL and AUTO. */
const char *ml_transform_format_mime(enum ml_transform_format f);
/* "jpeg", "png", "webp", "avif", "auto" (the f_ values); "" for ORIGINAL. */
const char *ml_transform_format_name(enum ml_transform_format f);
/* The inverse of ml_transform_format_name for the five f_ values; returns
 * ML_TRANSFORM_FORMAT_ORIGINAL for anything else. */
enum ml_transform_format ml_transform_format_from_name(const char *name, size_t len);

/* ---- Cloudinary ---- */

/* Longest ml_transform_cloudinary output and its NUL. */
#define ML_TRANSFORM_CLOUDINARY_MAX 64

/*
 * t as a Cloudinary transformation, for a source of src_mime: the same
 * pixels as medialib's renderer, as near as Cloudinary's parameters say
 * it. Parameters are sorted by name, as Cloudinary's SDKs write them:
 *   fit, limit (with w_ or h_)  c_limit (Cloudinary's c_fit enlarges)
 *   fill                        c_lfill (c_fill enlarges; lfill does not)
 *   f_jpeg|png|webp|avif|auto   f_jpg|png|webp|avif|auto
 *   no f_                       as ml_transform_output_format chooses
 *                               without Accept: f_ only when that is not
 *                               the source's format (GIF -> f_png,
 *                               TIFF/HEIF -> f_jpg)
 *   q_N                         q_N; no q_: q_auto
 * e.g. t_thumbnail -> "c_lfill,h_200,q_auto,w_200". Cloudinary applies
 * EXIF orientation and drops metadata of derived images by default.
 */
void ml_transform_cloudinary(const struct ml_transform *t, const char *src_mime,
                             char out[ML_TRANSFORM_CLOUDINARY_MAX]);

/* ---- signed URLs ---- */

/*
 * Signs a free-form transform for one file URL: out gets
 * base64url(HMAC-SHA256(key, canonical + "\n" + path)) truncated to
 * ML_TRANSFORM_SIG_BYTES, as ML_TRANSFORM_SIG_CHARS characters and a NUL.
 * canonical is ml_transform_format's output; path is the file's versioned
 * path without the transform and signature segments ("/media/42/v3/
 * photo.jpg"), so a signature is good for one transform of one version of
 * one file. The URL carries it as the segment "s_" + out, before the
 * transform.
 * Returns ML_OK; ML_ERR_CONFIG for an empty key (or one longer than INT_MAX,
 * which OpenSSL cannot take); ML_ERR_BAD_REQUEST for a path longer than 4096
 * bytes, a canonical of ML_TRANSFORM_CANONICAL_MAX bytes or more (not one of
 * ml_transform_format's), or a NULL canonical or path; ML_ERR_NOMEM;
 * ML_ERR_INTERNAL if OpenSSL fails. out is "" on error.
 */
ml_err ml_transform_sign(const unsigned char *key, size_t keylen, const char *canonical,
                         const char *path, char out[ML_TRANSFORM_SIG_CHARS + 1],
                         struct ml_errbuf *eb);

/*
 * Reads a signature segment "s_<22 base64url chars>" (raw, len bytes) into
 * sig. Only the one canonical spelling is accepted (no padding, unused low
 * bits of the last character zero).
 * Returns ML_OK, or ML_ERR_BAD_REQUEST; sig is zeroed on error.
 */
ml_err ml_transform_signature_parse(const char *seg, size_t len,
                                    unsigned char sig[ML_TRANSFORM_SIG_BYTES],
                                    struct ml_errbuf *eb);

/* Is seg (len bytes) a signature segment (starts with "s_")? The router uses
 * it to tell the optional signature from the transform. */
int ml_transform_is_signature(const char *seg, size_t len);

/*
 * Checks sig against canonical and path in constant time.
 * Returns ML_OK when it matches, ML_ERR_FORBIDDEN when it does not, or the
 * errors of ml_transform_sign.
 */
ml_err ml_transform_verify(const unsigned char *key, size_t keylen, const char *canonical,
                           const char *path, const unsigned char sig[ML_TRANSFORM_SIG_BYTES],
                           struct ml_errbuf *eb);

#endif
