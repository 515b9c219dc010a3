// The hostile-layer corpus: archives built here, one family per test, several cases each.
// Every case unpacks into <tmp>/root next to a sentinel <tmp>/outside and asserts (1) nothing
// outside the root changed (sentinel tree and /etc/passwd), (2) the outcome the policy in
// fetcher/unpacker.hpp promises: refused with a clear error, or confined inside the root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <sys/mount.h>

#include <fstream>

#include "tests/fetcher/bomb_builder.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/tar_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using fetcher::UnpackOptions;
using fetcher::UnpackStats;

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A ustar header built by hand, so it can claim a size without the bytes existing.
std::string lying_header(const std::string& name, long long size) {
  std::string h(512, '\0');
  auto put = [&](size_t off, size_t len, const std::string& v) { h.replace(off, std::min(len, v.size()), v.substr(0, len)); };
  char num[32];
  put(0, 100, name);
  put(100, 8, "0000644");
  put(108, 8, "0000000");
  put(116, 8, "0000000");
  std::snprintf(num, sizeof num, "%011llo", size);
  put(124, 12, num);
  put(136, 12, "14532101000");
  put(148, 8, "        ");
  h[156] = '0';
  put(257, 6, std::string("ustar\0", 6));
  put(263, 2, "00");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(num, sizeof num, "%06o", sum);
  put(148, 7, std::string(num, 6) + std::string(1, '\0'));
  return h + std::string(1024, '\0');
}


size_t entries_under(const std::string& dir) { return fs::list_dir(dir).value_or(std::vector<std::string>{}).size(); }

class HostileLayer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::mkdir_p(outside()));
    ASSERT_TRUE(fs::write_file_atomic(outside() + "/secret", "do not touch"));
    passwd_before_ = slurp("/etc/passwd");
  }
  std::string root() const { return tmp_ / "root"; }
  std::string outside() const { return tmp_ / "outside"; }

  // Fresh root per case so cases do not see each other's leftovers.
  Result<UnpackStats> run(const TarBuilder& tar, UnpackOptions opts = {}) {
    (void)fs::remove_tree(root());
    EXPECT_TRUE(fs::mkdir_p(root()));
    auto before = outside_snapshot();
    opts.keep_owners = is_root();
    auto r = unpack_string(tar.build(), root(), opts);
    EXPECT_EQ(before, outside_snapshot()) << "something outside the root changed";
    EXPECT_EQ(passwd_before_, slurp("/etc/passwd"));
    return r;
  }
  std::map<std::string, std::string> outside_snapshot() {
    auto all = snapshot(tmp_.path());
    std::erase_if(all, [&](const auto& kv) { return kv.first.starts_with(root()); });
    return all;
  }
  void expect_refused(const Result<UnpackStats>& r, const std::string& needle) {
    ASSERT_FALSE(r.has_value()) << "expected refusal containing '" << needle << "'";
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  }
  bool in_root(const std::string& rel) {
    struct stat st {};
    return ::lstat((root() + "/" + rel).c_str(), &st) == 0;
  }

  TempDir tmp_;
  std::string passwd_before_;
};

TEST_F(HostileLayer, DotDotIsRefused) {
  for (const char* p : {"../outside/pwn", "a/../../outside/pwn", "./../outside/pwn", "a/b/../../../outside/pwn",
                        "a/..", "../../../../../../../../etc/passwd"}) {
    SCOPED_TRACE(p);
    expect_refused(run(TarBuilder().dir("a").file(p, "x")), "'..' in entry path");
  }
  expect_refused(run(TarBuilder().dir("../outside/newdir")), "'..'");
  expect_refused(run(TarBuilder().symlink("../outside/ln", "/etc")), "'..'");
}

