/*
 * filename.h - client filenames: cleaning and Content-Disposition.
 *
 * A client's filename is metadata only (storage keys are made by the server);
 * it is cleaned so that it is safe to show, to put in a URL path segment and
 * to send back in Content-Disposition (RFC 6266).
 */
#ifndef ML_MEDIA_FILENAME_H
#define ML_MEDIA_FILENAME_H

#include <stddef.h>

#include "core/buf.h"

#define ML_FILENAME_MAX 255

/* Cleans in (inlen bytes, may contain NULs) into out (outsz >= 256):
 * - keeps only the last path segment ('/' and '\\' both separate);
 * - drops control characters (0x00-0x1F, 0x7F, U+0080-U+009F), '"', the
 *   bidirectional marks, overrides and isolates (U+061C, U+200E, U+200F,
 *   U+202A-U+202E, U+2066-U+2069: they can disguise an extension) and
 *   invalid UTF-8;
 * - trims spaces and dots at both ends (so "..", "." and " " vanish);
 * - keeps at most ML_FILENAME_MAX bytes, cutting on a UTF-8 character
 *   boundary and keeping the extension (".jpg") when it is short (<= 16);
 * - an empty result becomes "file".
 * Percent signs are kept literally: names are never decoded. */
void ml_filename_clean(const char *in, size_t inlen, char *out, size_t outsz);

/* Appends a Content-Disposition value: "inline" or "attachment", then
 * `; filename="<ASCII fallback>"` (each non-ASCII character, control
 * character, '"', '\\' and '%' replaced by '_'; '%' because some clients
 * percent-decode filename=, RFC 6266 appendix D) and
 * `; filename*=UTF-8''<percent-encoded>` (RFC 8187). NULL or "" name: "file".
 * On error (ML_ERR_TOO_LARGE, ML_ERR_NOMEM) b is left as it was. */
ml_err ml_filename_disposition(struct ml_buf *b, int is_inline, const char *name);

#endif
