/*
 * meta.c - validation of client metadata: title, alt text, caption, folder,
 * tags, filename. One place decides what a valid value is, for multipart
 * fields and JSON bodies alike.
 */
#include <string.h>

#include "core/buf.h"
#include "media/filename.h"
#include "media/media.h"

#define TITLE_MAX 255
#define ALT_MAX 1000
#define CAPTION_MAX 5000
#define FOLDER_MAX 255
#define TAG_MAX 64
#define TAGS_MAX 32

/* Text: valid UTF-8, at most max code points, no control characters except
 * newlines and tabs where multiline is allowed. */
static int text_ok(const char *field, const char *v, size_t len, size_t max, int multiline,
                   struct ml_field_errors *fe) {
  size_t chars;
  if(memchr(v, '\0', len)) {
    ml_field_error(fe, field, "Must not contain NUL characters.");
    return 0;
  }
  if(!ml_utf8_valid(v, len, &chars)) {
    ml_field_error(fe, field, "Must be valid UTF-8.");
    return 0;
  }
  if(chars > max) {
    ml_field_error(fe, field, "Ensure this field has no more than %zu characters.", max);
    return 0;
  }
  for(size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if((c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7f) {
      ml_field_error(fe, field, "Must not contain control characters.");
      return 0;
    }
  }
  return 1;
}

static int folder_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == ' ' || c == '/';
}

/* Folder: segments of [A-Za-z0-9 _.-] joined by '/', no "." or ".."
 * segment; surrounding slashes are dropped. "" is the root. */
static const char *folder_clean(struct ml_arena *a, const char *v, size_t len,
                                struct ml_field_errors *fe) {
  size_t start = 0, end = len, seg = 0;
  char *out;
  while(start < end && v[start] == '/')
    start++;
  while(end > start && v[end - 1] == '/')
    end--;
  if(end - start > FOLDER_MAX) {
    ml_field_error(fe, "folder", "Ensure this field has no more than %d characters.", FOLDER_MAX);
    return NULL;
  }
  for(size_t i = start; i <= end; i++) {
    if(i == end || v[i] == '/') {
      const char *s = v + i - seg;
      if(i > start &&
         (seg == 0 || (seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))) {
        ml_field_error(fe, "folder", "Folder segments must not be empty, '.' or '..'.");
        return NULL;
      }
      seg = 0;
      continue;
    }
    if(!folder_char(v[i])) {
      ml_field_error(fe, "folder",
                     "Use letters, digits, spaces, '-', '_', '.' and '/' between segments.");
      return NULL;
    }
    seg++;
  }
  out = ml_arena_strndup(a, v + start, end - start);
  if(!out)
    ml_field_error(fe, "folder", "Out of memory.");
  return out;
}

static int has_tag(const char *joined, const char *tag, size_t len) {
  const char *p = joined;
  while(p && *p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if(n == len && !memcmp(p, tag, len))
      return 1;
    p = comma ? comma + 1 : NULL;
  }
  return 0;
}

static ml_err add_tags(struct ml_media_meta *m, struct ml_arena *a, const char *v, size_t len,
                       struct ml_field_errors *fe) {
  struct ml_buf b;
  size_t count = 0, i = 0;
  ml_err rc = ML_OK;
  ml_buf_init(&b, TAGS_MAX * (TAG_MAX * 4 + 1));
  if(m->tags && *m->tags) {
    rc = ml_buf_adds(&b, m->tags);
    count = 1;
    for(const char *p = m->tags; *p; p++)
      count += *p == ',';
  }
  while(!rc && i <= len) {
    size_t s = i, e;
    while(i < len && v[i] != ',')
      i++;
    e = i++;
    while(s < e && (v[s] == ' ' || v[s] == '\t'))
      s++;
    while(e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if(s == e)
      continue;
    if(!text_ok("tags", v + s, e - s, TAG_MAX, 0, fe)) {
      rc = ML_ERR_VALIDATION;
      break;
    }
    if(b.data && has_tag(b.data, v + s, e - s))
      continue;
    if(++count > TAGS_MAX) {
      ml_field_error(fe, "tags", "Ensure there are no more than %d tags.", TAGS_MAX);
      rc = ML_ERR_VALIDATION;
      break;
    }
    if(b.len)
      rc = ml_buf_addc(&b, ',');
    if(!rc)
      rc = ml_buf_add(&b, v + s, e - s);
  }
  if(!rc) {
    m->tags = ml_arena_strdup(a, b.data ? b.data : "");
    if(!m->tags)
      rc = ML_ERR_NOMEM;
  }
  ml_buf_free(&b);
  return rc;
}

void ml_meta_clear_tags(struct ml_media_meta *m) { m->tags = ""; }

ml_err ml_meta_set(struct ml_media_meta *m, struct ml_arena *a, const char *field,
                   const char *value, size_t len, struct ml_field_errors *fe) {
  const char **slot = NULL;
  size_t max = 0;
  int multiline = 0;
  if(!strcmp(field, "title")) {
    slot = &m->title;
    max = TITLE_MAX;
  } else if(!strcmp(field, "alt_text")) {
    slot = &m->alt_text;
    max = ALT_MAX;
  } else if(!strcmp(field, "caption")) {
    slot = &m->caption;
    max = CAPTION_MAX;
    multiline = 1;
  } else if(!strcmp(field, "folder")) {
    m->folder = folder_clean(a, value, len, fe);
    return m->folder ? ML_OK : ML_ERR_VALIDATION;
  } else if(!strcmp(field, "tags")) {
    return add_tags(m, a, value, len, fe);
  } else if(!strcmp(field, "filename")) {
    char clean[ML_FILENAME_MAX + 1];
    ml_filename_clean(value, len, clean, sizeof(clean));
    m->filename = ml_arena_strdup(a, clean);
    return m->filename ? ML_OK : ML_ERR_NOMEM;
  } else {
    return ML_OK;
  }
  if(!text_ok(field, value, len, max, multiline, fe))
    return ML_ERR_VALIDATION;
  *slot = ml_arena_strndup(a, value, len);
  return *slot ? ML_OK : ML_ERR_NOMEM;
}
