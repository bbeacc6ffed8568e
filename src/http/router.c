/* router.c - segment matcher for a small, fixed table of routes. */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

void ml_router_init(struct ml_router *rt) { rt->n = 0; }

ml_err ml_router_add(struct ml_router *rt, const struct ml_route *route) {
  if(rt->n >= ML_ROUTE_MAX)
    return ML_ERR_INTERNAL;
  rt->routes[rt->n++] = *route;
  return ML_OK;
}

unsigned ml_router_method(const char *m) {
  switch(m[0]) {
  case 'G': return !strcmp(m, "GET") ? ML_M_GET : ML_M_OTHER;
  case 'H': return !strcmp(m, "HEAD") ? ML_M_HEAD : ML_M_OTHER;
  case 'P':
    if(!strcmp(m, "POST"))
      return ML_M_POST;
    if(!strcmp(m, "PUT"))
      return ML_M_PUT;
    if(!strcmp(m, "PATCH"))
      return ML_M_PATCH;
    return ML_M_OTHER;
  case 'D': return !strcmp(m, "DELETE") ? ML_M_DELETE : ML_M_OTHER;
  case 'O': return !strcmp(m, "OPTIONS") ? ML_M_OPTIONS : ML_M_OTHER;
  default: return ML_M_OTHER;
  }
}

/* Matches path against pattern segment by segment; fills params. */
static int match(const char *pattern, const char *path, size_t pathlen, struct ml_arena *a,
                 struct ml_route_params *params) {
  const char *p = pattern, *s = path, *end = path + pathlen;
  params->n = 0;
  while(*p && s < end) {
    const char *pseg, *sseg;
    size_t plen, slen;
    if(*p != '/' || *s != '/')
      return 0;
    pseg = ++p;
    while(*p && *p != '/')
      p++;
    plen = (size_t)(p - pseg);
    sseg = ++s;
    while(s < end && *s != '/')
      s++;
    slen = (size_t)(s - sseg);
    if(plen && pseg[0] == ':') {
      if(slen == 0 || params->n >= ML_ROUTE_MAX_PARAMS)
        return 0;
      if(a) {
        params->name[params->n] = ml_arena_strndup(a, pseg + 1, plen - 1);
        params->value[params->n] = ml_arena_strndup(a, sseg, slen);
        if(!params->name[params->n] || !params->value[params->n])
          return 0;
      }
      params->n++;
    } else if(plen != slen || memcmp(pseg, sseg, slen)) {
      return 0;
    }
  }
  return !*p && s == end;
}

const struct ml_route *ml_router_match(const struct ml_router *rt, unsigned method,
                                       const char *path, struct ml_arena *a,
                                       struct ml_route_params *params, unsigned *allowed) {
  size_t len = strlen(path);
  unsigned want = method == ML_M_HEAD ? ML_M_GET : method;
  *allowed = 0;
  if(len > 1 && path[len - 1] == '/')
    len--;
  for(size_t i = 0; i < rt->n; i++) {
    const struct ml_route *r = &rt->routes[i];
    struct ml_route_params scratch;
    if(!(r->methods & want)) {
      if(match(r->pattern, path, len, NULL, &scratch))
        *allowed |= r->methods;
      continue;
    }
    if(match(r->pattern, path, len, a, params))
      return r;
  }
  if(*allowed & ML_M_GET)
    *allowed |= ML_M_HEAD;
  return NULL;
}

const char *ml_route_param(const struct ml_route_params *p, const char *name) {
  for(int i = 0; i < p->n; i++)
    if(!strcmp(p->name[i], name))
      return p->value[i];
  return NULL;
}

void ml_router_allow_header(unsigned methods, char *out, size_t outlen) {
  static const char *names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  size_t used = 0;
  out[0] = '\0';
  for(int i = 0; i < 7; i++) {
    if(!(methods & (1u << i)))
      continue;
    int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", names[i]);
    if(n < 0 || (size_t)n >= outlen - used)
      break;
    used += (size_t)n;
  }
}
