/*
 * filename.c - turns a client's filename into harmless metadata and writes
 * it back in Content-Disposition (RFC 6266, RFC 8187).
 *
 * The cleaned name never decides where anything is stored; it is cleaned so
 * that showing it, putting it in a URL segment or in a header cannot be
 * turned into path traversal, header injection or a spoofed extension. The
 * cleaner works in two passes over the input without allocating, so any
 * input length is fine and nothing can fail.
 */
#include "media/filename.h"

#include <string.h>

#define EXT_MAX 16

/* Characters dropped although valid: C0 and C1 controls, DEL, the double
 * quote, and the bidirectional marks, overrides and isolates, which can make
 * "gpj.exe" display as "exe.jpg". */
static int dropped(unsigned cp) {
  return cp < 0x20 || cp == 0x7F || cp == '"' || (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C ||
         cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

static int trimmed(unsigned char c) { return c == ' ' || c == '.'; }

/* Walks the kept characters of the last path segment, after leading spaces
 * and dots. Calls visit(pos, bytes, len) with pos the offset in the cleaned
 * string; shared by both passes so they cannot disagree. */
struct walk {
  const unsigned char *s;
  size_t n;
  size_t i;
  size_t pos;
  int started;
};

static void walk_init(struct walk *w, const char *in, size_t inlen) {
  size_t i, seg = 0;
  for(i = 0; i < inlen; i++)
    if(in[i] == '/' || in[i] == '\\')
      seg = i + 1;
  w->s = (const unsigned char *)in + seg;
  w->n = inlen - seg;
  w->i = 0;
  w->pos = 0;
  w->started = 0;
}

/* Next kept character: its bytes in *p, its length returned (0 at the end),
 * its offset in the cleaned string in *pos. */
static size_t walk_next(struct walk *w, const unsigned char **p, size_t *pos) {
  while(w->i < w->n) {
    unsigned cp = 0;
    size_t len = ml_utf8_decode(w->s + w->i, w->n - w->i, &cp);
    const unsigned char *at = w->s + w->i;
    if(!len) {
      w->i++;
      continue;
    }
    w->i += len;
    if(dropped(cp))
      continue;
    if(!w->started && trimmed(*at))
      continue;
    w->started = 1;
    *p = at;
    *pos = w->pos;
    w->pos += len;
    return len;
  }
  return 0;
}

static void trim_tail(char *out, size_t *len) {
  while(*len > 0 && trimmed((unsigned char)out[*len - 1]))
    (*len)--;
}

void ml_filename_clean(const char *in, size_t inlen, char *out, size_t outsz) {
  struct walk w;
  const unsigned char *p;
  size_t pos, len, total = 0, dot = 0, ext_dot = 0, max, head, olen = 0;
  int have_dot = 0, have_ext = 0;
  if(!outsz)
    return;
  max = outsz - 1 < ML_FILENAME_MAX ? outsz - 1 : ML_FILENAME_MAX;
  if(!in)
    inlen = 0;

  /* Pass 1: the cleaned length without trailing spaces and dots, and where
   * the extension starts (a dot followed by something that is kept). */
  walk_init(&w, in, inlen);
  while((len = walk_next(&w, &p, &pos))) {
    if(*p == '.') {
      dot = pos;
      have_dot = 1;
    }
    if(!trimmed(*p)) {
      total = pos + len;
      if(have_dot) {
        ext_dot = dot;
        have_ext = 1;
      }
    }
  }
  if(have_ext && (total - ext_dot > EXT_MAX || total - ext_dot >= max))
    have_ext = 0;

  /* Pass 2: copy the head (cut on a character boundary) and, when the name
   * is too long, the extension after it. */
  head = total <= max ? total : (have_ext ? max - (total - ext_dot) : max);
  walk_init(&w, in, inlen);
  while((len = walk_next(&w, &p, &pos)) && pos < total) {
    if(pos + len <= head) {
      memcpy(out + olen, p, len);
      olen += len;
    } else if(total > max && have_ext && pos >= ext_dot) {
      if(olen && pos == ext_dot)
        trim_tail(out, &olen);
      memcpy(out + olen, p, len);
      olen += len;
    } else if(total > max && !have_ext) {
      break;
    }
  }
  trim_tail(out, &olen);
  /* Only a tiny out can leave a leading dot (the extension alone). */
  while(olen > 0 && trimmed((unsigned char)out[0])) {
    memmove(out, out + 1, olen - 1);
    olen--;
  }
  if(!olen) {
    olen = max < 4 ? max : 4;
    memcpy(out, "file", olen);
  }
  out[olen] = '\0';
}

ml_err ml_filename_disposition(struct ml_buf *b, int is_inline, const char *name) {
  size_t mark = b->len;
  ml_err rc;
  const unsigned char *s;
  if(!name || !*name)
    name = "file";
  rc = ml_buf_adds(b, is_inline ? "inline" : "attachment");
  if(!rc)
    rc = ml_buf_adds(b, "; filename=\"");
  /* The fallback for old clients: printable ASCII only; '%' is replaced too
   * because some clients percent-decode filename= (RFC 6266 appendix D). */
  for(s = (const unsigned char *)name; !rc && *s; s++) {
    unsigned char c = *s;
    if(c >= 0x80 && c <= 0xBF && s != (const unsigned char *)name && s[-1] >= 0x80)
      continue; /* a continuation byte: one '_' per character is enough */
    if(c < 0x20 || c >= 0x7F || c == '"' || c == '\\' || c == '%')
      c = '_';
    rc = ml_buf_addc(b, (char)c);
  }
  if(!rc)
    rc = ml_buf_adds(b, "\"; filename*=UTF-8''");
  if(!rc)
    rc = ml_buf_url_encode(b, name);
  if(rc) {
    /* leave the buffer as it was, like every failed ml_buf append */
    b->len = mark;
    if(b->data)
      b->data[mark] = '\0';
  }
  return rc;
}
