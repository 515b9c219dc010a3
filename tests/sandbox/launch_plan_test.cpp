// The parts of launching that are decided before clone and need no privileges: mount option
// translation, PATH search candidates, namespace flags, overlay options, and creating mount
// points inside a root without escaping it.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/in_root.hpp"
#include "sandbox/launcher.hpp"
#include "sandbox/mount_options.hpp"
#include "sandbox/rootfs.hpp"
#include "tests/sandbox/temp_dir.hpp"

namespace berth::sandbox {
namespace {

using berth::testing::TempDir;

TEST(MountOptions, BindWithFlagsAndData) {
  auto o = parse_mount_options("bind", {"rbind", "ro", "nosuid", "rprivate"});
  EXPECT_TRUE(o.bind);
  EXPECT_TRUE(o.recursive);
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID));
  EXPECT_EQ(o.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_TRUE(o.data.empty());

  o = parse_mount_options("tmpfs", {"nosuid", "size=64m", "mode=1777", "ro", "rw"});
  EXPECT_FALSE(o.bind);
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID));  // rw cleared ro
  EXPECT_EQ(o.data, "size=64m,mode=1777");

  o = parse_mount_options("", {"bind"});
  EXPECT_TRUE(o.bind);
  EXPECT_FALSE(o.recursive);
}

TEST(ExecCandidates, SlashMeansNoSearch) {
  EXPECT_EQ(exec_candidates("/bin/sh", {"PATH=/x"}), (std::vector<std::string>{"/bin/sh"}));
  EXPECT_EQ(exec_candidates("./run", {}), (std::vector<std::string>{"./run"}));
}

TEST(ExecCandidates, SearchesTheSpecPath) {
  EXPECT_EQ(exec_candidates("sh", {"HOME=/", "PATH=/usr/bin:/bin"}),
            (std::vector<std::string>{"/usr/bin/sh", "/bin/sh"}));
  EXPECT_EQ(exec_candidates("sh", {"PATH=/a::/b"}), (std::vector<std::string>{"/a/sh", "./sh", "/b/sh"}));
  auto dflt = exec_candidates("sh", {});
  ASSERT_FALSE(dflt.empty());
  EXPECT_EQ(dflt.back(), "/bin/sh");
}

TEST(NamespaceFlags, MapsAndRequiresAMountNamespace) {
  OciSpec spec;
  spec.namespaces = {{"pid", ""}, {"mount", ""}, {"network", ""}};
  auto f = namespace_flags(spec);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, static_cast<unsigned long long>(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET));
  // A namespace joined by path is not created.
  spec.namespaces = {{"mount", ""}, {"network", "/run/netns/x"}};
  EXPECT_EQ(namespace_flags(spec).value(), static_cast<unsigned long long>(CLONE_NEWNS));
  spec.namespaces = {{"pid", ""}};
  auto no_mnt = namespace_flags(spec);
  ASSERT_FALSE(no_mnt.has_value());
  EXPECT_NE(no_mnt.error().message.find("\"mount\" namespace is required"), std::string::npos);
}

TEST(Sysctls, OnlyThoseTheTasksOwnNamespacesScope) {
  OciSpec spec;
  spec.namespaces = {{"mount", ""}, {"network", ""}, {"ipc", ""}};
  spec.sysctls = {{"net.ipv4.ip_forward", "1"}, {"kernel.shmmax", "1"}, {"fs.mqueue.msg_max", "5"}};
  EXPECT_TRUE(check_sysctls(spec).has_value());
  for (const char* host_wide : {"kernel.panic", "vm.swappiness", "kernel.hostname"}) {
    spec.sysctls = {{host_wide, "1"}};
    auto r = check_sysctls(spec);
    ASSERT_FALSE(r.has_value()) << host_wide;
    EXPECT_NE(r.error().message.find("would change the host"), std::string::npos);
  }
  spec.namespaces = {{"mount", ""}};  // the host's network namespace
  spec.sysctls = {{"net.ipv4.ip_forward", "1"}};
  EXPECT_FALSE(check_sysctls(spec).has_value());
}

TEST(OverlayOptions, AllOrNothing) {
  OciSpec spec;
  auto none = overlay_options(spec);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(*none, "");
  spec.annotations = {{"berth.overlay.lowerdir", "/l1:/l2"}, {"berth.overlay.upperdir", "/u"},
                      {"berth.overlay.workdir", "/w"}};
  auto all = overlay_options(spec);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, "lowerdir=/l1:/l2,upperdir=/u,workdir=/w");
  spec.annotations.erase("berth.overlay.workdir");
  EXPECT_FALSE(overlay_options(spec).has_value());
  spec.annotations["berth.overlay.workdir"] = "/w,x=y";
  EXPECT_FALSE(overlay_options(spec).has_value());
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

TEST(EnsureInRoot, CreatesDirectoriesAndFiles) {
  TempDir root;
  auto d = ensure_in_root(root.fd(), "/mnt/sandbox", NodeKind::kDirectory);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_TRUE(is_dir(root.file("mnt/sandbox")));
  auto f = ensure_in_root(root.fd(), "/etc/resolv.conf", NodeKind::kFile);
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_TRUE(is_file(root.file("etc/resolv.conf")));
  // Existing ones are fine.
  EXPECT_TRUE(ensure_in_root(root.fd(), "mnt/sandbox", NodeKind::kDirectory).has_value());
  // A directory where a file is wanted is an error, not a silent mount over a directory.
  EXPECT_FALSE(ensure_in_root(root.fd(), "/mnt", NodeKind::kFile).has_value());
}

TEST(EnsureInRoot, SymlinksResolveInsideTheRoot) {
  TempDir outside;
  TempDir root;
  // /data -> <outside>: an absolute symlink that would escape if followed on the host.
  ASSERT_EQ(::symlink(outside.path().c_str(), root.file("data").c_str()), 0);
  ASSERT_TRUE(fs::mkdir_p(root.file(outside.path().substr(1))).has_value());
  auto d = ensure_in_root(root.fd(), "/data/x", NodeKind::kDirectory);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_FALSE(is_dir(outside.file("x")));
  EXPECT_TRUE(is_dir(root.file(outside.path().substr(1) + "/x")));

  // ../../ climbing stops at the root too.
  ASSERT_EQ(::symlink("../../../../../../../../tmp", root.file("up").c_str()), 0);
  auto up = ensure_in_root(root.fd(), "/up/made-by-test", NodeKind::kFile);
  ASSERT_TRUE(up.has_value()) << up.error().message;
  EXPECT_TRUE(is_file(root.file("tmp/made-by-test")));
  EXPECT_FALSE(is_file("/tmp/made-by-test"));
}

TEST(EnsureInRoot, DanglingSymlinkIsRefused) {
  TempDir root;
  ASSERT_EQ(::symlink("/var/lib/target-of-test", root.file("dangling").c_str()), 0);
  auto d = ensure_in_root(root.fd(), "/dangling", NodeKind::kDirectory);
  // mkdirat will not follow the symlink; the lookup after it resolves in the root and fails
  // because the target is missing: refused with a message, nothing created outside.
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message.find("/dangling is a symlink to a path missing"), std::string::npos) << d.error().message;
  EXPECT_FALSE(is_dir("/var/lib/target-of-test"));
}

}  // namespace
}  // namespace berth::sandbox
