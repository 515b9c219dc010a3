#include "fetcher/oci_layout.hpp"

#include <gtest/gtest.h>

#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;

UnpackLimits small_limits() { return UnpackLimits{}; }

TEST(OciLayout, LoadsAVerifiedImage) {
  TempDir t;
  std::vector<TestLayer> layers = {{busybox_layer_tar(), Compression::kGzip},
                                   {TarBuilder().file("app/x", "x").build(), Compression::kZstd}};
  auto md = write_layout(t / "layout", layers, "v1");
  ASSERT_TRUE(md) << md.error().message;
  auto store = ContentStore::open(t / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  auto rec = load_oci_layout(**store, t / "layout", {"v1", "local/app:v1", host_platform(), small_limits(), nullptr});
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->manifest_digest.str(), *md);
  EXPECT_TRUE(fs::exists((*store)->layer_path(rec->layers[0]) + "/bin/busybox"));
  EXPECT_EQ(*fs::read_file((*store)->layer_path(rec->layers[1]) + "/app/x"), "x");
  EXPECT_TRUE((*store)->get_image("local/app:v1"));
  auto missing = load_oci_layout(**store, t / "layout", {"v2", "local/app:v2", host_platform(), small_limits(), nullptr});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no image named 'v2'"), std::string::npos);
}

TEST(OciLayout, CorruptLayerLeavesTheStoreUnchanged) {
  TempDir t;
  std::vector<TestLayer> layers = {{TarBuilder().file("a", "a").build(), Compression::kGzip},
                                   {TarBuilder().file("b", std::string(100000, 'b')).build(), Compression::kGzip}};
  ASSERT_TRUE(write_layout(t / "layout", layers, "v1"));
  std::string blob = compress(layers[1].tar, Compression::kGzip);
  std::string path = t / ("layout/blobs/sha256/" + Digest::of(blob).hex());
  blob[blob.size() - 6] ^= 1;  // in the gzip trailer: decompresses, but the digest cannot match
  ASSERT_TRUE(fs::write_file_atomic(path, blob));
  auto store = ContentStore::open(t / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  auto before = listing(t / "store");
  auto rec = load_oci_layout(**store, t / "layout", {"v1", "local/bad:v1", host_platform(), small_limits(), nullptr});
  ASSERT_FALSE(rec);
  EXPECT_EQ(before, listing(t / "store"));
}

TEST(OciLayout, LoadsALayoutWrittenBySkopeo) {
  auto reg = Registry::start();
  ASSERT_TRUE(reg) << reg.error().message;
  ASSERT_TRUE(push_image(**reg, "sk/app", "1", {{busybox_layer_tar(), Compression::kGzip}}));
  TempDir t;
  auto st = run_shell("skopeo copy --quiet --src-tls-verify=false docker://" + (*reg)->host() + "/sk/app:1 oci:" +
                      (t / "layout") + ":mytag");
  ASSERT_TRUE(st) << st.error().message;
  auto store = ContentStore::open(t / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  auto rec = load_oci_layout(**store, t / "layout", {"mytag", "sk/app:1", host_platform(), small_limits(), nullptr});
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(fs::exists((*store)->layer_path(rec->layers[0]) + "/bin/busybox"));
}

}  // namespace
}  // namespace berth::testing
