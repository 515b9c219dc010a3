// kill -9 of a pulling process at many points: the store it leaves must be consistent after
// the next open (nothing half-written visible, every visible thing verified), and a later
// pull must succeed. The puller runs in a forked child so it can be SIGKILLed for real.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "fetcher/pull.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;

// Every visible entry is complete and verified; tmp/ is empty.
void expect_consistent(ContentStore& store, const std::string& root) {
  EXPECT_TRUE(fs::list_dir(root + "/tmp")->empty());
  auto blobs = fs::list_dir(root + "/blobs/sha256");
  auto layers = fs::list_dir(root + "/layers");
  auto records = fs::list_dir(root + "/images");
  ASSERT_TRUE(blobs && layers && records);
  for (const auto& hex : blobs.value()) {
    auto data = store.read_blob(Digest::from_hex(hex));
    ASSERT_TRUE(data);
    EXPECT_EQ(Digest::of(*data).hex(), hex) << "blob content matches its name";
  }
  for (const auto& hex : layers.value()) {
    auto meta = fs::read_file(root + "/layers/" + hex + "/layer.json");
    ASSERT_TRUE(meta) << "committed layer " << hex << " has its metadata";
    EXPECT_NE(meta->find(hex), std::string::npos);
    EXPECT_TRUE(fs::exists(root + "/layers/" + hex + "/fs"));
  }
  for (const auto& name : records.value()) EXPECT_TRUE(name.ends_with(".json")) << name;
  auto images = store.list_images();
  ASSERT_TRUE(images) << images.error().message;
  for (const auto& img : *images) {
    EXPECT_TRUE(store.has_blob(img.manifest_digest));
    EXPECT_TRUE(store.has_blob(img.config_digest));
    for (const auto& l : img.layers) EXPECT_TRUE(store.has_layer(l)) << "a recorded image has all its layers";
  }
}

TEST(CrashConsistency, Kill9MidPullLeavesAConsistentStore) {
  auto reg = Registry::start();
  ASSERT_TRUE(reg) << reg.error().message;
  std::vector<TestLayer> layers;
  for (uint32_t i = 0; i < 4; ++i)
    layers.push_back({TarBuilder().dir("d" + std::to_string(i)).file("d" + std::to_string(i) + "/blob", noise(6 << 20, i))
                          .file("small" + std::to_string(i), "s").build(),
                      Compression::kGzip});
  ASSERT_TRUE(push_image(**reg, "crash/app", "1", layers));
  TempDir tmp;
  std::string root = tmp / "store";
  std::string ref = (*reg)->host() + "/crash/app:1";
  fetcher::RegistryOptions ro;
  ro.hosts[(*reg)->host()].insecure = true;

  auto run_child = [&]() -> pid_t {
    pid_t pid = ::fork();
    if (pid == 0) {
      auto store = ContentStore::open(root, StoreOptions());
      if (!store) ::_exit(2);
      RegistryClient client(ro);
      Puller puller(**store, client);
      PullOptions po;
      po.parallel_layers = 2;
      ::_exit(puller.pull(ref, po) ? 0 : 1);
    }
    return pid;
  };
  auto reset = [&] {
    auto store = ContentStore::open(root, StoreOptions::not_durable());
    ASSERT_TRUE(store);
    if (auto img = (*store)->get_image(ref); img) {
      ASSERT_TRUE((*store)->remove_image(ref));
    }
    ASSERT_TRUE((*store)->gc());
  };
  // How long an undisturbed pull takes here, so the kills land inside one.
  auto t0 = std::chrono::steady_clock::now();
  pid_t probe = run_child();
  ASSERT_GT(probe, 0);
  int probe_status = 0;
  ::waitpid(probe, &probe_status, 0);
  ASSERT_TRUE(WIFEXITED(probe_status) && WEXITSTATUS(probe_status) == 0);
  auto full = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  reset();

  int killed_mid_pull = 0;
  const int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    pid_t pid = run_child();
    ASSERT_GT(pid, 0);
    // Kill points: even rounds at the first moment the store holds half-written content
    // (always mid-pull, whatever the machine's speed), odd rounds somewhat later, spread
    // over the rest of the pull. Later rounds resume from layers earlier rounds committed.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (fs::list_dir(root + "/tmp").value_or(std::vector<std::string>{}).empty() &&
           std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {  // finished before anything was seen
        pid = -1;
        break;
      }
    }
    if (pid > 0) {
      if (round % 2) std::this_thread::sleep_for(full * (round % 5 + 1) / 8);
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (WIFSIGNALED(status)) ++killed_mid_pull;
    }
    {
      auto store = ContentStore::open(root, StoreOptions::not_durable());
      ASSERT_TRUE(store) << store.error().message;
      expect_consistent(**store, root);
    }
    if (round == 4) reset();  // second half starts from scratch again
  }
  std::cout << "[ crash ] undisturbed pull " << full.count() << " ms; killed mid-pull in " << killed_mid_pull
            << " of " << kRounds << " rounds\n";
  EXPECT_GE(killed_mid_pull, kRounds / 2);  // the even rounds, at least

  auto store = ContentStore::open(root, StoreOptions::not_durable());
  ASSERT_TRUE(store);
  RegistryClient client(ro);
  Puller puller(**store, client);
  auto rec = puller.pull(ref);
  ASSERT_TRUE(rec) << rec.error().message;
  for (uint32_t i = 0; i < 4; ++i)
    EXPECT_EQ(*fs::read_file((*store)->layer_path(rec->layers[i]) + "/d" + std::to_string(i) + "/blob"), noise(6 << 20, i));
  expect_consistent(**store, root);
}

}  // namespace
}  // namespace berth::testing
