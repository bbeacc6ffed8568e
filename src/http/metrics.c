/* metrics.c - fixed-size counter tables behind one mutex. */
#include "http/metrics.h"

#include <pthread.h>
#include <string.h>

#include "core/alloc.h"

#define MAX_SERIES 256
static const double bucket_ms[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NBUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

struct series {
  const char *route; /* static string from the route table */
  int status;
  uint64_t count;
};

struct hist {
  const char *route;
  uint64_t buckets[NBUCKETS];
  uint64_t count;
  double sum_ms;
};

struct ml_metrics {
  pthread_mutex_t mu;
  struct series s[MAX_SERIES];
  int ns;
  struct hist h[64];
  int nh;
  uint64_t bytes_in, bytes_out;
};

ml_err ml_metrics_create(struct ml_metrics **out) {
  struct ml_metrics *m = ml_calloc(1, sizeof(*m));
  if(!m)
    return ML_ERR_NOMEM;
  pthread_mutex_init(&m->mu, NULL);
  *out = m;
  return ML_OK;
}

void ml_metrics_destroy(struct ml_metrics **m) {
  if(!m || !*m)
    return;
  pthread_mutex_destroy(&(*m)->mu);
  ml_free(*m);
  *m = NULL;
}

void ml_metrics_request(struct ml_metrics *m, const char *route, int status, double ms,
                        int64_t bytes_in, int64_t bytes_out) {
  int i;
  pthread_mutex_lock(&m->mu);
  for(i = 0; i < m->ns; i++)
    if(m->s[i].status == status && (m->s[i].route == route || !strcmp(m->s[i].route, route)))
      break;
  if(i == m->ns && m->ns < MAX_SERIES)
    m->s[m->ns++] = (struct series){route, status, 0};
  if(i < m->ns)
    m->s[i].count++;
  for(i = 0; i < m->nh; i++)
    if(m->h[i].route == route || !strcmp(m->h[i].route, route))
      break;
  if(i == m->nh && m->nh < (int)(sizeof(m->h) / sizeof(m->h[0]))) {
    memset(&m->h[i], 0, sizeof(m->h[i]));
    m->h[m->nh++].route = route;
  }
  if(i < m->nh) {
    for(size_t b = 0; b < NBUCKETS; b++)
      if(ms <= bucket_ms[b])
        m->h[i].buckets[b]++;
    m->h[i].count++;
    m->h[i].sum_ms += ms;
  }
  m->bytes_in += bytes_in > 0 ? (uint64_t)bytes_in : 0;
  m->bytes_out += bytes_out > 0 ? (uint64_t)bytes_out : 0;
  pthread_mutex_unlock(&m->mu);
}

ml_err ml_metrics_format(struct ml_metrics *m, struct ml_buf *b) {
  ml_err rc;
  pthread_mutex_lock(&m->mu);
  rc = ml_buf_adds(b, "# HELP medialib_http_requests_total HTTP requests by route and status.\n"
                      "# TYPE medialib_http_requests_total counter\n");
  for(int i = 0; !rc && i < m->ns; i++)
    rc = ml_buf_addf(b, "medialib_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                     m->s[i].route, m->s[i].status, (unsigned long long)m->s[i].count);
  if(!rc)
    rc = ml_buf_adds(b, "# HELP medialib_http_request_duration_seconds Request duration.\n"
                        "# TYPE medialib_http_request_duration_seconds histogram\n");
  for(int i = 0; !rc && i < m->nh; i++) {
    for(size_t k = 0; !rc && k < NBUCKETS; k++)
      rc =
          ml_buf_addf(b,
                      "medialib_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                      "%llu\n",
                      m->h[i].route, bucket_ms[k] / 1000.0, (unsigned long long)m->h[i].buckets[k]);
    if(!rc)
      rc = ml_buf_addf(b,
                       "medialib_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                       "%llu\nmedialib_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                       "medialib_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                       m->h[i].route, (unsigned long long)m->h[i].count, m->h[i].route,
                       m->h[i].sum_ms / 1000.0, m->h[i].route, (unsigned long long)m->h[i].count);
  }
  if(!rc)
    rc = ml_buf_addf(b,
                     "# HELP medialib_http_bytes_received_total Request body bytes.\n"
                     "# TYPE medialib_http_bytes_received_total counter\n"
                     "medialib_http_bytes_received_total %llu\n"
                     "# HELP medialib_http_bytes_sent_total Response body bytes.\n"
                     "# TYPE medialib_http_bytes_sent_total counter\n"
                     "medialib_http_bytes_sent_total %llu\n",
                     (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out);
  pthread_mutex_unlock(&m->mu);
  return rc;
}
