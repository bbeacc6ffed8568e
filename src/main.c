/* main.c - placeholder until the CLI lands. */
#include <stdio.h>
int main(void) {
  printf("medialib %s\n", ML_VERSION);
  return 0;
}
