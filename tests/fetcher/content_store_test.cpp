#include "fetcher/content_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/fetcher/tar_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::fetcher {
namespace {

using testing::TempDir;

std::unique_ptr<ContentStore> open_store(const std::string& root) {
  auto s = ContentStore::open(root, StoreOptions::not_durable());
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(s).value() : nullptr;
}

TEST(ContentStore, BlobCommitOnlyOnDigestMatch) {
  TempDir t;
  auto store = open_store(t / "store");
  Digest d = Digest::of("hello");
  ASSERT_TRUE(store->put_blob(d, "hello"));
  EXPECT_TRUE(store->has_blob(d));
  EXPECT_EQ(*store->read_blob(d), "hello");

  auto bad = store->put_blob(Digest::of("expected"), "tampered");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kFailedPrecondition);
  EXPECT_FALSE(store->has_blob(Digest::of("expected")));
  EXPECT_FALSE(store->has_blob(Digest::of("tampered")));
  EXPECT_TRUE(fs::list_dir(t / "store/tmp")->empty()) << "mismatch must not leave a temp file";

  {  // An abandoned writer leaves nothing.
    auto w = store->begin_blob();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write("part", 4));
  }
  EXPECT_TRUE(fs::list_dir(t / "store/tmp")->empty());
  EXPECT_EQ(fs::list_dir(t / "store/blobs/sha256")->size(), 1u);
}

TEST(ContentStore, LayerCommitOnlyOnDiffIdMatch) {
  TempDir t;
  auto store = open_store(t / "store");
  std::string tar = testing::TarBuilder().file("etc/hostname", "berth\n").build();
  Digest diff = Digest::of(tar);
  {
    auto lw = store->begin_layer();
    ASSERT_TRUE(lw);
    ASSERT_TRUE(fs::write_file_atomic(lw->root_fd(), "x", "y"));
    auto st = lw->commit(diff, Digest::of("other"), 1);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("diff_id mismatch"), std::string::npos);
  }
  EXPECT_FALSE(store->has_layer(diff));
  EXPECT_TRUE(fs::list_dir(t / "store/layers")->empty());
  EXPECT_TRUE(fs::list_dir(t / "store/tmp")->empty());
  {
    auto lw = store->begin_layer();
    ASSERT_TRUE(lw);
    size_t pos = 0;
    auto stats = unpack([&](void* b, size_t n) -> Result<size_t> {
      size_t k = std::min(n, tar.size() - pos);
      std::memcpy(b, tar.data() + pos, k);
      pos += k;
      return k;
    }, lw->root_fd(), [] {
      UnpackOptions o;
      o.keep_owners = testing::is_root();
      return o;
    }());
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_EQ(stats->diff_id, diff);
    ASSERT_TRUE(lw->commit(diff, stats->diff_id, 6));
  }
  EXPECT_TRUE(store->has_layer(diff));
  EXPECT_EQ(*fs::read_file(store->layer_path(diff) + "/etc/hostname"), "berth\n");
  EXPECT_EQ(store->layer_size(diff), 6u);
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

TEST(ContentStore, ImagesLeasesRefcountsAndGc) {
  TempDir t;
  auto store = open_store(t / "store");
  auto a = make_record(*store, "reg.io/a:1", "A");
  auto b = make_record(*store, "reg.io/b:1", "B");
  auto got = store->get_image("reg.io/a:1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->manifest_digest, a.manifest_digest);
  EXPECT_EQ(got->layers, a.layers);
  EXPECT_EQ(store->list_images()->size(), 2u);
  EXPECT_EQ(store->get_image("reg.io/none:1").error().code, Code::kNotFound);

  // A task holds a; removing a's record is refused while it runs.
  ASSERT_TRUE(store->acquire("task-1", "reg.io/a:1"));
  EXPECT_EQ(*store->layer_refs(a.layers[0]), 2);  // image + lease
  auto rm = store->remove_image("reg.io/a:1");
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error().code, Code::kFailedPrecondition);
  EXPECT_NE(rm.error().message.find("task-1"), std::string::npos);

  // b removed and collected; a kept.
  ASSERT_TRUE(store->remove_image("reg.io/b:1"));
  auto gc = store->gc();
  ASSERT_TRUE(gc) << gc.error().message;
  EXPECT_EQ(gc->removed_layers, 1u);
  EXPECT_EQ(gc->removed_blobs, 2u);
  EXPECT_FALSE(store->has_layer(b.layers[0]));
  EXPECT_TRUE(store->has_layer(a.layers[0]));
  EXPECT_TRUE(store->has_blob(a.config_digest));

  // Released: the image can go, and then its content.
  ASSERT_TRUE(store->release("task-1"));
  ASSERT_TRUE(store->release("never-acquired"));
  ASSERT_TRUE(store->remove_image("reg.io/a:1"));
  EXPECT_EQ(*store->layer_refs(a.layers[0]), 0);
  gc = store->gc();
  ASSERT_TRUE(gc);
  EXPECT_EQ(gc->removed_layers, 1u);
  EXPECT_TRUE(fs::list_dir(t / "store/layers")->empty());
  EXPECT_TRUE(fs::list_dir(t / "store/blobs/sha256")->empty());
  EXPECT_FALSE(store->acquire("../evil", "reg.io/a:1"));
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
