/*
 * main.c - the medialib command: serve, migrate, fsck, user, token, version,
 * help.
 *
 * main owns every long-lived object (the only place with process-wide
 * state): it builds them from the configuration, wires them together, waits
 * for SIGTERM/SIGINT, then shuts down in order: stop accepting, let
 * in-flight requests finish (up to MEDIALIB_SHUTDOWN_TIMEOUT), stop the HTTP
 * server, the job runner, the workers, and close the store and database.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/workers.h"
#include "db/repo.h"
#include "http/cors.h"
#include "http/metrics.h"
#include "http/server.h"
#include "image/renderd.h"
#include "image/transform.h"
#include "jobs/fsck.h"
#include "jobs/httpc.h"
#include "jobs/jobs.h"
#include "jobs/purge.h"
#include "jobs/webhook.h"
#include "media/media.h"
#include "store/store.h"

#define EXIT_USAGE 2

static void usage(FILE *f) {
  fprintf(f,
          "medialib %s - a self-hosted media library server\n\n"
          "Usage: medialib <command>\n\n"
          "Commands:\n"
          "  serve     start the HTTP server (API, file delivery)\n"
          "  migrate   apply database migrations and exit\n"
          "  fsck [--repair] [--json] [--grace SECONDS]\n"
          "            compare storage with the database: orphans, missing blobs\n"
          "  user add NAME [--role viewer|editor|admin] [--password-stdin]\n"
          "            create a user (the password is asked for, without echo,\n"
          "            or read from one line of stdin)\n"
          "  user passwd NAME [--password-stdin]\n"
          "            set a new password (revokes the user's tokens)\n"
          "  user list | user disable NAME | user enable NAME\n"
          "  token --user NAME [--ttl 1h]\n"
          "            print an access token for scripts (default lifetime:\n"
          "            MEDIALIB_ACCESS_TTL)\n"
          "  sign URL  print URL (/media/{id}/v{version}/{transform}/{file}) signed\n"
          "            with MEDIALIB_URL_SIGNING_KEY, for free-form transforms\n"
          "  version   print the version\n"
          "  help      this text\n\n",
          ML_VERSION);
  if(f == stdout)
    ml_config_print_help();
}

static int mkdir_p(const char *dir) {
  char path[4096];
  size_t n = strlen(dir);
  if(n == 0 || n >= sizeof(path))
    return -1;
  memcpy(path, dir, n + 1);
  for(char *p = path + 1;; p++) {
    if(*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if(mkdir(path, 0755) && errno != EEXIST)
        return -1;
      *p = c;
      if(!c)
        break;
    }
  }
  return 0;
}

/* The blob store's settings: remote stores spool uploads and downloads in
 * $DATA_DIR/spool (the only local state of an instance on S3). */
static ml_err open_store(const struct ml_config *cfg, const char *faults, struct ml_store **out,
                         struct ml_errbuf *eb) {
  char spool[4096];
  struct ml_store_opts o = {.url = cfg->storage_url,
                            .faults = faults,
                            .spool_dir = spool,
                            .s3_access_key = cfg->s3_access_key,
                            .s3_secret_key = cfg->s3_secret_key,
                            .s3_delivery = cfg->s3_delivery,
                            .s3_presign_ttl = cfg->s3_presign_ttl};
  if((size_t)snprintf(spool, sizeof(spool), "%s/spool", cfg->data_dir) >= sizeof(spool))
    return ml_fail(eb, ML_ERR_CONFIG, "MEDIALIB_DATA_DIR is too long");
  return ml_store_open_opts(&o, out, eb);
}

/* Loads the configuration and sets up logging; exits 2 on bad settings. */
static int load_config(struct ml_config *cfg, struct ml_log *lg) {
  struct ml_errbuf eb = {{0}};
  enum ml_log_level lvl = ML_LOG_INFO;
  ml_err rc = ml_config_load(cfg, &eb);
  if(rc) {
    fprintf(stderr, "medialib: configuration error: %s\n", eb.msg[0] ? eb.msg : ml_err_message(rc));
    return EXIT_USAGE;
  }
  ml_log_level_parse(cfg->log_level, &lvl);
  lg->level = lvl;
  lg->fd = 2;
  return 0;
}

static int cmd_migrate(void) {
  struct ml_config cfg;
  struct ml_log lg;
  struct ml_repo *repo = NULL;
  struct ml_errbuf eb = {{0}};
  int applied = 0, version = 0, code = load_config(&cfg, &lg);
  ml_err rc;
  if(code)
    return code;
  if(mkdir_p(cfg.data_dir)) {
    fprintf(stderr, "medialib: cannot create data dir %s: %s\n", cfg.data_dir, strerror(errno));
    ml_config_free(&cfg);
    return 1;
  }
  rc = ml_repo_open(cfg.database_url, 1, 0, &repo, &eb);
  if(!rc)
    rc = ml_repo_migrate(repo, &applied, &eb);
  if(!rc)
    rc = ml_repo_schema_version(repo, &version, &eb);
  if(rc)
    fprintf(stderr, "medialib: migrate failed: %s\n", eb.msg[0] ? eb.msg : ml_err_message(rc));
  else
    printf("migrations applied: %d; schema version: %d\n", applied, version);
  ml_repo_close(&repo);
  ml_config_free(&cfg);
  return rc ? 1 : 0;
}

