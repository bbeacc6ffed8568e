/* test_multipart.c - the streaming multipart/form-data parser: every way of
 * cutting a body into feeds gives the same parts, and malformed or abusive
 * bodies are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "http/multipart.h"

#define BND "XyZ-b0undary"

/* Records the callbacks as text: data of consecutive data calls is joined,
 * so the trace does not depend on how the body was cut. */
struct rec {
  struct ml_buf trace;
  int in_part;
  int parts;
  long data_calls;
  size_t data_bytes;
  size_t max_call;
  int fail_begin_at; /* part number whose part_begin fails (1-based), 0 never */
  int fail_data;     /* part_data fails */
  int fail_end;      /* part_end fails */
};

static ml_err rec_begin(void *ctx, const char *name, const char *filename,
                        const char *content_type) {
  struct rec *r = ctx;
  assert_non_null(name);
  assert_false(r->in_part);
  r->in_part = 1;
  r->parts++;
  assert_int_equal(ml_buf_addf(&r->trace, "[name=%s|file=%s|type=%s]", name,
                               filename ? filename : "(null)",
                               content_type ? content_type : "(null)"),
                   ML_OK);
  if(r->fail_begin_at == r->parts)
    return ML_ERR_UNSUPPORTED_MEDIA_TYPE;
  return ML_OK;
}

static ml_err rec_data(void *ctx, const char *data, size_t len) {
  struct rec *r = ctx;
  assert_true(r->in_part);
  assert_true(len > 0);
  r->data_calls++;
  r->data_bytes += len;
  if(len > r->max_call)
    r->max_call = len;
  if(r->fail_data)
    return ML_ERR_TOO_LARGE;
  if(r->trace.len + len + 64 <= r->trace.max)
    assert_int_equal(ml_buf_add(&r->trace, data, len), ML_OK);
  return ML_OK;
}

static ml_err rec_end(void *ctx) {
  struct rec *r = ctx;
  assert_true(r->in_part);
  r->in_part = 0;
  assert_int_equal(ml_buf_adds(&r->trace, "[end]"), ML_OK);
  return r->fail_end ? ML_ERR_IO : ML_OK;
}

static const struct ml_multipart_cb rec_cb = {rec_begin, rec_data, rec_end};

static void rec_init(struct rec *r) {
  memset(r, 0, sizeof(*r));
  ml_buf_init(&r->trace, 1 << 20);
  ml_buf_adds(&r->trace, "");
}

/* Feeds body in pieces cut at the positions in cuts (ascending), then calls
 * finish. Returns the first error, with its message in eb. */
static ml_err run_cuts(const char *boundary, const char *body, size_t len, const size_t *cuts,
                       int ncuts, struct rec *r, struct ml_errbuf *eb) {
  struct ml_multipart *mp = NULL;
  size_t pos = 0;
  ml_err rc;
  ml_errbuf_clear(eb);
  rc = ml_multipart_create(boundary, &rec_cb, r, &mp);
  assert_int_equal(rc, ML_OK);
  for(int i = 0; i <= ncuts && !rc; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    rc = ml_multipart_feed(mp, body + pos, end - pos, eb);
    pos = end;
  }
  if(!rc)
    rc = ml_multipart_finish(mp, eb);
  ml_multipart_destroy(&mp);
  assert_null(mp);
  return rc;
}

/* Feeds body in chunks of chunk bytes (0: all at once). */
static ml_err run_chunks(const char *boundary, const char *body, size_t len, size_t chunk,
                         struct rec *r, struct ml_errbuf *eb) {
  struct ml_multipart *mp = NULL;
  size_t pos = 0;
  ml_err rc;
  ml_errbuf_clear(eb);
  rc = ml_multipart_create(boundary, &rec_cb, r, &mp);
  assert_int_equal(rc, ML_OK);
  if(!chunk)
    chunk = len ? len : 1;
  while(!rc && pos < len) {
    size_t n = len - pos < chunk ? len - pos : chunk;
    rc = ml_multipart_feed(mp, body + pos, n, eb);
    pos += n;
  }
  if(!rc)
    rc = ml_multipart_finish(mp, eb);
  ml_multipart_destroy(&mp);
  return rc;
}

/* Runs body whole, byte by byte, at every split point and (when pairs) at
 * every pair of split points; all must give want_rc and the same trace.
 * Returns the trace of the whole run (free with ml_free). */
