/*
 * render_main.c - `medialib-render`, the render worker executable (see
 * image/renderd.h): started by `medialib serve`, never by hand.
 *
 *   medialib-render MEMORY_LIMIT     (its socket on fd 3)
 */
#include <stdio.h>

#include "core/config.h"
#include "image/renderd.h"

int main(int argc, char **argv) {
  int64_t limit = 0;
  if(argc != 2 || ml_config_parse_size(argv[1], &limit)) {
    fprintf(stderr, "medialib-render: this is started by `medialib serve`, not by hand\n");
    return 2;
  }
  return ml_renderd_worker_main(3, limit);
}
