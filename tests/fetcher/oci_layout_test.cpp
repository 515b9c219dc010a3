#include "fetcher/oci_layout.hpp"

#include <gtest/gtest.h>

#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;

UnpackLimits small_limits() { return UnpackLimits{}; }

// An OCI layout with one image named `name`, written by hand.
std::string write_layout(const std::string& dir, const std::vector<TestLayer>& layers, const std::string& name) {
  EXPECT_TRUE(fs::mkdir_p(dir + "/blobs/sha256"));
  auto put = [&](const std::string& data) {
    auto d = Digest::of(data);
    EXPECT_TRUE(fs::write_file_atomic(dir + "/blobs/sha256/" + d.hex(), data));
    return d.str();
  };
  std::string layer_json, diff_ids;
  for (const auto& l : layers) {
    std::string blob = compress(l.tar, l.compression);
    std::string d = put(blob);
    layer_json += std::string(layer_json.empty() ? "" : ",") + R"({"mediaType":")" + layer_media_type(l.compression, true) +
                  R"(","digest":")" + d + R"(","size":)" + std::to_string(blob.size()) + "}";
    diff_ids += std::string(diff_ids.empty() ? "\"" : ",\"") + Digest::of(l.tar).str() + "\"";
  }
  std::string config = R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[)" +
                       diff_ids + "]}}";
  std::string cd = put(config);
  std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                         cd + R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[)" + layer_json + "]}";
  std::string md = put(manifest);
  EXPECT_TRUE(fs::write_file_atomic(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  EXPECT_TRUE(fs::write_file_atomic(dir + "/index.json",
                                    R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
                                        md + R"(","size":)" + std::to_string(manifest.size()) +
                                        R"(,"annotations":{"org.opencontainers.image.ref.name":")" + name + R"("}}]})"));
  return md;
}

TEST(OciLayout, LoadsAVerifiedImage) {
  TempDir t;
  std::vector<TestLayer> layers = {{busybox_layer_tar(), Compression::kGzip},
                                   {TarBuilder().file("app/x", "x").build(), Compression::kZstd}};
  std::string md = write_layout(t / "layout", layers, "v1");
  auto store = ContentStore::open(t / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  auto rec = load_oci_layout(**store, t / "layout", {"v1", "local/app:v1", host_platform(), small_limits()});
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->manifest_digest.str(), md);
  EXPECT_TRUE(fs::exists((*store)->layer_path(rec->layers[0]) + "/bin/busybox"));
  EXPECT_EQ(*fs::read_file((*store)->layer_path(rec->layers[1]) + "/app/x"), "x");
  EXPECT_TRUE((*store)->get_image("local/app:v1"));
  auto missing = load_oci_layout(**store, t / "layout", {"v2", "local/app:v2", host_platform(), small_limits()});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no image named 'v2'"), std::string::npos);
}

TEST(OciLayout, CorruptLayerLeavesTheStoreUnchanged) {
  TempDir t;
  std::vector<TestLayer> layers = {{TarBuilder().file("a", "a").build(), Compression::kGzip},
                                   {TarBuilder().file("b", std::string(100000, 'b')).build(), Compression::kGzip}};
  write_layout(t / "layout", layers, "v1");
  std::string blob = compress(layers[1].tar, Compression::kGzip);
  std::string path = t / ("layout/blobs/sha256/" + Digest::of(blob).hex());
  blob[blob.size() - 6] ^= 1;  // in the gzip trailer: decompresses, but the digest cannot match
  ASSERT_TRUE(fs::write_file_atomic(path, blob));
  auto store = ContentStore::open(t / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  auto before = listing(t / "store");
  auto rec = load_oci_layout(**store, t / "layout", {"v1", "local/bad:v1", host_platform(), small_limits()});
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
  auto rec = load_oci_layout(**store, t / "layout", {"mytag", "sk/app:1", host_platform(), small_limits()});
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_TRUE(fs::exists((*store)->layer_path(rec->layers[0]) + "/bin/busybox"));
}

}  // namespace
}  // namespace berth::testing