static char *run_all_ways(const char *boundary, const char *body, size_t len, ml_err want_rc,
                          int pairs) {
  struct rec r;
  struct ml_errbuf eb;
  char *whole;
  ml_err rc;
  rec_init(&r);
  rc = run_chunks(boundary, body, len, 0, &r, &eb);
  if(rc != want_rc)
    fail_msg("whole body: got %s (%s), want %s", ml_err_code(rc), eb.msg, ml_err_code(want_rc));
  whole = ml_buf_take(&r.trace, NULL);

  rec_init(&r);
  assert_int_equal(run_chunks(boundary, body, len, 1, &r, &eb), want_rc);
  assert_string_equal(r.trace.data, whole);
  ml_buf_free(&r.trace);

  for(size_t s = 0; s <= len; s++) {
    rec_init(&r);
    rc = run_cuts(boundary, body, len, &s, 1, &r, &eb);
    if(rc != want_rc || strcmp(r.trace.data, whole))
      fail_msg("split at %zu: got %s (%s), trace\n%s\nwant\n%s", s, ml_err_code(rc), eb.msg,
               r.trace.data, whole);
    ml_buf_free(&r.trace);
  }
  for(size_t s1 = 0; pairs && s1 <= len; s1++) {
    for(size_t s2 = s1; s2 <= len; s2++) {
      size_t cuts[2] = {s1, s2};
      rec_init(&r);
      rc = run_cuts(boundary, body, len, cuts, 2, &r, &eb);
      if(rc != want_rc || strcmp(r.trace.data, whole))
        fail_msg("split at %zu,%zu: got %s (%s)", s1, s2, ml_err_code(rc), eb.msg);
      ml_buf_free(&r.trace);
    }
  }
  return whole;
}

/* The same, checking the trace. */
static void expect_all_ways(const char *body, ml_err want_rc, const char *want_trace, int pairs) {
  char *t = run_all_ways(BND, body, strlen(body), want_rc, pairs);
  if(want_trace)
    assert_string_equal(t, want_trace);
  ml_free(t);
}

/* One run of a whole body: the error and its message. */
static ml_err run1(const char *body, struct ml_errbuf *eb, struct rec *r) {
  ml_err rc;
  rec_init(r);
  rc = run_chunks(BND, body, strlen(body), 0, r, eb);
  return rc;
}

#define SIMPLE_BODY                                                       \
  "--" BND "\r\n"                                                         \
  "Content-Disposition: form-data; name=\"title\"\r\n"                    \
  "\r\n"                                                                  \
  "Sunset\r\n"                                                            \
  "--" BND "\r\n"                                                         \
  "Content-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n" \
  "Content-Type: image/jpeg\r\n"                                          \
  "\r\n"                                                                  \
  "\xff\xd8\xff\r\n\r\n--\r\n--XyZ\r--" BND "x\xff\xd9\r\n"               \
  "--" BND "--\r\n"

#define SIMPLE_TRACE                                \
  "[name=title|file=(null)|type=(null)]Sunset[end]" \
  "[name=file|file=a.jpg|type=image/jpeg]\xff\xd8\xff\r\n\r\n--\r\n--XyZ\r--" BND "x\xff\xd9[end]"

static void test_simple_every_split(void **state) {
  (void)state;
  expect_all_ways(SIMPLE_BODY, ML_OK, SIMPLE_TRACE, 0);
}

static void test_every_pair_of_splits(void **state) {
  (void)state;
  /* a smaller body, cut in three pieces every possible way */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                  "x\r\n-\r\n--" BND "--",
                  ML_OK, "[name=a|file=(null)|type=(null)]x\r\n-[end]", 1);
  /* one whose part data ends in a partial delimiter */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                  "\r\n--XyZ-b0undar\r\n--" BND "--",
                  ML_OK, "[name=a|file=(null)|type=(null)]\r\n--XyZ-b0undar[end]", 1);
}

static void test_boundary_split_across_feeds(void **state) {
  const char *body = SIMPLE_BODY;
  const char *d = strstr(body + 10, "\r\n--" BND "\r\n");
  size_t base = (size_t)(d - body);
  struct rec r;
  struct ml_errbuf eb;
  (void)state;
  /* every cut inside the delimiter between the two parts, and two cuts */
  for(size_t i = 1; i < 4 + strlen(BND); i++) {
    size_t cuts[2] = {base + i, base + i + 1};
    rec_init(&r);
    assert_int_equal(run_cuts(BND, body, strlen(body), cuts, 2, &r, &eb), ML_OK);
    assert_string_equal(r.trace.data, SIMPLE_TRACE);
    ml_buf_free(&r.trace);
  }
}

