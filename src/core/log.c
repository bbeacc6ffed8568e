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
  ts[19] = '.'; /* milliseconds before the Z */
  rc = ml_buf_add(&b, "{\"ts\":\"", 7);
  if(!rc)
    rc = ml_buf_add(&b, ts, 20);
  if(!rc) {
    char ms[5] = {(char)('0' + now % 1000 / 100), (char)('0' + now % 100 / 10),
                  (char)('0' + now % 10), 'Z', '"'};
    rc = ml_buf_add(&b, ms, 5);
  }
  if(!rc)
    rc = ml_buf_add(&b, ",\"level\":\"", 10);
  if(!rc)
    rc = ml_buf_adds(&b, level_names[lvl]);
  if(!rc)
    rc = ml_buf_add(&b, "\",\"msg\":", 8);
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
    case ML_LF_DBL: { /* fixed point, three decimals, without printf */
      double d = f[i].d < 0 ? -f[i].d : f[i].d;
      int64_t milli = (int64_t)(d * 1000.0 + 0.5);
      char frac[4] = {'.', (char)('0' + milli % 1000 / 100), (char)('0' + milli % 100 / 10),
                      (char)('0' + milli % 10)};
      rc = f[i].d < 0 ? ml_buf_addc(&b, '-') : ML_OK;
      if(!rc)
        rc = ml_buf_addi(&b, milli / 1000);
      if(!rc)
        rc = ml_buf_add(&b, frac, 4);
      break;
    }
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
