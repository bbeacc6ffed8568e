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
struct ml_renderd_req {
  uint32_t magic;
  int32_t width, height, crop;
  int32_t format, quality;
  char mime[96];
};

struct ml_renderd_res {
  uint32_t magic;
  int32_t rc; /* ml_err */
  int32_t width, height;
  int64_t size;
  char msg[ML_ERRBUF_SIZE];
};

#endif
