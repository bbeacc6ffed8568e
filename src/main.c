/*
 * main.c - the medialib command: serve, migrate, version, help.
 *
 * main owns every long-lived object (the only place with process-wide
 * state): it builds them from the configuration, wires them together, waits
 * for SIGTERM/SIGINT, then shuts down in order: stop accepting, let
 * in-flight requests finish (up to MEDIALIB_SHUTDOWN_TIMEOUT), stop the HTTP
 * server, the job runner, the workers, and close the store and database.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/workers.h"
#include "db/repo.h"
#include "http/metrics.h"
#include "http/server.h"
#include "jobs/fsck.h"
#include "jobs/jobs.h"
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
    rc = ml_store_open(cfg.storage_url, NULL, &store, &eb);
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

static void raise_fd_limit(void) {
  struct rlimit rl;
  if(!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int cmd_serve(void) {
  struct ml_config cfg;
  struct ml_log lg;
  struct ml_repo *repo = NULL;
  struct ml_store *store = NULL;
  struct ml_workers *workers = NULL;
  struct ml_metrics *metrics = NULL;
  struct ml_jobs *jobs = NULL;
  struct ml_media_svc *media = NULL;
  struct ml_http *http = NULL;
  struct ml_router router;
  struct ml_api api;
  struct ml_errbuf eb = {{0}};
  sigset_t sigs;
  int sig = 0, threads, code = load_config(&cfg, &lg);
  ml_err rc;
  const char *stage = "start";
  if(code)
    return code;

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

  stage = "data dir";
  if(mkdir_p(cfg.data_dir)) {
    rc = ml_fail(&eb, ML_ERR_CONFIG, "cannot create %s: %s", cfg.data_dir, strerror(errno));
    goto out;
  }
  stage = "database";
  rc = ml_repo_open(cfg.database_url, threads + (int)cfg.workers + 2, 1, &repo, &eb);
  if(rc)
    goto out;
  stage = "storage";
  rc = ml_store_open(cfg.storage_url, cfg.test_faults, &store, &eb);
  if(rc)
    goto out;
  stage = "workers";
  rc = ml_workers_create((int)cfg.workers, 1024, &workers);
  if(rc)
    goto out;
  rc = ml_metrics_create(&metrics);
  if(rc)
    goto out;
  stage = "jobs";
  {
    struct ml_jobs_opts jo = {.repo = repo, .store = store, .log = &lg};
    rc = ml_jobs_create(&jo, &jobs);
    if(!rc)
      rc = ml_jobs_start(jobs);
    if(rc)
      goto out;
  }
  stage = "media";
  {
    struct ml_media_deps md = {repo,           store, jobs, &lg, cfg.max_upload,
                               cfg.delete_deadline_ms, cfg.intent_delay_ms, cfg.max_pixels,
                               cfg.max_frames};
    rc = ml_media_svc_create(&md, &media, &eb);
    if(rc)
      goto out;
  }
  stage = "routes";
  api = (struct ml_api){&cfg, &lg, media, repo, store, metrics, jobs};
  ml_router_init(&router);
  rc = ml_api_media_register(&router, &api);
  if(!rc)
    rc = ml_api_files_register(&router, &api);
  if(!rc)
    rc = ml_api_ops_register(&router, &api);
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
    ml_log(&lg, ML_LOG_WARN, NULL, "writes are open to anyone (MEDIALIB_INSECURE_OPEN_WRITES=1)");

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
  ml_jobs_destroy(&jobs);
  ml_media_svc_destroy(&media);
  ml_metrics_destroy(&metrics);
  ml_store_close(&store);
  ml_repo_close(&repo);
  ml_config_free(&cfg);
  if(!rc)
    ml_log(&lg, ML_LOG_INFO, NULL, "stopped");
  return rc ? (rc == ML_ERR_CONFIG ? EXIT_USAGE : 1) : 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "help";
  if(!strcmp(cmd, "serve"))
    return cmd_serve();
  if(!strcmp(cmd, "migrate"))
    return cmd_migrate();
  if(!strcmp(cmd, "fsck"))
    return cmd_fsck(argc, argv);
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
