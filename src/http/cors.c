/* cors.c - the allowed-origin list and the headers of CORS answers. */
#include "http/cors.h"

#include <string.h>
#include <strings.h>

#include "core/alloc.h"

struct ml_cors {
  int n;
  char *origins[ML_CORS_MAX_ORIGINS];
};

/* Methods and request headers a page may use: every method of the API,
 * and the headers its clients send (the token, the body type, the raw PUT
 * filename, a request id, conditional and range reads). */
static const char allow_methods[] = "GET, HEAD, POST, PUT, PATCH, DELETE";
static const char allow_headers[] =
    "Authorization, Content-Type, Content-Disposition, X-Request-Id, If-None-Match, "
    "If-Modified-Since, If-Range, Range";
static const char expose_headers[] = "X-Request-Id, Location, Retry-After, WWW-Authenticate";

/* scheme://host[:port], nothing else; host is a DNS name, an IPv4 address
 * or a bracketed IPv6 address. */
static int origin_valid(const char *s, size_t n) {
  size_t i;
  if(n > ML_CORS_ORIGIN_MAX)
    return 0;
  if(n > 7 && !strncasecmp(s, "http://", 7))
    i = 7;
  else if(n > 8 && !strncasecmp(s, "https://", 8))
    i = 8;
  else
    return 0;
  if(s[i] == '[') {
    for(i++; i < n && s[i] != ']'; i++)
      if(!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
           (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' || s[i] == '.'))
        return 0;
    if(i >= n)
      return 0;
    i++;
  } else {
    size_t start = i;
    for(; i < n && s[i] != ':'; i++)
      if(!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
        return 0;
    if(i == start)
      return 0;
  }
  if(i < n) {
    size_t digits = 0;
    if(s[i] != ':')
      return 0;
    for(i++; i < n; i++, digits++)
      if(s[i] < '0' || s[i] > '9')
        return 0;
    if(digits == 0 || digits > 5)
      return 0;
  }
  return 1;
}

ml_err ml_cors_create(const char *origins, struct ml_cors **out, struct ml_errbuf *eb) {
  struct ml_cors *c;
  const char *p = origins ? origins : "";
  ml_err rc = ML_OK;
  *out = NULL;
  c = ml_calloc(1, sizeof(*c));
  if(!c)
    return ML_ERR_NOMEM;
  while(*p) {
    const char *start, *end, *comma = strchr(p, ',');
    end = comma ? comma : p + strlen(p);
    start = p;
    while(start < end && (*start == ' ' || *start == '\t'))
      start++;
    p = comma ? comma + 1 : end;
    {
      const char *e = end;
      while(e > start && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      if(e == start)
        continue; /* "a,,b" or a trailing comma */
      if(!origin_valid(start, (size_t)(e - start))) {
        rc = ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_CORS_ORIGINS: '%.*s' is not an origin (want scheme://host[:port], "
                     "e.g. https://www.example.com, without a path or '*')",
                     (int)((size_t)(e - start) > 100 ? 100 : (size_t)(e - start)), start);
        goto out;
      }
      if(c->n >= ML_CORS_MAX_ORIGINS) {
        rc = ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_CORS_ORIGINS: more than %d origins",
                     ML_CORS_MAX_ORIGINS);
        goto out;
      }
      c->origins[c->n] = ml_strndup(start, (size_t)(e - start));
      if(!c->origins[c->n]) {
        rc = ML_ERR_NOMEM;
        goto out;
      }
      c->n++;
    }
  }
  *out = c;
  c = NULL;

out:
  ml_cors_destroy(&c);
  return rc;
}

void ml_cors_destroy(struct ml_cors **cp) {
  if(!cp || !*cp)
    return;
  for(int i = 0; i < (*cp)->n; i++)
    ml_free((*cp)->origins[i]);
  ml_free(*cp);
  *cp = NULL;
}

int ml_cors_enabled(const struct ml_cors *c) { return c && c->n > 0; }

int ml_cors_allowed(const struct ml_cors *c, const char *origin) {
  if(!c || !origin)
    return 0;
  for(int i = 0; i < c->n; i++)
    if(!strcasecmp(c->origins[i], origin))
      return 1;
  return 0;
}

int ml_cors_is_preflight(const char *method, const char *origin, const char *request_method) {
  return method && !strcmp(method, "OPTIONS") && origin && request_method;
}

size_t ml_cors_preflight_headers(const char *origin,
                                 struct ml_cors_header out[ML_CORS_HEADERS_MAX]) {
  size_t n = 0;
  out[n++] = (struct ml_cors_header){"Access-Control-Allow-Origin", origin};
  out[n++] = (struct ml_cors_header){"Access-Control-Allow-Methods", allow_methods};
  out[n++] = (struct ml_cors_header){"Access-Control-Allow-Headers", allow_headers};
  out[n++] = (struct ml_cors_header){"Access-Control-Max-Age", ML_CORS_MAX_AGE};
  out[n++] = (struct ml_cors_header){"Vary", "Origin"};
  return n;
}

size_t ml_cors_response_headers(const struct ml_cors *c, const char *origin,
                                struct ml_cors_header out[ML_CORS_HEADERS_MAX]) {
  size_t n = 0;
  if(!ml_cors_enabled(c))
    return 0;
  if(ml_cors_allowed(c, origin)) {
    out[n++] = (struct ml_cors_header){"Access-Control-Allow-Origin", origin};
    out[n++] = (struct ml_cors_header){"Access-Control-Expose-Headers", expose_headers};
  }
  out[n++] = (struct ml_cors_header){"Vary", "Origin"};
  return n;
}
