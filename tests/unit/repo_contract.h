/*
 * repo_contract.h - the repository contract (src/db/repo.h) as tests that
 * any backend must pass, shared by the backends' test programs
 * (test_repo_sqlite.c, test_repo_pg.c). A program describes its backend in
 * a struct rc_backend (how to make a fresh database, what only it can do)
 * and runs rc_repo_tests and rc_user_tests next to its own tests.
 */
#ifndef ML_TEST_REPO_CONTRACT_H
#define ML_TEST_REPO_CONTRACT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/repo.h"

struct rc_fixture;

struct rc_backend {
  const char *name;
  int migrations; /* how many steps a fresh database gets */
  /* Once per program: make what new_url needs (a temp dir, a server
   * connection); non-zero on failure. done undoes it. */
  int (*setup)(struct rc_fixture *fx);
  void (*done)(struct rc_fixture *fx);
  /* The URL of a fresh, empty database. */
  void (*new_url)(struct rc_fixture *fx, char *url, size_t size);
  /* Test builds (ML_TEST_HOOKS): one integer from sql run on c's own
   * handle, and an update of the schema version behind the backend's back. */
  int64_t (*query_int)(struct ml_conn *c, const char *sql);
  void (*set_schema_version)(struct ml_conn *c, int version);
};

struct rc_fixture {
  const struct rc_backend *be;
  char dir[64]; /* a temporary directory of the program, removed at the end */
  int seq;      /* databases made so far */
  void *data;   /* the backend's own */
  /* Per test, for rc_user_tests: a fresh database and one connection. */
  struct ml_repo *repo;
  struct ml_conn *c;
  struct ml_arena *a;
};

/* Group setup and teardown: state gets a struct rc_fixture for be. */
int rc_group_setup(void **state, const struct rc_backend *be);
int rc_group_teardown(void **state);

/* Runs the contract's tests and the program's own (own, n_own) as one
 * group, then the users tests; returns the number of failures. */
int rc_run(const char *name, const struct CMUnitTest *own, size_t n_own,
           int (*group_setup)(void **state), int (*group_teardown)(void **state));

/* Helpers the programs' own tests share. */
void rc_new_url(struct rc_fixture *fx, char *url, size_t size);
struct ml_repo *rc_open_new(struct rc_fixture *fx, int pool);
struct ml_media rc_sample_media(const char *title, const char *tags);
struct ml_media_filter rc_all_filter(void);
int64_t rc_list_count(struct ml_conn *c, const struct ml_media_filter *f);
struct ml_job rc_make_job(const char *key, int64_t next_at, int64_t created_at);
struct ml_variant rc_sample_variant(int64_t media_id, int64_t version, const char *name,
                                    const char *key);
void rc_sleep_ms(long ms);

#endif
