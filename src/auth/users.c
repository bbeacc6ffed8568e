/*
 * users.c - creating, changing and removing users.
 *
 * Passwords are hashed before the write transaction opens (hashing takes
 * a tenth of a second; the database's single write lock must not wait for
 * it). Changes that must revoke tokens (a new password, disabling) bump the
 * user's token version and revoke its refresh tokens in the same
 * transaction as the change. The last enabled admin cannot be demoted,
 * disabled or deleted: nobody could manage users afterwards.
 */
#include "auth/auth_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/timeutil.h"

#define LAST_ADMIN "the last enabled admin cannot be demoted, disabled or deleted"

static ml_err with_conn(struct ml_auth *a, struct ml_conn **c, struct ml_errbuf *eb) {
  return ml_repo_acquire(a->repo, c, eb);
}

ml_err ml_auth_user_create(struct ml_auth *a, const char *username, const char *password,
                           size_t password_len, const char *role, struct ml_arena *arena,
                           struct ml_user *out, struct ml_field_errors *fe, struct ml_errbuf *eb) {
  char hash[ML_AUTH_HASH_MAX];
  struct ml_conn *c = NULL;
  enum ml_role r;
  const char *why;
  ml_err rc;

  memset(out, 0, sizeof(*out));
  why = ml_auth_username_check(username ? username : "", username ? strlen(username) : 0);
  if(why)
    ml_field_error(fe, "username", "%s", why);
  why = password ? ml_auth_password_check(password_len) : "This field is required.";
  if(why)
    ml_field_error(fe, "password", "%s", why);
  if(!role || ml_auth_role_parse(role, &r))
    ml_field_error(fe, "role", "Use one of viewer, editor, admin.");
  if(fe->n)
    return ml_fail(eb, ML_ERR_VALIDATION, "invalid fields");

  rc = ml_auth_password_hash(password, password_len, &a->cost, hash, eb);
  if(rc)
    return rc;
  out->username = ml_arena_strdup(arena, username);
  out->password_hash = ml_arena_strdup(arena, hash);
  out->role = ml_auth_role_name(r);
  out->created_at = ml_now_ms();
  sodium_memzero(hash, sizeof(hash));
  if(!out->username || !out->password_hash)
    return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  rc = with_conn(a, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_user_insert(c, out, eb);
  ml_repo_release(&c);
  if(rc == ML_ERR_CONFLICT) {
    ml_errbuf_clear(eb);
    ml_field_error(fe, "username", "A user with that username already exists.");
    return ml_fail(eb, ML_ERR_VALIDATION, "invalid fields");
  }
  if(!rc)
    ml_log(a->log, ML_LOG_INFO, NULL, "auth.user_created", ML_LI("user_id", out->id),
           ML_LS("role", out->role));
  return rc;
}

static int enabled_admin(const struct ml_user *u) {
  return !u->disabled && !strcmp(u->role, "admin");
}

/* Refuses a change that takes away the last enabled admin. */
static ml_err keep_an_admin(struct ml_conn *c, const struct ml_user *before,
                            const struct ml_user *after, struct ml_errbuf *eb) {
  int64_t admins = 0;
  ml_err rc;
  if(!enabled_admin(before) || (after && enabled_admin(after)))
    return ML_OK;
  rc = ml_repo_user_count(c, 1, &admins, eb);
  if(rc)
    return rc;
  return admins <= 1 ? ml_fail(eb, ML_ERR_CONFLICT, LAST_ADMIN) : ML_OK;
}

struct update_tx {
  int64_t id;
  const struct ml_auth_user_change *ch;
  const char *new_hash; /* NULL: unchanged */
  const char *role;     /* canonical name, NULL: unchanged */
  struct ml_arena *arena;
  struct ml_user *out;
  struct ml_errbuf *eb;
};

static ml_err update_in_tx(struct ml_conn *c, void *ctx) {
  struct update_tx *t = ctx;
  struct ml_user before, after;
  int revoke;
  ml_err rc = ml_repo_user_get(c, t->id, t->arena, &before, t->eb);
  if(rc)
    return rc;
  after = before;
  if(t->role)
    after.role = t->role;
  if(t->ch->disabled >= 0)
    after.disabled = t->ch->disabled;
  if(t->new_hash)
    after.password_hash = t->new_hash;
  rc = keep_an_admin(c, &before, &after, t->eb);
  if(rc)
    return rc;
  revoke = t->new_hash || (after.disabled && !before.disabled);
  if(revoke)
    after.token_version = before.token_version + 1;
  rc = ml_repo_user_update(c, &after, t->eb);
  if(!rc && revoke)
    rc = ml_repo_refresh_revoke_user(c, after.id, NULL, t->eb);
  if(!rc)
    *t->out = after;
  return rc;
}

ml_err ml_auth_user_update(struct ml_auth *a, int64_t id, const struct ml_auth_user_change *ch,
                           struct ml_arena *arena, struct ml_user *out, struct ml_field_errors *fe,
                           struct ml_errbuf *eb) {
  char hash[ML_AUTH_HASH_MAX];
  struct update_tx t;
  enum ml_role r = ML_ROLE_NONE;
  ml_err rc;

  memset(out, 0, sizeof(*out));
  memset(&t, 0, sizeof(t));
  if(ch->role && ml_auth_role_parse(ch->role, &r))
    ml_field_error(fe, "role", "Use one of viewer, editor, admin.");
  if(ch->password && ml_auth_password_check(ch->password_len))
    ml_field_error(fe, "password", "%s", ml_auth_password_check(ch->password_len));
  if(ch->disabled < -1 || ch->disabled > 1)
    ml_field_error(fe, "disabled", "Must be a valid boolean.");
  if(fe->n)
    return ml_fail(eb, ML_ERR_VALIDATION, "invalid fields");
  if(ch->password) {
    rc = ml_auth_password_hash(ch->password, ch->password_len, &a->cost, hash, eb);
    if(rc)
      return rc;
    t.new_hash = ml_arena_strdup(arena, hash);
    sodium_memzero(hash, sizeof(hash));
    if(!t.new_hash)
      return ml_fail(eb, ML_ERR_NOMEM, "out of memory");
  }
  t.id = id;
  t.ch = ch;
  t.role = ch->role ? ml_auth_role_name(r) : NULL;
  t.arena = arena;
  t.out = out;
  t.eb = eb;
  rc = ml_auth_in_tx(a, update_in_tx, &t, eb);
  if(!rc)
    ml_log(a->log, ML_LOG_INFO, NULL, "auth.user_changed", ML_LI("user_id", id),
           ML_LS("role", out->role), ML_LB("disabled", out->disabled),
           ML_LB("password_changed", ch->password != NULL),
           ML_LI("token_version", out->token_version));
  return rc;
}

struct delete_tx {
  int64_t id;
  struct ml_errbuf *eb;
};

static ml_err delete_in_tx(struct ml_conn *c, void *ctx) {
  struct delete_tx *t = ctx;
  struct ml_arena *scratch = ml_arena_create(16 * 1024);
  struct ml_user before;
  ml_err rc;
  if(!scratch)
    return ml_fail(t->eb, ML_ERR_NOMEM, "out of memory");
  rc = ml_repo_user_get(c, t->id, scratch, &before, t->eb);
  if(!rc)
    rc = keep_an_admin(c, &before, NULL, t->eb);
  if(!rc)
    rc = ml_repo_user_delete(c, t->id, t->eb);
  ml_arena_destroy(&scratch);
  return rc;
}

ml_err ml_auth_user_delete(struct ml_auth *a, int64_t id, struct ml_errbuf *eb) {
  struct delete_tx t = {id, eb};
  ml_err rc = ml_auth_in_tx(a, delete_in_tx, &t, eb);
  if(!rc)
    ml_log(a->log, ML_LOG_INFO, NULL, "auth.user_deleted", ML_LI("user_id", id));
  return rc;
}

ml_err ml_auth_user_get(struct ml_auth *a, int64_t id, struct ml_arena *arena, struct ml_user *out,
                        struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = with_conn(a, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_user_get(c, id, arena, out, eb);
  ml_repo_release(&c);
  return rc;
}

ml_err ml_auth_user_find(struct ml_auth *a, const char *username, struct ml_arena *arena,
                         struct ml_user *out, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = with_conn(a, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_user_get_by_name(c, username, arena, out, NULL);
  ml_repo_release(&c);
  if(rc == ML_ERR_NOT_FOUND)
    return ml_fail(eb, rc, "no user named %.150s", username);
  return rc ? ml_fail(eb, rc, "cannot look up the user") : ML_OK;
}

ml_err ml_auth_user_list(struct ml_auth *a, int64_t offset, int64_t limit, struct ml_arena *arena,
                         struct ml_user **items, size_t *n, int64_t *count, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = with_conn(a, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_user_list(c, offset, limit, arena, items, n, count, eb);
  ml_repo_release(&c);
  return rc;
}

ml_err ml_auth_user_count(struct ml_auth *a, int64_t *n, struct ml_errbuf *eb) {
  struct ml_conn *c = NULL;
  ml_err rc = with_conn(a, &c, eb);
  if(rc)
    return rc;
  rc = ml_repo_user_count(c, 0, n, eb);
  ml_repo_release(&c);
  return rc;
}
