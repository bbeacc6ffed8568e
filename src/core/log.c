/* log.c - JSON-lines logger. */
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/timeutil.h"

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int ml_log_level_parse(const char *s, enum ml_log_level *out) {
  for(int i = 0; i <= ML_LOG_OFF; i++) {
    if(!strcmp(s, level_names[i])) {
      *out = (enum ml_log_level)i;
      return 0;
    }
  }
  if(!strcmp(s, "warning")) {
    *out = ML_LOG_WARN;
    return 0;
  }
  return -1;
}

void ml_log_write(const struct ml_log *lg, enum ml_log_level lvl, const char *request_id,
                  const char *msg, const struct ml_log_field *f, int n) {
  char stack[2048];
  struct ml_buf b;
  int64_t now = ml_now_ms();
  char ts[21];
  ml_err rc;

  ml_buf_init(&b, 64 * 1024);
  ml_time_rfc3339(now, ts);
  ts[19] = '\0'; /* drop the Z to add milliseconds */
  rc = ml_buf_addf(&b, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":", ts, (int)(now % 1000),
                   level_names[lvl]);
  if(!rc)
    rc = ml_buf_json_str(&b, msg);
  if(!rc && request_id && *request_id) {
    rc = ml_buf_adds(&b, ",\"request_id\":");
    if(!rc)
      rc = ml_buf_json_str(&b, request_id);
  }
  for(int i = 0; !rc && i < n; i++) {
    if(f[i].type == ML_LF_STR && !f[i].s)
      continue; /* absent optional field: leave it out of the line */
    rc = ml_buf_addc(&b, ',');
    if(!rc)
      rc = ml_buf_json_str(&b, f[i].key);
    if(!rc)
      rc = ml_buf_addc(&b, ':');
    if(rc)
      break;
    switch(f[i].type) {
    case ML_LF_STR: rc = ml_buf_json_str(&b, f[i].s); break;
    case ML_LF_INT: rc = ml_buf_addi(&b, f[i].i); break;
    case ML_LF_DBL: rc = ml_buf_addf(&b, "%.3f", f[i].d); break;
    case ML_LF_BOOL: rc = ml_buf_adds(&b, f[i].i ? "true" : "false"); break;
    default: rc = ml_buf_adds(&b, "null"); break;
    }
  }
  if(!rc)
    rc = ml_buf_adds(&b, "}\n");
  if(rc) {
    /* Could not build the line (out of memory): say so in a fixed line. */
    int len = snprintf(stack, sizeof(stack),
                       "{\"level\":\"error\",\"msg\":\"log line dropped\",\"error\":\"%s\"}\n",
                       ml_err_code(rc));
    if(write(lg->fd, stack, (size_t)len) < 0) {
      /* nowhere left to report */
    }
  } else {
    size_t off = 0;
    while(off < b.len) {
      ssize_t w = write(lg->fd, b.data + off, b.len - off);
      if(w < 0 && errno == EINTR)
        continue;
      if(w <= 0)
        break;
      off += (size_t)w;
    }
  }
  ml_buf_free(&b);
}
