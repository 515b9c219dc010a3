// A pull and an OCI layout load that share a layer, run so that one of them fails while the
// other has already found the shared layer present but not yet recorded its image. Only GC
// deletes content (content_store.hpp), so the one that succeeds keeps every layer it names.
// The interleaving is forced with the progress callbacks, not with sleeps.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "fetcher/image.hpp"
#include "fetcher/oci_layout.hpp"
#include "fetcher/pull.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;
using State = LayerProgress::State;

class IngestRace : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Registry::start();
    ASSERT_TRUE(r) << r.error().message;
    reg_ = std::move(r).value();
    opts_.hosts[reg_->host()].insecure = true;
    client_ = std::make_unique<RegistryClient>(opts_);
    auto s = ContentStore::open(tmp_ / "store", StoreOptions::not_durable());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s).value();
  }
  // Every layer the record names is in the store and the rootfs can be built from it.
  void expect_usable(const ImageRecord& rec) {
    for (const auto& l : rec.layers) EXPECT_TRUE(store_->has_layer(l)) << "missing layer " << l.str();
    auto dirs = lower_dirs(*store_, rec);
    EXPECT_TRUE(dirs) << (dirs ? "" : dirs.error().message);
  }
  LoadOptions load_options(const PullProgressFn& progress) {
    LoadOptions o;
    o.ref_name = "v1";
    o.record_as = "local/loaded:v1";
    o.progress = progress;
    return o;
  }
  // Corrupts a blob in the registry's storage, keeping its size, so its digest cannot match.
  void corrupt_registry_blob(const std::string& digest) {
    std::string path = reg_->blob_data_path(digest);
    auto data = fs::read_file(path);
    ASSERT_TRUE(data);
    std::string bad = *data;
    bad[bad.size() / 2] ^= 0x5a;
    ASSERT_TRUE(fs::write_file_atomic(path, bad));
  }

  TempDir tmp_;
  std::unique_ptr<Registry> reg_;
  fetcher::RegistryOptions opts_;
  std::unique_ptr<RegistryClient> client_;
  std::unique_ptr<ContentStore> store_;
  const TestLayer shared_{TarBuilder().file("shared/file", "shared layer\n").build(), Compression::kGzip};
  const TestLayer ok_{TarBuilder().file("ok/file", noise(1 << 20, 3)).build(), Compression::kGzip};
  const TestLayer bad_{TarBuilder().file("bad/file", noise(1 << 20, 5)).build(), Compression::kGzip};
};

// The pull commits the shared layer, the load finds it present and moves on to its own layer,
// then the pull fails (corrupt blob) and ends; the load finishes afterwards.
TEST_F(IngestRace, AFailingPullKeepsTheLayerAConcurrentLoadFoundPresent) {
  auto pushed = push_image(*reg_, "race/pull", "1", {shared_, bad_});
  ASSERT_TRUE(pushed) << pushed.error().message;
  corrupt_registry_blob(pushed->layer_digests[1]);
  ASSERT_TRUE(write_layout(tmp_ / "layout", {shared_, ok_}, "v1"));

  std::promise<void> load_past_shared, pull_ended;
  std::shared_future<void> pull_ended_f = pull_ended.get_future().share();
  std::future<Result<ImageRecord>> loaded;
  auto load_progress = [&](const LayerProgress& p) {
    if (p.index == 0) {
      EXPECT_EQ(p.state, State::kPresent) << "the pull committed the shared layer first";
    }
    if (p.index == 1 && p.state == State::kFetching) {
      load_past_shared.set_value();
      pull_ended_f.wait();
    }
  };
  PullOptions po;
  po.parallel_layers = 1;  // the shared layer, then the corrupt one
  Puller puller(*store_, *client_);
  auto pulled = puller.pull(reg_->host() + "/race/pull:1", po, [&](const LayerProgress& p) {
    if (p.index == 0 && p.state == State::kDone) {
      loaded = std::async(std::launch::async,
                          [&] { return load_oci_layout(*store_, tmp_ / "layout", load_options(load_progress)); });
      load_past_shared.get_future().wait();
    }
  });
  ASSERT_FALSE(pulled) << "the second layer's blob is corrupt";
  pull_ended.set_value();
  ASSERT_TRUE(loaded.valid());
  auto rec = loaded.get();
  ASSERT_TRUE(rec) << rec.error().message;
  expect_usable(*rec);
  EXPECT_EQ(*fs::read_file(store_->layer_path(rec->layers[0]) + "/shared/file"), "shared layer\n");
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/tmp")->empty());
}

// The mirror image: the load commits the shared layer and then fails on a corrupt blob while a
// pull has found the shared layer present and is fetching its own.
TEST_F(IngestRace, AFailingLoadKeepsTheLayerAConcurrentPullFoundPresent) {
  auto pushed = push_image(*reg_, "race/load", "1", {shared_, ok_});
  ASSERT_TRUE(pushed) << pushed.error().message;
  ASSERT_TRUE(write_layout(tmp_ / "layout", {shared_, bad_}, "v1"));
  std::string blob = compress(bad_.tar, bad_.compression);
  blob[blob.size() - 6] ^= 1;  // in the gzip trailer: decompresses, but the digest cannot match
  ASSERT_TRUE(fs::write_file_atomic(tmp_ / ("layout/blobs/sha256/" + Digest::of(compress(bad_.tar, bad_.compression)).hex()), blob));

  std::promise<void> pull_past_shared, load_ended;
  std::shared_future<void> load_ended_f = load_ended.get_future().share();
  std::future<Result<ImageRecord>> pulled;
  Puller puller(*store_, *client_);
  PullOptions po;
  po.parallel_layers = 1;
  auto pull_progress = [&](const LayerProgress& p) {
    if (p.index == 0) {
      EXPECT_EQ(p.state, State::kPresent) << "the load committed the shared layer first";
    }
    if (p.index == 1 && p.state == State::kFetching && p.fetched == 0) {
      pull_past_shared.set_value();
      load_ended_f.wait();
    }
  };
  auto loaded = load_oci_layout(*store_, tmp_ / "layout", load_options([&](const LayerProgress& p) {
    if (p.index == 0 && p.state == State::kDone) {
      pulled = std::async(std::launch::async,
                          [&] { return puller.pull(reg_->host() + "/race/load:1", po, pull_progress); });
      pull_past_shared.get_future().wait();
    }
  }));
  ASSERT_FALSE(loaded) << "the layout's second layer is corrupt";
  load_ended.set_value();
  ASSERT_TRUE(pulled.valid());
  auto rec = pulled.get();
  ASSERT_TRUE(rec) << rec.error().message;
  expect_usable(*rec);
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/tmp")->empty());
}

// With nothing else running, what a failed ingest committed is collected when it ends.
TEST_F(IngestRace, AFailedPullAloneLeavesNoLayerBehind) {
  auto pushed = push_image(*reg_, "race/alone", "1", {shared_, bad_});
  ASSERT_TRUE(pushed) << pushed.error().message;
  corrupt_registry_blob(pushed->layer_digests[1]);
  PullOptions po;
  po.parallel_layers = 1;
  Puller puller(*store_, *client_);
  bool shared_committed = false;
  auto pulled = puller.pull(reg_->host() + "/race/alone:1", po, [&](const LayerProgress& p) {
    if (p.index == 0 && p.state == State::kDone) shared_committed = true;
  });
  ASSERT_FALSE(pulled);
  EXPECT_TRUE(shared_committed);
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/layers")->empty());
  EXPECT_TRUE(fs::list_dir(tmp_ / "store/tmp")->empty());
}

}  // namespace
}  // namespace berth::testing
