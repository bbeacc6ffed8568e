/*
 * store_faults.c - fault injection around a real store, for tests only.
 *
 * Test builds (ML_TEST_HOOKS) accept MEDIALIB_TEST_FAULTS, a list of rules
 * "OP=ACTION" separated by ';', or "@FILE" naming a file that holds the list
 * and is re-read whenever it changes (so a test can break and mend the store
 * while the server runs). OP: put, get, remove, list, ping, or any.
 *   refuse        fail with storage_unavailable ("connection refused")
 *   error         fail with io_error (as a store answering 500)
 *   delay:MS      sleep MS milliseconds, then do the call
 *   nth:N         fail the Nth call of OP (counted from the start) once
 *   crash:before  SIGKILL the process before the call (kill -9 mid-step)
 *   crash:after   SIGKILL the process after the call succeeded
 * Production builds do not compile this file's entry point in.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "store/store_int.h"

#ifdef ML_TEST_HOOKS

enum op { OP_PUT, OP_GET, OP_REMOVE, OP_LIST, OP_PING, OP__COUNT };
static const char *op_names[OP__COUNT] = {"put", "get", "remove", "list", "ping"};

struct fault_store {
  struct ml_store base;
  struct ml_store *inner;
  pthread_mutex_t mu;
  char spec[1024];
  char file[512];
  struct timespec file_mtime;
  long calls[OP__COUNT];
};

enum action { ACT_NONE, ACT_REFUSE, ACT_ERROR, ACT_DELAY, ACT_CRASH_BEFORE, ACT_CRASH_AFTER };

static void reload(struct fault_store *fs) {
  struct stat st;
  FILE *f;
  size_t n;
  if(!fs->file[0] || stat(fs->file, &st))
    return;
  if(st.st_mtim.tv_sec == fs->file_mtime.tv_sec && st.st_mtim.tv_nsec == fs->file_mtime.tv_nsec)
    return;
  f = fopen(fs->file, "r");
  if(!f)
    return;
  n = fread(fs->spec, 1, sizeof(fs->spec) - 1, f);
  fs->spec[n] = '\0';
  fclose(f);
  fs->file_mtime = st.st_mtim;
}

/* Decides what happens to this call of op; *arg gets the delay. */
static enum action decide(struct fault_store *fs, enum op op, long *arg) {
  enum action act = ACT_NONE;
  long call;
  char spec[1024], *save = NULL, *rule;
  pthread_mutex_lock(&fs->mu);
  reload(fs);
  call = ++fs->calls[op];
  snprintf(spec, sizeof(spec), "%s", fs->spec);
  pthread_mutex_unlock(&fs->mu);
  for(rule = strtok_r(spec, ";\n", &save); rule; rule = strtok_r(NULL, ";\n", &save)) {
    char *eq = strchr(rule, '=');
    const char *what;
    while(*rule == ' ')
      rule++;
    if(!eq)
      continue;
    *eq = '\0';
    what = eq + 1;
    if(strcmp(rule, "any") && strcmp(rule, op_names[op]))
      continue;
    if(!strcmp(what, "refuse"))
      act = ACT_REFUSE;
    else if(!strcmp(what, "error"))
      act = ACT_ERROR;
    else if(!strncmp(what, "delay:", 6)) {
      act = ACT_DELAY;
      *arg = strtol(what + 6, NULL, 10);
    } else if(!strncmp(what, "nth:", 4)) {
      if(strtol(what + 4, NULL, 10) == call)
        act = ACT_ERROR;
    } else if(!strcmp(what, "crash:before"))
      act = ACT_CRASH_BEFORE;
    else if(!strcmp(what, "crash:after"))
      act = ACT_CRASH_AFTER;
    if(act != ACT_NONE)
      break;
  }
  return act;
}

static ml_err pre(struct fault_store *fs, enum op op, int *crash_after, struct ml_errbuf *eb) {
  long arg = 0;
  enum action act = decide(fs, op, &arg);
  *crash_after = act == ACT_CRASH_AFTER;
  switch(act) {
  case ACT_REFUSE:
    return ml_fail(eb, ML_ERR_STORAGE_UNAVAILABLE,
                   "fault injection: %s refused (connection "
                   "refused)",
                   op_names[op]);
  case ACT_ERROR: return ml_fail(eb, ML_ERR_IO, "fault injection: %s answered 500", op_names[op]);
  case ACT_DELAY: {
    struct timespec ts = {arg / 1000, (arg % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return ML_OK;
  }
  case ACT_CRASH_BEFORE: kill(getpid(), SIGKILL); return ML_ERR_INTERNAL;
  default: return ML_OK;
  }
}

static ml_err post(ml_err rc, int crash_after) {
  if(!rc && crash_after)
    kill(getpid(), SIGKILL);
  return rc;
}

static ml_err f_put(struct ml_store *s, const char *key, const char *src, const char *ct,
                    struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_PUT, &ca, eb);
  return rc ? rc : post(fs->inner->ops->put(fs->inner, key, src, ct, eb), ca);
}

static ml_err f_get(struct ml_store *s, const char *key, struct ml_blob *out,
                    struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_GET, &ca, eb);
  return rc ? rc : post(fs->inner->ops->get(fs->inner, key, out, eb), ca);
}

