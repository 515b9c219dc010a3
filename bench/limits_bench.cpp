// The cost of limits: launch latency of the same task with and without cpu+memory+pids limits,
// and berthd's CPU time per stats collection (GET /v1/stats) with 100 running tasks.
// Runs the real berthd through the integration harness; on a host without the controllers the
// with-limits half is skipped. Prints a Markdown table. Build and run: bench/limits_bench.sh.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

using namespace berth::testing;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// utime + stime of a process, in ms.
double cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::istringstream f(text.substr(text.rfind(')') + 2));
  std::string x;
  unsigned long long ut = 0, st = 0;
  for (int i = 3; i <= 15; ++i) {
    f >> x;
    if (i == 14) ut = std::stoull(x);
    if (i == 15) st = std::stoull(x);
  }
  return static_cast<double>(ut + st) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Summary {
  double median, p90, mean;
};
Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 9 / 10)], sum / static_cast<double>(v.size())};
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
  int tasks = argc > 2 ? std::atoi(argv[2]) : 100;
  BusyboxRootfs rootfs;
  Agent agent;
  if (auto st = agent.start(); !st) {
    std::fprintf(stderr, "berthd: %s\n", st.error().message.c_str());
    return 1;
  }
  auto info = parse(agent.request("GET", "/v1/info").body);
  bool limits_ok = true;
  std::string controllers;
  for (const auto& c : info["cgroup"]["controllers"].GetArray()) controllers += std::string(c.GetString()) + " ";
  for (const char* c : {"cpu ", "memory ", "pids "}) limits_ok &= controllers.find(c) != std::string::npos;
  const std::string kLimits = R"("resources": {"cpus": 0.5, "memory_mb": 64, "pids": 64})";

  // Launch latency: POST /v1/containers until 201 (the task runs), alternating the variants.
  std::vector<double> plain, limited;
  for (int i = 0; i < rounds; ++i) {
    for (int variant = 0; variant < (limits_ok ? 2 : 1); ++variant) {
      auto t0 = Clock::now();
      auto r = agent.launch(spec(rootfs.path(), {"true"}, variant ? kLimits : ""));
      double ms = ms_since(t0);
      if (r.status != 201) {
        std::fprintf(stderr, "launch: %d %s\n", r.status, r.body.c_str());
        return 1;
      }
      (variant ? limited : plain).push_back(ms);
      std::string id = parse(r.body)["id"].GetString();
      agent.wait(id);
      agent.request("DELETE", "/v1/containers/" + id);
    }
  }

  // Stats collection with `tasks` running tasks.
  std::vector<std::string> ids;
  for (int i = 0; i < tasks; ++i) ids.push_back(agent.run(spec(rootfs.path(), {"sleep", "3600"}, limits_ok ? kLimits : "")));
  const int kCollections = 20;
  double cpu0 = cpu_ms(agent.pid());
  auto w0 = Clock::now();
  size_t seen = 0;
  for (int i = 0; i < kCollections; ++i) seen = parse(agent.request("GET", "/v1/stats").body)["containers"].Size();
  double wall = ms_since(w0) / kCollections;
  double cpu = (cpu_ms(agent.pid()) - cpu0) / kCollections;
  for (const auto& id : ids) agent.request("DELETE", "/v1/containers/" + id + "?force=1");

  char host[256] = "";
  ::gethostname(host, sizeof(host));
  std::printf("| measure | n | median ms | p90 ms | mean ms |\n|---|---|---|---|---|\n");
  auto row = [](const char* what, const std::vector<double>& v) {
    if (v.empty()) return;
    Summary s = summarize(v);
    std::printf("| %s | %zu | %.1f | %.1f | %.1f |\n", what, v.size(), s.median, s.p90, s.mean);
  };
  row("launch, no limits", plain);
  row("launch, cpus+memory_mb+pids", limited);
  std::printf("\nGET /v1/stats with %zu running tasks (%s): berthd CPU %.2f ms per collection "
              "(%.3f ms per task), wall %.1f ms per request, %d collections\n",
              seen, limits_ok ? "with limits" : "no controllers", cpu, cpu / static_cast<double>(std::max<size_t>(seen, 1)),
              wall, kCollections);
  return 0;
}
