/* api.c - helpers shared by the handlers: URLs, ids, auth, the media JSON. */
#include "api/api.h"

#include <string.h>

#include "core/timeutil.h"

const char *ml_api_base_url(struct ml_api *api, struct ml_req *r) {
  if(api->cfg->public_url && *api->cfg->public_url)
    return api->cfg->public_url;
  return ml_req_base_url(r);
}

ml_err ml_api_require_writer(struct ml_api *api, struct ml_req *r) {
  if(api->cfg->insecure_open_writes)
    return ML_OK;
  ml_req_error(r, ML_ERR_UNAUTHORIZED,
               "writes need a bearer token (token authentication is not configured yet; "
               "MEDIALIB_INSECURE_OPEN_WRITES=1 opens writes for testing)",
               NULL);
  return ML_ERR_UNAUTHORIZED;
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

ml_err ml_api_media_path(struct ml_buf *b, const struct ml_media *m) {
  ml_err rc = ml_buf_add(b, "/media/", 7);
  if(!rc)
    rc = ml_buf_addi(b, m->id);
  if(!rc)
    rc = ml_buf_add(b, "/v", 2);
  if(!rc)
    rc = ml_buf_addi(b, m->version);
  if(!rc)
    rc = ml_buf_addc(b, '/');
  if(!rc)
    rc = ml_buf_url_encode(b, m->filename);
  return rc;
}

static ml_err add_key(struct ml_buf *b, const char *key, int first) {
  ml_err rc = first ? ML_OK : ml_buf_addc(b, ',');
  if(!rc)
    rc = ml_buf_addc(b, '"');
  if(!rc)
    rc = ml_buf_adds(b, key);
  if(!rc)
    rc = ml_buf_add(b, "\":", 2);
  return rc;
}

static ml_err add_str(struct ml_buf *b, const char *key, const char *v) {
  ml_err rc = add_key(b, key, 0);
  return rc ? rc : ml_buf_json_str(b, v);
}

static ml_err add_int(struct ml_buf *b, const char *key, int64_t v, int null_if_zero) {
  ml_err rc = add_key(b, key, 0);
  if(rc)
    return rc;
  return null_if_zero && !v ? ml_buf_add(b, "null", 4) : ml_buf_addi(b, v);
}

ml_err ml_api_media_json(struct ml_buf *b, const struct ml_media *m, const char *base) {
  char created[21], updated[21];
  ml_err rc;
  ml_time_rfc3339(m->created_at, created);
  ml_time_rfc3339(m->updated_at, updated);
  rc = ml_buf_add(b, "{\"id\":", 6);
  if(!rc)
    rc = ml_buf_addi(b, m->id);
  if(!rc)
    rc = add_str(b, "title", m->title);
  if(!rc)
    rc = add_str(b, "alt_text", m->alt_text);
  if(!rc)
    rc = add_str(b, "caption", m->caption);
  if(!rc)
    rc = add_str(b, "folder", m->folder);
  if(!rc)
    rc = add_key(b, "tags", 0);
  if(!rc)
    rc = ml_buf_addc(b, '[');
  if(!rc && m->tags && *m->tags) {
    const char *p = m->tags;
    int first = 1;
    while(!rc && p) {
      const char *comma = strchr(p, ',');
      size_t n = comma ? (size_t)(comma - p) : strlen(p);
      if(!first)
        rc = ml_buf_addc(b, ',');
      if(!rc)
        rc = ml_buf_json_strn(b, p, n);
      first = 0;
      p = comma ? comma + 1 : NULL;
    }
  }
  if(!rc)
    rc = ml_buf_addc(b, ']');
  if(!rc)
    rc = add_str(b, "filename", m->filename);
  if(!rc)
    rc = add_str(b, "mime_type", m->mime_type);
  if(!rc)
    rc = add_int(b, "size", m->size, 0);
  if(!rc)
    rc = add_int(b, "width", m->width, 1);
  if(!rc)
    rc = add_int(b, "height", m->height, 1);
  if(!rc)
    rc = add_str(b, "sha256", m->sha256);
  if(!rc)
    rc = add_int(b, "version", m->version, 0);
  if(!rc)
    rc = add_key(b, "url", 0);
  if(!rc)
    rc = ml_buf_addc(b, '"');
  if(!rc)
    rc = ml_buf_adds(b, base); /* validated: no characters that need escaping */
  if(!rc)
    rc = ml_api_media_path(b, m);
  if(!rc)
    rc = ml_buf_addc(b, '"');
  if(!rc)
    rc = add_key(b, "variants", 0);
  if(!rc)
    rc = ml_buf_add(b, "{}", 2);
  if(!rc)
    rc = add_str(b, "created_at", created);
  if(!rc)
    rc = add_str(b, "updated_at", updated);
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
