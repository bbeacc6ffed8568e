/*
 * thumb.c - the thumbnail benchmark (bench/run.sh; DESIGN.md "Figures to
 * beat"): a 4000x3000 JPEG to a 300 px wide JPEG thumbnail through
 * ml_render, in process, as the render worker does it.
 *
 *   bench_thumb -g input.jpg                  makes the input and exits
 *   bench_thumb [-n runs] [-w width] -i input.jpg
 *
 * The input is photo-like (colour gradients with Gaussian noise, so the DCT
 * and the entropy coder see what a camera photo gives them, not a flat
 * colour), 4000x3000, quality 90: about 4.3 MB, the size of a 12 MP camera
 * JPEG. The decoder's entropy pass grows with the file's size and dominates
 * the time of both libvips and Pillow. bench/run.sh makes it once with -g, then
 * times this program and bench/thumb_pillow.py on the very same bytes, each
 * in its own process, so each peak RSS is the renderer's own.
 *
 * Prints one line of key=value pairs: runs, median_ms, p90_ms, min_ms,
 * out_bytes, max_rss_kib (getrusage ru_maxrss of this process). Without -i
 * the input is made in process first (and counts in the peak RSS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

#include "image/render.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A 4000x3000 sRGB photo stand-in written as a quality-90 JPEG to path. */
static int make_input(const char *path) {
  VipsImage *t[8] = {0};
  int rc = -1;
  /* gradients: x for red, y for green, their sum for blue, 0..255 */
  if(vips_xyz(&t[0], 4000, 3000, NULL) || vips_extract_band(t[0], &t[1], 0, NULL) ||
     vips_extract_band(t[0], &t[2], 1, NULL) || vips_linear1(t[1], &t[3], 255.0 / 4000, 0, NULL) ||
     vips_linear1(t[2], &t[4], 255.0 / 3000, 0, NULL) ||
     vips_gaussnoise(&t[5], 4000, 3000, "sigma", 10.0, "mean", 0.0, NULL))
    goto out;
  {
    VipsImage *bands[3] = {t[3], t[4], NULL};
    VipsImage *sum = NULL, *rgb = NULL, *noisy = NULL, *u8 = NULL;
    if(vips_add(t[3], t[4], &sum, NULL))
      goto out;
    if(vips_linear1(sum, &bands[2], 0.5, 0, NULL)) {
      g_object_unref(sum);
      goto out;
    }
    g_object_unref(sum);
    if(!vips_bandjoin(bands, &rgb, 3, NULL) && !vips_add(rgb, t[5], &noisy, NULL) &&
       !vips_cast(noisy, &u8, VIPS_FORMAT_UCHAR, NULL)) {
      u8->Type = VIPS_INTERPRETATION_sRGB;
      rc = vips_jpegsave(u8, path, "Q", 90, NULL);
    }
    g_object_unref(bands[2]);
    if(rgb)
      g_object_unref(rgb);
    if(noisy)
      g_object_unref(noisy);
    if(u8)
      g_object_unref(u8);
  }
out:
  for(int i = 0; i < 8; i++)
    if(t[i])
      g_object_unref(t[i]);
  if(rc)
    fprintf(stderr, "bench_thumb: making the input: %s", vips_error_buffer());
  return rc;
}

int main(int argc, char **argv) {
  int runs = 30, width = 300, opt;
  const char *input = NULL, *generate = NULL;
  char in_path[] = "/tmp/bench_thumb_in.XXXXXX", out_path[64];
  struct ml_errbuf eb = {{0}};
  struct ml_render_result res;
  struct ml_transform_dims dims;
  double *ms;
  int64_t src_w, src_h;
  int fd, made = 0;
  struct rusage ru;

  while((opt = getopt(argc, argv, "n:i:w:g:")) != -1) {
    switch(opt) {
    case 'n': runs = (int)strtol(optarg, NULL, 10); break;
    case 'i': input = optarg; break;
    case 'w': width = (int)strtol(optarg, NULL, 10); break;
    case 'g': generate = optarg; break;
    default:
      fprintf(stderr, "usage: bench_thumb [-n runs] [-w width] [-i input.jpg] | -g input.jpg\n");
      return 2;
    }
  }
  if(runs < 1 || width < 1 || width > ML_TRANSFORM_DIM_MAX)
    return 2;
  if(ml_render_init(&eb)) {
    fprintf(stderr, "bench_thumb: %s\n", eb.msg);
    return 1;
  }
  if(generate) {
    int rc = make_input(generate);
    ml_render_shutdown();
    return rc ? 1 : 0;
  }
  if(!input) {
    int tfd = mkstemp(in_path);
    if(tfd < 0)
      return 1;
    close(tfd);
    input = in_path;
    made = 1;
    if(make_input(input))
      return 1;
  }
  {
    VipsImage *head = vips_image_new_from_file(input, NULL);
    if(!head) {
      fprintf(stderr, "bench_thumb: %s: %s", input, vips_error_buffer());
      return 1;
    }
    src_w = head->Xsize;
    src_h = head->Ysize;
    g_object_unref(head);
  }
  dims.width = width;
  dims.height = (src_h * width + src_w / 2) / src_w; /* the planner's fit */
  dims.crop = 0;
  if((fd = open(input, O_RDONLY | O_CLOEXEC)) < 0) {
    fprintf(stderr, "bench_thumb: %s: %s\n", input, strerror(errno));
    return 1;
  }
  ms = calloc((size_t)runs, sizeof(*ms));
  snprintf(out_path, sizeof(out_path), "/tmp/bench_thumb_out.%ld.jpg", (long)getpid());
  /* One warm-up render: loads the codec libraries' lazy state. */
  for(int i = -1; i < runs; i++) {
    double t0 = now_ms();
    ml_err rc =
        ml_render(fd, "image/jpeg", &dims, ML_TRANSFORM_FORMAT_JPEG, 0, out_path, &res, &eb);
    double t1 = now_ms();
    if(rc) {
      fprintf(stderr, "bench_thumb: render: %s: %s\n", ml_err_code(rc), eb.msg);
      return 1;
    }
    unlink(out_path);
    if(i >= 0)
      ms[i] = t1 - t0;
  }
  close(fd);
  if(made)
    unlink(in_path);
  qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
  getrusage(RUSAGE_SELF, &ru);
  printf("runs=%d src=%lldx%lld out=%dx%d median_ms=%.2f p90_ms=%.2f min_ms=%.2f out_bytes=%lld "
         "max_rss_kib=%ld\n",
         runs, (long long)src_w, (long long)src_h, res.width, res.height, ms[(runs - 1) / 2],
         ms[(runs * 9 + 9) / 10 - 1], ms[0], (long long)res.size, ru.ru_maxrss);
  free(ms);
  ml_render_shutdown();
  return 0;
}
