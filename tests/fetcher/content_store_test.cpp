#include "fetcher/content_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/fetcher/tar_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::fetcher {
namespace {

using testing::TempDir;

// ContentStore's own on-disk behaviour; the store contract is tested for every implementation
// in store_conformance_test.cpp.
std::unique_ptr<ContentStore> open_store(const std::string& root) {
  auto s = ContentStore::open(root, StoreOptions::not_durable());
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(s).value() : nullptr;
}

TEST(ContentStore, OpenCleansHalfWrittenThingsAfterACrash) {
  TempDir t;
  Digest layer = Digest::of("layer");
  {
    auto store = open_store(t / "store");
    ASSERT_TRUE(store);
  }
  // What kill -9 could leave: a half blob, a half layer, a torn record temp, a gc in progress.
  ASSERT_TRUE(fs::write_file_atomic(t / "store/tmp/blob-1-1", "half"));
  ASSERT_TRUE(fs::mkdir_p(t / "store/tmp/layer-1-2/fs/usr/bin"));
  ASSERT_TRUE(fs::write_file_atomic(t / "store/tmp/layer-1-2/fs/usr/bin/x", "half"));
  ASSERT_TRUE(fs::mkdir_p(t / "store/tmp/gc-1-3/fs"));
  ASSERT_TRUE(fs::write_file_atomic(t / "store/images/abc.json.tmp", "{\"ref\":"));
  auto store = open_store(t / "store");
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::list_dir(t / "store/tmp")->empty());
  EXPECT_TRUE(fs::list_dir(t / "store/images")->empty());
  EXPECT_FALSE(store->has_layer(layer));
  auto imgs = store->list_images();
  ASSERT_TRUE(imgs);
  EXPECT_TRUE(imgs->empty());
}

TEST(ContentStore, SecondOpenOfTheSameStoreIsRefused) {
  TempDir t;
  auto a = open_store(t / "store");
  auto b = ContentStore::open(t / "store");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("in use by another process"), std::string::npos);
}

ImageRecord make_record(ContentStore& store, const std::string& ref, const std::string& content) {
  ImageRecord r;
  r.ref = ref;
  r.manifest_digest = Digest::of("manifest-" + content);
  r.config_digest = Digest::of("config-" + content);
  EXPECT_TRUE(store.put_blob(r.manifest_digest, "manifest-" + content));
  EXPECT_TRUE(store.put_blob(r.config_digest, "config-" + content));
  r.media_type = "application/vnd.oci.image.manifest.v1+json";
  auto lw = store.begin_layer();
  Digest diff = Digest::of("layer-" + content);
  EXPECT_TRUE(fs::write_file_atomic(lw->root_fd(), "f", content));
  EXPECT_TRUE(lw->commit(diff, diff, content.size()));
  r.layers = {diff};
  r.layer_blobs = {Digest::of("blob-" + content)};
  EXPECT_TRUE(store.put_image(r));
  return r;
}

// Layer links (layer_links.hpp) after a crash: a link whose layer never got committed is
// dropped, a layer committed without one (older stores, or a crash inside gc) gets one.
TEST(ContentStore, OpenRepairsLayerLinks) {
  TempDir t;
  Digest kept;
  {
    auto store = open_store(t / "store");
    kept = make_record(*store, "reg.io/a:1", "A").layers[0];
  }
  auto old_link = fs::read_file(t / ("store/layers/" + kept.hex() + "/link"));
  ASSERT_TRUE(old_link);
  ASSERT_EQ(::unlink((t / ("store/l/" + *old_link)).c_str()), 0);
  ASSERT_EQ(::symlink("../layers/0000/fs", (t / "store/l/danglingdangling").c_str()), 0);
  auto store = open_store(t / "store");
  ASSERT_TRUE(store);
  auto link = store->layer_link(kept);
  ASSERT_TRUE(link) << link.error().message;
  EXPECT_EQ(*fs::read_file(*link + "/f"), "A");
  EXPECT_EQ(fs::list_dir(t / "store/l")->size(), 1u) << "the dangling link is gone";
}

}  // namespace
}  // namespace berth::fetcher

namespace berth::fetcher {
namespace {

TEST(ContentStore, GcForHeadroomRemovesLeastRecentlyUsedImagesNotInUse) {
  TempDir t;
  // Pretend free space grows by 1000 per removed layer, starting at 0.
  std::unique_ptr<ContentStore> store;
  StoreOptions o{false, nullptr};
  o.free_bytes = [&]() -> Result<uint64_t> { return 1000 * (3 - fs::list_dir(t / "store/layers")->size()); };
  auto s = ContentStore::open(t / "store", o);
  ASSERT_TRUE(s);
  store = std::move(s).value();
  make_record(*store, "reg.io/old:1", "old");
  make_record(*store, "reg.io/busy:1", "busy");
  make_record(*store, "reg.io/new:1", "new");
  // Make "busy" the oldest by mtime, but held by a task; "old" is next.
  ASSERT_TRUE(store->acquire("t1", "reg.io/busy:1"));
  struct timespec past[2] = {{1000, 0}, {1000, 0}}, older[2] = {{2000, 0}, {2000, 0}};
  for (const auto& [ref, ts] : {std::pair{std::string("reg.io/busy:1"), past}, std::pair{std::string("reg.io/old:1"), older}})
    ::utimensat(AT_FDCWD, (t / ("store/images/" + Digest::of(ref).hex() + ".json")).c_str(), ts, 0);
  auto g = store->gc_for_headroom(1000);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_TRUE(g->headroom_met);
  EXPECT_EQ(g->removed_images, std::vector<std::string>{"reg.io/old:1"});
  EXPECT_TRUE(store->get_image("reg.io/busy:1"));
  EXPECT_TRUE(store->get_image("reg.io/new:1"));
  // Asking for more than can be freed without touching busy: stops, says so.
  g = store->gc_for_headroom(5000);
  ASSERT_TRUE(g);
  EXPECT_FALSE(g->headroom_met);
  EXPECT_EQ(g->removed_images, std::vector<std::string>{"reg.io/new:1"});
  EXPECT_TRUE(store->get_image("reg.io/busy:1"));
}

}  // namespace
}  // namespace berth::fetcher
