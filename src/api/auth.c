/*
 * auth.c (api) - POST /api/token/ (log in), /api/token/refresh/ (a new
 * access token) and /api/token/revoke/ (log out), shaped like Django REST
 * Framework SimpleJWT's views so its clients keep working.
 *
 * A login costs an Argon2id verification (~0.1 s, 64 MiB), so it runs on a
 * worker; the rate limit is checked on the event loop first, so a blocked
 * client costs no hashing at all. Bodies holding a password are wiped when
 * the request ends.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

struct tstate {
  struct ml_api *api;
  struct ml_buf body;
  json_t *root;
  const char *username; /* in root */
  const char *password; /* in root */
  size_t password_len;
  const char *token; /* "refresh" in root */
  size_t token_len;
  const char *client;
};

static struct ml_api *api_of(struct ml_req *r) { return r->route->ctx; }

static ml_err token_headers(struct ml_req *r) {
  struct tstate *t = ml_arena_alloc(r->arena, sizeof(*t));
  if(!t)
    return ML_ERR_NOMEM;
  memset(t, 0, sizeof(*t));
  t->api = api_of(r);
  r->state = t;
  return ml_api_json_begin(t->api, r, &t->body);
}

static ml_err token_body(struct ml_req *r, const char *data, size_t len) {
  struct tstate *t = r->state;
  return ml_api_json_feed(r, &t->body, data, len);
}

static void token_cleanup(struct ml_req *r) {
  struct tstate *t = r->state;
  if(!t)
    return;
  if(t->root) {
    ml_api_json_wipe_string(json_object_get(t->root, "password"));
    json_decref(t->root);
    t->root = NULL;
  }
  ml_api_json_wipe(&t->body);
}

/* A required string member; records a field error when absent or not a
 * string. */
static const char *string_field(json_t *root, const char *name, size_t *len,
                                struct ml_field_errors *fe) {
  json_t *v = json_object_get(root, name);
  if(!v || json_is_null(v)) {
    ml_field_error(fe, name, "This field is required.");
    return NULL;
  }
  if(!json_is_string(v)) {
    ml_field_error(fe, name, "Not a valid string.");
    return NULL;
  }
  if(json_string_length(v) == 0) {
    ml_field_error(fe, name, "This field may not be blank.");
    return NULL;
  }
  if(len)
    *len = json_string_length(v);
  return json_string_value(v);
}

static void answer_tokens(struct ml_req *r, const char *access, const char *refresh) {
  struct ml_buf b;
  ml_err rc;
  ml_buf_init(&b, 4096);
  rc = ml_buf_adds(&b, "{\"access\":");
  if(!rc)
    rc = ml_buf_json_str(&b, access);
  if(!rc && refresh) {
    rc = ml_buf_adds(&b, ",\"refresh\":");
    if(!rc)
      rc = ml_buf_json_str(&b, refresh);
  }
  if(!rc)
    rc = ml_buf_addc(&b, '}');
  if(rc) {
    ml_buf_free(&b);
    ml_req_error(r, rc, NULL, NULL);
    return;
  }
  ml_req_json(r, 200, &b);
}

static void rate_limited(struct ml_req *r, int64_t retry_after) {
  char secs[24];
  snprintf(secs, sizeof(secs), "%lld", (long long)(retry_after > 0 ? retry_after : 1));
  ml_req_error(r, ML_ERR_RATE_LIMITED, "too many failed logins; retry later", NULL);
  ml_req_add_header(r, "Retry-After", secs);
}

/* ------------------------------------------------------------------ login */

static void work_login(struct ml_req *r) {
  struct tstate *t = r->state;
  struct ml_auth_tokens tok;
  struct ml_errbuf eb = {{0}};
  int64_t retry = 0;
  ml_err rc = ml_auth_login(t->api->auth, t->username, t->password, t->password_len, t->client,
                            r->arena, &tok, &retry, &eb);
  if(rc == ML_ERR_RATE_LIMITED)
    rate_limited(r, retry);
  else if(rc == ML_ERR_UNAUTHORIZED)
    ml_req_error(r, rc, ML_AUTH_LOGIN_FAILED, NULL);
  else if(rc)
    ml_api_fail(r, rc, &eb);
  else
    answer_tokens(r, tok.access, tok.refresh);
  sodium_memzero(&tok, sizeof(tok));
}

