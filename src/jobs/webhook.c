/* webhook.c - signed event deliveries through the outbox. */
#include "jobs/webhook.h"

#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "jobs/httpc.h"

#define MAX_ENDPOINTS 8
#define URL_MAX 2048
#define EVENT_MAX (1024 * 1024) /* a media object is a few KiB */

struct endpoint {
  char url[URL_MAX];
  char id[13];
};

struct ml_webhooks {
  int n;
  struct endpoint ep[MAX_ENDPOINTS];
  char *secret;
  size_t secret_len;
  char *base_url;
  const struct ml_transform_presets *presets;
  ml_webhook_media_json_fn media_json;
  struct ml_repo *repo;
  const struct ml_log *log;
};

void ml_webhook_endpoint_id(const char *url, char out[13]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)url, strlen(url), md);
  ml_hex_encode(md, 6, out);
}

static int valid_url(const char *u, size_t len) {
  size_t skip = 0;
  if(len > 7 && !strncasecmp(u, "http://", 7))
    skip = 7;
  else if(len > 8 && !strncasecmp(u, "https://", 8))
    skip = 8;
  if(!skip || u[skip] == '/' || u[skip] == ':')
    return 0;
  for(size_t i = 0; i < len; i++)
    if((unsigned char)u[i] <= ' ')
      return 0;
  return 1;
}

ml_err ml_webhook_create(const struct ml_webhook_opts *o, struct ml_webhooks **out,
                         struct ml_errbuf *eb) {
  struct ml_webhooks *w = ml_calloc(1, sizeof(*w));
  const char *s = o->urls ? o->urls : "";
  ml_err rc = ML_OK;
  *out = NULL;
  if(!w)
    return ML_ERR_NOMEM;
  while(*s) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *u = s;
    size_t ulen = len;
    while(ulen && *u == ' ') {
      u++;
      ulen--;
    }
    while(ulen && u[ulen - 1] == ' ')
      ulen--;
    if(ulen) {
      /* The URL itself is not repeated: it may carry a token. */
      if(!valid_url(u, ulen) || ulen >= URL_MAX) {
        rc = ml_fail(eb, ML_ERR_CONFIG,
                     "MEDIALIB_WEBHOOK_URL: endpoint %d is not an http:// or https:// URL",
                     w->n + 1);
        goto out;
      }
      if(w->n == MAX_ENDPOINTS) {
        rc =
            ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_WEBHOOK_URL: at most %d endpoints", MAX_ENDPOINTS);
        goto out;
      }
      memcpy(w->ep[w->n].url, u, ulen);
      w->ep[w->n].url[ulen] = '\0';
      ml_webhook_endpoint_id(w->ep[w->n].url, w->ep[w->n].id);
      w->n++;
    }
    s += len;
    if(*s == ',')
      s++;
  }
  if(w->n) {
    size_t sl = o->secret ? strlen(o->secret) : 0;
    if(sl < ML_WEBHOOK_SECRET_MIN) {
      rc = ml_fail(eb, ML_ERR_CONFIG,
                   "MEDIALIB_WEBHOOK_SECRET must be set, %d bytes or more, when "
                   "MEDIALIB_WEBHOOK_URL is (it signs every event)",
                   ML_WEBHOOK_SECRET_MIN);
      goto out;
    }
    if(!o->media_json) {
      rc = ml_fail(eb, ML_ERR_CONFIG, "webhooks need a media formatter");
      goto out;
    }
    w->secret = ml_malloc(sl + 1);
    w->base_url = ml_malloc(strlen(o->base_url ? o->base_url : "") + 1);
    if(!w->secret || !w->base_url) {
      rc = ML_ERR_NOMEM;
      goto out;
    }
    memcpy(w->secret, o->secret, sl + 1);
    w->secret_len = sl;
    memcpy(w->base_url, o->base_url ? o->base_url : "", strlen(o->base_url ? o->base_url : "") + 1);
  }
  w->presets = o->presets;
  w->media_json = o->media_json;
  w->repo = o->repo;
  w->log = o->log;
