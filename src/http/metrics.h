/*
 * metrics.h - request and server counters in Prometheus text format.
 *
 * The server records every finished request; other modules add gauges
 * through a callback when /metrics is scraped (outbox depth and the like).
 */
#ifndef ML_HTTP_METRICS_H
#define ML_HTTP_METRICS_H

#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct ml_metrics;

ml_err ml_metrics_create(struct ml_metrics **out);
void ml_metrics_destroy(struct ml_metrics **m);
/* Records one request. route: a static route name; status 499 = aborted. */
void ml_metrics_request(struct ml_metrics *m, const char *route, int status, double ms,
                        int64_t bytes_in, int64_t bytes_out);
/* Appends the text exposition of everything recorded. */
ml_err ml_metrics_format(struct ml_metrics *m, struct ml_buf *b);

#endif
