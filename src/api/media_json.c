/*
 * media_json.c - the JSON body of PATCH /api/media/{id}/ into metadata.
 *
 * Jansson parses (with duplicate keys refused); the same validators as for
 * multipart fields decide what is valid. Unknown and read-only keys are
 * ignored, as Django REST Framework does.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

static const char *text_fields[] = {"title", "alt_text", "caption", "folder", "filename"};

ml_err ml_api_meta_from_json(const char *data, size_t len, struct ml_arena *a,
                             struct ml_media_meta *meta, struct ml_field_errors *fe, char *msg,
                             size_t msglen) {
  json_error_t jerr;
  json_t *root, *v;
  ml_err rc = ML_OK;
  root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
  if(!root) {
    snprintf(msg, msglen, "JSON parse error at line %d, column %d: %s", jerr.line, jerr.column,
             jerr.text);
    return ML_ERR_BAD_REQUEST;
  }
  if(!json_is_object(root)) {
    snprintf(msg, msglen, "the body must be a JSON object");
    rc = ML_ERR_BAD_REQUEST;
    goto out;
  }
  for(size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
    const char *name = text_fields[i];
    v = json_object_get(root, name);
    if(!v)
      continue;
    if(json_is_null(v) && strcmp(name, "filename")) {
      if(ml_meta_set(meta, a, name, "", 0, fe) == ML_ERR_NOMEM)
        rc = ML_ERR_NOMEM;
      continue;
    }
    if(!json_is_string(v)) {
      ml_field_error(fe, name, "Not a valid string.");
      continue;
    }
    if(!strcmp(name, "filename") && json_string_length(v) == 0) {
      ml_field_error(fe, name, "This field may not be blank.");
      continue;
    }
    if(ml_meta_set(meta, a, name, json_string_value(v), json_string_length(v), fe) == ML_ERR_NOMEM)
      rc = ML_ERR_NOMEM;
  }
  v = json_object_get(root, "tags");
  if(v) {
    ml_meta_clear_tags(meta);
    if(json_is_string(v)) {
      if(ml_meta_set(meta, a, "tags", json_string_value(v), json_string_length(v), fe) ==
         ML_ERR_NOMEM)
        rc = ML_ERR_NOMEM;
    } else if(json_is_array(v)) {
      size_t idx;
      json_t *t;
      json_array_foreach(v, idx, t) {
        if(!json_is_string(t)) {
          ml_field_error(fe, "tags", "Expected a list of strings.");
          break;
        }
        if(strchr(json_string_value(t), ',')) {
          ml_field_error(fe, "tags", "Tags must not contain commas.");
          break;
        }
        if(ml_meta_set(meta, a, "tags", json_string_value(t), json_string_length(t), fe) ==
           ML_ERR_NOMEM) {
          rc = ML_ERR_NOMEM;
          break;
        }
      }
    } else if(!json_is_null(v)) {
      ml_field_error(fe, "tags", "Expected a list of strings.");
    }
  }
  if(!rc && fe->n)
    rc = ML_ERR_VALIDATION;
out:
  json_decref(root);
  return rc;
}
