/* alloc.c - allocation wrapper with a test-only failure counter. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef ML_TEST_HOOKS
/* Test-only and per thread: the one exception to "no mutable globals", which
 * production builds do not compile. */
static _Thread_local long fail_countdown;

void ml_alloc_fail_after(long n) { fail_countdown = n; }

static int should_fail(void) {
  if(fail_countdown > 0 && --fail_countdown == 0)
    return 1;
  return 0;
}
#else
#define should_fail() 0
#endif

void *ml_malloc(size_t n) {
  if(should_fail())
    return NULL;
  return malloc(n ? n : 1);
}

void *ml_calloc(size_t count, size_t size) {
  if(should_fail())
    return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *ml_realloc(void *p, size_t n) {
  if(should_fail())
    return NULL;
  return realloc(p, n ? n : 1);
}

char *ml_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = ml_malloc(len + 1);
  if(!d)
    return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *ml_strdup(const char *s) { return ml_strndup(s, strlen(s)); }

void ml_free(void *p) { free(p); }