static void test_data_lookalikes(void **state) {
  (void)state;
  /* "\r\n--" that is not the boundary, a boundary prefix, CRs, a boundary
   * without its CRLF, and "--boundary" at the start of the data */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=f\r\n\r\n"
                  "--" BND "\r\r\n\r\n-\r\n--\r\n--X\r\n--XyZ-b0undar\r\r\r\n"
                  "a--" BND "\n--" BND "\r\n--" BND "--",
                  ML_OK,
                  "[name=f|file=(null)|type=(null)]"
                  "--" BND "\r\r\n\r\n-\r\n--\r\n--X\r\n--XyZ-b0undar\r\r\r\n"
                  "a--" BND "\n--" BND "[end]",
                  0);
}

static void test_preamble_epilogue(void **state) {
  (void)state;
  expect_all_ways("This is the preamble.\r\n--not it\r\n--XyZ-b0und x\r\n"
                  "\r\n--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                  "--" BND "--\r\nThis is the epilogue, with --" BND " inside.\r\n--" BND "\r\n",
                  ML_OK, "[name=a|file=(null)|type=(null)]1[end]", 0);
  /* a preamble that is only a CRLF */
  expect_all_ways("\r\n--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                  "--" BND "--",
                  ML_OK, "[name=a|file=(null)|type=(null)]1[end]", 0);
  /* no parts at all */
  expect_all_ways("--" BND "--", ML_OK, "", 0);
  expect_all_ways("preamble\r\n--" BND "--\r\n", ML_OK, "", 0);
  /* transport padding after boundaries */
  expect_all_ways("--" BND " \t \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                  "--" BND "  \r\nContent-Disposition: form-data; name=b\r\n\r\n\r\n"
                  "--" BND "--  \r\n",
                  ML_OK,
                  "[name=a|file=(null)|type=(null)]1[end][name=b|file=(null)|type=(null)][end]", 0);
}

static void test_truncated(void **state) {
  struct rec r;
  struct ml_errbuf eb;
  (void)state;
  expect_all_ways("", ML_ERR_TRUNCATED, "", 0);
  expect_all_ways("just a preamble", ML_ERR_TRUNCATED, "", 0);
  expect_all_ways("--" BND, ML_ERR_TRUNCATED, "", 0);
  expect_all_ways("--" BND "-", ML_ERR_TRUNCATED, "", 0);
  expect_all_ways("--" BND "\r\n", ML_ERR_TRUNCATED, "", 0);
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n", ML_ERR_TRUNCATED, "",
                  0);
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\nabc",
                  ML_ERR_TRUNCATED, "[name=a|file=(null)|type=(null)]abc", 0);
  /* the last delimiter without its closing dashes */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--" BND "\r\n",
                  ML_ERR_TRUNCATED, "[name=a|file=(null)|type=(null)]abc[end]", 0);
  /* a partial closing delimiter: the held bytes never become data */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--XyZ",
                  ML_ERR_TRUNCATED, "[name=a|file=(null)|type=(null)]abc", 0);
  assert_int_equal(run1("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\nabc", &eb, &r),
                   ML_ERR_TRUNCATED);
  assert_non_null(strstr(eb.msg, "ended"));
  ml_buf_free(&r.trace);
}

static void test_garbage(void **state) {
  struct rec r;
  struct ml_errbuf eb;
  (void)state;
  /* after a boundary */
  expect_all_ways("--" BND "x\r\n", ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND "-x", ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND " x\r\n", ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND "\n\r\n", ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND "\rx", ML_ERR_BAD_REQUEST, "", 0);
  /* a boundary inside part data followed by junk */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\n\r\nabc\r\n--" BND
                  "junk\r\n",
                  ML_ERR_BAD_REQUEST, "[name=a|file=(null)|type=(null)]abc[end]", 0);
  assert_int_equal(run1("--" BND "x", &eb, &r), ML_ERR_BAD_REQUEST);
  assert_non_null(strstr(eb.msg, "after a boundary"));
  ml_buf_free(&r.trace);
  /* header lines that are not headers */
  expect_all_ways("--" BND "\r\ngarbage\r\n\r\ndata\r\n--" BND "--", ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\r\njunk line\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND "\r\n: no name\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_ERR_BAD_REQUEST, "", 0);
  /* obs-fold */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_ERR_BAD_REQUEST, "", 0);
  /* bare LF and bare CR inside the header block */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_ERR_BAD_REQUEST, "", 0);
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\rX: y\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_ERR_BAD_REQUEST, "", 0);
  /* a NUL in a header */
  {
    const char body[] = "--" BND "\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\n"
                        "x\r\n--" BND "--";
    char *t = run_all_ways(BND, body, sizeof(body) - 1, ML_ERR_BAD_REQUEST, 0);
    ml_free(t);
  }
  /* headers ended by LF LF only */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=a\n\n"
                  "x\r\n--" BND "--",
                  ML_ERR_BAD_REQUEST, "", 0);
}

