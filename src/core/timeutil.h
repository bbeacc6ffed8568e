/* timeutil.h - clocks and the time formats of the API and of HTTP. */
#ifndef ML_CORE_TIMEUTIL_H
#define ML_CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall clock in milliseconds since the epoch. */
int64_t ml_now_ms(void);
/* Monotonic clock in nanoseconds (for durations and deadlines). */
uint64_t ml_mono_ns(void);

/* RFC 3339 UTC with a Z, second precision: "2026-11-22T19:00:00Z".
 * out must hold 21 bytes. */
void ml_time_rfc3339(int64_t epoch_ms, char out[21]);
/* RFC 9110 IMF-fixdate: "Sun, 22 Nov 2026 19:00:00 GMT"; out holds 30 bytes. */
void ml_time_http(time_t t, char out[30]);
/* Parses an IMF-fixdate; returns 0 and sets *t, or -1 when malformed. */
int ml_time_http_parse(const char *s, time_t *t);

#endif
