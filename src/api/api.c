/* api.c - helpers shared by the handlers: URLs, ids, auth, JSON bodies, the
 * media JSON. */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/timeutil.h"

const char *ml_api_base_url(struct ml_api *api, struct ml_req *r) {
  if(api->cfg->public_url && *api->cfg->public_url)
    return api->cfg->public_url;
  return ml_req_base_url(r);
}

void ml_api_invalid_token(struct ml_req *r, const char *message) {
  ml_req_error(r, ML_ERR_UNAUTHORIZED, message, NULL);
  ml_req_set_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
}

ml_err ml_api_require_role(struct ml_api *api, struct ml_req *r, enum ml_role need,
                           struct ml_principal *who) {
  struct ml_principal local;
  struct ml_errbuf eb = {{0}};
  const char *h = ml_req_header(r, "Authorization"), *tok;
  size_t len;
  ml_err rc;

  if(!who)
    who = &local;
  memset(who, 0, sizeof(*who));
  /* Any other scheme (Basic, ...) counts as no token: RFC 6750 answers it
   * with the plain challenge. */
  if(!h || strncasecmp(h, "Bearer ", 7)) {
    if(api->cfg->insecure_open_writes && need <= ML_ROLE_EDITOR) {
      who->role = need;
      return ML_OK;
    }
    ml_req_error(r, ML_ERR_UNAUTHORIZED,
                 need == ML_ROLE_VIEWER
                     ? "this API is private: send Authorization: Bearer <access token>"
                     : "this needs Authorization: Bearer <access token> (POST /api/token/ "
                       "gives one)",
                 NULL);
    return ML_ERR_UNAUTHORIZED;
  }
  for(tok = h + 7; *tok == ' '; tok++)
    ;
  len = strlen(tok);
  while(len > 0 && tok[len - 1] == ' ')
    len--;
  if(!api->auth) {
    ml_api_invalid_token(r, "tokens are not configured on this server");
    return ML_ERR_UNAUTHORIZED;
  }
  rc = ml_auth_authenticate(api->auth, tok, len, r->arena, who, &eb);
  if(rc == ML_ERR_UNAUTHORIZED) {
    ml_api_invalid_token(r, eb.msg[0] ? eb.msg : "invalid token");
    return rc;
  }
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return rc;
  }
  if(who->role < need) {
    char msg[256];
    snprintf(msg, sizeof(msg), "this needs the %s role; %s has the %s role",
             ml_auth_role_name(need), who->username, ml_auth_role_name(who->role));
    ml_req_error(r, ML_ERR_FORBIDDEN, msg, NULL);
    return ML_ERR_FORBIDDEN;
  }
  return ML_OK;
}

ml_err ml_api_require_reader(struct ml_api *api, struct ml_req *r) {
  if(!api->cfg->private_api)
    return ML_OK;
  return ml_api_require_role(api, r, ML_ROLE_VIEWER, NULL);
}

ml_err ml_api_json_begin(struct ml_api *api, struct ml_req *r, struct ml_buf *body) {
  const char *ct = ml_req_header(r, "Content-Type");
  size_t n = strlen("application/json");
  ml_buf_init(body, (size_t)api->cfg->max_json_body);
  if(!ct || strncasecmp(ct, "application/json", n) || (ct[n] && ct[n] != ';' && ct[n] != ' ')) {
    ml_req_error(r, ML_ERR_UNSUPPORTED_MEDIA_TYPE, "send application/json", NULL);
    return ML_ERR_UNSUPPORTED_MEDIA_TYPE;
  }
  if(r->content_length > api->cfg->max_json_body) {
    ml_req_error(r, ML_ERR_TOO_LARGE, "JSON body is too large", NULL);
    return ML_ERR_TOO_LARGE;
  }
  return ML_OK;
}

ml_err ml_api_json_feed(struct ml_req *r, struct ml_buf *body, const char *data, size_t len) {
  ml_err rc = ml_buf_add(body, data, len);
  if(rc)
    ml_req_error(r, rc, rc == ML_ERR_TOO_LARGE ? "JSON body is too large" : NULL, NULL);
  return rc;
}