static void test_header_limit(void **state) {
  char *body = ml_malloc(20000);
  size_t n = 0;
  struct rec r;
  struct ml_errbuf eb;
  const char *disp = "Content-Disposition: form-data; name=a\r\n";
  (void)state;
  assert_non_null(body);
  /* a block of exactly 8192 bytes (with its final empty line) is fine */
  n = (size_t)snprintf(body, 20000, "--" BND "\r\n%sX-Pad: ", disp);
  {
    size_t so_far = n - strlen("--" BND "\r\n");
    size_t pad = 8192 - so_far - 4;
    memset(body + n, 'p', pad);
    n += pad;
  }
  n += (size_t)snprintf(body + n, 20000 - n, "\r\n\r\nx\r\n--" BND "--");
  rec_init(&r);
  assert_int_equal(run_chunks(BND, body, n, 0, &r, &eb), ML_OK);
  assert_string_equal(r.trace.data, "[name=a|file=(null)|type=(null)]x[end]");
  ml_buf_free(&r.trace);
  rec_init(&r);
  assert_int_equal(run_chunks(BND, body, n, 7, &r, &eb), ML_OK);
  ml_buf_free(&r.trace);
  /* one byte more is refused, however it is fed */
  n = (size_t)snprintf(body, 20000, "--" BND "\r\n%sX-Pad: ", disp);
  {
    size_t so_far = n - strlen("--" BND "\r\n");
    size_t pad = 8192 - so_far - 4 + 1;
    memset(body + n, 'p', pad);
    n += pad;
  }
  n += (size_t)snprintf(body + n, 20000 - n, "\r\n\r\nx\r\n--" BND "--");
  for(size_t chunk = 0; chunk < 5000; chunk = chunk ? chunk * 3 : 1) {
    rec_init(&r);
    assert_int_equal(run_chunks(BND, body, n, chunk, &r, &eb), ML_ERR_BAD_REQUEST);
    assert_non_null(strstr(eb.msg, "headers exceed 8192 bytes"));
    assert_int_equal(r.parts, 0);
    ml_buf_free(&r.trace);
  }
  /* a never-ending header line */
  n = (size_t)snprintf(body, 20000, "--" BND "\r\nX: ");
  memset(body + n, 'h', 15000);
  n += 15000;
  rec_init(&r);
  assert_int_equal(run_chunks(BND, body, n, 100, &r, &eb), ML_ERR_BAD_REQUEST);
  ml_buf_free(&r.trace);
  ml_free(body);
}

static void test_part_limit(void **state) {
  struct ml_buf b;
  struct rec r;
  struct ml_errbuf eb;
  (void)state;
  ml_buf_init(&b, 1 << 20);
  for(int i = 0; i < 64; i++)
    assert_int_equal(ml_buf_addf(&b,
                                 "--" BND "\r\nContent-Disposition: form-data; "
                                 "name=f%d\r\n\r\n%d\r\n",
                                 i, i),
                     ML_OK);
  assert_int_equal(ml_buf_adds(&b, "--" BND "--"), ML_OK);
  rec_init(&r);
  assert_int_equal(run_chunks(BND, b.data, b.len, 0, &r, &eb), ML_OK);
  assert_int_equal(r.parts, 64);
  ml_buf_free(&r.trace);
  /* a 65th part */
  b.len -= strlen("--" BND "--");
  assert_int_equal(ml_buf_adds(&b, "--" BND "\r\nContent-Disposition: form-data; name=x\r\n\r\n"
                                   "x\r\n--" BND "--"),
                   ML_OK);
  for(size_t chunk = 0; chunk < 4096; chunk = chunk ? chunk * 4 : 1) {
    rec_init(&r);
    assert_int_equal(run_chunks(BND, b.data, b.len, chunk, &r, &eb), ML_ERR_BAD_REQUEST);
    assert_non_null(strstr(eb.msg, "more than 64 parts"));
    assert_int_equal(r.parts, 64);
    ml_buf_free(&r.trace);
  }
  ml_buf_free(&b);
}

static void test_huge_field(void **state) {
  /* 4 MiB of data in 64 KiB feeds: many data calls, nothing buffered */
  const size_t size = (size_t)4 << 20, feed = 65536;
  const char *head = "--" BND "\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n";
  const char *tail = "\r\n--" BND "--\r\n";
  size_t hl = strlen(head), tl = strlen(tail), total = hl + size + tl;
  char *body = ml_malloc(total);
  struct rec r;
  struct ml_errbuf eb;
  (void)state;
  assert_non_null(body);
  memcpy(body, head, hl);
  for(size_t i = 0; i < size; i++)
    body[hl + i] = (i % 97 == 0) ? '\r' : (i % 89 == 0) ? '\n' : (char)('a' + i % 26);
  memcpy(body + hl + size, tail, tl);
  rec_init(&r);
  r.trace.max = 1024; /* the trace keeps only the start */
  assert_int_equal(run_chunks(BND, body, total, feed, &r, &eb), ML_OK);
  assert_int_equal(r.data_bytes, size);
  assert_true(r.data_calls >= (long)(size / feed));
  assert_true(r.max_call <= feed);
  ml_buf_free(&r.trace);
  ml_free(body);
}

