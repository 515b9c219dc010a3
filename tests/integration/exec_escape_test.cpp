// CVE-2019-5736 class during exec: the process berthd starts inside a running task runs
// berth-shim's code until its execve. It must never be the host's berth-shim file: the exec
// helper runs from berthd's sealed memfd copy, as a launch's shim does. Here a command inside
// the task tries to reach and rewrite what its /proc/self/exe and every visible /proc/*/exe
// are; the binaries must hash the same afterwards, and from the host the helper's exe must be
// the sealed copy, not writable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <map>

#include "common/fs.hpp"
#include "tests/integration/file_hash.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

class ExecEscape : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    for (const char* b : {"berth-shim", "berthd"}) before_[b] = sha256_of(bin_dir() + "/" + b);
    id_ = agent_.run(spec(rootfs_.path(), {"sleep", "300"}));
  }
  void expect_binaries_unchanged() {
    for (const auto& [b, hash] : before_) EXPECT_EQ(sha256_of(bin_dir() + "/" + b), hash) << b << " was rewritten";
  }
  // Into the task `id` (default: the sleeping one).
  cli::HttpResponse exec(const std::vector<std::string>& cmd, const std::string& id = "") const {
    std::string body = "{\"cmd\": [";
    for (size_t i = 0; i < cmd.size(); ++i) body += (i ? ", " : "") + json_string(cmd[i]);
    return agent_.request("POST", "/v1/containers/" + (id.empty() ? id_ : id) + "/exec", body + "]}");
  }
  std::map<std::string, std::string> before_;
  Agent agent_;
  BusyboxRootfs rootfs_;
  std::string id_;
};

TEST_F(ExecEscape, AnExecOfProcSelfExeCannotRewriteTheBinaries) {
  std::ofstream(rootfs_.path() + "/evil") << "#!/proc/self/exe\n";
  ::chmod((rootfs_.path() + "/evil").c_str(), 0755);
  exec({"/proc/self/exe"});
  exec({"/evil"});
  // Every exe the command can name, its parent's included (the helper, outside the task's
  // pid namespace, has none there: $PPID is 0).
  auto r = exec({"sh", "-c", "echo pwned >> /proc/$PPID/exe; for p in /proc/[0-9]*/exe; do echo pwned >> $p; done; echo tried"});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("tried"), std::string::npos) << r.body;
  expect_binaries_unchanged();
}

// The real attack: a process of the task catches each exec'd process while it still runs the
// shim's code, keeps an fd to its exe and tries to reopen that for writing once the process
// moved on (no ETXTBSY then). With the sealed copy it only ever reaches the memfd, which
// refuses writing.
TEST_F(ExecEscape, ATaskProcessCannotReopenAnExecsShimImageForWriting) {
  ASSERT_EQ(::system(("cp " + bin_dir() + "/exe_grabber " + rootfs_.path() + "/grab").c_str()), 0);
  std::string attacker = agent_.run(spec(rootfs_.path(), {"/grab", "8"}));
  int ran = 0;
  for (int i = 0; i < 40 && agent_.get(attacker)["state"].GetString() == std::string("running"); ++i)
    ran += exec({"true"}, attacker).status == 200;
  agent_.wait(attacker);
  std::string report = agent_.logs(attacker);
  EXPECT_GT(ran, 0);
  auto doc = parse(report);
  ASSERT_TRUE(doc.IsObject()) << report;
  EXPECT_GT(doc["caught"].GetInt(), 0) << "the attacker never saw an exec's child before its execve: " << report;
  EXPECT_EQ(doc["writable"].GetInt(), 0) << report;
  expect_binaries_unchanged();
}

// Processes whose command line holds `needle`.
std::vector<pid_t> processes_with(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& e : entries("/proc")) {
    if (e.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = fs::read_file("/proc/" + e + "/cmdline");
    if (cmdline && cmdline->find(needle) != std::string::npos) out.push_back(std::stoi(e));
  }
  return out;
}

TEST_F(ExecEscape, TheExecHelperRunsFromTheSealedCopy) {
  auto running = std::async(std::launch::async, [&] { return exec({"sleep", "3"}); });
  std::vector<pid_t> helpers;
  ASSERT_TRUE(poll_until([&] { return !(helpers = processes_with(std::string("--exec\0", 7) + agent_.run_dir())).empty(); },
                         std::chrono::seconds(3)));
  for (pid_t h : helpers) {
    char buf[4096] = {};
    ssize_t n = ::readlink(("/proc/" + std::to_string(h) + "/exe").c_str(), buf, sizeof(buf) - 1);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("/memfd:", 0), 0u) << "the exec helper runs from " << buf;
    int fd = ::open(("/proc/" + std::to_string(h) + "/exe").c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_LT(fd, 0) << "the exec helper's exe opened for writing";
    if (fd >= 0) ::close(fd);
  }
  EXPECT_EQ(running.get().status, 200);
  expect_binaries_unchanged();
}

}  // namespace
}  // namespace berth::testing
