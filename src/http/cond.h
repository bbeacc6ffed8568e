/*
 * cond.h - conditional requests (RFC 9110 section 13) for GET and HEAD.
 */
#ifndef ML_HTTP_COND_H
#define ML_HTTP_COND_H

#include <time.h>

/* Does the If-None-Match list (e.g. "\"a\", W/\"b\"" or "*") match etag (a
 * quoted strong tag like "\"abc\"")? Weak comparison, as RFC 9110 asks for
 * If-None-Match. Malformed lists do not match. */
int ml_cond_none_match(const char *if_none_match, const char *etag);

/* Should a GET/HEAD be answered 304? If-None-Match wins when present;
 * otherwise If-Modified-Since (an IMF-fixdate; unparsable is ignored) is
 * compared with last_modified. Either header may be NULL. */
int ml_cond_not_modified(const char *if_none_match, const char *if_modified_since, const char *etag,
                         time_t last_modified);

/* If-Range: may the Range header be honoured? NULL if_range: yes. An entity
 * tag must match strongly (W/ never matches); a date must equal
 * last_modified exactly. */
int ml_cond_if_range(const char *if_range, const char *etag, time_t last_modified);

#endif
