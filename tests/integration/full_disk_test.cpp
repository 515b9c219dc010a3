// A full disk under berthd: run_dir (checkpoints) or state_dir (sandboxes) on a tiny tmpfs the
// test mounts in its own temp dir and fills. A launch whose checkpoint cannot be written once
// the task started fails cleanly (M1); every exit is still recorded with its code (M3).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

constexpr size_t kPage = 4096;

// A tmpfs mounted over `path` for the test's life; unmounted (and the agent's temp root
// removed) after the agent is gone.
class Tmpfs {
 public:
  ~Tmpfs() {
    if (path_.empty()) return;
    ::umount2(path_.c_str(), MNT_DETACH);
    (void)fs::remove_tree(path_.substr(0, path_.rfind('/')));
  }
  void mount(const std::string& path, const std::string& size) {
    ASSERT_TRUE(fs::mkdir_p(path, 0755).has_value());
    ASSERT_EQ(::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("size=" + size).c_str()), 0)
        << "mount tmpfs: " << std::strerror(errno);
    path_ = path;
  }
  // Fills it page by page until the kernel says ENOSPC, then gives back `leave` pages.
  void fill(size_t leave) {
    std::string name = path_ + "/fill";
    int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::string page(kPage, 'f');
    off_t size = 0;
    while (::pwrite(fd, page.data(), kPage, size) == static_cast<ssize_t>(kPage)) size += kPage;
    ASSERT_EQ(errno, ENOSPC);
    ASSERT_GE(size, static_cast<off_t>(leave * kPage));
    ASSERT_EQ(::ftruncate(fd, size - static_cast<off_t>(leave * kPage)), 0);  // also drops a partial page
    ::close(fd);
  }
  void empty() { ::unlink((path_ + "/fill").c_str()); }

 private:
  std::string path_;
};

// One-shot HTTP server on 127.0.0.1 for artifacts: answers each request for `path` with "ok",
// holding the answer for `held_path` until release().
class ArtifactServer {
 public:
  explicit ArtifactServer(std::string held_path) : held_(std::move(held_path)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("artifact server: bind");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ArtifactServer() {
    release();
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // Blocks until the held request arrived; false after 30 s.
  bool wait_held() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(30), [&] { return held_arrived_; });
  }
  void release() {
    std::lock_guard lk(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string req;
      char buf[2048];
      for (ssize_t n; req.find("\r\n\r\n") == std::string::npos && (n = ::recv(c, buf, sizeof(buf), 0)) > 0;)
        req.append(buf, static_cast<size_t>(n));
      if (req.find("GET " + held_ + " ") == 0) {
        std::unique_lock lk(mu_);
        held_arrived_ = true;
        cv_.notify_all();
        cv_.wait(lk, [&] { return released_; });
      }
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::string held_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_arrived_ = false, released_ = false;
  std::thread thread_;
};

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::geteuid(), 0u) << "integration tests need root"; }
  void start() {
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  std::string spec_with(const std::vector<std::string>& command, const std::string& extra) {
    return spec(rootfs_.path(), command, extra);
  }
  // Polls until the task's cgroup holds no process (or is gone); fails the test otherwise.
  void expect_cgroup_empties(const std::string& id) {
    std::string procs = agent_->cgroup_root() + "/containers/" + id + "/cgroup.procs";
    auto empty = [&] { return fs::read_file(procs).value_or("").empty(); };
    for (int i = 0; i < 250 && !empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(empty()) << "processes of " << id << " still run: " << fs::read_file(procs).value_or("");
  }

  BusyboxRootfs rootfs_;
  Tmpfs tmpfs_;                   // declared before the agent: unmounted after it stopped
  std::unique_ptr<Agent> agent_ = std::make_unique<Agent>();
};

size_t digits(const rapidjson::Value& v) { return std::to_string(v.GetUint64()).size(); }

TEST_F(FullDisk, ACheckpointThatCannotBeWrittenOnceTheTaskStartedFailsTheLaunch) {
  tmpfs_.mount(agent_->run_dir(), "512k");
  start();
  ArtifactServer server("/held");
  // A probe launch tells how large this spec's checkpoints are.
  std::string probe = agent_->run(spec_with({"sleep", "30"}, R"("labels": {"pad": ""}, "fetch": [{"uri": )" +
                                                                  json_string(server.url("/probe")) + "}]"));
  std::string text = fs::read_file(agent_->run_dir() + "/containers/" + probe + "/state.json").value_or("");
  auto cp = parse(text);
  ASSERT_STREQ(cp["state"].GetString(), "running");
  // Bytes the running checkpoint has over the one written when the shim started: the task's
  // start time, pid and pid start time, and "running" for "preparing".
  size_t shim_extra = digits(cp["shim_pid"]) - 1 + digits(cp["shim_start_time"]) - 1;
  size_t run_extra = 19 - 1 + digits(cp["pid"]) - 1 + digits(cp["pid_start_time"]) - 1 - 2;
  size_t preparing = text.size() - shim_extra - run_extra;
  ASSERT_GT(run_extra, 16u);
  ASSERT_LT(preparing + shim_extra, kPage - run_extra);
  // Padding puts the page boundary between them: the shim's checkpoint fits one page, the
  // running one needs two, and the disk will have exactly one free page.
  size_t pad = kPage - preparing - shim_extra - run_extra / 2;
  ASSERT_EQ(agent_->request("DELETE", "/v1/containers/" + probe + "?force=1").status, 204);

  cli::HttpResponse reply;
  std::thread launcher([&] {
    reply = agent_->launch(spec_with({"sleep", "30"}, R"("labels": {"pad": ")" + std::string(pad, 'x') +
                                                          R"("}, "fetch": [{"uri": )" + json_string(server.url("/held")) + "}]"));
  });
  ASSERT_TRUE(server.wait_held()) << "berthd never fetched the artifact";
  auto listed = parse(agent_->request("GET", "/v1/containers").body);
  ASSERT_EQ(listed["containers"].Size(), 1u);
  std::string id = listed["containers"][0]["id"].GetString();
  tmpfs_.fill(1);
  server.release();
  launcher.join();

  EXPECT_EQ(reply.status, 503) << reply.body;
  EXPECT_NE(reply.body.find("No space left on device"), std::string::npos) << reply.body;
  EXPECT_NE(reply.body.find("the task was stopped"), std::string::npos) << reply.body;
  auto c = agent_->get(id);
  EXPECT_STREQ(c["state"].GetString(), "failed");
  ASSERT_TRUE(c["exit"].IsObject()) << "no termination record";
  EXPECT_STREQ(c["exit"]["reason"].GetString(), "launch_failed");
  EXPECT_NE(std::string(c["exit"]["message"].GetString()).find("record the task's state"), std::string::npos);
  expect_cgroup_empties(id);

  // With room again, a restart finds it failed too, and nothing of it runs.
  tmpfs_.empty();
  agent_->stop();
  start();
  EXPECT_STREQ(agent_->get(id)["state"].GetString(), "failed");
  expect_cgroup_empties(id);
}