out:
  if(rc) {
    ml_webhook_destroy(&w);
    return rc;
  }
  *out = w;
  return ML_OK;
}

void ml_webhook_destroy(struct ml_webhooks **wp) {
  struct ml_webhooks *w;
  if(!wp || !*wp)
    return;
  w = *wp;
  if(w->secret) {
    volatile char *v = w->secret;
    for(size_t i = 0; i < w->secret_len; i++)
      v[i] = 0;
    ml_free(w->secret);
  }
  ml_free(w->base_url);
  ml_free(w);
  *wp = NULL;
}

int ml_webhook_enabled(const struct ml_webhooks *w) { return w && w->n > 0; }

/* ------------------------------------------------------------ pure parts */

ml_err ml_webhook_event_json(struct ml_buf *b, const char *event_id, const char *type,
                             int64_t created_at_ms, const char *data_json) {
  char created[21];
  ml_err rc;
  ml_time_rfc3339(created_at_ms, created);
  rc = ml_buf_adds(b, "{\"id\":");
  if(!rc)
    rc = ml_buf_json_str(b, event_id);
  if(!rc)
    rc = ml_buf_adds(b, ",\"type\":");
  if(!rc)
    rc = ml_buf_json_str(b, type);
  if(!rc)
    rc = ml_buf_adds(b, ",\"created_at\":");
  if(!rc)
    rc = ml_buf_json_str(b, created);
  if(!rc)
    rc = ml_buf_adds(b, ",\"data\":");
  if(!rc)
    rc = ml_buf_adds(b, data_json);
  if(!rc)
    rc = ml_buf_addc(b, '}');
  return rc;
}

ml_err ml_webhook_deleted_json(struct ml_buf *b, int64_t media_id) {
  ml_err rc = ml_buf_adds(b, "{\"id\":");
  if(!rc)
    rc = ml_buf_addi(b, media_id);
  if(!rc)
    rc = ml_buf_adds(b, ",\"deleted\":true,\"storage\":{\"status\":\"deleted\"}}");
  return rc;
}

ml_err ml_webhook_sign(const char *secret, size_t secret_len, int64_t t, const char *body,
                       size_t body_len, char out[ML_WEBHOOK_SIG_MAX]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  struct ml_buf msg;
  size_t off;
  int n;
  ml_buf_init(&msg, body_len + 32);
  if(ml_buf_addf(&msg, "%lld.", (long long)t) || ml_buf_add(&msg, body, body_len)) {
    ml_buf_free(&msg);
    return ML_ERR_NOMEM;
  }
  if(!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg.data, msg.len, mac,
           &maclen) ||
     maclen != 32) {
    ml_buf_free(&msg);
    return ML_ERR_INTERNAL;
  }
  ml_buf_free(&msg);
  n = snprintf(out, ML_WEBHOOK_SIG_MAX, "t=%lld,v1=", (long long)t);
  off = (size_t)n;
  ml_hex_encode(mac, maclen, out + off);
  return ML_OK;
}

/* ---------------------------------------------------------------- queueing */

static int event_id(char out[21]) {
  unsigned char r[8];
  if(getrandom(r, sizeof(r), 0) != sizeof(r))
    return -1;
  memcpy(out, "evt_", 4);
  ml_hex_encode(r, sizeof(r), out + 4);
  return 0;
}

