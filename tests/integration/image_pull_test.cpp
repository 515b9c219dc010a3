// Images through the real berthd and a real registry: the image object as docs/API.md describes
// it, an image of 70 layers that starts (overlay lowerdirs by short names), and berthd stopping
// during a slow pull (the pull is cancelled, berthd exits promptly, nothing half-made stays).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/fs.hpp"
#include "tests/fetcher/flaky_proxy.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fixtures/registry.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

using Clock = std::chrono::steady_clock;

// busybox, the dirs the launcher mounts on, and a file that only the bottom layer has.
std::string bottom_layer() {
  TarBuilder t;
  t.dir("bin").file("bin/busybox", fs::read_file("/bin/busybox").value_or(""), 0755);
  for (const char* app : {"sh", "cat"}) t.symlink(std::string("bin/") + app, "busybox");
  t.dir("proc").dir("sys").dir("dev").dir("mnt").dir("tmp", 01777).dir("etc");
  t.file("bottom.txt", "from the bottom layer\n");
  return t.build();
}

class ImagePull : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto reg = Registry::start();
    ASSERT_TRUE(reg.has_value()) << reg.error().message;
    registry_ = std::move(reg).value();
  }
  std::unique_ptr<Agent> start_agent(const std::string& registry_host) {
    auto a = std::make_unique<Agent>("\"registries\": {\"" + registry_host + "\": {\"insecure\": true}}");
    auto st = a->start();
    EXPECT_TRUE(st.has_value()) << st.error().message;
    return a;
  }
  std::string pull_final_line(Agent& agent, const std::string& ref) {
    std::string last;
    auto st = agent.stream_lines("POST", "/v1/images/pull", "{\"ref\": " + json_string(ref) + "}",
                                 [&](const std::string& line) {
                                   last = line;
                                   return true;
                                 });
    EXPECT_TRUE(st.has_value()) << (st ? "" : st.error().message);
    return last;
  }
  std::unique_ptr<Registry> registry_;
};

// docs/API.md: "layers" are the layer blob digests, "size" the sum of the compressed sizes.
TEST_F(ImagePull, TheImageObjectIsWhatTheApiDocumentSays) {
  auto pushed = push_image(*registry_, "doc/app", "1",
                           {{bottom_layer(), Compression::kGzip},
                            {TarBuilder().file("big", noise(300000, 9)).build(), Compression::kZstd}});
  ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  auto manifest = parse(pushed->manifest_body);
  uint64_t compressed = 0;
  for (const auto& l : manifest["layers"].GetArray()) compressed += l["size"].GetUint64();
  auto agent = start_agent(registry_->host());
  std::string ref = registry_->host() + "/doc/app:1";
  auto final_line = parse(pull_final_line(*agent, ref));
  ASSERT_TRUE(final_line.HasMember("image"));
  auto listed = parse(agent->request("GET", "/v1/images").body);
  ASSERT_EQ(listed["images"].Size(), 1u);
  for (const rapidjson::Value* img : {&final_line["image"], &listed["images"][0]}) {
    const auto& layers = (*img)["layers"];
    ASSERT_EQ(layers.Size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(std::string(layers[i].GetString()), pushed->layer_digests[i]) << "blob digests, base first";
      EXPECT_EQ(std::string((*img)["diff_ids"][i].GetString()), pushed->diff_ids[i]);
    }
    EXPECT_EQ((*img)["size"].GetUint64(), compressed) << "the compressed size of the layers";
    EXPECT_GT((*img)["unpacked_size"].GetUint64(), 300000u);
  }
}

// 70 layers: absolute lowerdir paths would need ~7 KiB of mount options (one page is the
// limit); short names relative to the store's l/ directory need ~1.2 KiB.
TEST_F(ImagePull, AnImageWithSeventyLayersStarts) {
  constexpr int kLayers = 70;
  std::vector<TestLayer> layers = {{bottom_layer(), Compression::kGzip}};
  for (int i = 1; i < kLayers; ++i) {
    TarBuilder t;
    t.file("layer-" + std::to_string(i), std::to_string(i) + "\n");
    if (i == kLayers - 1) t.file("top.txt", "from the top layer\n");
    layers.push_back({t.build(), Compression::kGzip});
  }
  ASSERT_TRUE(push_image(*registry_, "many/layers", "70", layers, "amd64", true,
                         R"({"Cmd":["/bin/sh"],"Env":["PATH=/bin"]})")
                  .has_value());
  auto agent = start_agent(registry_->host());
  std::string id = agent->run("{\"image\": " + json_string(registry_->host() + "/many/layers:70") +
                              ", \"command\": [\"cat\", \"/bottom.txt\", \"/layer-35\", \"/top.txt\"]}");
  auto exit = agent->wait(id);
  EXPECT_EQ(std::string(exit["reason"].GetString()), "exited") << agent->logs(id, "?stream=stderr");
  EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent->logs(id, "?stream=stderr");
  EXPECT_EQ(agent->logs(id), "from the bottom layer\n35\nfrom the top layer\n");
}

// A pull through a proxy that serves 1 MiB/s: the 24 MiB layer would take ~24 s. Stopping
// berthd cancels it: berthd exits within seconds, and the store holds nothing half-made.
TEST_F(ImagePull, StoppingBerthdCancelsAPullInFlight) {
  TarBuilder t;
  t.file("big", noise(24 << 20, 77));
  ASSERT_TRUE(push_image(*registry_, "slow/app", "1", {{bottom_layer(), Compression::kGzip}, {t.build(), Compression::kGzip}})
                  .has_value());
  int port = std::stoi(registry_->host().substr(registry_->host().rfind(':') + 1));
  FlakyProxy slow(port, FlakyProxy::kNoCut, 1 << 20);
  auto agent = start_agent(slow.host());
  std::string store = agent->state_dir() + "/store";
  std::atomic<bool> finished{false};
  std::string final_line;
  std::thread puller([&] {
    (void)agent->stream_lines("POST", "/v1/images/pull", "{\"ref\": " + json_string(slow.host() + "/slow/app:1") + "}",
                              [&](const std::string& line) {
                                if (line.find("\"status\"") != std::string::npos) final_line = line;
                                return true;
                              });
    finished = true;
  });
  // In flight: the big layer is being unpacked into the store's tmp/.
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!finished && entries(store + "/tmp").empty() && Clock::now() < deadline) ::usleep(10000);
  ASSERT_FALSE(entries(store + "/tmp").empty()) << "the pull never started";
  ASSERT_FALSE(finished) << "the pull ended before berthd was stopped";

  auto t0 = Clock::now();
  agent->stop();
  double stop_s = std::chrono::duration<double>(Clock::now() - t0).count();
  puller.join();
  std::cout << "[ stop during pull ] berthd exited in " << stop_s << " s\n";
  EXPECT_LT(stop_s, 5.0) << "berthd waited for the pull instead of cancelling it";
  EXPECT_EQ(final_line.find("\"pulled\""), std::string::npos) << final_line;
  EXPECT_TRUE(entries(store + "/tmp").empty()) << "half-written content left in the store";
  EXPECT_TRUE(entries(store + "/images").empty()) << "no image was recorded";
  EXPECT_TRUE(entries(store + "/layers").empty()) << "a layer no image names was left behind";
  EXPECT_TRUE(entries(store + "/l").empty());

  // The store is consistent: a restarted berthd lists nothing and pulls the image whole.
  ASSERT_TRUE(agent->start().has_value());
  EXPECT_EQ(parse(agent->request("GET", "/v1/images").body)["images"].Size(), 0u);
}

}  // namespace
}  // namespace berth::testing