json_t *ml_api_json_parse(struct ml_req *r, const struct ml_buf *body) {
  json_error_t jerr;
  json_t *root = json_loadb(body->data ? body->data : "", body->len, JSON_REJECT_DUPLICATES, &jerr);
  char msg[200];
  if(!root) {
    snprintf(msg, sizeof(msg), "JSON parse error at line %d, column %d: %s", jerr.line, jerr.column,
             jerr.text);
    ml_req_error(r, ML_ERR_BAD_REQUEST, msg, NULL);
    return NULL;
  }
  if(!json_is_object(root)) {
    json_decref(root);
    ml_req_error(r, ML_ERR_BAD_REQUEST, "the body must be a JSON object", NULL);
    return NULL;
  }
  return root;
}

void ml_api_json_wipe(struct ml_buf *body) {
  if(body->data)
    sodium_memzero(body->data, body->cap);
  ml_buf_free(body);
}

void ml_api_json_wipe_string(json_t *s) {
  if(json_is_string(s))
    sodium_memzero((char *)json_string_value(s), json_string_length(s));
}

ml_err ml_api_parse_id(const char *s, int64_t *id) {
  int64_t v = 0;
  if(!s || !*s || *s == '0' || strlen(s) > 18)
    return ML_ERR_NOT_FOUND;
  for(; *s; s++) {
    if(*s < '0' || *s > '9')
      return ML_ERR_NOT_FOUND;
    v = v * 10 + (*s - '0');
  }
  *id = v;
  return ML_OK;
}

#define LIT(s) (s), sizeof(s) - 1

ml_err ml_api_file_path(struct ml_buf *b, const struct ml_media *m, const char *sig,
                        const char *transform) {
  ml_err rc = ml_buf_add(b, "/media/", 7);
  if(!rc)
    rc = ml_buf_addi(b, m->id);
  if(!rc)
    rc = ml_buf_add(b, "/v", 2);
  if(!rc)
    rc = ml_buf_addi(b, m->version);
  if(!rc)
    rc = ml_buf_addc(b, '/');
  if(!rc && sig) {
    rc = ml_buf_adds(b, sig);
    if(!rc)
      rc = ml_buf_addc(b, '/');
  }
  if(!rc && transform) {
    rc = ml_buf_adds(b, transform);
    if(!rc)
      rc = ml_buf_addc(b, '/');
  }
  if(!rc)
    rc = ml_buf_url_encode(b, m->filename);
  return rc;
}

ml_err ml_api_media_path(struct ml_buf *b, const struct ml_media *m) {
  return ml_api_file_path(b, m, NULL, NULL);
}

/* ,"variants":{"thumbnail":"<base>/media/42/v3/t_thumbnail/a.jpg",...} */
static ml_err add_variants(struct ml_buf *b, const struct ml_media *m, const char *base,
                           const struct ml_transform_presets *presets) {
  ml_err rc = ml_buf_add(b, LIT(",\"variants\":{"));
  if(presets && ml_media_renderable(m->mime_type) && m->width > 0) {
    for(int i = 0; !rc && i < presets->n; i++) {
      char seg[ML_TRANSFORM_PRESET_NAME_MAX + 3] = "t_";
      size_t n = strlen(presets->p[i].name);
      memcpy(seg + 2, presets->p[i].name, n + 1);
      if(i)
        rc = ml_buf_addc(b, ',');
      /* preset names are [a-z0-9_-]: nothing to escape */
      if(!rc)
        rc = ml_buf_addc(b, '"');
      if(!rc)
        rc = ml_buf_add(b, presets->p[i].name, n);
      if(!rc)
        rc = ml_buf_add(b, LIT("\":\""));
      if(!rc)
        rc = ml_buf_adds(b, base);
      if(!rc)
        rc = ml_api_file_path(b, m, NULL, seg);
      if(!rc)
        rc = ml_buf_addc(b, '"');
    }
  }
  if(!rc)
    rc = ml_buf_addc(b, '}');
  return rc;
}

ml_err ml_api_page_open(struct ml_buf *b, int64_t count, int64_t page, int has_next,
                        ml_api_page_link_fn link, const void *ctx) {
  ml_err rc = ml_buf_add(b, "{\"count\":", 9);
  if(!rc)
    rc = ml_buf_addi(b, count);
  if(!rc)
    rc = ml_buf_adds(b, ",\"next\":");
  if(!rc)
    rc = has_next ? link(b, ctx, page + 1) : ml_buf_adds(b, "null");
  if(!rc)
    rc = ml_buf_adds(b, ",\"previous\":");
  if(!rc)
    rc = page > 1 ? link(b, ctx, page - 1) : ml_buf_adds(b, "null");
  if(!rc)
    rc = ml_buf_adds(b, ",\"results\":[");
  return rc;
}