struct fsck_ui {
  int tty;
  int json;
};

static void fsck_progress(void *ctx, int64_t blobs, int64_t rows) {
  struct fsck_ui *ui = ctx;
  if(ui->tty && !ui->json)
    fprintf(stderr, "\rfsck: %lld blobs, %lld rows checked", (long long)blobs, (long long)rows);
}

static void fsck_problem(void *ctx, const char *kind, const char *key, int64_t media_id,
                         int repaired) {
  struct fsck_ui *ui = ctx;
  if(ui->json)
    return;
  if(ui->tty)
    fprintf(stderr, "\r\033[K");
  if(media_id)
    printf("%s: media %lld, key %s%s\n", kind, (long long)media_id, key,
           repaired ? " (marked missing)" : "");
  else
    printf("%s: key %s%s\n", kind, key, repaired ? " (removed)" : "");
}

static int cmd_fsck(int argc, char **argv) {
  struct ml_config cfg;
  struct ml_log lg;
  struct ml_repo *repo = NULL;
  struct ml_store *store = NULL;
  struct ml_errbuf eb = {{0}};
  struct ml_fsck_report rep;
  struct fsck_ui ui = {isatty(2), 0};
  struct ml_fsck_opts o = {0, 10 * 60 * 1000, fsck_progress, fsck_problem, &ui};
  int code;
  ml_err rc;
  for(int i = 2; i < argc; i++) {
    if(!strcmp(argv[i], "--repair"))
      o.repair = 1;
    else if(!strcmp(argv[i], "--json"))
      ui.json = 1;
    else if(!strcmp(argv[i], "--grace") && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if(*end || v < 0) {
        fprintf(stderr, "medialib fsck: --grace needs a number of seconds\n");
        return EXIT_USAGE;
      }
      o.grace_ms = (int64_t)v * 1000;
    } else {
      fprintf(stderr, "medialib fsck: unknown option '%s'\n", argv[i]);
      return EXIT_USAGE;
    }
  }
  code = load_config(&cfg, &lg);
  if(code)
    return code;
  rc = ml_repo_open(cfg.database_url, 1, 1, &repo, &eb);
  if(!rc)
    rc = open_store(&cfg, NULL, &store, &eb);
  if(!rc)
    rc = ml_fsck_run(repo, store, &o, &rep, &eb);
  if(ui.tty && !ui.json)
    fprintf(stderr, "\r\033[K");
  if(rc) {
    fprintf(stderr, "medialib fsck: %s\n", eb.msg[0] ? eb.msg : ml_err_message(rc));
    code = 3;
  } else {
    if(ui.json)
      printf("{\"blobs\":%lld,\"rows\":%lld,\"pending\":%lld,\"young\":%lld,"
             "\"orphans\":%lld,\"missing\":%lld,\"repaired\":%lld}\n",
             (long long)rep.blobs, (long long)rep.rows, (long long)rep.pending,
             (long long)rep.young, (long long)rep.orphans, (long long)rep.missing,
             (long long)rep.repaired);
    else
      printf("fsck: %lld blobs, %lld rows; %lld orphans, %lld missing, %lld pending removal, "
             "%lld repaired\n",
             (long long)rep.blobs, (long long)rep.rows, (long long)rep.orphans,
             (long long)rep.missing, (long long)rep.pending, (long long)rep.repaired);
    code = rep.orphans || rep.missing ? 1 : 0;
  }
  ml_store_close(&store);
  ml_repo_close(&repo);
  ml_config_free(&cfg);
  return code;
}

/* The preset table: the built-in presets, then MEDIALIB_PRESETS; and every
 * name of MEDIALIB_EAGER_PRESETS must be one of them. Exit code 2 when not. */
static int load_presets(const struct ml_config *cfg, struct ml_transform_presets *p) {
  struct ml_errbuf eb = {{0}};
  const char *list = cfg->eager_presets;
  ml_transform_presets_init(p);
  if(*cfg->presets && ml_transform_presets_parse(p, cfg->presets, &eb)) {
    fprintf(stderr, "medialib: configuration error: MEDIALIB_PRESETS: %s\n", eb.msg);
    return EXIT_USAGE;
  }
  while(*list) {
    size_t len = strcspn(list, ",");
    if(len && !ml_transform_preset_find(p, list, len)) {
      fprintf(stderr, "medialib: configuration error: MEDIALIB_EAGER_PRESETS: no preset '%.*s'\n",
              (int)len, list);
      return EXIT_USAGE;
    }
    list += len;
    if(*list == ',')
      list++;
  }
  return 0;
}

