/*
 * users.c (api) - /api/users/: user management for admins, and
 * /api/users/me/ for anyone logged in.
 *
 * A user is sent as {"id", "username", "role", "disabled", "created_at",
 * "last_login_at"}; never its password hash. Creating a user and changing
 * a password hash a password (~0.1 s), and every change takes the write
 * lock: those run on a worker. The list is paginated like /api/media/.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/timeutil.h"
#include "http/query.h"

struct ustate {
  struct ml_api *api;
  struct ml_buf body;
  json_t *root;
  int64_t id;
  struct ml_field_errors fe;
  /* create */
  const char *username, *password, *role;
  size_t password_len;
  /* update */
  struct ml_auth_user_change change;
};

static struct ml_api *api_of(struct ml_req *r) { return r->route->ctx; }

static ml_err user_json(struct ml_buf *b, const struct ml_user *u) {
  char created[21], login[21];
  ml_err rc;
  ml_time_rfc3339(u->created_at, created);
  ml_time_rfc3339(u->last_login_at, login);
  rc = ml_buf_addf(b, "{\"id\":%lld,\"username\":", (long long)u->id);
  if(!rc)
    rc = ml_buf_json_str(b, u->username);
  if(!rc)
    rc = ml_buf_adds(b, ",\"role\":");
  if(!rc)
    rc = ml_buf_json_str(b, u->role);
  if(!rc)
    rc = ml_buf_addf(b, ",\"disabled\":%s,\"created_at\":\"%s\",\"last_login_at\":",
                     u->disabled ? "true" : "false", created);
  if(!rc)
    rc = u->last_login_at ? ml_buf_addf(b, "\"%s\"}", login) : ml_buf_adds(b, "null}");
  return rc;
}

static void answer_user(struct ml_req *r, unsigned status, const struct ml_user *u) {
  struct ml_buf b;
  ml_err rc;
  ml_buf_init(&b, 4096);
  rc = user_json(&b, u);
  if(rc) {
    ml_buf_free(&b);
    ml_req_error(r, rc, NULL, NULL);
    return;
  }
  ml_req_json(r, status, &b);
  if(status == 201) {
    char loc[512];
    snprintf(loc, sizeof(loc), "%s/api/users/%lld/", ml_api_base_url(api_of(r), r),
             (long long)u->id);
    ml_req_add_header(r, "Location", loc);
  }
}

static void fail(struct ml_req *r, ml_err rc, const struct ml_field_errors *fe,
                 const struct ml_errbuf *eb) {
  if(rc == ML_ERR_VALIDATION)
    ml_req_error(r, rc, "invalid fields", fe);
  else if(rc == ML_ERR_NOT_FOUND)
    ml_req_error(r, rc, "no such user", NULL);
  else
    ml_api_fail(r, rc, eb);
}

/* State for routes with an id and maybe a JSON body; only admins. */
static ml_err admin_headers(struct ml_req *r, int with_body) {
  struct ml_api *api = api_of(r);
  struct ustate *s;
  const char *id = ml_req_param(r, "id");
  ml_err rc = ml_api_require_role(api, r, ML_ROLE_ADMIN, NULL);
  if(rc)
    return rc;
  s = ml_arena_alloc(r->arena, sizeof(*s));
  if(!s)
    return ML_ERR_NOMEM;
  memset(s, 0, sizeof(*s));
  s->api = api;
  s->change.disabled = -1;
  r->state = s;
  if(id && ml_api_parse_id(id, &s->id)) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "no such user", NULL);
    return ML_ERR_NOT_FOUND;
  }
  return with_body ? ml_api_json_begin(api, r, &s->body) : ML_OK;
}

static ml_err admin_read_headers(struct ml_req *r) { return admin_headers(r, 0); }
static ml_err admin_body_headers(struct ml_req *r) { return admin_headers(r, 1); }

static ml_err users_body(struct ml_req *r, const char *data, size_t len) {
  struct ustate *s = r->state;
  return ml_api_json_feed(r, &s->body, data, len);
}

static void users_cleanup(struct ml_req *r) {
  struct ustate *s = r->state;
  if(!s)
    return;
  if(s->root) {
    ml_api_json_wipe_string(json_object_get(s->root, "password"));
    json_decref(s->root);
    s->root = NULL;
  }
  ml_api_json_wipe(&s->body);
}

