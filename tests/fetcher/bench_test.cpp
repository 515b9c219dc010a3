// Not a timed test: a measurement, disabled by default. Run with
//   build/tests/fetcher_test --gtest_also_run_disabled_tests --gtest_filter='*Bench*'
// Cold pull + unpack of a 5-layer ~200 MB image (mixed small and large files, gzip) from the
// local registry, next to the floor (curl of each blob piped into tar -xzf, sequentially) and a
// warm pull.
#include <gtest/gtest.h>

#include <chrono>

#include "fetcher/pull.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

TEST(Bench, DISABLED_ColdPull200MB) {
  auto reg = Registry::start();
  ASSERT_TRUE(reg) << reg.error().message;
  std::vector<TestLayer> layers;
  uint32_t x = 1;
  auto noise = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) { x = x * 1103515245 + 12345; c = static_cast<char>(x >> 24); }
    return s;
  };
  auto text = [&](size_t n) {
    std::string s;
    while (s.size() < n) s += "line " + std::to_string(x++) + " of some fairly ordinary configuration text\n";
    return s.substr(0, n);
  };
  for (int l = 0; l < 5; ++l) {
    TarBuilder t;
    t.dir("l" + std::to_string(l));
    for (int i = 0; i < 2; ++i) t.file("l" + std::to_string(l) + "/big" + std::to_string(i), noise(14 << 20));
    t.file("l" + std::to_string(l) + "/text", text(8 << 20));
    for (int i = 0; i < 2000; ++i) t.file("l" + std::to_string(l) + "/small/f" + std::to_string(i), text(1000 + i));
    layers.push_back({t.build(), Compression::kGzip});
  }
  auto pushed = push_image(**reg, "bench/app", "1", layers);
  ASSERT_TRUE(pushed);
  TempDir tmp;

  // Floor: curl each blob into tar -xzf, one after the other.
  std::string script = "set -e; cd " + tmp.path() + "; mkdir floor; cd floor; ";
  for (const auto& d : pushed->layer_digests)
    script += "mkdir " + d.substr(7, 12) + "; curl -sf http://" + (*reg)->host() + "/v2/bench/app/blobs/" + d +
              " | tar -xzf - -C " + d.substr(7, 12) + "; ";
  // Twice, and the second run counts: the first also warms the registry's page cache.
  ASSERT_TRUE(run_shell(script));
  ASSERT_TRUE(run_shell("rm -rf " + tmp.path() + "/floor"));
  auto t0 = Clock::now();
  ASSERT_TRUE(run_shell(script));
  double floor_ms = ms_since(t0);

  auto store = ContentStore::open(tmp / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  fetcher::RegistryOptions ro;
  ro.hosts[(*reg)->host()].insecure = true;
  RegistryClient client(ro);
  Puller puller(**store, client);
  t0 = Clock::now();
  auto rec = puller.pull((*reg)->host() + "/bench/app:1");
  double cold_ms = ms_since(t0);
  ASSERT_TRUE(rec) << rec.error().message;
  t0 = Clock::now();
  ASSERT_TRUE(puller.pull((*reg)->host() + "/bench/app:1"));
  double warm_ms = ms_since(t0);
  std::cout << "[ bench ] image " << rec->size / (1 << 20) << " MiB unpacked, 5 layers (gzip)\n"
            << "[ bench ] floor (curl | tar -xzf, sequential): " << floor_ms << " ms\n"
            << "[ bench ] berth cold pull (not durable):        " << cold_ms << " ms\n"
            << "[ bench ] berth warm pull:                      " << warm_ms << " ms\n";
}

}  // namespace
}  // namespace berth::testing