ml_err ml_webhook_queue(struct ml_webhooks *w, struct ml_conn *c, const char *type,
                        int64_t media_id, const struct ml_media *m, int64_t now,
                        struct ml_errbuf *eb) {
  struct ml_buf data, body;
  char id[21];
  ml_err rc;
  if(!ml_webhook_enabled(w))
    return ML_OK;
  if(event_id(id))
    return ml_fail(eb, ML_ERR_INTERNAL, "no randomness for an event id");
  ml_buf_init(&data, EVENT_MAX);
  ml_buf_init(&body, EVENT_MAX);
  rc = m ? w->media_json(&data, m, w->base_url, w->presets)
         : ml_webhook_deleted_json(&data, media_id);
  if(!rc)
    rc = ml_webhook_event_json(&body, id, type, now, data.data);
  if(rc)
    ml_fail(eb, rc, "cannot format the %s event", type);
  for(int i = 0; !rc && i < w->n; i++) {
    char key[64];
    struct ml_job j;
    snprintf(key, sizeof(key), "webhook:%s:%lld", w->ep[i].id, (long long)media_id);
    memset(&j, 0, sizeof(j));
    j.kind = ML_JOB_WEBHOOK;
    j.key = key;
    j.media_id = media_id;
    j.next_at = now;
    j.last_error = "";
    j.created_at = now;
    j.payload = body.data;
    rc = ml_repo_job_add(c, &j, eb);
  }
  ml_buf_free(&data);
  ml_buf_free(&body);
  return rc;
}

/* -------------------------------------------------------------- delivery */

/* Is the event a media.deleted whose storage is not clean yet? */
static ml_err deleted_waits(struct ml_webhooks *w, const struct ml_job *job, int *waits,
                            struct ml_errbuf *eb) {
  json_t *root = json_loads(job->payload, 0, NULL);
  const char *type = root ? json_string_value(json_object_get(root, "type")) : NULL;
  struct ml_conn *c = NULL;
  ml_err rc = ML_OK;
  *waits = 0;
  if(type && !strcmp(type, "media.deleted") && w->repo) {
    rc = ml_repo_acquire(w->repo, &c, eb);
    if(!rc)
      rc = ml_repo_job_exists_for_media(c, "remove_blob", job->media_id, waits, eb);
    ml_repo_release(&c);
  }
  json_decref(root);
  return rc;
}

ml_err ml_webhook_job(void *ctx, const struct ml_job *job, struct ml_errbuf *eb) {
  struct ml_webhooks *w = ctx;
  const struct endpoint *ep = NULL;
  char sig[ML_WEBHOOK_SIG_MAX], sig_header[ML_WEBHOOK_SIG_MAX + 32];
  const char *headers[3] = {"Content-Type: application/json", sig_header, NULL};
  struct ml_httpc_req rq;
  long status = 0;
  int waits = 0;
  ml_err rc;
  if(!strncmp(job->key, "webhook:", 8) && strlen(job->key) > 8 + 12 && job->key[8 + 12] == ':')
    for(int i = 0; i < w->n; i++)
      if(!memcmp(job->key + 8, w->ep[i].id, 12))
        ep = &w->ep[i];
  if(!ep) {
    ml_log(w->log, ML_LOG_WARN, NULL, "webhook.dropped", ML_LI("job_id", job->id),
           ML_LS("key", job->key), ML_LS("why", "its endpoint is not configured any more"));
    return ML_OK;
  }
  rc = deleted_waits(w, job, &waits, eb);
  if(rc)
    return rc;
  if(waits)
    return ml_fail(eb, ML_ERR_BUSY,
                   "media.deleted waits until the stored files of media %lld are removed",
                   (long long)job->media_id);
  if(ml_webhook_sign(w->secret, w->secret_len, (int64_t)time(NULL), job->payload,
                     strlen(job->payload), sig))
    return ml_fail(eb, ML_ERR_INTERNAL, "HMAC failed");
  snprintf(sig_header, sizeof(sig_header), "Medialib-Signature: %s", sig);
  memset(&rq, 0, sizeof(rq));
  rq.method = "POST";
  rq.url = ep->url;
  rq.headers = headers;
  rq.body = job->payload;
  rq.body_len = strlen(job->payload);
  rc = ml_httpc_do(&rq, &status, eb);
  if(rc)
    return rc;
  if(status < 200 || status >= 300)
    return ml_fail(eb, ML_ERR_IO, "webhook endpoint %s answered %ld", ep->id, status);
  return ML_OK;
}