/* An optional string member: NULL when absent; a field error when it is
 * there but not a string. */
static const char *opt_string(json_t *root, const char *name, size_t *len,
                              struct ml_field_errors *fe) {
  json_t *v = json_object_get(root, name);
  if(!v)
    return NULL;
  if(!json_is_string(v)) {
    ml_field_error(fe, name, "Not a valid string.");
    return NULL;
  }
  if(len)
    *len = json_string_length(v);
  return json_string_value(v);
}

/* ------------------------------------------------------------------- list */

struct list_q {
  int64_t page, page_size;
  struct ml_field_errors fe;
};

static ml_err list_param(void *ctx, const char *key, const char *val) {
  struct list_q *q = ctx;
  if(!strcmp(key, "page") && ml_query_int(val, 1, 1000000000, &q->page))
    ml_field_error(&q->fe, "page", "A valid page number is required.");
  else if(!strcmp(key, "page_size") && ml_query_int(val, 1, 100, &q->page_size))
    ml_field_error(&q->fe, "page_size", "Ensure this value is between 1 and 100.");
  return ML_OK;
}

struct link_ctx {
  const char *base;
  const struct list_q *q;
};

static ml_err page_link(struct ml_buf *b, const void *ctx, int64_t page) {
  const struct link_ctx *l = ctx;
  const struct list_q *q = l->q;
  ml_err rc = ml_buf_addf(b, "\"%s/api/users/", l->base);
  if(!rc && q->page_size != 20)
    rc = ml_buf_addf(b, "?page_size=%lld", (long long)q->page_size);
  if(!rc && page > 1)
    rc = ml_buf_addf(b, "%cpage=%lld", q->page_size != 20 ? '&' : '?', (long long)page);
  if(!rc)
    rc = ml_buf_addc(b, '"');
  return rc;
}

