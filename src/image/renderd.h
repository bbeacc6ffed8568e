/*
 * renderd.h - image rendering in worker processes.
 *
 * libvips decodes files that strangers uploaded. The server never loads it
 * (it is not even linked into `medialib`): it keeps a small pool of
 * `medialib-render` processes (the executable next to its own, spawned on
 * first use) and hands each render to an idle one
 * over a Unix socket, passing the original's fd and the output file's fd
 * (SCM_RIGHTS), so a worker needs no path and no access to the store.
 * What that buys:
 *
 * - a decoder crash, a hang or a memory blow-up ends one worker, not the
 *   server: the render fails (ML_ERR_INVALID_IMAGE, ML_ERR_TIMEOUT) and the
 *   next one gets a fresh worker;
 * - each worker has an address-space limit (MEDIALIB_RENDER_MEMORY) and a
 *   time limit per render (MEDIALIB_RENDER_TIMEOUT_MS);
 * - the server's own memory stays what it was without libvips (its modules,
 *   codecs and caches live in the workers).
 *
 * A worker exits when its socket closes, which the death of its server
 * (even by SIGKILL) does.
 */
#ifndef ML_IMAGE_RENDERD_H
#define ML_IMAGE_RENDERD_H

#include <stdint.h>

#include "core/err.h"
#include "core/log.h"
#include "image/render.h"

struct ml_renderd;

struct ml_renderd_opts {
  const char *exe;          /* the executable with the render-worker command ("/proc/self/exe") */
  const char *command;      /* its argv[1]: "render-worker" */
  int workers;              /* processes, >= 1: as many renders run at once */
  int64_t memory_limit;     /* bytes of address space per worker; 0: none */
  int64_t timeout_ms;       /* per render; past it the worker is killed */
  const struct ml_log *log; /* may be NULL */
};

/* No process starts here: each worker is spawned when first needed. */
ml_err ml_renderd_create(const struct ml_renderd_opts *o, struct ml_renderd **out,
                         struct ml_errbuf *eb);
/* Closes the sockets (workers exit), reaps them (killing any that lingers
 * past a second), frees; sets *p NULL. NULL is a no-op. */
void ml_renderd_destroy(struct ml_renderd **p);

/*
 * ml_render (render.h) in a worker: the same arguments and errors, and
 * out_path is created here (O_EXCL, 0600) and removed on error. Blocks until
 * a worker is free and has answered. Also:
 *   ML_ERR_TIMEOUT        the render took longer than timeout_ms
 *   ML_ERR_INVALID_IMAGE  the worker died on this image (eb says how)
 *   ML_ERR_INTERNAL       a worker cannot be started
 */
ml_err ml_renderd_render(struct ml_renderd *p, int src_fd, const char *src_mime,
                         const struct ml_transform_dims *dims, enum ml_transform_format fmt,
                         int quality, const char *out_path, struct ml_render_result *res,
                         struct ml_errbuf *eb);

/* ml_render_probe (render.h) in a worker: the header of a HEIF, AVIF or
 * TIFF, which the server's own prober (probe.h) does not read. */
ml_err ml_renderd_probe(struct ml_renderd *p, int src_fd, const char *src_mime,
                        struct ml_image_info *out, struct ml_errbuf *eb);

/* Worker processes spawned so far (for tests and metrics). */
int64_t ml_renderd_spawned(struct ml_renderd *p);

/*
 * The worker's side (render_worker.c, linked into medialib-render only):
 * `medialib-render MEMORY_LIMIT` runs this with its socket on fd 3. Starts
 * libvips, applies the memory limit, serves requests until the socket
 * closes. Returns the process's exit code.
 */
int ml_renderd_worker_main(int sock, int64_t memory_limit);

#endif
