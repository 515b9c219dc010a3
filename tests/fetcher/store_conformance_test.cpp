// The one conformance suite for content stores (fetcher/store_interfaces.hpp): every
// implementation is added to StoreImplementations and passes every test here, through the
// interfaces only. On-disk details of ContentStore (its lock, its crash cleanup, its free-space
// seam) are tested in content_store_test.cpp.
#include <gtest/gtest.h>

#include <thread>

#include "fetcher/content_store.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::fetcher {
namespace {

using testing::TempDir;

// The on-disk store, with and without fsyncs (the code paths differ: syncfs before a layer
// commit, fsync of blobs and directories).
struct DurableContentStore {
  static Result<std::unique_ptr<Store>> make(const std::string& dir) {
    BERTH_TRY(auto s, ContentStore::open(dir, StoreOptions{}));
    return std::unique_ptr<Store>(std::move(s));
  }
};
struct FastContentStore {
  static Result<std::unique_ptr<Store>> make(const std::string& dir) {
    BERTH_TRY(auto s, ContentStore::open(dir, StoreOptions::not_durable()));
    return std::unique_ptr<Store>(std::move(s));
  }
};

template <typename Impl>
class StoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Impl::make(tmp_ / "store");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(s).value();
  }
  // A committed layer holding one file `f` with `content`; its diff_id is made up (the writer
  // is told the same digest as expected and actual).
  Digest commit_layer(const std::string& content) {
    Digest diff = Digest::of("layer-" + content);
    auto lw = store_->begin_layer();
    EXPECT_TRUE(lw);
    EXPECT_TRUE(fs::write_file_atomic(lw->root_fd(), "f", content));
    EXPECT_TRUE(lw->commit(diff, diff, content.size()));
    return diff;
  }
  ImageRecord put_image(const std::string& ref, const std::string& content) {
    ImageRecord r;
    r.ref = ref;
    r.manifest_digest = Digest::of("manifest-" + content);
    r.config_digest = Digest::of("config-" + content);
    EXPECT_TRUE(store_->put_blob(r.manifest_digest, "manifest-" + content));
    EXPECT_TRUE(store_->put_blob(r.config_digest, "config-" + content));
    r.media_type = "application/vnd.oci.image.manifest.v1+json";
    r.layers = {commit_layer(content)};
    r.layer_blobs = {Digest::of("blob-" + content)};
    r.compressed_size = 123;
    EXPECT_TRUE(store_->put_image(r));
    return r;
  }
  TempDir tmp_;
  std::unique_ptr<Store> store_;
};

using StoreImplementations = ::testing::Types<DurableContentStore, FastContentStore>;
TYPED_TEST_SUITE(StoreConformance, StoreImplementations);

TYPED_TEST(StoreConformance, ABlobIsVisibleOnlyAfterACommitWithItsDigest) {
  Store& s = *this->store_;
  Digest d = Digest::of("hello");
  {
    auto w = s.begin_blob();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write("hel", 3));
    EXPECT_FALSE(s.has_blob(d)) << "visible before its commit";
    ASSERT_TRUE(w->write("lo", 2));
    ASSERT_TRUE(w->commit(d));
  }
  EXPECT_TRUE(s.has_blob(d));
  EXPECT_EQ(*s.read_blob(d), "hello");
  auto bad = s.put_blob(Digest::of("expected"), "tampered");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Code::kFailedPrecondition);
  EXPECT_FALSE(s.has_blob(Digest::of("expected")));
  EXPECT_FALSE(s.has_blob(Digest::of("tampered")));
  {  // abandoned: nothing
    auto w = s.begin_blob();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write("part", 4));
  }
  EXPECT_FALSE(s.has_blob(Digest::of("part")));
  EXPECT_TRUE(s.put_blob(d, "hello")) << "putting a present blob again is fine";
}

TYPED_TEST(StoreConformance, ALayerIsVisibleOnlyAfterACommitWithItsDiffId) {
  Store& s = *this->store_;
  Digest want = Digest::of("want");
  {
    auto lw = s.begin_layer();
    ASSERT_TRUE(lw);
    ASSERT_TRUE(fs::write_file_atomic(lw->root_fd(), "x", "y"));
    EXPECT_FALSE(s.has_layer(want));
    auto st = lw->commit(want, Digest::of("other"), 1);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("diff_id mismatch"), std::string::npos);
  }
  EXPECT_FALSE(s.has_layer(want));
  Digest d = this->commit_layer("content");
  EXPECT_TRUE(s.has_layer(d));
  EXPECT_EQ(*fs::read_file(s.layer_path(d) + "/f"), "content");
  auto link = s.layer_link(d);
  ASSERT_TRUE(link) << link.error().message;
  EXPECT_EQ(*fs::read_file(*link + "/f"), "content") << "the short link names the same tree";
  EXPECT_LT(link->substr(link->rfind('/') + 1).size(), 20u) << *link;
  EXPECT_EQ(s.layer_size(d), 7u);
}

