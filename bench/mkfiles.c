/* mkfiles: creates N empty files in DIR, 1,000 per subdirectory, then exits. Linked statically
 * and copied into the benchmark's busybox root: a task that leaves millions of inodes in its
 * sandbox for berthd to measure and remove (bench/api_latency.cpp). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: mkfiles DIR N\n");
    return 2;
  }
  long n = atol(argv[2]);
  int root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    perror(argv[1]);
    return 1;
  }
  int dir = -1;
  char name[32];
  for (long i = 0; i < n; ++i) {
    if (i % 1000 == 0) {
      if (dir >= 0) close(dir);
      snprintf(name, sizeof(name), "d%ld", i / 1000);
      if (mkdirat(root, name, 0755) != 0 || (dir = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        perror(name);
        return 1;
      }
    }
    snprintf(name, sizeof(name), "f%ld", i % 1000);
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      perror(name);
      return 1;
    }
    close(fd);
  }
  return 0;
}