TEST_F(FullDisk, EveryExitIsRecordedWhenTheStateDirIsFull) {
  tmpfs_.mount(agent_->state_dir(), "1m");
  start();
  std::string sleeper = agent_->run(spec_with({"sleep", "30"}, ""));
  tmpfs_.fill(0);

  std::string exits = agent_->run(spec_with({"sh", "-c", "exit 3"}, ""));
  auto exited = agent_->wait(exits);
  EXPECT_STREQ(exited["reason"].GetString(), "exited") << exited["message"].GetString();
  ASSERT_TRUE(exited["exit_code"].IsInt()) << "the exit code was lost";
  EXPECT_EQ(exited["exit_code"].GetInt(), 3);

  auto k = agent_->request("POST", "/v1/containers/" + sleeper + "/kill", R"({"signal": "KILL"})");
  ASSERT_EQ(k.status, 202) << k.body;
  auto killed = agent_->wait(sleeper);
  EXPECT_STREQ(killed["reason"].GetString(), "killed");
  ASSERT_TRUE(killed["signal"].IsString()) << "the signal was lost";
  EXPECT_STREQ(killed["signal"].GetString(), "SIGKILL");

  auto failed = agent_->launch(spec_with({"/bin/nope"}, ""));
  EXPECT_EQ(failed.status, 400) << failed.body;
  auto list = parse(agent_->request("GET", "/v1/containers").body);
  ASSERT_EQ(list["containers"].Size(), 3u);
  for (const auto& c : list["containers"].GetArray()) {
    ASSERT_TRUE(c["exit"].IsObject()) << c["id"].GetString() << " has no termination record";
    EXPECT_STRNE(c["exit"]["reason"].GetString(), "lost") << c["id"].GetString();
    if (std::string(c["state"].GetString()) == "failed") {
      EXPECT_STREQ(c["exit"]["reason"].GetString(), "launch_failed");
      EXPECT_NE(std::string(c["exit"]["message"].GetString()).find("/bin/nope"), std::string::npos);
    }
  }
  // And a restarted berthd still has every record.
  agent_->stop();
  start();
  EXPECT_EQ(agent_->wait(exits)["exit_code"].GetInt(), 3);
  EXPECT_STREQ(agent_->wait(sleeper)["signal"].GetString(), "SIGKILL");
  tmpfs_.empty();
}

}  // namespace
}  // namespace berth::testing
