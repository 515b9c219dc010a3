#include "fetcher/artifact.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;

class Artifacts : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::mkdir_p(tmp_ / "sandbox"));
    auto d = fs::open_dir(tmp_ / "sandbox");
    ASSERT_TRUE(d);
    sandbox_ = std::move(d).value();
  }
  std::unique_ptr<ArtifactCache> cache(uint64_t max = 1 << 30) {
    ArtifactOptions o;
    o.cache_max_bytes = max;
    o.max_attempts = 1;
    auto c = ArtifactCache::open(tmp_ / "cache", o);
    EXPECT_TRUE(c) << c.error().message;
    return std::move(c).value();
  }
  std::string file_uri(const std::string& name, const std::string& data) {
    EXPECT_TRUE(fs::write_file_atomic(tmp_ / name, data));
    return "file://" + (tmp_ / name);
  }
  TempDir tmp_;
  UniqueFd sandbox_;
};

TEST_F(Artifacts, FileUriVerifiedPlacedAndCached) {
  auto c = cache();
  std::string data = "#!/bin/sh\necho tool\n";
  std::string sha = Digest::of(data).hex();
  ASSERT_TRUE(c->fetch_into({file_uri("tool.sh", data), sha, false, true, ""}, sandbox_.get()));
  EXPECT_EQ(*fs::read_file(tmp_ / "sandbox/tool.sh"), data);
  struct stat st {};
  ::stat((tmp_ / "sandbox/tool.sh").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_TRUE(c->is_cached(sha));
  // The source is gone, the cache still serves it, under another name.
  ASSERT_TRUE(fs::remove_tree(tmp_ / "tool.sh"));
  ASSERT_TRUE(c->fetch_into({"file://" + (tmp_ / "tool.sh"), "sha256:" + sha, false, false, "bin/t"}, sandbox_.get()));
  EXPECT_EQ(*fs::read_file(tmp_ / "sandbox/bin/t"), data);
}

TEST_F(Artifacts, ChecksumMismatchNamesTheUriAndPlacesNothing) {
  auto c = cache();
  auto st = c->fetch_into({file_uri("a.txt", "actual"), Digest::of("expected").hex(), false, false, ""}, sandbox_.get());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("a.txt"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("sha256 mismatch"), std::string::npos) << st.error().message;
  EXPECT_FALSE(fs::exists(tmp_ / "sandbox/a.txt"));
  EXPECT_EQ(c->cached_bytes(), 0u);
  EXPECT_TRUE(fs::list_dir(tmp_ / "cache/tmp")->empty());
}

TEST_F(Artifacts, SafeExtractOfCompressedTarballs) {
  auto c = cache();
  for (auto comp : {Compression::kGzip, Compression::kZstd, Compression::kXz}) {
    std::string tgz = TarBuilder().dir("conf").file("conf/app.ini", "k=v\n").file(".wh.keep", "literal").build(comp);
    ASSERT_TRUE(c->fetch_into({file_uri("conf.tar", tgz), Digest::of(tgz).hex(), true, false, "x"}, sandbox_.get()));
    EXPECT_EQ(*fs::read_file(tmp_ / "sandbox/x/conf/app.ini"), "k=v\n");
    EXPECT_EQ(*fs::read_file(tmp_ / "sandbox/x/.wh.keep"), "literal");
  }
  // The unpacker's policy holds here too.
  std::string evil = TarBuilder().file("../escape", "x").build(Compression::kGzip);
  auto st = c->fetch_into({file_uri("evil.tgz", evil), "", true, false, ""}, sandbox_.get());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("'..'"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp_ / "escape"));
  // Outputs may not leave the sandbox either.
  EXPECT_FALSE(c->fetch_into({file_uri("f", "x"), "", false, false, "../f"}, sandbox_.get()));
  EXPECT_FALSE(c->fetch_into({file_uri("f", "x"), "", false, false, "/etc/f"}, sandbox_.get()));
}

TEST_F(Artifacts, LruEvictionKeepsTheCacheBounded) {
  auto c = cache(350);  // three 100-byte entries fit
  std::vector<std::string> shas;
  for (int i = 0; i < 4; ++i) {
    std::string data(100, static_cast<char>('a' + i));
    shas.push_back(Digest::of(data).hex());
    ASSERT_TRUE(c->fetch_into({file_uri("f" + std::to_string(i), data), shas.back(), false, false, ""}, sandbox_.get()));
    if (i == 2) {  // use the first again: it becomes the most recent
      ASSERT_TRUE(c->fetch_into({"file:///nonexistent", shas[0], false, false, "again"}, sandbox_.get()));
    }
  }
  EXPECT_LE(c->cached_bytes(), 350u);
  EXPECT_TRUE(c->is_cached(shas[2]));
  EXPECT_TRUE(c->is_cached(shas[3]));
  EXPECT_TRUE(c->is_cached(shas[0])) << "recently used, kept";
  EXPECT_FALSE(c->is_cached(shas[1])) << "least recently used, evicted";
}

TEST_F(Artifacts, HttpFromALocalServerAndClearFailures) {
  auto reg = Registry::start();
  ASSERT_TRUE(reg) << reg.error().message;
  std::string payload = "artifact over http";
  auto d = (*reg)->push_blob("art/files", payload);
  ASSERT_TRUE(d);
  auto c = cache();
  std::string uri = "http://" + (*reg)->host() + "/v2/art/files/blobs/" + *d;
  ASSERT_TRUE(c->fetch_into({uri, *d, false, false, "payload"}, sandbox_.get()));
  EXPECT_EQ(*fs::read_file(tmp_ / "sandbox/payload"), payload);
  auto missing = c->fetch_into({"http://" + (*reg)->host() + "/v2/art/files/blobs/sha256:" + std::string(64, '0'), "",
                                false, false, "m"},
                               sandbox_.get());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_NE(missing.error().message.find("HTTP 404"), std::string::npos) << missing.error().message;
  auto scheme = c->fetch_into({"ftp://x/y", "", false, false, ""}, sandbox_.get());
  ASSERT_FALSE(scheme);
  EXPECT_NE(scheme.error().message.find("unsupported URI scheme"), std::string::npos);
}

}  // namespace
}  // namespace berth::testing