static void test_filenames(void **state) {
  (void)state;
  /* filename* is preferred, whichever comes first */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=\"file\"; "
                  "filename=\"fallback.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_OK, "[name=file|file=\xC3\xA9t\xC3\xA9.jpg|type=(null)]x[end]", 0);
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=\"file\"; "
                  "filename*=utf-8'en'a%20b.txt; filename=\"fallback.jpg\"\r\n\r\n"
                  "x\r\n--" BND "--",
                  ML_OK, "[name=file|file=a b.txt|type=(null)]x[end]", 0);
  /* a decoded NUL is dropped, not refused: the name is only cleaned metadata */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=f; "
                  "filename*=UTF-8''evil.php%00.png\r\n\r\nx\r\n--" BND "--",
                  ML_OK, "[name=f|file=evil.php.png|type=(null)]x[end]", 0);
  /* ISO-8859-1 becomes UTF-8 */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=f; "
                  "filename*=ISO-8859-1''caf%E9.txt\r\n\r\nx\r\n--" BND "--",
                  ML_OK, "[name=f|file=caf\xC3\xA9.txt|type=(null)]x[end]", 0);
  /* quoted-string escapes */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=\"f\"; "
                  "filename=\"say \\\"hi\\\" \\\\ ok.txt\"\r\n\r\nx\r\n--" BND "--",
                  ML_OK, "[name=f|file=say \"hi\" \\ ok.txt|type=(null)]x[end]", 0);
  /* token values, odd spacing, case-insensitive names */
  expect_all_ways("--" BND "\r\ncontent-DISPOSITION:FORM-DATA;NAME=f;FileName=a.png  \r\n"
                  "CONTENT-TYPE:   image/png  \r\n\r\nx\r\n--" BND "--",
                  ML_OK, "[name=f|file=a.png|type=image/png]x[end]", 0);
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data ; name = \"f\" ;"
                  " filename = \"a b.png\" ;\r\n\r\nx\r\n--" BND "--",
                  ML_OK, "[name=f|file=a b.png|type=(null)]x[end]", 0);
  /* raw UTF-8 in a quoted filename (what browsers send) */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=\"f\"; "
                  "filename=\"\xE6\x97\xA5.png\"\r\n\r\nx\r\n--" BND "--",
                  ML_OK, "[name=f|file=\xE6\x97\xA5.png|type=(null)]x[end]", 0);
  /* an empty filename is still a file part (no file chosen in a browser) */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n\r\n--" BND "--",
                  ML_OK, "[name=f|file=|type=application/octet-stream][end]", 0);
  /* no filename: a text field; no name: "" */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data\r\n\r\nv\r\n--" BND "--", ML_OK,
                  "[name=|file=(null)|type=(null)]v[end]", 0);
  /* path-like and hostile names are passed on as sent (cleaning is the
   * caller's job, ml_filename_clean) */
  expect_all_ways("--" BND "\r\nContent-Disposition: form-data; name=f; "
                  "filename=\"../../etc/passwd\"\r\n\r\nv\r\n--" BND "--",
                  ML_OK, "[name=f|file=../../etc/passwd|type=(null)]v[end]", 0);
  /* unknown parameters and headers are ignored */
  expect_all_ways("--" BND "\r\nX-Other: 1\r\nContent-Disposition: form-data; size=3; "
                  "name=f; creation-date=\"Wed, 12 Feb 1997 16:29:51 -0500\"\r\n"
                  "Content-Transfer-Encoding: binary\r\n\r\nv\r\n--" BND "--",
                  ML_OK, "[name=f|file=(null)|type=(null)]v[end]", 0);
}

