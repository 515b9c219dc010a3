// The /sys fallback of the task's root (sandbox/rootfs.hpp bind_host_sys_readonly): every
// submount of the host's /sys copy is read-only, not only its top. Root only: it runs in a
// forked child with its own private mount namespace, so nothing reaches the host's mounts.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/fs.hpp"
#include "common/mountinfo.hpp"
#include "sandbox/rootfs.hpp"
#include "tests/sandbox/temp_dir.hpp"

namespace berth::sandbox {
namespace {

// A mount point below /sys on this host (the cgroup tmpfs, sysfs' own children…), or "".
std::string a_submount_of_sys() {
  auto mi = fs::read_mountinfo();
  if (!mi) return "";
  for (const auto& m : *mi)
    if (m.mount_point.starts_with("/sys/") && m.mount_point.find("/sys/kernel") != 0) return m.mount_point;
  return "";
}

TEST(RootfsSys, TheFallbackBindOfSysIsReadOnlyInEverySubmount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces)";
  std::string sub = a_submount_of_sys();
  ASSERT_FALSE(sub.empty()) << "this host has no mount below /sys to check";
  testing::TempDir root;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(10);
    // Opened in the new namespace: a mount onto a directory of the old one is refused.
    int fd = ::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ::_exit(10);
    if (auto st = bind_host_sys_readonly(fd); !st) {
      std::fprintf(stderr, "bind_host_sys_readonly: %s\n", st.error().message.c_str());
      ::_exit(11);
    }
    struct statvfs top {}, below {};
    if (::statvfs((root.path() + "/sys").c_str(), &top) != 0) ::_exit(12);
    if (::statvfs((root.path() + sub).c_str(), &below) != 0) ::_exit(13);
    if (!(top.f_flag & ST_RDONLY)) ::_exit(14);
    if (!(below.f_flag & ST_RDONLY)) ::_exit(15);  // the submount stayed writable
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "exit 14: /sys itself writable; 15: " << sub << " writable; 10-13: setup";
}

}  // namespace
}  // namespace berth::sandbox
