#include "fetcher/artifact.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

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
  ArtifactOptions options(uint64_t max = 1 << 30) {
    ArtifactOptions o;
    o.cache_max_bytes = max;
    o.max_attempts = 1;
    o.file_roots = {tmp_.path()};
    return o;
  }
  std::unique_ptr<ArtifactCache> cache(uint64_t max = 1 << 30) { return cache_with(options(max)); }
  std::unique_ptr<ArtifactCache> cache_with(const ArtifactOptions& o) {
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
    std::string name = comp == Compression::kGzip ? "conf.tgz" : comp == Compression::kZstd ? "conf.tar.zst" : "conf.tar.xz";
    auto st = c->fetch_into({file_uri(name, tgz), Digest::of(tgz).hex(), true, false, "x"}, sandbox_.get());
    ASSERT_TRUE(st) << st.error().message;
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
      ASSERT_TRUE(c->fetch_into({"file://" + (tmp_ / "nonexistent"), shas[0], false, false, "again"}, sandbox_.get()));
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

// Where a file:// URI may read: only regular files beneath file_roots, never through a
// symlink that leaves a root, never a FIFO or a device (which would block or act on open).
TEST_F(Artifacts, FileUrisOnlyFromFileRoots) {
  ASSERT_TRUE(fs::mkdir_p(tmp_ / "roots/ok"));
  ASSERT_TRUE(fs::write_file_atomic(tmp_ / "roots/ok/tool", "tool"));
  ASSERT_TRUE(fs::write_file_atomic(tmp_ / "secret", "not for tasks"));
  ASSERT_EQ(::symlink("/etc/passwd", (tmp_ / "roots/ok/passwd").c_str()), 0);
  ASSERT_EQ(::symlink((tmp_ / "secret").c_str(), (tmp_ / "roots/ok/abs-secret").c_str()), 0);
  ASSERT_EQ(::symlink("../../secret", (tmp_ / "roots/ok/rel-secret").c_str()), 0);
  ASSERT_EQ(::symlink("tool", (tmp_ / "roots/ok/alias").c_str()), 0);
  ASSERT_EQ(::mkfifo((tmp_ / "roots/ok/fifo").c_str(), 0600), 0);
  auto o = options();
  o.file_roots_name = "config fetch.file_roots";
  o.file_roots = {};
  auto none = cache_with(o);
  auto off = none->fetch_into({"file://" + (tmp_ / "roots/ok/tool"), "", false, false, ""}, sandbox_.get());
  ASSERT_FALSE(off);
  EXPECT_EQ(off.error().code, Code::kPermissionDenied);
  EXPECT_NE(off.error().message.find("config fetch.file_roots is empty"), std::string::npos) << off.error().message;
  none.reset();

  o.file_roots = {tmp_ / "roots/ok"};
  auto c = cache_with(o);
  auto uri = [&](const std::string& rel) { return ArtifactSpec{"file://" + (tmp_ / rel), "", false, false, ""}; };
  EXPECT_TRUE(c->check(uri("roots/ok/tool")));
  ASSERT_TRUE(c->fetch_into(uri("roots/ok/tool"), sandbox_.get()));
  ASSERT_TRUE(c->fetch_into(uri("roots/ok/alias"), sandbox_.get())) << "a symlink inside the root is followed";
  EXPECT_EQ(*fs::read_file(tmp_ / "sandbox/alias"), "tool");
  struct Case {
    std::string rel, needle;
  };
  for (const Case& k : {Case{"secret", "not beneath a directory"}, Case{"roots/ok/../../secret", "'..'"},
                        Case{"roots/ok/passwd", "resolves outside"}, Case{"roots/ok/abs-secret", "resolves outside"},
                        Case{"roots/ok/rel-secret", "resolves outside"}, Case{"roots/ok/fifo", "is a FIFO"},
                        Case{"roots/ok/missing", "No such file"}}) {
    SCOPED_TRACE(k.rel);
    auto checked = c->check(uri(k.rel));
    ASSERT_FALSE(checked);
    EXPECT_NE(checked.error().message.find(k.needle), std::string::npos) << checked.error().message;
    auto fetched = c->fetch_into(uri(k.rel), sandbox_.get());
    ASSERT_FALSE(fetched);
    EXPECT_NE(fetched.error().message.find(k.needle), std::string::npos) << fetched.error().message;
  }
  if (is_root()) {
    ASSERT_EQ(::mknod((tmp_ / "roots/ok/zero").c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);
    auto dev = c->fetch_into(uri("roots/ok/zero"), sandbox_.get());
    ASSERT_FALSE(dev);
    EXPECT_NE(dev.error().message.find("is a character device"), std::string::npos) << dev.error().message;
  }
  EXPECT_EQ(fs::list_dir(tmp_ / "sandbox").value(), (std::vector<std::string>{"alias", "tool"}));
  EXPECT_TRUE(fs::list_dir(tmp_ / "cache/tmp")->empty());
}

TEST_F(Artifacts, ByteBudgetsPerArtifactAndPerTask) {
  auto o = options();
  o.max_bytes = 1000;
  o.task_max_bytes = 1500;
  o.max_bytes_name = "config fetch.artifact_max_mb";
  o.task_max_bytes_name = "config fetch.task_max_mb";
  auto c = cache_with(o);
  std::string big(1001, 'b');
  auto one = c->fetch_into({file_uri("big", big), Digest::of(big).hex(), false, false, ""}, sandbox_.get());
  ASSERT_FALSE(one);
  EXPECT_NE(one.error().message.find("the budget is config fetch.artifact_max_mb"), std::string::npos)
      << one.error().message;
  // Three artifacts of 600 bytes: the third is over what is left of the task's budget.
  std::vector<ArtifactSpec> three;
  for (int i = 0; i < 3; ++i) three.push_back({file_uri("p" + std::to_string(i), std::string(600, 'p')), "", false, false, ""});
  auto task = c->fetch_all(three, sandbox_.get());
  ASSERT_FALSE(task);
  EXPECT_NE(task.error().message.find("the budget is config fetch.task_max_mb"), std::string::npos)
      << task.error().message;
  EXPECT_NE(task.error().message.find("/p2"), std::string::npos) << "names the artifact: " << task.error().message;
  // An archive is measured before it is extracted: over the budget, none of it lands.
  std::string tgz = TarBuilder().file("a", std::string(400, 'a')).file("b", std::string(800, 'b')).build(Compression::kGzip);
  auto bomb = c->fetch_into({file_uri("x.tar.gz", tgz), "", true, false, "x"}, sandbox_.get());
  ASSERT_FALSE(bomb);
  EXPECT_NE(bomb.error().message.find("the budget is config fetch.artifact_max_mb"), std::string::npos)
      << bomb.error().message;
  EXPECT_EQ(fs::list_dir(tmp_ / "sandbox").value(), (std::vector<std::string>{"p0", "p1"}));
  EXPECT_FALSE(c->is_cached(Digest::of(big).hex()));
  EXPECT_TRUE(fs::list_dir(tmp_ / "cache/tmp")->empty());
}

TEST_F(Artifacts, AnOversizedDownloadStopsAtTheBudgetAndLeavesNothing) {
  auto reg = Registry::start();
  ASSERT_TRUE(reg) << reg.error().message;
  std::string payload(3 << 20, 'z');
  auto d = (*reg)->push_blob("art/files", payload);
  ASSERT_TRUE(d);
  auto o = options();
  o.max_bytes = 1 << 20;
  auto c = cache_with(o);
  std::string uri = "http://" + (*reg)->host() + "/v2/art/files/blobs/" + *d;
  auto st = c->fetch_into({uri, *d, false, false, "payload"}, sandbox_.get());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("the budget is max_bytes"), std::string::npos) << st.error().message;
  EXPECT_TRUE(fs::list_dir(tmp_ / "sandbox")->empty());
  EXPECT_TRUE(fs::list_dir(tmp_ / "cache/tmp")->empty());
  EXPECT_EQ(c->cached_bytes(), 0u);
}

TEST_F(Artifacts, ExtractionUsesTheDecompressorTheNameDeclares) {
  auto c = cache();
  std::string zst = TarBuilder().file("f", "x").build(Compression::kZstd);
  // Named .tar.gz but zstd inside: not sniffed into working.
  auto wrong = c->fetch_into({file_uri("a.tar.gz", zst), "", true, false, "a"}, sandbox_.get());
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("read as tar, tar+gzip)"), std::string::npos) << wrong.error().message;
  // A name that declares no archive type is refused before anything is fetched.
  auto unknown = c->check({file_uri("a.bin", zst), "", true, false, ""});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find(".tar.zst"), std::string::npos) << unknown.error().message;
  EXPECT_TRUE(c->fetch_into({file_uri("a.tar.zst", zst), "", true, false, "a"}, sandbox_.get()));
}

}  // namespace
}  // namespace berth::testing
