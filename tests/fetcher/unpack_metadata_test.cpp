// What the unpacker keeps (owners, modes incl. setuid, times, xattrs, hardlinks) and how OCI
// whiteouts become overlayfs entries. Owner and whiteout checks need root and skip without it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "fetcher/unpacker.hpp"
#include "tests/fetcher/tar_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

TEST(Unpack, KeepsModesTimesOwnersXattrs) {
  TempDir t;
  TarMeta suid = tar_mode(04755);
  suid.uid = 1234;
  suid.gid = 5678;
  suid.mtime = 1600000000;
  TarMeta dirm = tar_mode(01777);
  dirm.mtime = 1500000000;
  dirm.xattrs = {{"user.k", "v"}};
  TarBuilder tb;
  tb.dir("tmp", 01777, dirm).file("bin/su", "#!/bin/sh\n", 04755, suid).symlink("bin/sh", "busybox")
      .file("bin/busybox", "bb", 0755).hardlink("bin/ls", "bin/busybox");
  for (auto c : {Compression::kNone, Compression::kGzip, Compression::kZstd, Compression::kXz}) {
    ASSERT_TRUE(fs::remove_tree(t / "root"));
    ASSERT_TRUE(fs::mkdir_p(t / "root"));
    std::string data = tb.build(c);
    fetcher::UnpackOptions opts;
    opts.keep_owners = is_root();
    opts.decompressors.xz = c == Compression::kXz;  // declared, as an artifact's name would
    auto r = unpack_string(data, t / "root", opts);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->diff_id, fetcher::Digest::of(tb.build(Compression::kNone))) << "diff_id is of the uncompressed tar";
    EXPECT_EQ(r->entries, 5u);
    struct stat st {};
    ASSERT_EQ(::lstat((t / "root/bin/su").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 04755u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
    if (is_root()) {
      EXPECT_EQ(st.st_uid, 1234u);
      EXPECT_EQ(st.st_gid, 5678u);
    }
    ASSERT_EQ(::lstat((t / "root/tmp").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 01777u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1500000000) << "directory times are set after its children";
    char buf[8];
    EXPECT_EQ(::lgetxattr((t / "root/tmp").c_str(), "user.k", buf, sizeof buf), 1);
    struct stat a {}, b {};
    ::lstat((t / "root/bin/busybox").c_str(), &a);
    ::lstat((t / "root/bin/ls").c_str(), &b);
    EXPECT_EQ(a.st_ino, b.st_ino);
    char target[32] = {0};
    EXPECT_EQ(::readlink((t / "root/bin/sh").c_str(), target, sizeof target), 7);
  }
}

TEST(Unpack, WhiteoutsBecomeOverlayEntries) {
  if (!is_root()) GTEST_SKIP() << "overlay whiteouts need CAP_MKNOD and trusted.* xattrs (run as root)";
  TempDir t;
  ASSERT_TRUE(fs::mkdir_p(t / "root"));
  auto r = unpack_string(TarBuilder().dir("etc").file("etc/.wh.motd", "").dir("var/cache")
                             .file("var/cache/.wh..wh..opq", "").file("var/cache/new", "n").file(".wh.gone", "")
                             .build(Compression::kGzip),
                         t / "root");
  ASSERT_TRUE(r) << r.error().message;
  for (const char* w : {"etc/motd", "gone"}) {
    struct stat st {};
    ASSERT_EQ(::lstat((t / "root/" + w).c_str(), &st), 0) << w;
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(0, 0));
  }
  EXPECT_FALSE(fs::exists(t / "root/etc/.wh.motd"));
  char v[4] = {0};
  ASSERT_EQ(::lgetxattr((t / "root/var/cache").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_TRUE(fs::exists(t / "root/var/cache/new"));

  // In literal mode (artifacts) a .wh. file is just a file.
  ASSERT_TRUE(fs::mkdir_p(t / "lit"));
  fetcher::UnpackOptions lit;
  lit.whiteouts = fetcher::WhiteoutMode::kLiteral;
  ASSERT_TRUE(unpack_string(TarBuilder().file(".wh.x", "plain").build(), t / "lit", lit));
  EXPECT_EQ(*fs::read_file(t / "lit/.wh.x"), "plain");
}

}  // namespace
}  // namespace berth::testing
