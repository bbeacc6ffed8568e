/*
 * log.h - structured logging: one JSON object per line on stderr.
 *
 * Every line has ts, level, msg and request_id (when there is one) followed
 * by the event's own fields. Lines are written with one write(2) so that
 * concurrent threads never interleave. Gate by level with the ml_log macro,
 * which evaluates nothing when the level is off (Redis serverLog).
 */
#ifndef ML_CORE_LOG_H
#define ML_CORE_LOG_H

#include <stdint.h>

#include "core/err.h"

enum ml_log_level { ML_LOG_DEBUG, ML_LOG_INFO, ML_LOG_WARN, ML_LOG_ERROR, ML_LOG_OFF };

enum ml_log_ftype { ML_LF_NONE, ML_LF_STR, ML_LF_INT, ML_LF_DBL, ML_LF_BOOL };

struct ml_log_field {
  const char *key;
  enum ml_log_ftype type;
  const char *s;
  int64_t i;
  double d;
};

#define ML_LS(k, v) ((struct ml_log_field){.key = (k), .type = ML_LF_STR, .s = (v)})
#define ML_LI(k, v) ((struct ml_log_field){.key = (k), .type = ML_LF_INT, .i = (int64_t)(v)})
#define ML_LD(k, v) ((struct ml_log_field){.key = (k), .type = ML_LF_DBL, .d = (double)(v)})
#define ML_LB(k, v) ((struct ml_log_field){.key = (k), .type = ML_LF_BOOL, .i = !!(v)})
#define ML_LERR(e) ML_LS("error", ml_err_code(e))

struct ml_log {
  enum ml_log_level level;
  int fd; /* 2 by default */
};

/* Parses "debug|info|warn|error|off"; returns -1 when unknown. */
int ml_log_level_parse(const char *s, enum ml_log_level *out);

void ml_log_write(const struct ml_log *lg, enum ml_log_level lvl, const char *request_id,
                  const char *msg, const struct ml_log_field *fields, int nfields);

/* ml_log(lg, ML_LOG_INFO, rid, "upload.stored", ML_LI("media_id", id), ML_LS("key", k)); */
#define ml_log(lg, lvl, rid, msg, ...)                             \
  do {                                                             \
    const struct ml_log *ml_lg_ = (lg);                            \
    if(ml_lg_ && (lvl) >= ml_lg_->level) {                         \
      const struct ml_log_field ml_lf_[] = {{0}, __VA_ARGS__};     \
      ml_log_write(ml_lg_, (lvl), (rid), (msg), ml_lf_ + 1,        \
                   (int)(sizeof(ml_lf_) / sizeof(ml_lf_[0])) - 1); \
    }                                                              \
  } while(0)

#endif
