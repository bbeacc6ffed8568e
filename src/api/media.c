/*
 * media.c (api) - /api/media/: list, retrieve, upload, edit, replace, delete.
 *
 * Write requests stream their body: multipart parts go straight into an
 * upload spool (never into memory), text fields into small bounded buffers.
 * The commit (fsync, transactions) runs on a worker with the connection
 * suspended.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "http/multipart.h"
#include "http/query.h"
#include "media/filename.h"

#define TEXT_FIELD_MAX (16 * 1024)
/* Room for multipart framing and text fields beyond the file itself, for
 * refusing a too-large multipart body from its Content-Length alone. */
#define MULTIPART_SLACK (128 * 1024)

enum body_kind { BODY_NONE, BODY_MULTIPART, BODY_JSON, BODY_RAW };

struct wstate {
  struct ml_api *api;
  enum body_kind kind;
  int64_t id;
  struct ml_upload *up;
  struct ml_multipart *mp;
  struct ml_media_meta meta;
  struct ml_field_errors fe;
  struct ml_buf text; /* the current text field, or the JSON body */
  char field_name[64];
  int in_file;
  int files;
  struct ml_errbuf eb;
};

static struct ml_api *api_of(struct ml_req *r) { return r->route->ctx; }

/* ------------------------------------------------------------------ reads */

struct list_params {
  struct ml_media_filter f;
  int64_t page, page_size;
  const char *ordering;
  struct ml_field_errors fe;
  struct ml_arena *a;
};

static const char *order_names[ML_ORDER__COUNT] = {
    "-created_at", "created_at", "title", "-title", "size", "-size", "updated_at", "-updated_at"};

static ml_err list_param(void *ctx, const char *key, const char *val) {
  struct list_params *lp = ctx;
  char *v;
  if(!strcmp(key, "page")) {
    if(ml_query_int(val, 1, 1000000000, &lp->page))
      ml_field_error(&lp->fe, "page", "A valid page number is required.");
    return ML_OK;
  }
  if(!strcmp(key, "page_size")) {
    if(ml_query_int(val, 1, 100, &lp->page_size))
      ml_field_error(&lp->fe, "page_size", "Ensure this value is between 1 and 100.");
    return ML_OK;
  }
  if(!strcmp(key, "ordering")) {
    for(int i = 0; i < ML_ORDER__COUNT; i++) {
      if(!strcmp(val, order_names[i])) {
        lp->f.order = (enum ml_order)i;
        lp->ordering = order_names[i];
        return ML_OK;
      }
    }
    ml_field_error(&lp->fe, "ordering",
                   "Use one of created_at, title, size, updated_at, with '-' for descending.");
    return ML_OK;
  }
  if(strcmp(key, "q") && strcmp(key, "mime") && strcmp(key, "folder") && strcmp(key, "tag"))
    return ML_OK; /* unknown parameters are ignored, as DRF does */
  if(!*val)
    return ML_OK;
  v = ml_arena_strdup(lp->a, val);
  if(!v)
    return ML_ERR_NOMEM;
  if(!strcmp(key, "q"))
    lp->f.q = v;
  else if(!strcmp(key, "folder"))
    lp->f.folder = v;
  else if(!strcmp(key, "tag"))
    lp->f.tag = v;
  else {
    size_t n = strlen(v);
    if(n > 2 && !strcmp(v + n - 2, "/*")) {
      v[n - 1] = '\0';
      lp->f.mime_prefix = v;
    } else if(strchr(v, '*')) {
      ml_field_error(&lp->fe, "mime", "Use a type such as image/png or image/*.");
    } else {
      lp->f.mime = v;
    }
  }
  return ML_OK;
}

struct link_ctx {
  const char *base;
  const struct list_params *lp;
};

