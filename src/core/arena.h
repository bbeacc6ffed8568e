/*
 * arena.h - request-lifetime memory (h2o's req->pool).
 *
 * Allocations are bump-pointer from chunks and are all released together by
 * ml_arena_destroy / ml_arena_reset. The arena itself has a byte ceiling, so
 * a request cannot make it grow without bound.
 */
#ifndef ML_CORE_ARENA_H
#define ML_CORE_ARENA_H

#include <stddef.h>

struct ml_arena;

/* Returns NULL when out of memory. max = total byte ceiling (0: 64 MiB). */
struct ml_arena *ml_arena_create(size_t max);
void ml_arena_destroy(struct ml_arena **a);
/* Frees everything allocated so far but keeps the first chunk. */
void ml_arena_reset(struct ml_arena *a);

/* 16-byte aligned; NULL when out of memory or over the ceiling. */
void *ml_arena_alloc(struct ml_arena *a, size_t n);
char *ml_arena_strdup(struct ml_arena *a, const char *s); /* NULL s -> NULL */
/* Copies exactly n bytes of s (NULs included, unlike strndup) plus a NUL. */
char *ml_arena_strndup(struct ml_arena *a, const char *s, size_t n);
char *ml_arena_printf(struct ml_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