TYPED_TEST(StoreConformance, ImageRecordsRoundTripAndGoAway) {
  Store& s = *this->store_;
  auto a = this->put_image("reg.io/a:1", "A");
  this->put_image("reg.io/b:1", "B");
  auto got = s.get_image("reg.io/a:1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->manifest_digest, a.manifest_digest);
  EXPECT_EQ(got->layers, a.layers);
  EXPECT_EQ(got->layer_blobs, a.layer_blobs);
  EXPECT_EQ(got->compressed_size, 123u);
  EXPECT_EQ(s.list_images()->size(), 2u);
  EXPECT_EQ(s.get_image("reg.io/none:1").error().code, Code::kNotFound);
  ASSERT_TRUE(s.remove_image("reg.io/b:1"));
  EXPECT_EQ(s.remove_image("reg.io/b:1").error().code, Code::kNotFound);
  EXPECT_EQ(s.list_images()->size(), 1u);
}

TYPED_TEST(StoreConformance, ATaskLeaseKeepsItsImageAndContent) {
  Store& s = *this->store_;
  auto a = this->put_image("reg.io/a:1", "A");
  ASSERT_TRUE(s.acquire("task-1", "reg.io/a:1"));
  EXPECT_EQ(*s.layer_refs(a.layers[0]), 2);  // image + lease
  auto rm = s.remove_image("reg.io/a:1");
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error().code, Code::kFailedPrecondition);
  EXPECT_NE(rm.error().message.find("task-1"), std::string::npos);
  EXPECT_FALSE(s.acquire("../evil", "reg.io/a:1"));
  ASSERT_TRUE(s.release("task-1"));
  ASSERT_TRUE(s.release("never-acquired"));
  ASSERT_TRUE(s.remove_image("reg.io/a:1"));
  EXPECT_EQ(*s.layer_refs(a.layers[0]), 0);
}

TYPED_TEST(StoreConformance, GcRemovesOnlyWhatNothingNames) {
  Store& s = *this->store_;
  auto a = this->put_image("reg.io/a:1", "A");
  auto b = this->put_image("reg.io/b:1", "B");
  auto c = this->put_image("reg.io/c:1", "C");
  ASSERT_TRUE(s.acquire("task-c", "reg.io/c:1"));
  ASSERT_TRUE(s.remove_image("reg.io/b:1"));
  auto gc = s.gc();
  ASSERT_TRUE(gc) << gc.error().message;
  EXPECT_EQ(gc->removed_layers, 1u);
  EXPECT_EQ(gc->removed_blobs, 2u);
  EXPECT_FALSE(s.has_layer(b.layers[0]));
  EXPECT_FALSE(s.has_blob(b.config_digest));
  EXPECT_TRUE(s.has_layer(a.layers[0]));
  EXPECT_TRUE(s.has_blob(a.config_digest));
  EXPECT_TRUE(s.has_layer(c.layers[0])) << "held by a task lease";
  EXPECT_TRUE(s.layer_link(a.layers[0]));
}

// Only GC deletes: a failed ingest's layer stays while another ingest runs (that one may have
// found it present), and is collected when the last ingest ends.
TYPED_TEST(StoreConformance, AnIngestsUnrecordedLayerIsCollectedOnlyWhenNoIngestRuns) {
  Store& s = *this->store_;
  Digest orphan;
  {
    IngestLease other = s.begin_ingest();
    {
      IngestLease failing = s.begin_ingest();
      orphan = this->commit_layer("orphan");
    }  // the failing ingest ends without recording an image
    EXPECT_TRUE(s.has_layer(orphan)) << "another ingest still runs";
  }
  EXPECT_FALSE(s.has_layer(orphan)) << "collected when the last ingest ended";
  Digest kept;
  {
    IngestLease ok = s.begin_ingest();
    auto r = this->put_image("reg.io/kept:1", "kept");
    kept = r.layers[0];
  }
  EXPECT_TRUE(s.has_layer(kept)) << "recorded in an image";
}

TYPED_TEST(StoreConformance, GcWaitsForARunningIngest) {
  Store& s = *this->store_;
  std::atomic<bool> gc_done{false};
  Digest d;
  std::thread gc_thread;
  {
    IngestLease lease = s.begin_ingest();
    d = this->commit_layer("in-flight");
    gc_thread = std::thread([&] {
      EXPECT_TRUE(s.gc());
      gc_done = true;
    });
    // The layer must survive for as long as the lease is held, whatever GC does meanwhile.
    for (int i = 0; i < 50 && !gc_done; ++i) {
      EXPECT_TRUE(s.has_layer(d));
      std::this_thread::yield();
    }
    EXPECT_FALSE(gc_done) << "gc ran while an ingest held its lease";
    this->put_image("reg.io/inflight:1", "in-flight");
  }
  gc_thread.join();
  EXPECT_TRUE(s.has_layer(d));
}

}  // namespace
}  // namespace berth::fetcher
