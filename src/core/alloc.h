/*
 * alloc.h - the one allocation wrapper.
 *
 * All of medialib's heap memory goes through these, so the test build can make
 * the Nth allocation fail (curl's torture mode, SQLite's OOM tests) and check
 * that every caller cleans up and reports ML_ERR_NOMEM.
 */
#ifndef ML_CORE_ALLOC_H
#define ML_CORE_ALLOC_H

#include <stddef.h>

void *ml_malloc(size_t n);
void *ml_calloc(size_t count, size_t size);
void *ml_realloc(void *p, size_t n);
char *ml_strdup(const char *s);
char *ml_strndup(const char *s, size_t n);
void ml_free(void *p);

#ifdef ML_TEST_HOOKS
/* Test builds only: make the nth allocation from now fail (0 disables). The
 * counter is per thread. */
void ml_alloc_fail_after(long n);
#endif

#endif
