/*
 * err.h - the one error type of medialib.
 *
 * Every function that can fail returns an ml_err. The X-macro table below is
 * the single source of truth: the enum value, the HTTP status it maps to, the
 * stable machine-readable code sent to clients (API.md) and a default message.
 * The table is append-only: values never change meaning.
 */
#ifndef ML_CORE_ERR_H
#define ML_CORE_ERR_H

#include <stddef.h>

/* clang-format off */
/*      NAME                  HTTP  code                          default message */
#define ML_ERRORS(X)                                                                   \
  X(OK,                      200, "ok",                          "ok")                 \
  X(BAD_REQUEST,             400, "bad_request",                 "bad request")        \
  X(VALIDATION,              400, "validation_failed",           "validation failed")  \
  X(UNAUTHORIZED,            401, "unauthorized",                "authentication required") \
  X(FORBIDDEN,               403, "forbidden",                   "forbidden")          \
  X(NOT_FOUND,               404, "not_found",                   "not found")          \
  X(METHOD_NOT_ALLOWED,      405, "method_not_allowed",          "method not allowed") \
  X(CONFLICT,                409, "conflict",                    "conflict")           \
  X(GONE,                    410, "gone",                        "gone")               \
  X(TOO_LARGE,               413, "payload_too_large",           "payload too large")  \
  X(URI_TOO_LONG,            414, "uri_too_long",                "URI too long")       \
  X(UNSUPPORTED_MEDIA_TYPE,  415, "unsupported_media_type",      "unsupported media type") \
  X(RANGE_NOT_SATISFIABLE,   416, "range_not_satisfiable",       "range not satisfiable") \
  X(UNPROCESSABLE,           422, "unprocessable",               "unprocessable content") \
  X(RATE_LIMITED,            429, "rate_limited",                "too many requests")  \
  X(HEADERS_TOO_LARGE,       431, "request_header_fields_too_large", "request headers too large") \
  X(INTERNAL,                500, "internal",                    "internal error")     \
  X(NOMEM,                   503, "out_of_memory",               "out of memory")      \
  X(IO,                      500, "io_error",                    "I/O error")          \
  X(DB,                      503, "database_unavailable",        "database unavailable") \
  X(STORAGE_UNAVAILABLE,     503, "storage_unavailable",         "storage unavailable") \
  X(INSUFFICIENT_STORAGE,    507, "insufficient_storage",        "insufficient storage") \
  X(BUSY,                    503, "busy",                        "server busy")        \
  X(TIMEOUT,                 504, "timeout",                     "timed out")          \
  X(CONFIG,                  500, "bad_config",                  "bad configuration")  \
  X(TRUNCATED,               400, "truncated_body",              "request body ended early") \
  X(PRECONDITION_FAILED,     412, "precondition_failed",         "precondition failed") \
  X(NOT_IMPLEMENTED,         501, "not_implemented",             "not implemented") \
  X(TOO_MANY_PIXELS,         422, "too_many_pixels",             "the image has too many pixels") \
  X(TOO_MANY_FRAMES,         422, "too_many_frames",             "the image has too many frames") \
  X(INVALID_IMAGE,           422, "invalid_image",               "the image header is corrupt")

/* clang-format on */

typedef enum {
#define ML_ERR_ENUM(name, status, code, msg) ML_ERR_##name,
  ML_ERRORS(ML_ERR_ENUM)
#undef ML_ERR_ENUM
      ML_ERR__COUNT
} ml_err;

#define ML_OK ML_ERR_OK

/* HTTP status for an error (500 for an unknown value). */
int ml_err_status(ml_err e);
/* Stable code string ("not_found"), never NULL. */
const char *ml_err_code(ml_err e);
/* Default human message, never NULL. */
const char *ml_err_message(ml_err e);

/*
 * Error detail buffer passed down the call chain (curl's failf): the deepest
 * function that knows why fills it; callers keep the first message written.
 */
#define ML_ERRBUF_SIZE 256
struct ml_errbuf {
  char msg[ML_ERRBUF_SIZE];
};

/* printf-style: sets the message if none is set yet; returns e for chaining. */
ml_err ml_fail(struct ml_errbuf *eb, ml_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears the message. */
void ml_errbuf_clear(struct ml_errbuf *eb);

/*
 * Per-field validation errors (API.md: "fields": {"title": "..."}), filled by
 * validators and sent by the API layer with ML_ERR_VALIDATION.
 */
#define ML_FIELD_ERRORS_MAX 8
struct ml_field_errors {
  int n;
  struct {
    char name[32];
    char msg[160];
  } f[ML_FIELD_ERRORS_MAX];
};

/* Records an error for field name (the first per field wins; extra fields
 * beyond the maximum are dropped). */
void ml_field_error(struct ml_field_errors *fe, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
