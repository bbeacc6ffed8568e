/*
 * config.h - settings, from one table (Redis config.c).
 *
 * Each setting has a name, an environment variable, a type, a default and
 * bounds. Values come from the environment; MEDIALIB_CONFIG may name a file of
 * KEY=VALUE lines setting the same variables (the environment wins). Secrets
 * are flagged and never logged or printed.
 */
#ifndef ML_CORE_CONFIG_H
#define ML_CORE_CONFIG_H

#include <stdint.h>

#include "core/err.h"
#include "core/log.h"

struct ml_config {
  char *listen;     /* host:port */
  char *public_url; /* "" = from the request's Host */
  char *data_dir;
  char *database_url;   /* derived from data_dir when empty */
  char *storage_url;    /* derived from data_dir when empty */
  char *jwt_secret;     /* secret */
  char *purge_url;      /* caches to purge, comma-separated; "" = none */
  char *purge_method;   /* "purge" (PURGE per URL) or "ban" (BAN by prefix) */
  char *webhook_url;    /* webhook endpoints, comma-separated; "" = none */
  char *webhook_secret; /* secret: HMAC key of webhook signatures */
  char *log_level;
  char *test_faults;     /* test builds only: fault injection spec */
  int64_t max_upload;    /* bytes */
  int64_t max_json_body; /* bytes */
  int64_t threads;       /* HTTP event-loop threads, 0 = number of cores */
  int64_t workers;       /* worker threads for slow work */
  int64_t max_connections;
  int64_t max_connections_per_ip;
  int64_t idle_timeout;         /* seconds */
  int64_t header_timeout;       /* seconds to receive the request line and headers */
  int64_t min_body_rate;        /* bytes per second, checked after header_timeout */
  int64_t connection_memory;    /* libmicrohttpd per-connection buffer (max header size) */
  int64_t shutdown_timeout;     /* seconds to finish in-flight requests on SIGTERM */
  int64_t delete_deadline_ms;   /* how long DELETE waits for storage to confirm */
  int64_t intent_delay_ms;      /* how long an upload intent waits before it may clean up */
  int64_t replaced_grace_ms;    /* how long a replaced version stays; -1: by store */
  int64_t max_pixels;           /* largest accepted image, width x height */
  int64_t max_frames;           /* most frames of an animated image */
  int64_t delivery_cache_ms;    /* time to live of file delivery's cache; 0: off */
  int64_t insecure_open_writes; /* bool: allow writes without a token (tests only) */
  int64_t access_ttl;           /* seconds an access token lives */
  int64_t refresh_ttl;          /* seconds a refresh token lives */
  int64_t private_api;          /* bool: API reads need a viewer token (files stay public) */
  int64_t login_max_failures;   /* failed logins a minute per username and per address */
  char *cors_origins;           /* comma-separated allowed origins; "" = none */
  char *transforms;             /* "presets" (free-form needs a signature) or "any" */
  char *url_signing_key;        /* secret: HMAC key of signed transform URLs; "" = none */
  char *presets;                /* extra or replaced presets: "name=w_..,h_..;..." */
  char *eager_presets;          /* presets rendered after upload, comma-separated */
  int64_t render_threads;       /* image render threads, 0 = number of cores */
  int64_t render_queue;         /* renders waiting before 503 */
  int64_t render_memory;        /* address space of a render worker; 0: no limit */
  int64_t render_timeout_ms;    /* longest render before its worker is killed */
  int64_t job_lease_ms;         /* how long a claimed outbox job is another runner's */
  char *s3_access_key;          /* secret; "" = AWS_ACCESS_KEY_ID */
  char *s3_secret_key;          /* secret; "" = AWS_SECRET_ACCESS_KEY */
  char *s3_delivery;            /* "proxy" or "redirect" */
  int64_t s3_presign_ttl;       /* seconds a redirect's presigned URL is valid */
};

/* Loads defaults, the optional config file, then the environment. On error
 * returns ML_ERR_CONFIG with a message naming the variable and the problem. */
ml_err ml_config_load(struct ml_config *cfg, struct ml_errbuf *eb);
void ml_config_free(struct ml_config *cfg);

/* Logs every setting (secrets masked) at info level. */
void ml_config_log(const struct ml_config *cfg, const struct ml_log *lg);

/* Copies url into out (size bytes, always terminated) with its password
 * masked: "postgres://user:***@host/db", and "***" for the value of a
 * password= query parameter. For logging URLs that may carry credentials. */
void ml_config_redact_url(const char *url, char *out, size_t size);

/* Parses "512MiB", "10MB", "1024", "1G" into bytes; -1 when malformed. */
int ml_config_parse_size(const char *s, int64_t *out);

/* Parses a duration into seconds: "900", "30s", "15m", "1h", "7d"; -1 when
 * malformed or out of range. */
int ml_config_parse_duration(const char *s, int64_t *out);

/* Prints the table of settings (for `medialib help`). */
void ml_config_print_help(void);

#endif
