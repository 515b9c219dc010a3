// Build and run: gcc -O2 -o /tmp/shim_exec_probe bench/shim_exec_probe.c && /tmp/shim_exec_probe build/berth-shim 300
// fork + exec of berth-shim (exits with its usage, status 2) N times: from the file path vs from
// a sealed memfd copy (execveat AT_EMPTY_PATH); plus the one-time copy+seal cost.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static int cmp(const void* a, const void* b) { double x = *(double*)a, y = *(double*)b; return x < y ? -1 : x > y; }
int main(int argc, char** argv) {
  const char* path = argv[1]; int n = atoi(argv[2]);
  double t0 = now();
  int f = open(path, O_RDONLY | O_CLOEXEC); struct stat st; fstat(f, &st);
  int m = memfd_create("berth-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  off_t done = 0; while (done < st.st_size) { ssize_t k = sendfile(m, f, NULL, st.st_size - done); if (k <= 0) return 1; done += k; }
  fchmod(m, 0555); fcntl(m, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  printf("copy+seal of %ld bytes: %.3f ms\n", (long)st.st_size, now() - t0);
  char* args[] = {(char*)path, (char*)"--nope", NULL}; char* env[] = {NULL};
  double* a = malloc(sizeof(double) * n); double* b = malloc(sizeof(double) * n);
  for (int i = 0; i < 2 * n; ++i) {
    int memfd = i % 2;
    double s = now();
    pid_t p = fork();
    if (p == 0) { int nul = open("/dev/null", O_WRONLY); dup2(nul, 2);
      if (memfd) syscall(SYS_execveat, m, "", args, env, AT_EMPTY_PATH); else execve(path, args, env); _exit(127); }
    int status; waitpid(p, &status, 0);
    (memfd ? b : a)[i / 2] = now() - s;
  }
  qsort(a, n, sizeof(double), cmp); qsort(b, n, sizeof(double), cmp);
  printf("exec from path:  median %.3f ms  p90 %.3f ms\n", a[n / 2], a[n * 9 / 10]);
  printf("exec from memfd: median %.3f ms  p90 %.3f ms\n", b[n / 2], b[n * 9 / 10]);
  return 0;
}
