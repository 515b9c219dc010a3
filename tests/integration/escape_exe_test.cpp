// CVE-2019-5736 class: runc's init ran inside the container as the host's runc binary, so a
// container whose entrypoint was "#!/proc/self/exe" got runc executed in it and could open
// /proc/<pid>/exe, the host's binary, and rewrite it. berth's launcher child runs berth-shim's
// code until the task's execve; here the task tries exactly that (its command is
// /proc/self/exe, or a script interpreted by /proc/self/exe, or opens its shim's exe from the
// host's view) and the binaries must hash the same afterwards. The shim runs from a sealed
// memfd copy (agent/shim_process.hpp), so what the task can reach is never the host's file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "common/fs.hpp"
#include "tests/integration/file_hash.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

pid_t parent_of(pid_t pid) {
  auto stat = fs::read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return -1;
  auto close = stat->rfind(')');
  std::istringstream rest(stat->substr(close + 2));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

class EscapeExe : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    for (const char* b : {"berth-shim", "berthd"}) before_[b] = sha256_of(bin_dir() + "/" + b);
  }
  void expect_binaries_unchanged() {
    for (const auto& [b, hash] : before_) EXPECT_EQ(sha256_of(bin_dir() + "/" + b), hash) << b << " was rewritten";
  }
  std::string output_of(const std::string& spec_json) {
    auto r = agent_.launch(spec_json);
    if (r.status != 201) return "launch refused: " + r.body;
    std::string id = parse(r.body)["id"].GetString();
    agent_.wait(id);
    return agent_.logs(id) + agent_.logs(id, "?stream=stderr");
  }
  std::map<std::string, std::string> before_;
  Agent agent_;
  BusyboxRootfs rootfs_;
};

TEST_F(EscapeExe, ATaskRunningProcSelfExeCannotRewriteTheBinaries) {
  // The launcher child's /proc/self/exe is the shim's image: run it in the task, with and
  // without a script in between, then try to write what that process's exe is.
  std::ofstream(rootfs_.path() + "/evil") << "#!/proc/self/exe\n";
  ::chmod((rootfs_.path() + "/evil").c_str(), 0755);
  output_of(spec(rootfs_.path(), {"/proc/self/exe"}));
  output_of(spec(rootfs_.path(), {"/evil"}));
  output_of(spec(rootfs_.path(), {"sh", "-c", "for p in /proc/[0-9]*/exe; do echo pwned >> $p; done; echo tried"}));
  expect_binaries_unchanged();
}

// From the host's view: the task's shim runs from a sealed copy, so even a process that could
// name /proc/<shim pid>/exe reaches no file of berth's, and cannot write the copy either.
TEST_F(EscapeExe, TheShimRunsFromASealedCopyNotTheHostBinary) {
  std::string id = agent_.run(spec(rootfs_.path(), {"sleep", "30"}));
  auto doc = agent_.get(id);
  pid_t task = doc["pid"].GetInt();
  pid_t shim = parent_of(task);
  ASSERT_GT(shim, 0);
  char buf[4096] = {};
  ssize_t n = ::readlink(("/proc/" + std::to_string(shim) + "/exe").c_str(), buf, sizeof(buf) - 1);
  ASSERT_GT(n, 0);
  std::string exe(buf, static_cast<size_t>(n));
  EXPECT_EQ(exe.rfind("/memfd:", 0), 0u) << "the shim runs from " << exe;
  int fd = ::open(("/proc/" + std::to_string(shim) + "/exe").c_str(), O_WRONLY | O_CLOEXEC);
  EXPECT_LT(fd, 0) << "the shim's exe opened for writing";
  if (fd >= 0) ::close(fd);
  agent_.request("POST", "/v1/containers/" + id + "/kill", "{\"signal\": \"KILL\"}");
  agent_.wait(id);
  expect_binaries_unchanged();
}

}  // namespace
}  // namespace berth::testing