/* Keys are written with their punctuation as one literal (",\"title\":"):
 * this object is most of every list answer, so each append counts. */

static ml_err add_str(struct ml_buf *b, const char *key, size_t keylen, const char *v) {
  ml_err rc = ml_buf_add(b, key, keylen);
  return rc ? rc : ml_buf_json_str(b, v);
}

static ml_err add_int(struct ml_buf *b, const char *key, size_t keylen, int64_t v,
                      int null_if_zero) {
  ml_err rc = ml_buf_add(b, key, keylen);
  if(rc)
    return rc;
  return null_if_zero && !v ? ml_buf_add(b, "null", 4) : ml_buf_addi(b, v);
}

static ml_err add_tags(struct ml_buf *b, const char *tags) {
  ml_err rc = ml_buf_add(b, LIT(",\"tags\":["));
  const char *p = tags && *tags ? tags : NULL;
  while(!rc && p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    rc = ml_buf_json_strn(b, p, n);
    p = comma ? comma + 1 : NULL;
    if(!rc && p)
      rc = ml_buf_addc(b, ',');
  }
  return rc ? rc : ml_buf_addc(b, ']');
}

ml_err ml_api_media_json(struct ml_buf *b, const struct ml_media *m, const char *base,
                         const struct ml_transform_presets *presets) {
  char created[21], updated[21];
  ml_err rc;
  ml_time_rfc3339(m->created_at, created);
  ml_time_rfc3339(m->updated_at, updated);
  rc = ml_buf_add(b, LIT("{\"id\":"));
  if(!rc)
    rc = ml_buf_addi(b, m->id);
  if(!rc)
    rc = add_str(b, LIT(",\"title\":"), m->title);
  if(!rc)
    rc = add_str(b, LIT(",\"alt_text\":"), m->alt_text);
  if(!rc)
    rc = add_str(b, LIT(",\"caption\":"), m->caption);
  if(!rc)
    rc = add_str(b, LIT(",\"folder\":"), m->folder);
  if(!rc)
    rc = add_tags(b, m->tags);
  if(!rc)
    rc = add_str(b, LIT(",\"filename\":"), m->filename);
  if(!rc)
    rc = add_str(b, LIT(",\"mime_type\":"), m->mime_type);
  if(!rc)
    rc = add_int(b, LIT(",\"size\":"), m->size, 0);
  if(!rc)
    rc = add_int(b, LIT(",\"width\":"), m->width, 1);
  if(!rc)
    rc = add_int(b, LIT(",\"height\":"), m->height, 1);
  if(!rc)
    rc = add_str(b, LIT(",\"sha256\":"), m->sha256);
  if(!rc)
    rc = add_int(b, LIT(",\"version\":"), m->version, 0);
  if(!rc)
    rc = ml_buf_add(b, LIT(",\"url\":\""));
  if(!rc)
    rc = ml_buf_adds(b, base); /* checked: no character that JSON must escape */
  if(!rc)
    rc = ml_api_media_path(b, m);
  if(!rc)
    rc = ml_buf_addc(b, '"');
  if(!rc)
    rc = add_variants(b, m, base, presets);
  if(!rc)
    rc = add_str(b, LIT(",\"created_at\":"), created);
  if(!rc)
    rc = add_str(b, LIT(",\"updated_at\":"), updated);
  if(!rc)
    rc = ml_buf_addc(b, '}');
  return rc;
}

void ml_api_fail(struct ml_req *r, ml_err e, const struct ml_errbuf *eb) {
  /* Internal details of server-side failures are logged, not sent. */
  int status = ml_err_status(e);
  const char *msg = eb && eb->msg[0] ? eb->msg : NULL;
  if(status >= 500 && e != ML_ERR_STORAGE_UNAVAILABLE && e != ML_ERR_INSUFFICIENT_STORAGE &&
     e != ML_ERR_BUSY) {
    ml_req_error(r, e, NULL, NULL);
    if(msg)
      ml_req_note_error(r, e, msg);
    return;
  }
  ml_req_error(r, e, msg, NULL);
}