/* "<base>/api/media/?<filters>&page=N" as DRF's page links. */
static ml_err page_link(struct ml_buf *b, const void *ctx, int64_t page) {
  const struct link_ctx *l = ctx;
  const struct list_params *lp = l->lp;
  const char *base = l->base;
  const char *keys[] = {"page_size", "q", "mime", "folder", "tag", "ordering"};
  char psize[24], mime[160];
  const char *vals[6];
  int first = 1;
  ml_err rc;
  snprintf(psize, sizeof(psize), "%lld", (long long)lp->page_size);
  if(lp->f.mime_prefix)
    snprintf(mime, sizeof(mime), "%s*", lp->f.mime_prefix);
  vals[0] = lp->page_size != 20 ? psize : NULL;
  vals[1] = lp->f.q;
  vals[2] = lp->f.mime ? lp->f.mime : lp->f.mime_prefix ? mime : NULL;
  vals[3] = lp->f.folder;
  vals[4] = lp->f.tag;
  vals[5] = lp->ordering;
  rc = ml_buf_addc(b, '"');
  if(!rc)
    rc = ml_buf_adds(b, base);
  if(!rc)
    rc = ml_buf_adds(b, "/api/media/");
  for(int i = 0; !rc && i < 6; i++) {
    if(!vals[i])
      continue;
    rc = ml_buf_addc(b, first ? '?' : '&');
    if(!rc)
      rc = ml_buf_adds(b, keys[i]);
    if(!rc)
      rc = ml_buf_addc(b, '=');
    if(!rc)
      rc = ml_buf_url_encode(b, vals[i]);
    first = 0;
  }
  if(!rc && page > 1)
    rc = ml_buf_addf(b, "%cpage=%lld", first ? '?' : '&', (long long)page);
  if(!rc)
    rc = ml_buf_addc(b, '"');
  return rc;
}

static void list_complete(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct list_params lp;
  struct ml_media *items = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_buf b;
  size_t n = 0;
  int64_t count = 0;
  const char *base = ml_api_base_url(api, r);
  ml_err rc;

  memset(&lp, 0, sizeof(lp));
  lp.page = 1;
  lp.page_size = 20;
  lp.a = r->arena;
  rc = ml_query_parse(r->query, strlen(r->query), list_param, &lp);
  if(rc) {
    ml_req_error(r, rc == ML_ERR_NOMEM ? rc : ML_ERR_BAD_REQUEST, "malformed query string", NULL);
    return;
  }
  if(lp.fe.n) {
    ml_req_error(r, ML_ERR_VALIDATION, "invalid list parameters", &lp.fe);
    return;
  }
  lp.f.offset = (lp.page - 1) * lp.page_size;
  lp.f.limit = lp.page_size;
  rc = ml_media_list(api->media, &lp.f, r->arena, &items, &n, &count, &eb);
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  if(lp.page > 1 && lp.f.offset >= count) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "Invalid page.", NULL);
    return;
  }
  ml_buf_init(&b, 16 * 1024 * 1024);
  rc = ml_buf_reserve(&b, 1024 + n * 1536); /* a media object is ~600 bytes, ~1200 with variants */
  if(!rc) {
    struct link_ctx l = {base, &lp};
    rc = ml_api_page_open(&b, count, lp.page, lp.f.offset + (int64_t)n < count, page_link, &l);
  }
  for(size_t i = 0; !rc && i < n; i++) {
    if(i)
      rc = ml_buf_addc(&b, ',');
    if(!rc)
      rc = ml_api_media_json(&b, &items[i], base, api->presets);
  }
  if(!rc)
    rc = ml_buf_adds(&b, "]}");
  if(rc) {
    ml_buf_free(&b);
    ml_req_error(r, rc, NULL, NULL);
    return;
  }
  ml_req_json(r, 200, &b);
}

/* Reads are public unless MEDIALIB_PRIVATE_API asks for a viewer token. */
static ml_err read_headers(struct ml_req *r) { return ml_api_require_reader(api_of(r), r); }

static void answer_media(struct ml_req *r, unsigned status, const struct ml_media *m) {
  struct ml_api *api = api_of(r);
  const char *base = ml_api_base_url(api, r);
  struct ml_buf b;
  ml_err rc;
  ml_buf_init(&b, 1024 * 1024);
  rc = ml_api_media_json(&b, m, base, api->presets);
  if(rc) {
    ml_buf_free(&b);
    ml_req_error(r, rc, NULL, NULL);
    return;
  }
  ml_req_json(r, status, &b);
  if(status == 201) {
    char loc[512];
    snprintf(loc, sizeof(loc), "%s/api/media/%lld/", base, (long long)m->id);
    ml_req_add_header(r, "Location", loc);
  }
}

static void get_complete(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct ml_errbuf eb = {{0}};
  struct ml_media m;
  int64_t id;
  ml_err rc = ml_api_parse_id(ml_req_param(r, "id"), &id);
  if(rc) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such media", NULL);
    return;
  }
  rc = ml_media_get(api->media, id, r->arena, &m, &eb);
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  answer_media(r, 200, &m);
}

/* ----------------------------------------------------------------- writes */

