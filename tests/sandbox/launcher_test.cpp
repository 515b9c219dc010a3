// The launcher applies every kind of addition an isolator can make, observed from inside a
// real task (root only; the test machines run tests as root): env, a bind mount, a sysctl in
// the task's own network namespace, a namespace joined by path, a seccomp program that
// refuses mkdir, and a createRuntime hook that sees the task's pid before it runs.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "common/fs.hpp"
#include "sandbox/launcher.hpp"
#include "tests/sandbox/temp_dir.hpp"

namespace berth::sandbox {
namespace {

using berth::testing::TempDir;

// RET ERRNO(EPERM) for mkdir and mkdirat on x86_64; everything else allowed.
std::vector<uint8_t> deny_mkdir_program() {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
  };
  const auto* bytes = reinterpret_cast<const uint8_t*>(f);
  return std::vector<uint8_t>(bytes, bytes + sizeof(f));
}

class Launcher : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "needs root to create namespaces and mounts (the test machines run tests as root)";
    auto busybox = fs::read_file("/bin/busybox");
    ASSERT_TRUE(busybox.has_value()) << "install busybox-static";
    root_.write("bin/busybox", *busybox);
    ASSERT_EQ(::chmod(root_.file("bin/busybox").c_str(), 0755), 0);
    ASSERT_EQ(::symlink("busybox", root_.file("bin/sh").c_str()), 0);
    for (const char* d : {"proc", "sys", "dev", "data", "tmp"}) ASSERT_TRUE(fs::mkdir_p(root_.file(d)).has_value());
    host_.write("file", "from-the-host\n");
    spec_.root_path = root_.path();
    spec_.namespaces = {{"mount", ""}, {"pid", ""}, {"ipc", ""}, {"uts", ""}};
    spec_.env = {"PATH=/bin", "FOO=bar"};
    spec_.mounts.push_back({"/data", "bind", host_.path(), {"rbind", "ro"}});
  }

  // Runs `script` in the task; returns its stdout (and the task's exit status in *status).
  std::string run(const std::string& script, int* status = nullptr) {
    spec_.args = {"/bin/sh", "-c", script};
    int out[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    UniqueFd r = UniqueFd::adopt(out[0]), w = UniqueFd::adopt(out[1]);
    auto null = fs::open_at(AT_FDCWD, "/dev/null", O_RDONLY);
    LaunchTarget target;
    target.bundle_dir = "/run/bundle-of-the-test";
    auto task = launch(spec_, TaskStdio{null->get(), w.get(), w.get()}, target);
    w.reset();
    if (!task) {
      ADD_FAILURE() << task.error().message;
      return "";
    }
    pid_ = task->pid;
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(r.get(), buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    int st = 0;
    ::waitpid(task->pid, &st, 0);
    if (status) *status = st;
    return text;
  }

  TempDir root_, host_;
  OciSpec spec_;
  pid_t pid_ = 0;
};

TEST_F(Launcher, AppliesEnvMountsSysctlsSeccompAndHooks) {
  spec_.namespaces.push_back({"network", ""});
  spec_.sysctls["net.ipv4.ip_unprivileged_port_start"] = "123";
  spec_.no_new_privileges = true;
  spec_.seccomp_bpf = deny_mkdir_program();
  spec_.create_runtime_hooks.push_back({"/bin/sh", {"sh", "-c", "cat > \"$OUT\""}, {"OUT=" + host_.file("state.json")}, 5});
  std::string out = run(
      "echo FOO=$FOO; cat /data/file; cat /proc/sys/net/ipv4/ip_unprivileged_port_start;"
      " grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status;"
      " mkdir /tmp/x 2>/dev/null && echo MKDIR_OK || echo MKDIR_REFUSED");
  EXPECT_NE(out.find("FOO=bar\n"), std::string::npos) << out;
  EXPECT_NE(out.find("from-the-host\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\n123\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("MKDIR_REFUSED"), std::string::npos) << out;
  // The host's own value is untouched.
  EXPECT_NE(fs::read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start").value(), "123\n");
  // The hook ran before the task, with its pid and the bundle.
  auto state = fs::read_file(host_.file("state.json"));
  ASSERT_TRUE(state.has_value()) << "the hook did not run";
  EXPECT_NE(state->find("\"pid\":" + std::to_string(pid_)), std::string::npos) << *state;
  EXPECT_NE(state->find("\"bundle\":\"/run/bundle-of-the-test\""), std::string::npos) << *state;
}

TEST_F(Launcher, JoinsANamespaceByPath) {
  // A network namespace the test creates and holds, with a value the task must see.
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t holder = ::fork();
  if (holder == 0) {
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
    int fd = ::open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "555", 3) != 3) ::_exit(2);
    if (::write(ready[1], "x", 1) != 1) ::_exit(3);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  spec_.namespaces.push_back({"network", "/proc/" + std::to_string(holder) + "/ns/net"});
  std::string out = run("cat /proc/sys/net/ipv4/ip_unprivileged_port_start");
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  EXPECT_EQ(out, "555\n");
}

TEST_F(Launcher, RefusesWhatItCannotApplyBeforeStartingAnything) {
  spec_.sysctls["kernel.panic"] = "0";  // not namespaced: would change the host
  spec_.args = {"/bin/sh", "-c", "true"};
  LaunchTarget target;
  auto task = launch(spec_, TaskStdio{0, 1, 2}, target);
  ASSERT_FALSE(task.has_value());
  EXPECT_NE(task.error().message.find("sysctl kernel.panic"), std::string::npos) << task.error().message;
  spec_.sysctls.clear();
  spec_.seccomp_bpf = std::vector<uint8_t>(7, 0);
  task = launch(spec_, TaskStdio{0, 1, 2}, target);
  ASSERT_FALSE(task.has_value());
  EXPECT_NE(task.error().message.find("BPF instructions"), std::string::npos) << task.error().message;
}

TEST_F(Launcher, AFailingHookFailsTheLaunchAndTheTaskNeverRuns) {
  spec_.create_runtime_hooks.push_back({"/bin/false", {}, {}, 5});
  LaunchTarget target;
  spec_.args = {"/bin/sh", "-c", "echo ran > /data/../tmp/ran"};
  auto task = launch(spec_, TaskStdio{0, 1, 2}, target);
  ASSERT_FALSE(task.has_value());
  EXPECT_NE(task.error().message.find("createRuntime hook /bin/false: exited with status 1"), std::string::npos)
      << task.error().message;
  EXPECT_FALSE(fs::exists(root_.file("tmp/ran")));
}

}  // namespace
}  // namespace berth::sandbox