static void login_complete(struct ml_req *r) {
  struct tstate *t = r->state;
  struct ml_field_errors fe;
  int64_t retry = 0;
  memset(&fe, 0, sizeof(fe));
  t->root = ml_api_json_parse(r, &t->body);
  if(!t->root)
    return;
  t->username = string_field(t->root, "username", NULL, &fe);
  t->password = string_field(t->root, "password", &t->password_len, &fe);
  if(fe.n) {
    ml_req_error(r, ML_ERR_VALIDATION, "invalid fields", &fe);
    return;
  }
  if(!t->api->auth) {
    ml_req_error(r, ML_ERR_NOT_IMPLEMENTED, "tokens are not configured on this server", NULL);
    return;
  }
  t->client = ml_req_client_addr(r); /* read here: the worker must not touch the connection */
  if(ml_auth_login_allowed(t->api->auth, t->username, t->client, &retry)) {
    rate_limited(r, retry);
    return;
  }
  ml_req_defer(r, work_login);
}

/* ---------------------------------------------------------------- refresh */

static int refresh_parse(struct ml_req *r) {
  struct tstate *t = r->state;
  struct ml_field_errors fe;
  memset(&fe, 0, sizeof(fe));
  t->root = ml_api_json_parse(r, &t->body);
  if(!t->root)
    return 0;
  t->token = string_field(t->root, "refresh", &t->token_len, &fe);
  if(fe.n) {
    ml_req_error(r, ML_ERR_VALIDATION, "invalid fields", &fe);
    return 0;
  }
  if(!t->api->auth) {
    ml_api_invalid_token(r, "tokens are not configured on this server");
    return 0;
  }
  return 1;
}

static void work_refresh(struct ml_req *r) {
  struct tstate *t = r->state;
  char access[ML_AUTH_TOKEN_MAX];
  struct ml_errbuf eb = {{0}};
  ml_err rc = ml_auth_refresh(t->api->auth, t->token, t->token_len, r->arena, access, &eb);
  if(rc == ML_ERR_UNAUTHORIZED)
    ml_api_invalid_token(r, eb.msg[0] ? eb.msg : "token is invalid or expired");
  else if(rc)
    ml_api_fail(r, rc, &eb);
  else
    answer_tokens(r, access, NULL);
  sodium_memzero(access, sizeof(access));
}

static void refresh_complete(struct ml_req *r) {
  if(refresh_parse(r))
    ml_req_defer(r, work_refresh);
}

static void work_revoke(struct ml_req *r) {
  struct tstate *t = r->state;
  struct ml_errbuf eb = {{0}};
  struct ml_buf b;
  ml_err rc = ml_auth_revoke(t->api->auth, t->token, t->token_len, &eb);
  if(rc == ML_ERR_UNAUTHORIZED) {
    ml_api_invalid_token(r, eb.msg[0] ? eb.msg : "token is invalid or expired");
    return;
  }
  if(rc) {
    ml_api_fail(r, rc, &eb);
    return;
  }
  ml_buf_init(&b, 16);
  if(ml_buf_adds(&b, "{}")) {
    ml_req_error(r, ML_ERR_NOMEM, NULL, NULL);
    return;
  }
  ml_req_json(r, 200, &b);
}

static void revoke_complete(struct ml_req *r) {
  if(refresh_parse(r))
    ml_req_defer(r, work_revoke);
}

ml_err ml_api_auth_register(struct ml_router *rt, struct ml_api *api) {
  const struct ml_route routes[] = {
      {ML_M_POST, "/api/token", "token.obtain", token_headers, token_body, login_complete,
       token_cleanup, api},
      {ML_M_POST, "/api/token/refresh", "token.refresh", token_headers, token_body,
       refresh_complete, token_cleanup, api},
      {ML_M_POST, "/api/token/revoke", "token.revoke", token_headers, token_body, revoke_complete,
       token_cleanup, api},
  };
  for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    ml_err rc = ml_router_add(rt, &routes[i]);
    if(rc)
      return rc;
  }
  return ML_OK;
}
