/* fuzz_probe.c - the image header prober (ml_image_probe_buf). The first
 * byte picks the MIME type among the five probed formats (0 PNG, 1 JPEG,
 * 2 GIF, 3 WebP, 4 BMP, modulo 5); the rest is the file. A success must carry
 * a usable answer: positive dimensions, at least one frame and an EXIF
 * orientation in 1..8; any other result must be one of the documented
 * errors. The buffer path runs the same windowed reader as the fd path. */
#include <stdint.h>
#include <stdlib.h>

#include "image/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const mimes[] = {"image/png", "image/jpeg", "image/gif", "image/webp",
                                      "image/bmp"};
  struct ml_image_info info;
  struct ml_errbuf eb = {{0}};
  ml_err rc;
  if(size < 1)
    return 0;
  rc = ml_image_probe_buf(data + 1, size - 1, mimes[data[0] % 5], &info, &eb);
  if(rc == ML_OK) {
    if(info.width <= 0 || info.height <= 0 || info.frames < 1 || info.orientation < 1 ||
       info.orientation > 8)
      abort();
    /* frame counting stops just past the cap; APNG declares up to 2^31-1 */
    if(info.frames > 0x7fffffff)
      abort();
  } else if(rc != ML_ERR_UNPROCESSABLE || !eb.msg[0]) {
    abort();
  }
  return 0;
}
