// spawn_probe: what each way of starting a process into a cgroup costs on this machine, to
// explain berth's launch latency (see bench/RESULTS.md). Median and p99 of N runs each, in µs:
//
//   fork+exit                 fork(), child _exit(0), parent waits
//   fork+cgroup.procs+exit    the child writes "0" to <cgroup>/cgroup.procs first, as berthd's
//                             spawn_shim does to move the shim into its cgroup
//   clone3(INTO_CGROUP)+exit  clone3 with CLONE_INTO_CGROUP: born in the cgroup, no migration
//   fork+exec <binary>        e.g. berth-shim with no arguments (prints usage, exits 2): the
//                             cost of loading it (dynamic linking, relocations)
//
//   spawn_probe <cgroup2 dir to create children in> <iterations> <gap ms> [binary ...]
// <gap ms> is slept between runs (not timed): berth launches tasks tens of ms apart, and a
// cgroup migration right after another is cheaper than one after a pause.
// The cgroup dir is created and removed by the probe (a child "probe-<pid>" of the given dir).
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

int64_t now_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void reap(pid_t pid) {
  int st;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

void report(const char* what, std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double p) {
    size_t r = std::clamp<size_t>(static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999), 1, v.size());
    return static_cast<double>(v[r - 1]) / 1000.0;
  };
  std::printf("%-40s median %9.1f us   p99 %9.1f us\n", what, at(0.5), at(0.99));
}

int g_gap_ms = 0;

std::vector<int64_t> measure(int n, const std::function<void()>& once) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    if (g_gap_ms > 0) ::usleep(static_cast<useconds_t>(g_gap_ms) * 1000);
    int64_t t0 = now_ns();
    once();
    out.push_back(now_ns() - t0);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: spawn_probe <cgroup2 dir> <iterations> <gap ms> [binary ...]\n");
    return 2;
  }
  std::string cg = std::string(argv[1]) + "/probe-" + std::to_string(::getpid());
  int n = std::atoi(argv[2]);
  g_gap_ms = std::atoi(argv[3]);
  if (::mkdir(cg.c_str(), 0755) != 0) {
    std::perror(("mkdir " + cg).c_str());
    return 1;
  }
  int cgfd = ::open(cg.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int procs = ::open((cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (cgfd < 0 || procs < 0) {
    std::perror("open cgroup");
    return 1;
  }

  report("fork+exit", measure(n, [] {
           pid_t p = ::fork();
           if (p == 0) ::_exit(0);
           reap(p);
         }));
  report("fork+cgroup.procs+exit", measure(n, [&] {
           pid_t p = ::fork();
           if (p == 0) {
             (void)!::write(procs, "0", 1);
             ::_exit(0);
           }
           reap(p);
         }));
  report("clone3(CLONE_INTO_CGROUP)+exit", measure(n, [&] {
           struct clone_args args {};
           args.flags = CLONE_INTO_CGROUP;
           args.exit_signal = SIGCHLD;
           args.cgroup = static_cast<uint64_t>(cgfd);
           long p = ::syscall(SYS_clone3, &args, sizeof(args));
           if (p == 0) ::_exit(0);
           if (p < 0) {
             std::perror("clone3");
             std::exit(1);
           }
           reap(static_cast<pid_t>(p));
         }));
  for (int i = 4; i < argc; ++i) {
    const char* bin = argv[i];
    report((std::string("fork+exec ") + bin).c_str(), measure(n, [&] {
             pid_t p = ::fork();
             if (p == 0) {
               int devnull = ::open("/dev/null", O_RDWR);
               ::dup2(devnull, 1);
               ::dup2(devnull, 2);
               ::execl(bin, bin, (char*)nullptr);
               ::_exit(127);
             }
             reap(p);
           }));
  }
  ::close(procs);
  ::close(cgfd);
  if (::rmdir(cg.c_str()) != 0) std::perror(("rmdir " + cg).c_str());
  return 0;
}
