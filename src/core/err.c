/* err.c - the error table's accessors and the error detail buffer. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
  int status;
  const char *code;
  const char *msg;
} err_table[] = {
#define ML_ERR_ROW(name, status, code, msg) {status, code, msg},
    ML_ERRORS(ML_ERR_ROW)
#undef ML_ERR_ROW
};

int ml_err_status(ml_err e) {
  if((unsigned)e >= ML_ERR__COUNT)
    return 500;
  return err_table[e].status;
}

const char *ml_err_code(ml_err e) {
  if((unsigned)e >= ML_ERR__COUNT)
    return "internal";
  return err_table[e].code;
}

const char *ml_err_message(ml_err e) {
  if((unsigned)e >= ML_ERR__COUNT)
    return "internal error";
  return err_table[e].msg;
}

ml_err ml_fail(struct ml_errbuf *eb, ml_err e, const char *fmt, ...) {
  if(eb && !eb->msg[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
    va_end(ap);
  }
  return e;
}

void ml_errbuf_clear(struct ml_errbuf *eb) {
  if(eb)
    eb->msg[0] = '\0';
}

void ml_field_error(struct ml_field_errors *fe, const char *name, const char *fmt, ...) {
  va_list ap;
  if(!fe || fe->n >= ML_FIELD_ERRORS_MAX)
    return;
  for(int i = 0; i < fe->n; i++)
    if(!strcmp(fe->f[i].name, name))
      return;
  snprintf(fe->f[fe->n].name, sizeof(fe->f[0].name), "%s", name);
  va_start(ap, fmt);
  vsnprintf(fe->f[fe->n].msg, sizeof(fe->f[0].msg), fmt, ap);
  va_end(ap);
  fe->n++;
}
