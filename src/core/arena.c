/* arena.c - chunked bump allocator for request-lifetime memory. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define ARENA_CHUNK 4096

struct chunk {
  struct chunk *next;
  size_t size;
  size_t used;
  _Alignas(16) unsigned char data[];
};

struct ml_arena {
  struct chunk *head;
  size_t total;
  size_t max;
};

static struct chunk *chunk_new(size_t size) {
  struct chunk *c = ml_malloc(sizeof(*c) + size);
  if(!c)
    return NULL;
  c->next = NULL;
  c->size = size;
  c->used = 0;
  return c;
}

struct ml_arena *ml_arena_create(size_t max) {
  struct ml_arena *a = ml_malloc(sizeof(*a));
  if(!a)
    return NULL;
  a->head = chunk_new(ARENA_CHUNK);
  if(!a->head) {
    ml_free(a);
    return NULL;
  }
  a->total = ARENA_CHUNK;
  a->max = max ? max : (size_t)64 << 20;
  return a;
}

static void free_chunks(struct chunk *c) {
  while(c) {
    struct chunk *n = c->next;
    ml_free(c);
    c = n;
  }
}

void ml_arena_destroy(struct ml_arena **ap) {
  if(!ap || !*ap)
    return;
  free_chunks((*ap)->head);
  ml_free(*ap);
  *ap = NULL;
}

void ml_arena_reset(struct ml_arena *a) {
  struct chunk *c = a->head, *last = NULL;
  /* keep the oldest (last in the list) chunk */
  while(c && c->next) {
    struct chunk *n = c->next;
    ml_free(c);
    c = n;
  }
  last = c;
  last->used = 0;
  a->head = last;
  a->total = last->size;
}

void *ml_arena_alloc(struct ml_arena *a, size_t n) {
  struct chunk *c = a->head;
  size_t need = (n + 15) & ~(size_t)15;
  if(need < n)
    return NULL;
  if(c->size - c->used < need) {
    size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
    if(a->total > a->max || size > a->max - a->total)
      return NULL; /* checked without overflow: the ceiling also bounds size */
    c = chunk_new(size);
    if(!c)
      return NULL;
    c->next = a->head;
    a->head = c;
    a->total += size;
  }
  c->used += need;
  return c->data + c->used - need;
}

/* Copies exactly n bytes (which may include NULs) and terminates them. */
char *ml_arena_strndup(struct ml_arena *a, const char *s, size_t n) {
  char *d;
  if(!s || n == SIZE_MAX)
    return NULL;
  d = ml_arena_alloc(a, n + 1);
  if(!d)
    return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *ml_arena_strdup(struct ml_arena *a, const char *s) {
  return s ? ml_arena_strndup(a, s, strlen(s)) : NULL;
}

char *ml_arena_printf(struct ml_arena *a, const char *fmt, ...) {
  va_list ap;
  int n;
  char *d;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if(n < 0)
    return NULL;
  d = ml_arena_alloc(a, (size_t)n + 1);
  if(!d)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(d, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return d;
}