static int cmd_sign(int argc, char **argv) {
  struct ml_config cfg;
  struct ml_log lg;
  struct ml_transform_presets presets;
  struct ml_errbuf eb = {{0}};
  struct ml_buf out;
  int code;
  ml_err rc;
  if(argc != 3) {
    fprintf(stderr, "usage: medialib sign URL\n");
    return EXIT_USAGE;
  }
  code = load_config(&cfg, &lg);
  if(!code)
    code = load_presets(&cfg, &presets);
  if(code)
    return code;
  if(!*cfg.url_signing_key) {
    fprintf(stderr, "medialib: sign: MEDIALIB_URL_SIGNING_KEY is not set\n");
    ml_config_free(&cfg);
    return EXIT_USAGE;
  }
  ml_buf_init(&out, 65536);
  rc = ml_api_sign_url(argv[2], (const unsigned char *)cfg.url_signing_key,
                       strlen(cfg.url_signing_key), &presets, &out, &eb);
  if(rc)
    fprintf(stderr, "medialib: sign: %s\n", eb.msg[0] ? eb.msg : ml_err_message(rc));
  else
    printf("%s\n", out.data);
  ml_buf_free(&out);
  ml_config_free(&cfg);
  return rc ? EXIT_USAGE : 0;
}

/* medialib-render, the render worker (image/renderd.h), beside this
 * executable. -1 when it is not there. */
