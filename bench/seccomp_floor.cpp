// bench/seccomp_floor: what this kernel charges for a seccomp filter at process start, with no
// runtime in the way. Each sample forks a child that sets no_new_privs, installs a filter (or
// none) with PR_SET_SECCOMP and execs a static /bin/true; the parent times fork → child reaped.
// The modes, rotated in blocks:
//   none         no filter
//   one-insn     a one-instruction filter (RET ALLOW): the fixed cost of having any filter
//   berth        berth's default profile compiled for the default capability set, exactly the
//                program berthd hands the shim (compile_seccomp, as SeccompCache does)
// The child also times its own PR_SET_SECCOMP (the attach: the kernel checks, converts and JITs
// the program), reported per mode. Samples go to a TSV in launch_latency's format (total_us
// is fork → reaped, launch_us the attach), so bench/ratios.py reads it.
//
//   seccomp_floor TRUE_BINARY ITERATIONS BLOCK SAMPLES.tsv
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "isolators/security/capabilities.hpp"
#include "isolators/security/seccomp_filter.hpp"
#include "isolators/security/seccomp_profile.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Mode {
  std::string name;
  std::vector<sock_filter> program;  // empty: no filter
  std::vector<double> total_ms, attach_ms;
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One sample: fork → (child: no_new_privs, filter, exec) → reaped. The child's attach time comes
// back through a shared page.
bool sample(Mode& m, const char* true_bin, double* shared) {
  sock_fprog prog{static_cast<unsigned short>(m.program.size()), m.program.data()};
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(120);
    if (!m.program.empty()) {
      auto a0 = Clock::now();
      if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) ::_exit(121);
      *shared = ms_since(a0);
    }
    ::execl(true_bin, "true", static_cast<char*>(nullptr));
    ::_exit(122);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "seccomp_floor: %s child failed (status %d)\n", m.name.c_str(), status);
    return false;
  }
  m.total_ms.push_back(ms_since(t0));
  m.attach_ms.push_back(m.program.empty() ? 0 : *shared);
  return true;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100 * static_cast<double>(v.size()) + 0.999999);
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: seccomp_floor TRUE_BINARY ITERATIONS BLOCK SAMPLES.tsv\n");
    return 2;
  }
  const char* true_bin = argv[1];
  int iterations = std::atoi(argv[2]), block = std::max(1, std::atoi(argv[3]));
  auto compiled = berth::isolators::compile_seccomp(berth::isolators::default_seccomp_profile(),
                                                    berth::isolators::default_capabilities());
  if (!compiled) {
    std::fprintf(stderr, "seccomp_floor: %s\n", compiled.error().message.c_str());
    return 1;
  }
  std::vector<Mode> modes(3);
  modes[0].name = "none";
  modes[1].name = "one-insn";
  modes[1].program = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  modes[2].name = "berth";
  modes[2].program.resize(compiled->size() / sizeof(sock_filter));
  std::copy(compiled->begin(), compiled->end(), reinterpret_cast<uint8_t*>(modes[2].program.data()));

  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 1;
  auto* shared = static_cast<double*>(page);
  for (auto& m : modes)  // warm-up: page cache, the JIT's pack allocator
    for (int i = 0; i < 5; ++i)
      if (!sample(m, true_bin, shared)) return 1;
  for (auto& m : modes) m.total_ms.clear(), m.attach_ms.clear();
  for (int done = 0, round = 0; done < iterations; done += block, ++round)
    for (size_t k = 0; k < modes.size(); ++k) {
      Mode& m = modes[(k + static_cast<size_t>(round)) % modes.size()];
      for (int i = 0; i < block && done + i < iterations; ++i)
        if (!sample(m, true_bin, shared)) return 1;
    }

  FILE* out = std::fopen(argv[4], "w");
  if (!out) return 1;
  std::fprintf(out, "mode\titeration\ttotal_us\tlaunch_us\twait_us\n");
  std::printf("%-10s %6s %10s %8s %12s %8s\n", "mode", "insns", "median_ms", "p90_ms", "attach_med", "min_ms");
  for (auto& m : modes) {
    for (size_t i = 0; i < m.total_ms.size(); ++i)
      std::fprintf(out, "%s\t%zu\t%.0f\t%.0f\t0\n", m.name.c_str(), i, m.total_ms[i] * 1000, m.attach_ms[i] * 1000);
    std::printf("%-10s %6zu %10.3f %8.3f %12.3f %8.3f\n", m.name.c_str(), m.program.size(), pct(m.total_ms, 50),
                pct(m.total_ms, 90), pct(m.attach_ms, 50), pct(m.total_ms, 0));
  }
  std::fclose(out);
  return 0;
}
