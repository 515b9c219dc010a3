// API latency while a task that leaves millions of files in its sandbox has a disk limit, runs,
// exits and is removed. A prober thread sends GET /v1/containers to the real berthd (fresh
// connection each time, as a scheduler polls) every few ms through every phase; the phases are
//   idle      no task
//   fill      the task creates FILES empty files in /mnt/sandbox (disk_mb set: berth measures)
//   exit      from the task's last line of output until `wait` returns its termination record
//   remove    DELETE of the task (its sandbox with every file)
//   after     idle again
// and the table gives each phase's latency beside idle's. Target (issue 7): unchanged from idle.
// Runs the real berthd through the integration harness. Build and run: bench/api_latency.sh.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace berth::testing;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kPhases[] = {"idle", "fill", "exit", "remove", "after"};
constexpr int kPhaseCount = 5;

struct Probe {
  std::atomic<int> phase{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> ms[kPhaseCount];
  int failures = 0;
};

void probe_loop(const Agent& agent, Probe& p) {
  while (!p.stop.load()) {
    int phase = p.phase.load();
    auto t0 = Clock::now();
    auto r = agent.request("GET", "/v1/containers");
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    {
      std::lock_guard lk(p.mu);
      if (r.status != 200) ++p.failures;
      // A request that spans a phase change counts for the phase it started in.
      p.ms[phase].push_back(ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

bool file_contains(const std::string& path, const std::string& text) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  return s.find(text) != std::string::npos;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: api_latency MKFILES_BINARY [FILES] [IDLE_S]\n");
    return 2;
  }
  const std::string mkfiles = argv[1];
  const long files = argc > 2 ? std::atol(argv[2]) : 5000000;
  const int idle_s = argc > 3 ? std::atoi(argv[3]) : 10;

  BusyboxRootfs rootfs;
  std::string target = rootfs.path() + "/bin/mkfiles";
  std::string cmd = "cp " + mkfiles + " " + target;
  if (std::system(cmd.c_str()) != 0) return 1;
  Agent agent;
  if (auto st = agent.start(); !st) {
    std::fprintf(stderr, "berthd: %s\n", st.error().message.c_str());
    return 1;
  }
  Probe probe;
  std::thread prober([&] { probe_loop(agent, probe); });
  double phase_s[kPhaseCount] = {};
  auto enter = [&](int phase, Clock::time_point& since) {
    phase_s[probe.phase.load()] = seconds_since(since);
    since = Clock::now();
    probe.phase.store(phase);
  };
  auto since = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(idle_s));

  enter(1, since);
  std::string id = agent.run(spec(rootfs.path(), {"sh", "-c", "mkfiles /mnt/sandbox " + std::to_string(files) + " && echo filled"},
                                  R"("resources": {"disk_mb": 1048576})"));
  std::string out = agent.state_dir() + "/sandboxes/" + id + "/stdout";
  while (!file_contains(out, "filled")) {
    auto r = agent.request("GET", "/v1/containers/" + id);
    if (r.status != 200 || r.body.find("\"running\"") == std::string::npos) {
      std::fprintf(stderr, "the task stopped before it filled its sandbox: %s\n", r.body.c_str());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  enter(2, since);
  // wait?timeout_s=60 in the harness: a settle that takes longer shows as repeated waits.
  for (;;) {
    auto r = agent.request("GET", "/v1/containers/" + id + "/wait?timeout_s=60");
    if (r.status == 200) break;
    if (r.status != 408 && r.status != 504) {
      std::fprintf(stderr, "wait: %d %s\n", r.status, r.body.c_str());
      break;
    }
  }
  enter(3, since);
  auto del = agent.request("DELETE", "/v1/containers/" + id);
  if (del.status != 204 && del.status != 200) std::fprintf(stderr, "remove: %d %s\n", del.status, del.body.c_str());
  enter(4, since);
  std::this_thread::sleep_for(std::chrono::seconds(idle_s));
  phase_s[4] = seconds_since(since);
  probe.stop.store(true);
  prober.join();

  bool alive = agent.request("GET", "/v1/info").status == 200;
  double idle_p99 = pct(probe.ms[0], 0.99);
  std::printf("GET /v1/containers while a task with %ld files in its sandbox (disk_mb set) fills, exits and is removed\n\n", files);
  std::printf("| phase | seconds | requests | p50 ms | p99 ms | max ms | p99 / idle p99 |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (int i = 0; i < kPhaseCount; ++i) {
    const auto& v = probe.ms[i];
    std::printf("| %s | %.1f | %zu | %.2f | %.2f | %.2f | %.2f |\n", kPhases[i], phase_s[i], v.size(), pct(v, 0.5),
                pct(v, 0.99), v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()),
                idle_p99 > 0 ? pct(v, 0.99) / idle_p99 : 0.0);
  }
  std::printf("\nfailed requests: %d; berthd answering afterwards: %s\n", probe.failures, alive ? "yes" : "NO");
  return alive && probe.failures == 0 ? 0 : 1;
}