static int worker_path(char *out, size_t cap) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  char *slash;
  if(n <= 0)
    return -1;
  self[n] = '\0';
  slash = strrchr(self, '/');
  if(!slash || (size_t)snprintf(out, cap, "%.*s/medialib-render", (int)(slash - self), self) >= cap)
    return -1;
  return access(out, X_OK) ? -1 : 0;
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if(!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* The base of media URLs in webhook events (MEDIALIB_PUBLIC_URL, else the
 * listen address) and the Host header of cache purges (the public URL's
 * host, which the cache keys objects by; "" without a public URL: the
 * cache's own address, as when clients reach it directly). */
static void public_urls(const struct ml_config *cfg, char *base, size_t base_cap, char *host,
                        size_t host_cap) {
  const char *p = cfg->public_url, *h, *end;
  host[0] = '\0';
  if(!*p) {
    snprintf(base, base_cap, "http://%s", cfg->listen);
    return;
  }
  snprintf(base, base_cap, "%s", p);
  h = strstr(p, "://");
  h = h ? h + 3 : p;
  end = strchr(h, '/');
  snprintf(host, host_cap, "%.*s", (int)(end ? (size_t)(end - h) : strlen(h)), h);
}

/* The admin UI's routes; its images may come from where the store
 * redirects file URLs. */
static ml_err admin_routes(struct ml_router *rt, struct ml_api_admin *admin, struct ml_store *store,
                           struct ml_errbuf *eb) {
  char origin[256];
  int redirects = ml_store_delivery_origin(store, origin, sizeof(origin));
  ml_err rc = ml_api_admin_init(admin, &ml_api_admin_embedded, redirects ? origin : NULL);
  if(rc)
    return ml_fail(eb, rc, "the store's delivery origin '%s' cannot go into a CSP", origin);
  return ml_api_admin_register(rt, admin);
}

static int cmd_serve(void) {
  struct ml_config cfg;
  struct ml_log lg;
  struct ml_repo *repo = NULL;
  struct ml_store *store = NULL;
  struct ml_workers *workers = NULL, *renderers = NULL;
  struct ml_renderd *renderd = NULL;
  char render_exe[4096];
  struct ml_transform_presets presets;
  struct ml_metrics *metrics = NULL;
  struct ml_jobs *jobs = NULL;
  struct ml_purge *purge = NULL;
  struct ml_webhooks *webhooks = NULL;
  char public_base[1024], public_host[300];
  struct ml_media_svc *media = NULL;
  struct ml_http *http = NULL;
  struct ml_auth *auth = NULL;
  struct ml_cors *cors = NULL;
  unsigned char *key = NULL;
  size_t keylen = 0;
  struct ml_router router;
  struct ml_api api;
  struct ml_api_admin admin;
  struct ml_errbuf eb = {{0}};
  sigset_t sigs;
  int sig = 0, threads, render_threads, code = load_config(&cfg, &lg);
  ml_err rc;
  const char *stage = "start";
  if(code)
    return code;
  code = load_presets(&cfg, &presets);
  if(code) {
    ml_config_free(&cfg);
    return code;
  }

  /* Signals are taken by sigwait below: block them before any thread starts
   * so every thread inherits the mask. */
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN); /* sendfile to a closed socket */
  raise_fd_limit();

  ml_config_log(&cfg, &lg);
  threads = cfg.threads > 0 ? (int)cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if(threads < 1)
    threads = 1;
  /* An event-loop thread waits out each round trip to a database server,
   * its core idle unless another thread has work: two per core there. */
  if(cfg.threads <= 0 && strncmp(cfg.database_url, "sqlite:", 7) != 0)
    threads *= 2;
  render_threads =
      cfg.render_threads > 0 ? (int)cfg.render_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if(render_threads < 1)
    render_threads = 1;

  stage = "cors";
  rc = ml_cors_create(cfg.cors_origins, &cors, &eb);
  if(rc)
    goto out;
  stage = "data dir";
  if(mkdir_p(cfg.data_dir)) {
    rc = ml_fail(&eb, ML_ERR_CONFIG, "cannot create %s: %s", cfg.data_dir, strerror(errno));
    goto out;
  }
  stage = "signing secret";
  {
    int generated = 0;
    rc = ml_auth_secret_load(cfg.jwt_secret, cfg.data_dir, &key, &keylen, &generated, &eb);
    /* The configuration's copy is not needed any more. */
    sodium_memzero(cfg.jwt_secret, strlen(cfg.jwt_secret));
    if(rc)
      goto out;
    if(generated)
      ml_log(&lg, ML_LOG_INFO, NULL, "generated a signing secret",
             ML_LS("file", "$MEDIALIB_DATA_DIR/jwt.secret"));
  }
  stage = "database";
  rc = ml_repo_open(cfg.database_url, threads + (int)cfg.workers + render_threads + 2, 1, &repo,
                    &eb);
  if(rc)
    goto out;
  stage = "storage";
  rc = open_store(&cfg, cfg.test_faults, &store, &eb);
  if(rc)
    goto out;
  if(*cfg.eager_presets && ml_store_transforms(store))
    ml_log(&lg, ML_LOG_INFO, NULL,
           "the store renders variants itself (its CDN, on first request): "
           "MEDIALIB_EAGER_PRESETS renders nothing here",
           ML_LS("eager_presets", cfg.eager_presets));
  stage = "workers";
  rc = ml_workers_create((int)cfg.workers, 1024, &workers);
  if(rc)
    goto out;
  stage = "images";
  if(worker_path(render_exe, sizeof(render_exe))) {
    rc = ml_fail(&eb, ML_ERR_CONFIG, "cannot find medialib-render next to this executable");
    goto out;
  }
  {
    /* libvips runs in worker processes (renderd.h), never in this one. */
    struct ml_renderd_opts ro = {.exe = render_exe,
                                 .workers = render_threads,
                                 .memory_limit = cfg.render_memory,
                                 .timeout_ms = cfg.render_timeout_ms,
                                 .log = &lg};
    rc = ml_renderd_create(&ro, &renderd, &eb);
  }
  if(!rc)
    rc = ml_workers_create(render_threads, (size_t)cfg.render_queue, &renderers);
  if(rc)
    goto out;
  rc = ml_metrics_create(&metrics);
  if(rc)
    goto out;
  stage = "jobs";
  {
    struct ml_jobs_opts jo = {
        .repo = repo, .store = store, .log = &lg, .lease_ms = cfg.job_lease_ms};
    rc = ml_jobs_create(&jo, &jobs);
    if(rc)
      goto out;
  }
  stage = "purge and webhooks";
  public_urls(&cfg, public_base, sizeof(public_base), public_host, sizeof(public_host));
  {
    struct ml_purge_opts po = {.urls = cfg.purge_url,
                               .method = cfg.purge_method,
                               .host = public_host,
                               .presets = &presets,
                               .log = &lg};
    struct ml_webhook_opts wo = {.urls = cfg.webhook_url,
                                 .secret = cfg.webhook_secret,
                                 .base_url = public_base,
                                 .presets = &presets,
                                 .media_json = ml_api_media_json,
                                 .repo = repo,
                                 .log = &lg};
    rc = ml_purge_create(&po, &purge, &eb);
    if(!rc)
      rc = ml_webhook_create(&wo, &webhooks, &eb);
    /* webhooks keeps its own copy of the secret */
    sodium_memzero(cfg.webhook_secret, strlen(cfg.webhook_secret));
    if(rc)
      goto out;
  }
  stage = "media";
  {
    struct ml_media_deps md = {repo,
                               store,
                               jobs,
                               &lg,
                               cfg.max_upload,
                               cfg.delete_deadline_ms,
                               cfg.intent_delay_ms,
                               cfg.max_pixels,
                               cfg.max_frames,
                               cfg.delivery_cache_ms,
                               &presets,
                               cfg.eager_presets,
                               renderd,
                               purge,
                               webhooks,
                               cfg.replaced_grace_ms >= 0                ? cfg.replaced_grace_ms
                               : !strncmp(cfg.storage_url, "file://", 7) ? 0
                                                                         : 30000};
    rc = ml_media_svc_create(&md, &media, &eb);
    if(rc)
      goto out;
  }
  stage = "jobs";
  rc = ml_jobs_handle(jobs, ML_JOB_RENDER_VARIANT, ml_media_render_job, media);
  /* Registered even when off: jobs queued before the configuration changed
   * are dropped by their handler, not taken for blob removals. */
  if(!rc)
    rc = ml_jobs_handle(jobs, ML_JOB_PURGE, ml_purge_job, purge);
  if(!rc)
    rc = ml_jobs_handle(jobs, ML_JOB_WEBHOOK, ml_webhook_job, webhooks);
  if(!rc)
    rc = ml_jobs_start(jobs);
  if(rc)
    goto out;
  stage = "auth";
  {
    struct ml_auth_opts ao = {.repo = repo,
                              .log = &lg,
                              .key = key,
                              .keylen = keylen,
                              .access_ttl = cfg.access_ttl,
                              .refresh_ttl = cfg.refresh_ttl,
                              .login_max_failures = (int)cfg.login_max_failures};
    rc = ml_auth_create(&ao, &auth, &eb);
    ml_auth_secret_free(&key, keylen); /* auth keeps its own copy */
    if(rc)
      goto out;
  }
  {
    int swept = 0;
    ml_upload_sweep(media, &swept);
    if(swept)
      ml_log(&lg, ML_LOG_INFO, NULL, "spool.swept", ML_LI("files", swept),
             ML_LS("why", "left by a process that died mid-upload"));
  }
  stage = "routes";
  api = (struct ml_api){&cfg, &lg, media, repo, store, metrics, jobs, auth, &presets, renderers};
  ml_router_init(&router);
  rc = ml_api_media_register(&router, &api);
  if(!rc)
    rc = ml_api_files_register(&router, &api);
  if(!rc)
    rc = ml_api_ops_register(&router, &api);
  if(!rc)
    rc = ml_api_auth_register(&router, &api);
  if(!rc)
    rc = ml_api_users_register(&router, &api);
  if(!rc)
    rc = admin_routes(&router, &admin, store, &eb);
  if(rc)
    goto out;
  stage = "http";
  {
    struct ml_http_opts ho = {
        .listen = cfg.listen,
        .threads = threads,
        .max_connections = (int)cfg.max_connections,
        .max_connections_per_ip = (int)cfg.max_connections_per_ip,
        .idle_timeout = (int)cfg.idle_timeout,
        .header_timeout = (int)cfg.header_timeout,
        .min_body_rate = cfg.min_body_rate,
        .connection_memory = cfg.connection_memory,
        .log = &lg,
        .workers = workers,
        .router = &router,
        .metrics = metrics,
        .cors = cors,
    };
    rc = ml_http_start(&ho, &http, &eb);
    if(rc)
      goto out;
  }
  ml_log(&lg, ML_LOG_INFO, NULL, "listening", ML_LS("listen", cfg.listen),
         ML_LI("port", ml_http_port(http)), ML_LI("threads", threads),
         ML_LI("workers", cfg.workers), ML_LS("version", ML_VERSION),
         ML_LB("open_writes", cfg.insecure_open_writes));
  if(cfg.insecure_open_writes)
    ml_log(&lg, ML_LOG_WARN, NULL,
           "writes are open to anyone (MEDIALIB_INSECURE_OPEN_WRITES=1 is a test switch: "
           "never use it in production)");
  {
    int64_t users = 0;
    if(!ml_auth_user_count(auth, &users, NULL) && users == 0) {
      ml_log(&lg, ML_LOG_WARN, NULL,
             "no users yet: create the first admin with `medialib user add NAME --role admin` "
             "(same MEDIALIB_DATA_DIR / MEDIALIB_DATABASE_URL)");
      fprintf(stderr,
              "medialib: no users yet. Create the first admin (you will be asked for a "
              "password):\n  MEDIALIB_DATA_DIR=%s medialib user add admin --role admin\n",
              cfg.data_dir);
    }
  }

  while(sigwait(&sigs, &sig) != 0)
    ;
  ml_log(&lg, ML_LOG_INFO, NULL, "shutting down", ML_LS("signal", strsignal(sig)),
         ML_LI("in_flight", ml_http_inflight(http)));
  ml_http_quiesce(http);
  {
    uint64_t deadline = ml_mono_ns() + (uint64_t)cfg.shutdown_timeout * 1000000000u;
    struct timespec ts = {0, 20 * 1000 * 1000};
    while(ml_http_inflight(http) > 0 && ml_mono_ns() < deadline)
      nanosleep(&ts, NULL);
    if(ml_http_inflight(http) > 0)
      ml_log(&lg, ML_LOG_WARN, NULL, "shutdown timeout: closing in-flight requests",
             ML_LI("in_flight", ml_http_inflight(http)));
  }
out:
  if(rc)
    ml_log(&lg, ML_LOG_ERROR, NULL, "cannot start", ML_LS("stage", stage), ML_LERR(rc),
           ML_LS("detail", eb.msg[0] ? eb.msg : ml_err_message(rc)));
  if(rc)
    fprintf(stderr, "medialib: %s: %s\n", stage, eb.msg[0] ? eb.msg : ml_err_message(rc));
  ml_http_stop(&http);
  ml_workers_destroy(&workers);
  ml_workers_destroy(&renderers);
  ml_jobs_destroy(&jobs);
  ml_renderd_destroy(&renderd);
  ml_media_svc_destroy(&media);
  ml_purge_destroy(&purge);
  ml_webhook_destroy(&webhooks);
  ml_auth_destroy(&auth);
  ml_auth_secret_free(&key, keylen);
  ml_cors_destroy(&cors);
  ml_metrics_destroy(&metrics);
  ml_store_close(&store);
  ml_repo_close(&repo);
  ml_config_free(&cfg);
  if(!rc)
    ml_log(&lg, ML_LOG_INFO, NULL, "stopped");
  return rc ? (rc == ML_ERR_CONFIG ? EXIT_USAGE : 1) : 0;
}

/* ---------------------------------------------------------- users, tokens */

/* What the user and token commands share: configuration, the database
 * (migrated), and an auth object (with the signing secret when with_key). */
struct cli {
  struct ml_config cfg;
  struct ml_log lg;
  struct ml_repo *repo;
  struct ml_auth *auth;
  struct ml_arena *arena;
};

static int cli_open(struct cli *c, int with_key) {
  struct ml_errbuf eb = {{0}};
  unsigned char *key = NULL;
  size_t keylen = 0;
  int code;
  ml_err rc;
  memset(c, 0, sizeof(*c));
  code = load_config(&c->cfg, &c->lg);
  if(code)
    return code;
  c->lg.level = ML_LOG_WARN; /* a command's output is its answer, not log lines */
  if(mkdir_p(c->cfg.data_dir)) {
    fprintf(stderr, "medialib: cannot create data dir %s: %s\n", c->cfg.data_dir, strerror(errno));
    return 1;
  }
  c->arena = ml_arena_create(0);
  if(!c->arena)
    return 1;
  rc = ml_repo_open(c->cfg.database_url, 1, 1, &c->repo, &eb);
  if(!rc && with_key)
    rc = ml_auth_secret_load(c->cfg.jwt_secret, c->cfg.data_dir, &key, &keylen, NULL, &eb);
  sodium_memzero(c->cfg.jwt_secret, strlen(c->cfg.jwt_secret));
  if(!rc) {
    struct ml_auth_opts ao = {.repo = c->repo,
                              .log = &c->lg,
                              .key = key,
                              .keylen = keylen,
                              .access_ttl = c->cfg.access_ttl,
                              .refresh_ttl = c->cfg.refresh_ttl};
    rc = ml_auth_create(&ao, &c->auth, &eb);
  }
  ml_auth_secret_free(&key, keylen);
  if(rc) {
    fprintf(stderr, "medialib: %s\n", eb.msg[0] ? eb.msg : ml_err_message(rc));
    return rc == ML_ERR_CONFIG ? EXIT_USAGE : 1;
  }
  return 0;
}

static void cli_close(struct cli *c) {
  ml_auth_destroy(&c->auth);
  ml_repo_close(&c->repo);
  ml_arena_destroy(&c->arena);
  ml_config_free(&c->cfg);
}

#define PASSWORD_BUF (ML_AUTH_PASSWORD_MAX + 3)

/* One line of f into buf, without its line end. -1 on EOF or when longer
 * than the buffer holds. */
static int read_line(FILE *f, char *buf, size_t size, size_t *len) {
  size_t n;
  if(!fgets(buf, (int)size, f))
    return -1;
  n = strlen(buf);
  if(n == size - 1 && buf[n - 1] != '\n')
    return -1;
  while(n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  *len = n;
  return 0;
}

/* Asks on the terminal with echo off. */
static int ask_password(const char *prompt, char *buf, size_t size, size_t *len) {
  struct termios old, quiet;
  FILE *tty = fopen("/dev/tty", "r+");
  int rc;
  if(!tty)
    return -2;
  fputs(prompt, tty);
  fflush(tty);
  if(tcgetattr(fileno(tty), &old)) {
    fclose(tty);
    return -2;
  }
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  quiet.c_lflag |= ECHONL;
  tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
  rc = read_line(tty, buf, size, len);
  tcsetattr(fileno(tty), TCSAFLUSH, &old);
  fclose(tty);
  return rc;
}

/* The new password: one line of stdin, or asked twice on the terminal. */
static int get_new_password(int from_stdin, char *buf, size_t *len) {
  char again[PASSWORD_BUF];
  size_t again_len = 0;
  int rc;
  if(from_stdin) {
    if(read_line(stdin, buf, PASSWORD_BUF, len)) {
      fprintf(stderr, "medialib: no password on stdin (or longer than %d bytes)\n",
              ML_AUTH_PASSWORD_MAX);
      return -1;
    }
    return 0;
  }
  rc = ask_password("Password: ", buf, PASSWORD_BUF, len);
  if(rc == -2) {
    fprintf(stderr, "medialib: no terminal to ask for a password; use --password-stdin\n");
    return -1;
  }
  if(rc || ask_password("Password (again): ", again, sizeof(again), &again_len)) {
    fprintf(stderr, "medialib: no password read\n");
    sodium_memzero(again, sizeof(again));
    return -1;
  }
  rc = again_len == *len && !sodium_memcmp(again, buf, *len) ? 0 : -1;
  sodium_memzero(again, sizeof(again));
  if(rc)
    fprintf(stderr, "medialib: the passwords differ\n");
  return rc;
}

static void print_field_errors(const struct ml_field_errors *fe) {
  for(int i = 0; i < fe->n; i++)
    fprintf(stderr, "medialib: %s: %s\n", fe->f[i].name, fe->f[i].msg);
}

static int user_fail(ml_err rc, const struct ml_field_errors *fe, const struct ml_errbuf *eb) {
  if(rc == ML_ERR_VALIDATION && fe && fe->n)
    print_field_errors(fe);
  else
    fprintf(stderr, "medialib: %s\n", eb->msg[0] ? eb->msg : ml_err_message(rc));
  return rc == ML_ERR_VALIDATION ? EXIT_USAGE : 1;
}

static int user_add(struct cli *c, const char *name, const char *role, int from_stdin) {
  char pw[PASSWORD_BUF];
  size_t pwlen = 0;
  struct ml_field_errors fe;
  struct ml_errbuf eb = {{0}};
  struct ml_user u;
  enum ml_role r;
  ml_err rc;
  memset(&fe, 0, sizeof(fe));
  if(ml_auth_role_parse(role, &r)) {
    fprintf(stderr, "medialib: --role must be viewer, editor or admin\n");
    return EXIT_USAGE;
  }
  if(get_new_password(from_stdin, pw, &pwlen))
    return 1;
  rc = ml_auth_user_create(c->auth, name, pw, pwlen, role, c->arena, &u, &fe, &eb);
  sodium_memzero(pw, sizeof(pw));
  if(rc)
    return user_fail(rc, &fe, &eb);
  printf("created user %s (id %lld, role %s)\n", u.username, (long long)u.id, u.role);
  return 0;
}

static int user_change(struct cli *c, const char *name, const char *what, int from_stdin) {
  char pw[PASSWORD_BUF];
  struct ml_auth_user_change ch = {NULL, NULL, 0, -1};
  struct ml_field_errors fe;
  struct ml_errbuf eb = {{0}};
  struct ml_user u, after;
  ml_err rc;
  memset(&fe, 0, sizeof(fe));
  rc = ml_auth_user_find(c->auth, name, c->arena, &u, &eb);
  if(rc)
    return user_fail(rc, NULL, &eb);
  if(!strcmp(what, "passwd")) {
    if(get_new_password(from_stdin, pw, &ch.password_len))
      return 1;
    ch.password = pw;
  } else {
    ch.disabled = !strcmp(what, "disable");
  }
  rc = ml_auth_user_update(c->auth, u.id, &ch, c->arena, &after, &fe, &eb);
  sodium_memzero(pw, sizeof(pw));
  if(rc)
    return user_fail(rc, &fe, &eb);
  if(ch.password)
    printf("password of %s changed; its tokens are revoked\n", after.username);
  else
    printf("%s is %s%s\n", after.username, after.disabled ? "disabled" : "enabled",
           after.disabled ? "; its tokens are revoked" : "");
  return 0;
}

static int user_list(struct cli *c) {
  struct ml_errbuf eb = {{0}};
  int64_t offset = 0, count = 0;
  printf("%-6s %-24s %-7s %-9s %-21s %s\n", "ID", "USERNAME", "ROLE", "STATE", "CREATED",
         "LAST LOGIN");
  do {
    struct ml_user *items = NULL;
    size_t n = 0;
    ml_err rc = ml_auth_user_list(c->auth, offset, 1000, c->arena, &items, &n, &count, &eb);
    if(rc)
      return user_fail(rc, NULL, &eb);
    for(size_t i = 0; i < n; i++) {
      char created[21], login[21];
      ml_time_rfc3339(items[i].created_at, created);
      ml_time_rfc3339(items[i].last_login_at, login);
      printf("%-6lld %-24s %-7s %-9s %-21s %s\n", (long long)items[i].id, items[i].username,
             items[i].role, items[i].disabled ? "disabled" : "enabled", created,
             items[i].last_login_at ? login : "never");
    }
    offset += (int64_t)n;
    ml_arena_reset(c->arena);
    if(n == 0)
      break;
  } while(offset < count);
  return 0;
}

static int cmd_user(int argc, char **argv) {
  const char *sub = argc > 2 ? argv[2] : "", *name = NULL, *role = "viewer";
  int from_stdin = 0, code;
  struct cli c;
  int want_name = strcmp(sub, "list") != 0;
  if(strcmp(sub, "add") && strcmp(sub, "passwd") && strcmp(sub, "list") && strcmp(sub, "disable") &&
     strcmp(sub, "enable")) {
    fprintf(stderr, "medialib user: use add, passwd, list, disable or enable\n");
    return EXIT_USAGE;
  }
  for(int i = 3; i < argc; i++) {
    if(!strcmp(argv[i], "--role") && i + 1 < argc && !strcmp(sub, "add"))
      role = argv[++i];
    else if(!strcmp(argv[i], "--password-stdin") && (!strcmp(sub, "add") || !strcmp(sub, "passwd")))
      from_stdin = 1;
    else if(argv[i][0] != '-' && want_name && !name)
      name = argv[i];
    else {
      fprintf(stderr, "medialib user %s: unexpected argument '%s'\n", sub, argv[i]);
      return EXIT_USAGE;
    }
  }
  if(want_name && !name) {
    fprintf(stderr, "medialib user %s: which user? (medialib user %s NAME)\n", sub, sub);
    return EXIT_USAGE;
  }
  code = cli_open(&c, 0);
  if(code) {
    cli_close(&c);
    return code;
  }
  if(!strcmp(sub, "add"))
    code = user_add(&c, name, role, from_stdin);
  else if(!strcmp(sub, "list"))
    code = user_list(&c);
  else
    code = user_change(&c, name, sub, from_stdin);
  cli_close(&c);
  return code;
}

static int cmd_token(int argc, char **argv) {
  const char *name = NULL;
  int64_t ttl = -1;
  char token[ML_AUTH_TOKEN_MAX];
  struct ml_errbuf eb = {{0}};
  struct cli c;
  int code;
  ml_err rc;
  for(int i = 2; i < argc; i++) {
    if(!strcmp(argv[i], "--user") && i + 1 < argc)
      name = argv[++i];
    else if(!strcmp(argv[i], "--ttl") && i + 1 < argc) {
      if(ml_config_parse_duration(argv[++i], &ttl) || ttl < 60 || ttl > 365 * 86400) {
        fprintf(stderr, "medialib token: --ttl wants 60s to 365d (e.g. 900, 15m, 1h, 7d)\n");
        return EXIT_USAGE;
      }
    } else {
      fprintf(stderr,
              "medialib token: unexpected argument '%s' (medialib token --user NAME "
              "[--ttl 1h])\n",
              argv[i]);
      return EXIT_USAGE;
    }
  }
  if(!name) {
    fprintf(stderr, "medialib token: which user? (medialib token --user NAME [--ttl 1h])\n");
    return EXIT_USAGE;
  }
  code = cli_open(&c, 1);
  if(code) {
    cli_close(&c);
    return code;
  }
  rc = ml_auth_mint_access(c.auth, name, ttl > 0 ? ttl : c.cfg.access_ttl, c.arena, token, &eb);
  if(rc)
    code = user_fail(rc, NULL, &eb);
  else
    printf("%s\n", token);
  sodium_memzero(token, sizeof(token));
  cli_close(&c);
  return code;
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "help";
  if(!strcmp(cmd, "serve"))
    return cmd_serve();
  if(!strcmp(cmd, "migrate"))
    return cmd_migrate();
  if(!strcmp(cmd, "fsck"))
    return cmd_fsck(argc, argv);
  if(!strcmp(cmd, "user"))
    return cmd_user(argc, argv);
  if(!strcmp(cmd, "token"))
    return cmd_token(argc, argv);
  if(!strcmp(cmd, "sign"))
    return cmd_sign(argc, argv);
  if(!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
#ifdef ML_TEST_HOOKS
    printf("medialib %s (test build: fault injection compiled in)\n", ML_VERSION);
#else
    printf("medialib %s\n", ML_VERSION);
#endif
    return 0;
  }
  if(!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "medialib: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  int code;
  /* Once, before any thread: random numbers, password hashing, and libcurl
   * (the S3 store, cache purges, webhooks), whose global init is not
   * thread-safe. */
  if(sodium_init() < 0) {
    fprintf(stderr, "medialib: libsodium cannot start\n");
    return 1;
  }
  if(curl_global_init(CURL_GLOBAL_DEFAULT)) {
    fprintf(stderr, "medialib: libcurl cannot start\n");
    return 1;
  }
  code = dispatch(argc, argv);
  curl_global_cleanup();
  return code;
}