static ml_err part_begin(void *ctx, const char *name, const char *filename,
                         const char *content_type) {
  struct ml_req *r = ctx;
  struct wstate *w = r->state;
  ml_err rc;
  w->in_file = 0;
  w->field_name[0] = '\0';
  ml_buf_reset(&w->text);
  if(filename) {
    if(strcmp(name, "file"))
      return ML_OK; /* other file fields are ignored */
    if(w->files++) {
      ml_field_error(&w->fe, "file", "Send exactly one file.");
      return ML_ERR_VALIDATION;
    }
    rc = ml_upload_begin(w->api->media, &w->up, &w->eb);
    if(rc)
      return rc;
    rc = ml_meta_set(&w->meta, r->arena, "filename", filename, strlen(filename), &w->fe);
    w->in_file = 1;
    return rc;
  }
  if(strlen(name) >= sizeof(w->field_name))
    return ML_OK; /* no field of ours has such a name: ignore it */
  snprintf(w->field_name, sizeof(w->field_name), "%s", name);
  if(!strcmp(name, "file")) {
    ml_field_error(&w->fe, "file", "The submitted data was not a file.");
    return ML_ERR_VALIDATION;
  }
  return ML_OK;
}

static ml_err part_data(void *ctx, const char *data, size_t len) {
  struct ml_req *r = ctx;
  struct wstate *w = r->state;
  ml_err rc;
  if(w->in_file)
    return ml_upload_write(w->up, data, len, &w->eb);
  if(!w->field_name[0])
    return ML_OK;
  rc = ml_buf_add(&w->text, data, len);
  if(rc == ML_ERR_TOO_LARGE) {
    ml_field_error(&w->fe, w->field_name, "Ensure this field has no more than %d bytes.",
                   TEXT_FIELD_MAX);
    return ML_ERR_VALIDATION;
  }
  return rc;
}

static ml_err part_end(void *ctx) {
  struct ml_req *r = ctx;
  struct wstate *w = r->state;
  ml_err rc = ML_OK;
  if(!w->in_file && w->field_name[0]) {
    rc = ml_meta_set(&w->meta, r->arena, w->field_name, w->text.data ? w->text.data : "",
                     w->text.len, &w->fe);
    if(rc == ML_ERR_VALIDATION)
      rc = ML_OK; /* keep parsing to report every field at once */
  }
  w->in_file = 0;
  w->field_name[0] = '\0';
  return rc;
}

static const struct ml_multipart_cb mp_cb = {part_begin, part_data, part_end};

static ml_err content_type_is(const char *ct, const char *want) {
  size_t n = strlen(want);
  if(!ct || strncasecmp(ct, want, n))
    return ML_ERR_UNSUPPORTED_MEDIA_TYPE;
  return (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ') ? ML_OK : ML_ERR_UNSUPPORTED_MEDIA_TYPE;
}

/* Common start of every write: auth, state, and the body kind. */
static ml_err write_begin(struct ml_req *r, int allow_json, int raw) {
  struct ml_api *api = api_of(r);
  struct wstate *w;
  const char *ct = ml_req_header(r, "Content-Type");
  ml_err rc = ml_api_require_role(api, r, ML_ROLE_EDITOR, NULL);
  if(rc)
    return rc;
  w = ml_arena_alloc(r->arena, sizeof(*w));
  if(!w)
    return ML_ERR_NOMEM;
  memset(w, 0, sizeof(*w));
  w->api = api;
  r->state = w;
  ml_buf_init(&w->text, TEXT_FIELD_MAX);
  if(ml_req_param(r, "id") && ml_api_parse_id(ml_req_param(r, "id"), &w->id)) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such media", NULL);
    return ML_ERR_NOT_FOUND;
  }
  if(raw) {
    w->kind = BODY_RAW;
    if(r->content_length > api->cfg->max_upload) {
      ml_req_error(r, ML_ERR_TOO_LARGE, "file is larger than the upload limit", NULL);
      return ML_ERR_TOO_LARGE;
    }
    return ml_upload_begin(api->media, &w->up, &w->eb);
  }
  if(!content_type_is(ct, "multipart/form-data")) {
    char boundary[80];
    w->kind = BODY_MULTIPART;
    if(r->content_length > api->cfg->max_upload + MULTIPART_SLACK) {
      ml_req_error(r, ML_ERR_TOO_LARGE, "request body is larger than the upload limit", NULL);
      return ML_ERR_TOO_LARGE;
    }
    rc = ml_multipart_boundary(ct, boundary, sizeof(boundary));
    if(rc) {
      ml_req_error(r, ML_ERR_BAD_REQUEST, "multipart/form-data needs a valid boundary", NULL);
      return rc;
    }
    return ml_multipart_create(boundary, &mp_cb, r, &w->mp);
  }
  if(allow_json && !content_type_is(ct, "application/json")) {
    w->kind = BODY_JSON;
    if(r->content_length > api->cfg->max_json_body) {
      ml_req_error(r, ML_ERR_TOO_LARGE, "JSON body is too large", NULL);
      return ML_ERR_TOO_LARGE;
    }
    ml_buf_init(&w->text, (size_t)api->cfg->max_json_body);
    return ML_OK;
  }
  ml_req_error(r, ML_ERR_UNSUPPORTED_MEDIA_TYPE,
               allow_json ? "send application/json or multipart/form-data"
                          : "send multipart/form-data with a 'file' part",
               NULL);
  return ML_ERR_UNSUPPORTED_MEDIA_TYPE;
}

