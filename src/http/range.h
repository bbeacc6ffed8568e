/*
 * range.h - the Range request header (RFC 9110 section 14.2), bytes only.
 *
 * medialib honours one range. A header with several ranges is answered with
 * the whole representation (allowed by RFC 9110), so 200 overlapping ranges
 * cost nothing. Syntax errors make the header ignored (200), as the RFC says.
 */
#ifndef ML_HTTP_RANGE_H
#define ML_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

enum ml_range_result {
  ML_RANGE_NONE = 0,     /* no usable Range: send the whole representation (200) */
  ML_RANGE_OK,           /* one satisfiable range in *start, *len: 206 */
  ML_RANGE_UNSATISFIABLE /* every range lies past the end: 416 */
};

/*
 * header: the Range header value (NULL = none); size: representation length.
 * Forms: "bytes=0-499", "bytes=500-", "bytes=-500" (suffix), case-insensitive
 * unit, optional whitespace around commas. An end past size is clamped. A
 * suffix longer than size means the whole representation (206 of 0-(size-1)).
 * For size 0 every range is unsatisfiable except none. Headers longer than
 * 4 KiB are ignored (ML_RANGE_NONE).
 */
enum ml_range_result ml_range_parse(const char *header, uint64_t size, uint64_t *start,
                                    uint64_t *len);

#endif
