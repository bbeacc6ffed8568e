/*
 * replay.c - runs a fuzz target over every file of a seed corpus directory,
 * so that `make test` replays the corpus (and every past crash input) as a
 * regression test without libFuzzer (SQLite's fuzzcheck, h2o's fuzz/).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  long n;
  uint8_t *buf;
  if(!f) {
    perror(path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc(n > 0 ? (size_t)n : 1);
  if(!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
    fclose(f);
    free(buf);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int count = 0;
  for(int i = 1; i < argc; i++) {
    struct stat st;
    DIR *d;
    struct dirent *e;
    if(stat(argv[i], &st)) {
      perror(argv[i]);
      return 1;
    }
    if(!S_ISDIR(st.st_mode)) {
      if(run_file(argv[i]))
        return 1;
      count++;
      continue;
    }
    d = opendir(argv[i]);
    if(!d)
      return 1;
    while((e = readdir(d))) {
      char path[4096];
      if(e->d_name[0] == '.')
        continue;
      snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
      if(run_file(path)) {
        closedir(d);
        return 1;
      }
      count++;
    }
    closedir(d);
  }
  printf("replayed %d inputs\n", count);
  return count > 0 ? 0 : 1;
}