static void test_bad_dispositions(void **state) {
  static const char *bad[] = {
      /* missing Content-Disposition */
      "--" BND "\r\nContent-Type: text/plain\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\n\r\nv\r\n--" BND "--",
      /* not form-data */
      "--" BND "\r\nContent-Disposition: attachment; name=f\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-datax; name=f\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: \r\n\r\nv\r\n--" BND "--",
      /* duplicates */
      "--" BND "\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data;"
      " name=b\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename=x; FILENAME=y\r\n\r\nv"
      "\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a/b\r\n"
      "Content-Type: c/d\r\n\r\nv\r\n--" BND "--",
      /* syntax */
      "--" BND "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; =a\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a b\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data name=a\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=\"a\" x\r\n\r\nv\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=\"a\\\"\r\n\r\nv\r\n--" BND "--",
      /* bad filename* */
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%zz\r\n\r\nv"
      "\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''a%4\r\n\r\nv"
      "\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename*=KOI8-R''abc\r\n\r\nv"
      "\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename*=UTF-8'abc\r\n\r\nv"
      "\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename*=abc\r\n\r\nv"
      "\r\n--" BND "--",
      "--" BND "\r\nContent-Disposition: form-data; name=a; filename*=\"UTF-8''a b\"\r\n\r\nv"
      "\r\n--" BND "--",
  };
  struct rec r;
  struct ml_errbuf eb;
  (void)state;
  for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ml_err rc = run1(bad[i], &eb, &r);
    if(rc != ML_ERR_BAD_REQUEST)
      fail_msg("case %zu: got %s, want bad_request", i, ml_err_code(rc));
    assert_int_equal(r.parts, 0);
    assert_true(eb.msg[0] != '\0');
    ml_buf_free(&r.trace);
  }
  assert_int_equal(run1(bad[0], &eb, &r), ML_ERR_BAD_REQUEST);
  assert_non_null(strstr(eb.msg, "no Content-Disposition"));
  ml_buf_free(&r.trace);
}