static ml_err write_body(struct ml_req *r, const char *data, size_t len) {
  struct wstate *w = r->state;
  ml_err rc = ML_OK;
  switch(w->kind) {
  case BODY_MULTIPART: rc = ml_multipart_feed(w->mp, data, len, &w->eb); break;
  case BODY_RAW: rc = ml_upload_write(w->up, data, len, &w->eb); break;
  case BODY_JSON:
    rc = ml_buf_add(&w->text, data, len);
    if(rc == ML_ERR_TOO_LARGE)
      ml_fail(&w->eb, rc, "JSON body is too large");
    break;
  default: break;
  }
  if(rc) {
    /* The spool goes now, not when the connection is done with the answer:
     * a client that sees the error finds nothing left behind. */
    ml_upload_discard(&w->up);
    if(rc == ML_ERR_VALIDATION)
      ml_req_error(r, rc, "invalid fields", &w->fe);
    else
      ml_api_fail(r, rc, &w->eb);
  }
  return rc;
}

static void write_cleanup(struct ml_req *r) {
  struct wstate *w = r->state;
  if(!w)
    return;
  ml_upload_discard(&w->up);
  ml_multipart_destroy(&w->mp);
  ml_buf_free(&w->text);
}

static void finish_write(struct ml_req *r, ml_err rc, const struct ml_media *m, unsigned status) {
  struct wstate *w = r->state;
  ml_upload_discard(&w->up); /* consumed on success; removed now on failure */
  if(rc) {
    if(rc == ML_ERR_VALIDATION)
      ml_req_error(r, rc, "invalid fields", &w->fe);
    else
      ml_api_fail(r, rc, &w->eb);
    return;
  }
  answer_media(r, status, m);
}

static void work_create(struct ml_req *r) {
  struct wstate *w = r->state;
  struct ml_media m;
  ml_err rc = ml_media_create(w->api->media, w->up, &w->meta, r->request_id, r->arena, &m, &w->eb);
  finish_write(r, rc, &m, 201);
}

static void work_replace(struct ml_req *r) {
  struct wstate *w = r->state;
  struct ml_media m;
  ml_err rc =
      ml_media_replace(w->api->media, w->id, w->up, &w->meta, r->request_id, r->arena, &m, &w->eb);
  finish_write(r, rc, &m, 200);
}

static void work_update(struct ml_req *r) {
  struct wstate *w = r->state;
  struct ml_media m;
  ml_err rc = ml_media_update(w->api->media, w->id, &w->meta, r->request_id, r->arena, &m, &w->eb);
  finish_write(r, rc, &m, 200);
}

/* Checks what a multipart body left us: complete framing, valid fields. */
static int multipart_complete(struct ml_req *r, int need_file) {
  struct wstate *w = r->state;
  ml_err rc = ml_multipart_finish(w->mp, &w->eb);
  if(need_file && !w->files)
    ml_field_error(&w->fe, "file", "No file was submitted.");
  if(rc || w->fe.n) {
    ml_upload_discard(&w->up);
    if(rc)
      ml_req_error(r, rc, "multipart body ended before its closing boundary", NULL);
    else
      ml_req_error(r, ML_ERR_VALIDATION, "invalid fields", &w->fe);
    return 0;
  }
  return 1;
}

static ml_err create_headers(struct ml_req *r) { return write_begin(r, 0, 0); }

static void create_complete(struct ml_req *r) {
  if(multipart_complete(r, 1))
    ml_req_defer(r, work_create);
}