TEST_F(HostileLayer, AbsolutePathsAreConfined) {
  auto r = run(TarBuilder().file("/etc/passwd", "confined"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(slurp(root() + "/etc/passwd"), "confined");
  r = run(TarBuilder().file("//abs//twice", "y").dir("/d").file("/d/f", "z"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root("abs/twice"));
  EXPECT_TRUE(in_root("d/f"));
  r = run(TarBuilder().file(outside() + "/pwn", "abs to sentinel"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root(outside().substr(1) + "/pwn"));
  expect_refused(run(TarBuilder().file("/../outside/pwn", "x")), "'..'");
}

TEST_F(HostileLayer, WritesThroughSymlinksStayInside) {
  // Absolute symlink to "/": resolved as the root, the file lands in root/etc.
  auto r = run(TarBuilder().symlink("evil", "/").file("evil/etc/pwn", "x"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root("etc/pwn"));
  // Relative symlink climbing out: ".." stops at the root.
  r = run(TarBuilder().dir("outside").symlink("up", "../../../outside").file("up/pwn", "x"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root("outside/pwn"));
  // Symlink to the sentinel's absolute path: inside the root that path does not exist → refused.
  expect_refused(run(TarBuilder().symlink("s", outside()).file("s/pwn", "x")), "not a directory inside the root");
  // Symlink to /etc then a file through it: root/etc is created? no: "etc" missing inside → refused.
  expect_refused(run(TarBuilder().symlink("etc2", "/etc").file("etc2/passwd", "x")), "inside the root");
  // Chains of symlinks, one absolute, one relative.
  r = run(TarBuilder().dir("real").symlink("a", "/b").symlink("b", "../../real").file("a/f", "x"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root("real/f"));
  // A symlink loop is refused, not followed forever.
  expect_refused(run(TarBuilder().symlink("l1", "l2").symlink("l2", "l1").file("l1/f", "x")), "symbolic links");
}

TEST_F(HostileLayer, EntriesReplaceSymlinksInsteadOfFollowingThem) {
  auto r = run(TarBuilder().symlink("f", "/etc/passwd").file("f", "replaced"));
  ASSERT_TRUE(r) << r.error().message;
  struct stat st {};
  ASSERT_EQ(::lstat((root() + "/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(slurp(root() + "/f"), "replaced");
  // Same with a relative symlink to the sentinel file.
  r = run(TarBuilder().symlink("g", "../outside/secret").file("g", "replaced"));
  ASSERT_TRUE(r) << r.error().message;
  // A directory entry over a symlink replaces it too.
  r = run(TarBuilder().symlink("d", "/").dir("d").file("d/x", "x"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(::lstat((root() + "/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_F(HostileLayer, SymlinkSwappedInMidArchive) {
  // dir d, file in it, then d becomes a symlink to "/" and more files go "through" it.
  auto r = run(TarBuilder().dir("d").file("d/a", "1").symlink("d", "/").file("d/b", "2"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root("b"));  // confined: d → root
  // d becomes a symlink climbing out, then a write through it.
  r = run(TarBuilder().dir("d").symlink("d", "../../outside").file("d/pwn", "2"));
  ASSERT_FALSE(r.has_value());  // root/outside does not exist: refused
  // File swapped for a symlink then written again: replaced, not followed.
  r = run(TarBuilder().file("x", "1").symlink("x", outside() + "/secret").file("x", "2"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(slurp(root() + "/x"), "2");
  // Parent swapped for a symlink to an existing in-root dir, then a hardlink through it.
  r = run(TarBuilder().dir("t").file("t/f", "data").dir("p").symlink("p", "/t").hardlink("p/h", "t/f"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root("t/h"));
}

TEST_F(HostileLayer, HardlinkEscapesAreRefused) {
  expect_refused(run(TarBuilder().hardlink("h", "/etc/passwd")), "not inside the layer");
  expect_refused(run(TarBuilder().hardlink("h", "../outside/secret")), "'..'");
  expect_refused(run(TarBuilder().hardlink("h", outside() + "/secret")), "not inside the layer");
  expect_refused(run(TarBuilder().symlink("e", "/etc").hardlink("h", "e/passwd")), "not inside the layer");
  expect_refused(run(TarBuilder().symlink("o", "../outside").hardlink("h", "o/secret")), "not inside the layer");
  expect_refused(run(TarBuilder().dir("d").hardlink("h", "d")), "hardlink to a directory");
  // A hardlink to a symlink links the symlink itself, which stays a symlink.
  auto r = run(TarBuilder().symlink("s", "/etc/passwd").hardlink("h", "s"));
  ASSERT_TRUE(r) << r.error().message;
  struct stat st {};
  ASSERT_EQ(::lstat((root() + "/h").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // Within the layer, hardlinks are kept.
  r = run(TarBuilder().file("a", "same").hardlink("b", "a").hardlink("/c", "/a"));
  ASSERT_TRUE(r) << r.error().message;
  struct stat sa {}, sb {}, sc {};
  ::lstat((root() + "/a").c_str(), &sa);
  ::lstat((root() + "/b").c_str(), &sb);
  ::lstat((root() + "/c").c_str(), &sc);
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(sa.st_ino, sc.st_ino);
  EXPECT_EQ(sa.st_nlink, 3u);
}

TEST_F(HostileLayer, WhiteoutsNamingRootOrParentAreRefused) {
  expect_refused(run(TarBuilder().file(".wh..", "")), "whiteout names the root or a parent");
  expect_refused(run(TarBuilder().file(".wh.", "")), "whiteout names the root or a parent");
  expect_refused(run(TarBuilder().dir("a").file("a/.wh..", "")), "whiteout names the root or a parent");
  expect_refused(run(TarBuilder().dir("a").file("a/.wh.", "")), "whiteout names the root or a parent");
  expect_refused(run(TarBuilder().file("../.wh.outside", "")), "'..'");
  expect_refused(run(TarBuilder().file("a/../.wh.x", "")), "'..'");
  expect_refused(run(TarBuilder().file(".wh..wh.plnk", "")), "AUFS");
  // A whiteout through a symlink to "/" stays inside: root/etc gets the whiteout, not /etc.
  if (is_root()) {
    auto r = run(TarBuilder().dir("etc").symlink("s", "/").file("s/etc/.wh.passwd", ""));
    ASSERT_TRUE(r) << r.error().message;
    struct stat st {};
    ASSERT_EQ(::lstat((root() + "/etc/passwd").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
  }
}

TEST_F(HostileLayer, LongPathsAreRefusedDeepTreesWork) {
  expect_refused(run(TarBuilder().file(std::string(5000, 'a'), "x")), "longer than 4096");
  expect_refused(run(TarBuilder().file("d/" + std::string(300, 'n'), "x")), "longer than 255");
  expect_refused(run(TarBuilder().symlink("l", std::string(5000, 'a'))), "longer than 4095");
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "d/";
  auto r = run(TarBuilder().file(deep + "leaf", "x"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(in_root(deep + "leaf"));
}

TEST_F(HostileLayer, DevicesAreSkipped) {
  auto r = run(TarBuilder().dir("dev").device("dev/sda", true, 8, 0).device("dev/mem", false, 1, 1)
                   .device("dev/kmsg", false, 1, 11).fifo("dev/fifo"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->skipped_devices, 3u);
  EXPECT_FALSE(in_root("dev/sda"));
  EXPECT_FALSE(in_root("dev/mem"));
  struct stat st {};
  ASSERT_EQ(::lstat((root() + "/dev/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(HostileLayer, BudgetsStopBombs) {
  UnpackOptions small;
  small.limits.max_bytes = 1 << 20;
  expect_refused(run(TarBuilder().sized_file("big", 2 << 20), small), "exceeds the budget");
  // Many files each under the budget, together over it.
  TarBuilder many;
  for (int i = 0; i < 20; ++i) many.file("f" + std::to_string(i), std::string(100 << 10, 'x'));
  expect_refused(run(many, small), "exceeds the budget");
  // A hand-made header claiming 8 GiB with no data behind it: refused from the header alone.
  (void)fs::remove_tree(root());
  ASSERT_TRUE(fs::mkdir_p(root()));
  auto r = unpack_string(lying_header("huge", 077777777777ll), root(), small);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("exceeds the budget"), std::string::npos) << r.error().message;
  // Entry count.
  UnpackOptions few;
  few.limits.max_entries = 50;
  TarBuilder lots;
  for (int i = 0; i < 100; ++i) lots.file("e" + std::to_string(i), "");
  expect_refused(run(lots, few), "more than 50 entries");
}

TEST_F(HostileLayer, GzipBombStopsAtTheBudget) {
  // 256 MiB of zeros compress to about 250 KiB; the budget stops it at 4 MiB of output.
  TarBuilder bomb;
  bomb.sized_file("zeros", 256ll << 20);
  std::string gz = bomb.build(Compression::kGzip);
  EXPECT_LT(gz.size(), 1u << 20);
  UnpackOptions opts;
  opts.limits.max_bytes = 4 << 20;
  ASSERT_TRUE(fs::mkdir_p(root()));
  auto r = unpack_string(gz, root(), opts);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("budget"), std::string::npos) << r.error().message;
}

// The bombs of issue 7 (defect 19), with the default budgets: refused early by the
// compression-ratio budget, which the message names, with little written.
TEST_F(HostileLayer, ZstdBombIsRefusedByTheRatioBudget) {
  std::string bomb = zero_bomb(2ll << 30);
  EXPECT_LT(bomb.size(), 100u << 10) << "2 GiB of zeros in under 100 KB";
  ASSERT_TRUE(fs::mkdir_p(root()));
  auto r = unpack_string(bomb, root());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("compression-ratio budget"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("max_ratio"), std::string::npos) << r.error().message;
  struct stat st {};
  ASSERT_EQ(::stat((root() + "/zeros").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 128ll << 20) << "stopped long before 2 GiB";
}

TEST_F(HostileLayer, EntryBombIsRefusedByTheRatioBudget) {
  std::string bomb = entry_bomb(200000);
  EXPECT_LT(bomb.size(), 2u << 20);
  ASSERT_TRUE(fs::mkdir_p(root()));
  UnpackOptions opts;
  opts.limits.max_ratio_name = "config unpack.max_ratio";
  auto r = unpack_string(bomb, root(), opts);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("the budget is config unpack.max_ratio"), std::string::npos) << r.error().message;
  EXPECT_LT(entries_under(root() + "/d"), 100000u) << "refused early";
}

TEST_F(HostileLayer, BudgetErrorsNameTheBudget) {
  UnpackOptions opts;
  opts.limits.max_bytes = 1 << 20;
  opts.limits.max_bytes_name = "config unpack.max_mb";
  expect_refused(run(TarBuilder().file("a", std::string(600 << 10, 'x')).file("b", std::string(600 << 10, 'y')), opts),
                 "the budget is config unpack.max_mb");
  opts.limits.max_entries = 3;
  opts.limits.max_entries_name = "config unpack.max_entries";
  expect_refused(run(TarBuilder().file("a", "").file("b", "").file("c", "").file("d", ""), opts),
                 "the budget is config unpack.max_entries");
}

TEST_F(HostileLayer, FreeSpaceReserveRefusesBeforeWriting) {
  UnpackOptions opts;
  opts.limits.min_free_bytes = 1ull << 62;  // more than any file system has free
  opts.limits.min_free_name = "config unpack.min_free_mb";
  auto r = run(TarBuilder().file("a", "data"), opts);
  expect_refused(r, "the budget is config unpack.min_free_mb");
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_FALSE(in_root("a"));
}

TEST_F(HostileLayer, ADiskFullIsReportedAsSuch) {
  if (!is_root()) GTEST_SKIP() << "mounting a small tmpfs needs root";
  std::string small = tmp_ / "small";
  ASSERT_TRUE(fs::mkdir_p(small));
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=2m"), 0) << std::strerror(errno);
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto r = unpack_string(TarBuilder().file("big", big).build(Compression::kGzip), small);
  ::umount2(small.c_str(), MNT_DETACH);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("No space left on device"), std::string::npos) << r.error().message;
}

// Only the decompressors the input declares run: never libarchive's sniff-everything set,
// some of whose filters would fork an external program as root on registry bytes.
TEST_F(HostileLayer, OnlyDeclaredDecompressorsAreUsed) {
  TarBuilder t;
  t.file("f", "data");
  std::string tar = t.build();
  auto as = [](bool gz, bool zs, bool xz) {
    UnpackOptions o;
    o.decompressors = fetcher::Decompressors{gz, zs, xz};
    return o;
  };
  ASSERT_TRUE(fs::mkdir_p(root()));
  EXPECT_TRUE(unpack_string(t.build(Compression::kZstd), root(), as(false, true, false)));
  EXPECT_TRUE(unpack_string(tar, root(), as(true, false, false))) << "an uncompressed tar is always read";
  // A layer of unknown type may be gzip or zstd, nothing else: bzip2 and xz are refused.
  for (int filter : {ARCHIVE_FILTER_BZIP2, ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_LZ4}) {
    SCOPED_TRACE(filter);
    auto r = unpack_string(compress_with(tar, filter), root());
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("read as tar, tar+gzip, tar+zstd"), std::string::npos) << r.error().message;
  }
  // Declared gzip, sent zstd: not sniffed into working.
  EXPECT_FALSE(unpack_string(t.build(Compression::kZstd), root(), as(true, false, false)));
}

TEST(Decompressors, ChosenByMediaTypeOrFileName) {
  using fetcher::archive_decompressors;
  using fetcher::layer_decompressors;
  auto is = [](const Result<fetcher::Decompressors>& d, bool gz, bool zs, bool xz) {
    return d && d->gzip == gz && d->zstd == zs && d->xz == xz;
  };
  EXPECT_TRUE(is(layer_decompressors("application/vnd.oci.image.layer.v1.tar+gzip"), true, false, false));
  EXPECT_TRUE(is(layer_decompressors("application/vnd.oci.image.layer.v1.tar+zstd"), false, true, false));
  EXPECT_TRUE(is(layer_decompressors("application/vnd.oci.image.layer.v1.tar"), false, false, false));
  EXPECT_TRUE(is(layer_decompressors("application/vnd.docker.image.rootfs.diff.tar.gzip"), true, false, false));
  EXPECT_TRUE(is(layer_decompressors("application/vnd.docker.image.rootfs.diff.tar"), false, false, false));
  EXPECT_TRUE(is(layer_decompressors(""), true, true, false));
  EXPECT_FALSE(layer_decompressors("application/vnd.oci.image.layer.v1.tar+bzip2"));
  EXPECT_TRUE(is(archive_decompressors("conf.tar"), false, false, false));
  EXPECT_TRUE(is(archive_decompressors("conf.tgz"), true, false, false));
  EXPECT_TRUE(is(archive_decompressors("conf.tar.gz"), true, false, false));
  EXPECT_TRUE(is(archive_decompressors("conf.tar.zst"), false, true, false));
  EXPECT_TRUE(is(archive_decompressors("conf.tar.xz"), false, false, true));
  auto bad = archive_decompressors("conf.tar.bz2");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(".tar.gz"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(archive_decompressors("blob"));
}

TEST_F(HostileLayer, ForgedOverlayXattrsAreDropped) {
  if (!is_root()) GTEST_SKIP() << "trusted.* xattrs need CAP_SYS_ADMIN (run as root)";
  TarBuilder::Meta m;
  m.xattrs = {{"trusted.overlay.redirect", "/etc"}, {"trusted.overlay.opaque", "y"}, {"user.note", "kept"}};
  auto r = run(TarBuilder().dir("d", 0755, m));
  ASSERT_TRUE(r) << r.error().message;
  char buf[64];
  EXPECT_LT(::lgetxattr((root() + "/d").c_str(), "trusted.overlay.redirect", buf, sizeof buf), 0);
  EXPECT_LT(::lgetxattr((root() + "/d").c_str(), "trusted.overlay.opaque", buf, sizeof buf), 0);
  ssize_t n = ::lgetxattr((root() + "/d").c_str(), "user.note", buf, sizeof buf);
  ASSERT_EQ(n, 4);
  EXPECT_EQ(std::string(buf, 4), "kept");
}

}  // namespace
}  // namespace berth::testing