static void test_callback_errors(void **state) {
  struct rec r;
  struct ml_errbuf eb;
  struct ml_multipart *mp;
  const char *body = SIMPLE_BODY;
  (void)state;
  rec_init(&r);
  r.fail_begin_at = 2;
  assert_int_equal(run_chunks(BND, body, strlen(body), 0, &r, &eb), ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(r.parts, 2);
  ml_buf_free(&r.trace);
  rec_init(&r);
  r.fail_data = 1;
  assert_int_equal(run_chunks(BND, body, strlen(body), 3, &r, &eb), ML_ERR_TOO_LARGE);
  assert_int_equal(r.data_calls, 1);
  ml_buf_free(&r.trace);
  rec_init(&r);
  r.fail_end = 1;
  assert_int_equal(run_chunks(BND, body, strlen(body), 0, &r, &eb), ML_ERR_IO);
  ml_buf_free(&r.trace);
  /* the error sticks: later feeds and finish repeat it */
  rec_init(&r);
  r.fail_begin_at = 1;
  assert_int_equal(ml_multipart_create(BND, &rec_cb, &r, &mp), ML_OK);
  assert_int_equal(ml_multipart_feed(mp, body, strlen(body), &eb), ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(ml_multipart_feed(mp, "x", 1, &eb), ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(ml_multipart_finish(mp, &eb), ML_ERR_UNSUPPORTED_MEDIA_TYPE);
  assert_int_equal(r.parts, 1);
  ml_multipart_destroy(&mp);
  ml_multipart_destroy(&mp); /* twice is harmless */
  ml_buf_free(&r.trace);
}

static void test_null_callbacks_and_eb(void **state) {
  static const struct ml_multipart_cb none = {NULL, NULL, NULL};
  struct ml_multipart *mp;
  const char *body = SIMPLE_BODY;
  (void)state;
  assert_int_equal(ml_multipart_create(BND, &none, NULL, &mp), ML_OK);
  assert_int_equal(ml_multipart_feed(mp, body, strlen(body), NULL), ML_OK);
  assert_int_equal(ml_multipart_feed(mp, NULL, 0, NULL), ML_OK);
  assert_int_equal(ml_multipart_finish(mp, NULL), ML_OK);
  ml_multipart_destroy(&mp);
  assert_int_equal(ml_multipart_create(BND, &none, NULL, &mp), ML_OK);
  assert_int_equal(ml_multipart_feed(mp, "--" BND "x", strlen(BND) + 3, NULL), ML_ERR_BAD_REQUEST);
  ml_multipart_destroy(&mp);
}

static void test_other_boundaries(void **state) {
  char *t;
  const char *b70 = "0123456789012345678901234567890123456789012345678901234567890123456789";
  char body[512];
  (void)state;
  /* boundary chars that need quoting, and inner spaces */
  snprintf(body, sizeof(body),
           "--a b:c=d?e/f\r\nContent-Disposition: form-data; name=q\r\n"
           "\r\n1\r\n--a b:c=d?e/f--");
  t = run_all_ways("a b:c=d?e/f", body, strlen(body), ML_OK, 0);
  assert_string_equal(t, "[name=q|file=(null)|type=(null)]1[end]");
  ml_free(t);
  /* one-character and 70-character boundaries */
  snprintf(body, sizeof(body),
           "---\r\nContent-Disposition: form-data; name=q\r\n\r\n"
           "-\r\n--\r\n--x\r\n-----");
  t = run_all_ways("-", body, strlen(body), ML_OK, 0);
  assert_string_equal(t, "[name=q|file=(null)|type=(null)]-\r\n--\r\n--x[end]");
  ml_free(t);
  snprintf(body, sizeof(body), "--%s\r\nContent-Disposition: form-data; name=q\r\n\r\n1\r\n--%s--",
           b70, b70);
  t = run_all_ways(b70, body, strlen(body), ML_OK, 0);
  assert_string_equal(t, "[name=q|file=(null)|type=(null)]1[end]");
  ml_free(t);
}

static void test_create_bad_boundary(void **state) {
  struct ml_multipart *mp = (struct ml_multipart *)&mp;
  (void)state;
  assert_int_equal(ml_multipart_create("", &rec_cb, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_null(mp);
  assert_int_equal(ml_multipart_create(NULL, &rec_cb, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_multipart_create("a\r\nb", &rec_cb, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_multipart_create("ab ", &rec_cb, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_multipart_create("a\"b", &rec_cb, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_multipart_create("a;b", &rec_cb, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_int_equal(
      ml_multipart_create("01234567890123456789012345678901234567890123456789012345678901234567890",
                          &rec_cb, NULL, &mp),
      ML_ERR_BAD_REQUEST);
  assert_int_equal(ml_multipart_create("ok", NULL, NULL, &mp), ML_ERR_BAD_REQUEST);
  assert_null(mp);
}

static void check_boundary(const char *ct, ml_err want, const char *want_b) {
  char out[71];
  ml_err rc = ml_multipart_boundary(ct, out, sizeof(out));
  if(rc != want)
    fail_msg("'%s': got %s, want %s", ct ? ct : "(null)", ml_err_code(rc), ml_err_code(want));
  if(want == ML_OK)
    assert_string_equal(out, want_b);
}

static void test_boundary_param(void **state) {
  (void)state;
  check_boundary("multipart/form-data; boundary=abc", ML_OK, "abc");
  check_boundary("multipart/form-data;boundary=abc", ML_OK, "abc");
  check_boundary("Multipart/Form-Data; BOUNDARY=abc", ML_OK, "abc");
  check_boundary("multipart/form-data; boundary=\"abc\"", ML_OK, "abc");
  check_boundary("multipart/form-data; boundary=\"a b:c\"", ML_OK, "a b:c");
  check_boundary("multipart/form-data; boundary=\"a\\\"b\"", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWx",
                 ML_OK, "----WebKitFormBoundary7MA4YWx");
  check_boundary("multipart/form-data; boundary=abc; charset=utf-8", ML_OK, "abc");
  check_boundary("  multipart/form-data ;  boundary=abc  ", ML_OK, "abc");
  check_boundary("multipart/form-data; boundary=abc;", ML_OK, "abc");
  check_boundary("multipart/form-data; x=\"quoted; boundary=no\"; boundary=yes", ML_OK, "yes");
  /* 70 is the most; 71 is too long */
  check_boundary("multipart/form-data; boundary="
                 "0123456789012345678901234567890123456789012345678901234567890123456789",
                 ML_OK, "0123456789012345678901234567890123456789012345678901234567890123456789");
  check_boundary("multipart/form-data; boundary="
                 "01234567890123456789012345678901234567890123456789012345678901234567890",
                 ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=\""
                 "01234567890123456789012345678901234567890123456789012345678901234567890\"",
                 ML_ERR_BAD_REQUEST, NULL);
  /* missing or empty */
  check_boundary("multipart/form-data", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data;", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=\"\"", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; charset=utf-8", ML_ERR_BAD_REQUEST, NULL);
  /* bad characters, a trailing space, two boundaries */
  check_boundary("multipart/form-data; boundary=\"abc \"", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=a!b", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=\"a\x01\"", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=a; boundary=b", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary=\"abc", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary = abc", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-data; boundary", ML_ERR_BAD_REQUEST, NULL);
  /* wrong type */
  check_boundary("multipart/mixed; boundary=abc", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("multipart/form-datax; boundary=abc", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("application/x-www-form-urlencoded", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("text/plain; boundary=abc", ML_ERR_BAD_REQUEST, NULL);
  check_boundary("", ML_ERR_BAD_REQUEST, NULL);
  check_boundary(NULL, ML_ERR_BAD_REQUEST, NULL);
}

static void test_boundary_small_out(void **state) {
  char out[4];
  (void)state;
  assert_int_equal(ml_multipart_boundary("multipart/form-data; boundary=abc", out, 4), ML_OK);
  assert_string_equal(out, "abc");
  assert_int_not_equal(ml_multipart_boundary("multipart/form-data; boundary=abcd", out, 4), ML_OK);
}

/* The Content-Disposition header of PUT /api/media/{id}/file (RFC 6266). */
static void test_header_disposition_filename(void **state) {
  char out[64], small[4];
  (void)state;
  assert_int_equal(
      ml_multipart_disposition_filename("attachment; filename=\"a.png\"", out, sizeof(out)), 0);
  assert_string_equal(out, "a.png");
  /* A token value, inline, odd spacing and case. */
  assert_int_equal(
      ml_multipart_disposition_filename(" Inline ;FileName = b.jpg ", out, sizeof(out)), 0);
  assert_string_equal(out, "b.jpg");
  /* filename* wins over filename, whichever comes first, and is decoded. */
  assert_int_equal(
      ml_multipart_disposition_filename(
          "attachment; filename*=UTF-8''caf%C3%A9.png; filename=\"cafe.png\"", out, sizeof(out)),
      0);
  assert_string_equal(out, "caf\xc3\xa9.png");
  assert_int_equal(
      ml_multipart_disposition_filename(
          "attachment; filename=\"x.png\"; filename*=ISO-8859-1'en'%E9.png", out, sizeof(out)),
      0);
  assert_string_equal(out, "\xc3\xa9.png");
  /* Quoted-string escapes are undone; a ';' inside quotes is part of the name. */
  assert_int_equal(
      ml_multipart_disposition_filename("attachment; filename=\"a\\\"b;c.png\"", out, sizeof(out)),
      0);
  assert_string_equal(out, "a\"b;c.png");
  /* Other parameters are skipped. */
  assert_int_equal(
      ml_multipart_disposition_filename(
          "attachment; size=12; filename=\"d.pdf\"; creation-date=\"x\"", out, sizeof(out)),
      0);
  assert_string_equal(out, "d.pdf");
  /* None, malformed, repeated, unterminated, bad charset, too long. */
  assert_int_equal(ml_multipart_disposition_filename("attachment", out, sizeof(out)), -1);
  assert_int_equal(ml_multipart_disposition_filename("", out, sizeof(out)), -1);
  assert_int_equal(ml_multipart_disposition_filename(NULL, out, sizeof(out)), -1);
  assert_int_equal(ml_multipart_disposition_filename("; filename=a", out, sizeof(out)), -1);
  assert_int_equal(ml_multipart_disposition_filename("attachment filename=a", out, sizeof(out)),
                   -1);
  assert_int_equal(
      ml_multipart_disposition_filename("attachment; filename=a; filename=b", out, sizeof(out)),
      -1);
  assert_int_equal(ml_multipart_disposition_filename("attachment; filename=\"a", out, sizeof(out)),
                   -1);
  assert_int_equal(
      ml_multipart_disposition_filename("attachment; filename*=KOI8-R''a", out, sizeof(out)), -1);
  assert_int_equal(
      ml_multipart_disposition_filename("attachment; filename=abcd", small, sizeof(small)), -1);
  assert_int_equal(
      ml_multipart_disposition_filename("attachment; filename=abc", small, sizeof(small)), 0);
  assert_string_equal(small, "abc");
  {
    char big[9000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "attachment; filename=", 21);
    assert_int_equal(ml_multipart_disposition_filename(big, out, sizeof(out)), -1);
  }
}

#ifdef ML_TEST_HOOKS
static void test_create_nomem(void **state) {
  struct ml_multipart *mp = NULL;
  (void)state;
  ml_alloc_fail_after(1);
  assert_int_equal(ml_multipart_create(BND, &rec_cb, NULL, &mp), ML_ERR_NOMEM);
  assert_null(mp);
  ml_alloc_fail_after(0);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple_every_split),
      cmocka_unit_test(test_every_pair_of_splits),
      cmocka_unit_test(test_boundary_split_across_feeds),
      cmocka_unit_test(test_data_lookalikes),
      cmocka_unit_test(test_preamble_epilogue),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_header_limit),
      cmocka_unit_test(test_part_limit),
      cmocka_unit_test(test_huge_field),
      cmocka_unit_test(test_filenames),
      cmocka_unit_test(test_bad_dispositions),
      cmocka_unit_test(test_callback_errors),
      cmocka_unit_test(test_null_callbacks_and_eb),
      cmocka_unit_test(test_other_boundaries),
      cmocka_unit_test(test_create_bad_boundary),
      cmocka_unit_test(test_boundary_param),
      cmocka_unit_test(test_boundary_small_out),
      cmocka_unit_test(test_header_disposition_filename),
#ifdef ML_TEST_HOOKS
      cmocka_unit_test(test_create_nomem),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
