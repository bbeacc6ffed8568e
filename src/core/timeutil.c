/* timeutil.c - clocks and date formatting/parsing without locale surprises. */
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>

int64_t ml_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ml_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ml_time_rfc3339(int64_t epoch_ms, char out[21]) {
  time_t t = (time_t)(epoch_ms / 1000);
  struct tm tm;
  char tmp[64];
  gmtime_r(&t, &tm);
  snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ", (tm.tm_year + 1900) % 10000,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  memcpy(out, tmp, 20);
  out[20] = '\0';
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void ml_time_http(time_t t, char out[30]) {
  struct tm tm;
  char tmp[64];
  gmtime_r(&t, &tm);
  snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
  memcpy(out, tmp, 29);
  out[29] = '\0';
}

int ml_time_http_parse(const char *s, time_t *t) {
  char wd[4], mon[4], gmt[4];
  int day, year, hh, mm, ss, m, n = 0;
  struct tm tm;
  if(strlen(s) != 29)
    return -1;
  if(sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &day, mon, &year, &hh, &mm, &ss, gmt,
            &n) != 8 || n != 29)
    return -1;
  if(strcmp(gmt, "GMT"))
    return -1;
  for(m = 0; m < 12; m++)
    if(!strcmp(mon, months[m]))
      break;
  if(m == 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || year < 1970)
    return -1;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = year - 1900;
  tm.tm_mon = m;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  *t = timegm(&tm);
  return 0;
}