static ml_err f_remove(struct ml_store *s, const char *key, const char *content_type,
                       struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_REMOVE, &ca, eb);
  return rc ? rc : post(fs->inner->ops->remove(fs->inner, key, content_type, eb), ca);
}

static ml_err f_list(struct ml_store *s, const char *prefix,
                     int (*cb)(void *ctx, const char *key, int64_t size, int64_t mtime_ms),
                     void *ctx, struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_LIST, &ca, eb);
  return rc ? rc : post(fs->inner->ops->list(fs->inner, prefix, cb, ctx, eb), ca);
}

static ml_err f_ping(struct ml_store *s, struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_PING, &ca, eb);
  return rc ? rc : post(fs->inner->ops->ping(fs->inner, eb), ca);
}

/* stat and open_read are reads: the "get" rules apply to them. */
static ml_err f_stat(struct ml_store *s, const char *key, struct ml_blob *out,
                     struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_GET, &ca, eb);
  return rc ? rc : post(fs->inner->ops->stat(fs->inner, key, out, eb), ca);
}

static ml_err f_open_read(struct ml_store *s, const char *key, struct ml_blob *out,
                          struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  int ca;
  ml_err rc = pre(fs, OP_GET, &ca, eb);
  if(rc)
    return rc;
  return post(fs->inner->ops->open_read ? fs->inner->ops->open_read(fs->inner, key, out, eb)
                                        : fs->inner->ops->get(fs->inner, key, out, eb),
              ca);
}

static ml_err f_delivery_url(struct ml_store *s, const char *key, const char *ct,
                             const char *disposition, struct ml_buf *out, int64_t *max_age,
                             struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  if(!fs->inner->ops->delivery_url)
    return ML_ERR_NOT_IMPLEMENTED;
  return fs->inner->ops->delivery_url(fs->inner, key, ct, disposition, out, max_age, eb);
}

static void f_close(struct ml_store *s) {
  struct fault_store *fs = (struct fault_store *)s;
  ml_store_close(&fs->inner);
  pthread_mutex_destroy(&fs->mu);
  ml_free(fs);
}

static ml_err f_transform_url(struct ml_store *s, const char *key, const char *ct,
                              const char *transformation, struct ml_buf *out, int64_t *max_age,
                              struct ml_errbuf *eb) {
  struct fault_store *fs = (struct fault_store *)s;
  if(!fs->inner->ops->transform_url)
    return ML_ERR_NOT_IMPLEMENTED;
  return fs->inner->ops->transform_url(fs->inner, key, ct, transformation, out, max_age, eb);
}

static const struct ml_store_ops fault_ops = {"faults",    f_close,        f_put,          f_get,
                                              f_remove,    f_list,         f_ping,         f_stat,
                                              f_open_read, f_delivery_url, f_transform_url};

ml_err ml_store_faults_wrap(struct ml_store *inner, const char *spec, struct ml_store **out,
                            struct ml_errbuf *eb) {
  struct fault_store *fs = ml_calloc(1, sizeof(*fs));
  if(!fs)
    return ML_ERR_NOMEM;
  fs->base.ops = &fault_ops;
  fs->base.spool_dir = inner->spool_dir;
  fs->inner = inner;
  pthread_mutex_init(&fs->mu, NULL);
  if(spec[0] == '@')
    snprintf(fs->file, sizeof(fs->file), "%s", spec + 1);
  else
    snprintf(fs->spec, sizeof(fs->spec), "%s", spec);
  *out = &fs->base;
  (void)eb;
  return ML_OK;
}

#else

ml_err ml_store_faults_wrap(struct ml_store *inner, const char *spec, struct ml_store **out,
                            struct ml_errbuf *eb) {
  (void)inner;
  (void)spec;
  (void)out;
  return ml_fail(eb, ML_ERR_CONFIG, "fault injection is only available in test builds");
}

#endif