static void list_complete(struct ml_req *r) {
  struct ustate *s = r->state;
  struct list_q q;
  struct ml_user *items = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_buf b;
  const char *base = ml_api_base_url(s->api, r);
  size_t n = 0;
  int64_t count = 0, offset;
  ml_err rc;

  memset(&q, 0, sizeof(q));
  q.page = 1;
  q.page_size = 20;
  if(ml_query_parse(r->query, strlen(r->query), list_param, &q)) {
    ml_req_error(r, ML_ERR_BAD_REQUEST, "malformed query string", NULL);
    return;
  }
  if(q.fe.n) {
    ml_req_error(r, ML_ERR_VALIDATION, "invalid list parameters", &q.fe);
    return;
  }
  offset = (q.page - 1) * q.page_size;
  rc = ml_auth_user_list(s->api->auth, offset, q.page_size, r->arena, &items, &n, &count, &eb);
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  if(q.page > 1 && offset >= count) {
    ml_req_error(r, ML_ERR_NOT_FOUND, "Invalid page.", NULL);
    return;
  }
  ml_buf_init(&b, 4 * 1024 * 1024);
  {
    struct link_ctx l = {base, &q};
    rc = ml_api_page_open(&b, count, q.page, offset + (int64_t)n < count, page_link, &l);
  }
  for(size_t i = 0; !rc && i < n; i++) {
    if(i)
      rc = ml_buf_addc(&b, ',');
    if(!rc)
      rc = user_json(&b, &items[i]);
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

/* -------------------------------------------------------------------- get */

static void get_complete(struct ml_req *r) {
  struct ustate *s = r->state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u;
  ml_err rc = ml_auth_user_get(s->api->auth, s->id, r->arena, &u, &eb);
  if(rc) {
    fail(r, rc, NULL, &eb);
    return;
  }
  answer_user(r, 200, &u);
}

/* Any logged-in user: who am I? A token is needed even with open writes. */
static ml_err me_headers(struct ml_req *r) {
  struct ml_principal *who = ml_arena_alloc(r->arena, sizeof(*who));
  ml_err rc;
  if(!who)
    return ML_ERR_NOMEM;
  r->state = who;
  rc = ml_api_require_role(api_of(r), r, ML_ROLE_VIEWER, who);
  if(!rc && !who->user_id) {
    ml_req_error(r, ML_ERR_UNAUTHORIZED, "send Authorization: Bearer <access token>", NULL);
    return ML_ERR_UNAUTHORIZED;
  }
  return rc;
}

static void me_complete(struct ml_req *r) {
  struct ml_principal *who = r->state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u;
  ml_err rc = ml_auth_user_get(api_of(r)->auth, who->user_id, r->arena, &u, &eb);
  if(rc) {
    fail(r, rc, NULL, &eb);
    return;
  }
  answer_user(r, 200, &u);
}

/* ----------------------------------------------------------------- create */

static void work_create(struct ml_req *r) {
  struct ustate *s = r->state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u;
  ml_err rc = ml_auth_user_create(s->api->auth, s->username, s->password, s->password_len, s->role,
                                  r->arena, &u, &s->fe, &eb);
  if(rc) {
    fail(r, rc, &s->fe, &eb);
    return;
  }
  answer_user(r, 201, &u);
}

static void create_complete(struct ml_req *r) {
  struct ustate *s = r->state;
  s->root = ml_api_json_parse(r, &s->body);
  if(!s->root)
    return;
  s->username = opt_string(s->root, "username", NULL, &s->fe);
  s->password = opt_string(s->root, "password", &s->password_len, &s->fe);
  s->role = opt_string(s->root, "role", NULL, &s->fe);
  if(!json_object_get(s->root, "username"))
    ml_field_error(&s->fe, "username", "This field is required.");
  if(!json_object_get(s->root, "password"))
    ml_field_error(&s->fe, "password", "This field is required.");
  if(!s->role && !json_object_get(s->root, "role"))
    s->role = "viewer"; /* least privilege by default */
  if(s->fe.n) {
    ml_req_error(r, ML_ERR_VALIDATION, "invalid fields", &s->fe);
    return;
  }
  ml_req_defer(r, work_create);
}

/* ------------------------------------------------------------------ patch */

static void work_update(struct ml_req *r) {
  struct ustate *s = r->state;
  struct ml_errbuf eb = {{0}};
  struct ml_user u;
  ml_err rc = ml_auth_user_update(s->api->auth, s->id, &s->change, r->arena, &u, &s->fe, &eb);
  if(rc) {
    fail(r, rc, &s->fe, &eb);
    return;
  }
  answer_user(r, 200, &u);
}

static void patch_complete(struct ml_req *r) {
  struct ustate *s = r->state;
  json_t *v;
  s->root = ml_api_json_parse(r, &s->body);
  if(!s->root)
    return;
  /* username and the times are read-only: ignored, as DRF does. */
  s->change.role = opt_string(s->root, "role", NULL, &s->fe);
  s->change.password = opt_string(s->root, "password", &s->change.password_len, &s->fe);
  v = json_object_get(s->root, "disabled");
  if(v) {
    if(json_is_boolean(v))
      s->change.disabled = json_is_true(v) ? 1 : 0;
    else
      ml_field_error(&s->fe, "disabled", "Must be a valid boolean.");
  }
  if(s->fe.n) {
    ml_req_error(r, ML_ERR_VALIDATION, "invalid fields", &s->fe);
    return;
  }
  ml_req_defer(r, work_update);
}

/* ----------------------------------------------------------------- delete */

static void work_delete(struct ml_req *r) {
  struct ustate *s = r->state;
  struct ml_errbuf eb = {{0}};
  ml_err rc = ml_auth_user_delete(s->api->auth, s->id, &eb);
  if(rc) {
    fail(r, rc, NULL, &eb);
    return;
  }
  ml_req_empty(r, 204);
}

static void delete_complete(struct ml_req *r) { ml_req_defer(r, work_delete); }

ml_err ml_api_users_register(struct ml_router *rt, struct ml_api *api) {
  /* "me" before ":id": the first matching route wins. */
  const struct ml_route routes[] = {
      {ML_M_GET, "/api/users/me", "users.me", me_headers, NULL, me_complete, NULL, api},
      {ML_M_GET, "/api/users", "users.list", admin_read_headers, NULL, list_complete, users_cleanup,
       api},
      {ML_M_POST, "/api/users", "users.create", admin_body_headers, users_body, create_complete,
       users_cleanup, api},
      {ML_M_GET, "/api/users/:id", "users.get", admin_read_headers, NULL, get_complete,
       users_cleanup, api},
      {ML_M_PATCH, "/api/users/:id", "users.patch", admin_body_headers, users_body, patch_complete,
       users_cleanup, api},
      {ML_M_DELETE, "/api/users/:id", "users.delete", admin_read_headers, NULL, delete_complete,
       users_cleanup, api},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
