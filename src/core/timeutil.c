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

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm):
 * no gmtime_r, whose time-zone lock showed up in profiles. */
static void civil_from_days(int64_t z, int *y, int *m, int *d) {
  int64_t era, doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = z - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put2(char *p, int v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
}

void ml_time_rfc3339(int64_t epoch_ms, char out[21]) {
  int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  int y, m, d;
  civil_from_days(days, &y, &m, &d);
  y = ((y % 10000) + 10000) % 10000;
  put2(out, y / 100);
  put2(out + 2, y % 100);
  out[4] = '-';
  put2(out + 5, m);
  out[7] = '-';
  put2(out + 8, d);
  out[10] = 'T';
  put2(out + 11, (int)(rem / 3600));
  out[13] = ':';
  put2(out + 14, (int)(rem / 60 % 60));
  out[16] = ':';
  put2(out + 17, (int)(rem % 60));
  out[19] = 'Z';
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

/* Two ASCII digits at s as a number, or -1. */
static int two_digits(const char *s) {
  if(s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
    return -1;
  return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Strict IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", by position: every
 * digit checked, the weekday and the day of the month must agree with the
 * calendar (so "Feb 31" or a wrong weekday is refused, not normalized). */
int ml_time_http_parse(const char *s, time_t *t) {
  int day, hh, mm, ss, year, y2, m, wd;
  struct tm tm, back;
  time_t v;
  if(strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
     s[19] != ':' || s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT"))
    return -1;
  day = two_digits(s + 5);
  year = two_digits(s + 12);
  y2 = two_digits(s + 14);
  hh = two_digits(s + 17);
  mm = two_digits(s + 20);
  ss = two_digits(s + 23);
  if(day < 1 || year < 0 || y2 < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
    return -1;
  year = year * 100 + y2;
  for(m = 0; m < 12; m++)
    if(!strncmp(s + 8, months[m], 3))
      break;
  for(wd = 0; wd < 7; wd++)
    if(!strncmp(s, days[wd], 3))
      break;
  if(m == 12 || wd == 7 || year < 1970)
    return -1;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = year - 1900;
  tm.tm_mon = m;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss > 59 ? 59 : ss;
  v = timegm(&tm);
  gmtime_r(&v, &back);
  if(back.tm_mday != day || back.tm_mon != m || back.tm_wday != wd)
    return -1;
  *t = v;
  return 0;
}