static ml_err patch_headers(struct ml_req *r) { return write_begin(r, 1, 0); }

static void patch_complete(struct ml_req *r) {
  struct wstate *w = r->state;
  if(w->kind == BODY_MULTIPART) {
    if(multipart_complete(r, 0))
      ml_req_defer(r, w->files ? work_replace : work_update);
    return;
  }
  {
    char msg[200];
    ml_err rc = ml_api_meta_from_json(w->text.data ? w->text.data : "", w->text.len, r->arena,
                                      &w->meta, &w->fe, msg, sizeof(msg));
    if(rc == ML_ERR_VALIDATION) {
      ml_req_error(r, rc, "invalid fields", &w->fe);
      return;
    }
    if(rc) {
      ml_req_error(r, rc, msg, NULL);
      return;
    }
  }
  ml_req_defer(r, work_update);
}

static ml_err put_file_headers(struct ml_req *r) {
  struct wstate *w;
  const char *cd = ml_req_header(r, "Content-Disposition");
  ml_err rc = write_begin(r, 0, 1);
  if(rc)
    return rc;
  w = r->state;
  if(cd) {
    char name[1024];
    if(!ml_multipart_disposition_filename(cd, name, sizeof(name)))
      rc = ml_meta_set(&w->meta, r->arena, "filename", name, strlen(name), &w->fe);
  }
  return rc;
}

static void put_file_complete(struct ml_req *r) {
  struct wstate *w = r->state;
  if(!w->up || ml_upload_size(w->up) == 0) {
    ml_field_error(&w->fe, "file", "The submitted file is empty.");
    ml_req_error(r, ML_ERR_VALIDATION, "invalid fields", &w->fe);
    return;
  }
  ml_req_defer(r, work_replace);
}

/* ----------------------------------------------------------------- delete */

static ml_err delete_headers(struct ml_req *r) {
  return ml_api_require_role(api_of(r), r, ML_ROLE_EDITOR, NULL);
}

static void work_delete(struct ml_req *r) {
  struct ml_api *api = api_of(r);
  struct ml_delete_result res;
  struct ml_errbuf eb = {{0}};
  struct ml_buf b;
  int64_t id = 0;
  ml_err rc = ml_api_parse_id(ml_req_param(r, "id"), &id);
  if(rc) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such media", NULL);
    return;
  }
  rc = ml_media_delete(api->media, id, r->request_id, &res, &eb);
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  ml_buf_init(&b, 4096);
  rc = ml_buf_addf(
      &b, "{\"id\":%lld,\"deleted\":true,\"storage\":{\"status\":\"%s\",\"attempts\":%lld",
      (long long)id, res.storage_deleted ? "deleted" : "pending", (long long)res.attempts);
  if(!rc && res.last_error[0]) {
    rc = ml_buf_adds(&b, ",\"last_error\":");
    if(!rc)
      rc = ml_buf_json_str(&b, res.last_error);
  }
  if(!rc)
    rc = ml_buf_addc(&b, '}');
  /* With a cache to purge (MEDIALIB_PURGE_URL): whether it acknowledged. */
  if(!rc && res.purges)
    rc = ml_buf_addf(&b, ",\"cache\":{\"status\":\"%s\",\"urls\":%lld}",
                     res.purges_pending ? "pending" : "purged", (long long)res.purges);
  if(!rc)
    rc = ml_buf_addc(&b, '}');
  if(rc) {
    ml_buf_free(&b);
    ml_req_error(r, rc, NULL, NULL);
    return;
  }
  ml_req_json(r, 200, &b);
}

static void delete_complete(struct ml_req *r) { ml_req_defer(r, work_delete); }

ml_err ml_api_media_register(struct ml_router *rt, struct ml_api *api) {
  const struct ml_route routes[] = {
      {ML_M_GET, "/api/media", "media.list", read_headers, NULL, list_complete, NULL, api},
      {ML_M_POST, "/api/media", "media.create", create_headers, write_body, create_complete,
       write_cleanup, api},
      {ML_M_GET, "/api/media/:id", "media.get", read_headers, NULL, get_complete, NULL, api},
      {ML_M_PATCH, "/api/media/:id", "media.patch", patch_headers, write_body, patch_complete,
       write_cleanup, api},
      {ML_M_DELETE, "/api/media/:id", "media.delete", delete_headers, NULL, delete_complete, NULL,
       api},
      {ML_M_PUT, "/api/media/:id/file", "media.put_file", put_file_headers, write_body,
       put_file_complete, write_cleanup, api},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
