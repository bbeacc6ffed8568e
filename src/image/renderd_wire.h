/* renderd_wire.h - the messages between a server and its render workers
 * (renderd.c and render_worker.c; private to them). One request per
 * SOCK_SEQPACKET message, with the original's and the output's fds
 * attached (SCM_RIGHTS); one answer back. */
#ifndef ML_IMAGE_RENDERD_WIRE_H
#define ML_IMAGE_RENDERD_WIRE_H

#include <stdint.h>

#include "core/err.h"

#define ML_RENDERD_MAGIC 0x6d6c7264u /* "mlrd" */

/* One request, with the original's and the output's fds attached. */
enum { ML_RENDERD_RENDER = 0, ML_RENDERD_PROBE = 1 };

struct ml_renderd_req {
  uint32_t magic;
  int32_t op; /* ML_RENDERD_RENDER (two fds) or ML_RENDERD_PROBE (one) */
  int32_t width, height, crop;
  int32_t format, quality;
  char mime[96];
};

struct ml_renderd_res {
  uint32_t magic;
  int32_t rc; /* ml_err */
  int32_t width, height;
  int64_t size;
  int64_t frames;      /* probe */
  int32_t orientation; /* probe */
  char msg[ML_ERRBUF_SIZE];
};

#endif
