// What a registry, an artifact server or a file path can do to berthd (issue 7, defects 4, 18
// and 19), through the real berthd and a real registry on 127.0.0.1: a FIFO or a device given
// to load, a decompression bomb pushed as a layer, file:// outside the allowed roots, an
// oversized artifact, and registry credentials offered to an artifact server. Each asserts the
// client's answer, that nothing was left behind, and that berthd still answers (and stops).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "common/fs.hpp"
#include "common/scope_guard.hpp"
#include "common/unique_fd.hpp"
#include "tests/fetcher/bomb_builder.hpp"
#include "tests/fixtures/registry.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

// One-request-at-a-time HTTP server on 127.0.0.1 that answers every GET with `body` and keeps
// each request's header block, to see what berthd sends an artifact server.
class RecordingServer {
 public:
  explicit RecordingServer(std::string body) : body_(std::move(body)) {
    fd_ = UniqueFd::adopt(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_.get(), 8) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("recording server: bind");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RecordingServer() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      UniqueFd conn = UniqueFd::adopt(c);
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(conn.get(), buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lk(mu_);
        requests_.push_back(req);
      }
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_.size()) +
                          "\r\nConnection: close\r\n\r\n" + body_;
      (void)fs::write_all(conn.get(), reply.data(), reply.size());
    }
  }
  std::string body_;
  UniqueFd fd_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

class HostileImage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto reg = Registry::start();
    ASSERT_TRUE(reg.has_value()) << reg.error().message;
    registry_ = std::move(reg).value().release();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    ASSERT_NE(registry_, nullptr);
    files_ = make_temp_dir("berth-hostile-files");
    start_agent("");
  }
  void TearDown() override {
    agent_.reset();
    (void)fs::remove_tree(files_);
  }
  // `registries`: the body of that config key (default: the test registry, plain http).
  void start_agent(const std::string& extra, const std::string& registries = "") {
    agent_.reset();
    std::string regs = registries.empty() ? "\"" + registry_->host() + "\": {\"insecure\": true}" : registries;
    agent_ = std::make_unique<Agent>("\"registries\": {" + regs + "}, \"fetch\": {\"file_roots\": [" +
                                     json_string(files_) + "], \"artifact_max_mb\": 1}" +
                                     (extra.empty() ? "" : ", " + extra));
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  // POST /v1/images/load on another thread: a berthd that blocks on the path would block the
  // test too. Returns the reply, or status -1 when none came within `limit`.
  cli::HttpResponse load_within(const std::string& path, std::chrono::seconds limit) {
    auto reply = std::async(std::launch::async, [&, path] {
      return agent_->request("POST", "/v1/images/load",
                             "{\"path\": " + json_string(path) + ", \"ref\": \"localhost/hostile:1\"}");
    });
    if (reply.wait_for(limit) == std::future_status::ready) return reply.get();
    unblock_fifo(path);  // let the stuck open() return, so the test can end
    reply.wait();
    return cli::HttpResponse{-1, "no reply within " + std::to_string(limit.count()) + " s"};
  }
  static void unblock_fifo(const std::string& path) {
    for (const std::string& p : {path, path + "/index.json"}) {
      int fd = ::open(p.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
    }
  }
  bool store_is_empty() {
    std::string store = agent_->state_dir() + "/store";
    return entries(store + "/layers").empty() && entries(store + "/tmp").empty() &&
           parse(agent_->request("GET", "/v1/images").body)["images"].Size() == 0;
  }
  std::string pull_final_line(const std::string& ref) {
    std::string last;
    auto st = agent_->stream_lines("POST", "/v1/images/pull", "{\"ref\": " + json_string(ref) + "}",
                                   [&](const std::string& line) {
                                     last = line;
                                     return true;
                                   });
    if (!st) return st.error().message;
    return last;
  }

  static Registry* registry_;
  std::string files_;
  std::unique_ptr<Agent> agent_;
  BusyboxRootfs rootfs_;
};

Registry* HostileImage::registry_ = nullptr;

TEST_F(HostileImage, LoadOfAFifoOrADeviceIsA400AndBerthdStillStops) {
  std::string fifo = files_ + "/image.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A layout whose index.json is a FIFO: the same at every level of the layout.
  std::string layout = files_ + "/layout";
  ASSERT_TRUE(fs::mkdir_p(layout + "/blobs/sha256").has_value());
  ASSERT_TRUE(fs::write_file_atomic(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})").has_value());
  ASSERT_EQ(::mkfifo((layout + "/index.json").c_str(), 0600), 0);
  struct Case {
    std::string path, needle;
  };
  for (const Case& c : {Case{fifo, "is a FIFO"}, Case{"/dev/null", "is a character device"},
                        Case{layout, "index.json is a FIFO"}}) {
    SCOPED_TRACE(c.path);
    auto start = std::chrono::steady_clock::now();
    auto r = load_within(c.path, 20s);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find(c.needle), std::string::npos) << r.body;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "refused promptly";
  }
  EXPECT_EQ(agent_->request("GET", "/v1/info").status, 200) << "berthd still answers";
  // SIGTERM ends berthd: nothing is stuck on the FIFO.
  auto stopped = std::async(std::launch::async, [&] { agent_->stop(); });
  bool in_time = stopped.wait_for(20s) == std::future_status::ready;
  if (!in_time) ::kill(agent_->pid(), SIGKILL);
  stopped.wait();
  EXPECT_TRUE(in_time) << "berthd did not stop on SIGTERM within 20 s";
}

TEST_F(HostileImage, ABombLayerIsRefusedWithTheBudgetNamedAndLeavesNothing) {
  std::string bomb = zero_bomb(2ll << 30);  // 2 GiB of zeros, about 66 KB of zstd
  auto pushed = push_blob_image(*registry_, "hostile/zstd-bomb", "1", bomb, "application/vnd.oci.image.layer.v1.tar+zstd");
  ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  std::string ref = registry_->host() + "/hostile/zstd-bomb:1";
  std::string last = pull_final_line(ref);
  EXPECT_NE(last.find("compression-ratio budget"), std::string::npos) << last;
  EXPECT_NE(last.find("config unpack.max_ratio"), std::string::npos) << last;
  EXPECT_EQ(last.find("unpacking stopped"), std::string::npos) << last;
  EXPECT_TRUE(store_is_empty());
  // Launching the image says the same, and creates nothing.
  auto r = agent_->launch("{\"image\": " + json_string(ref) + "}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("config unpack.max_ratio"), std::string::npos) << r.body;
  EXPECT_TRUE(store_is_empty());
  EXPECT_EQ(parse(agent_->request("GET", "/v1/containers").body)["containers"].Size(), 0u);
}

TEST_F(HostileImage, AFullStoreIsReportedAsTheCause) {
  // The free-space reserve: a store that cannot keep it refuses the layer and says why.
  start_agent(R"("unpack": {"min_free_mb": 1048576})");
  // Larger than the pull's 8 MiB channel, so the transfer is still running when the unpack
  // stops: that used to surface as "unpacking stopped" instead of the cause.
  std::string noise(24 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < noise.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(&noise[i], &x, 8);
  }
  std::string layer = TarBuilder().file("f", noise).build(Compression::kGzip);
  auto pushed = push_blob_image(*registry_, "hostile/small", "1", layer, "application/vnd.oci.image.layer.v1.tar+gzip");
  ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  std::string last = pull_final_line(registry_->host() + "/hostile/small:1");
  EXPECT_NE(last.find("config unpack.min_free_mb"), std::string::npos) << last;
  EXPECT_EQ(last.find("unpacking stopped"), std::string::npos) << last;
  EXPECT_TRUE(store_is_empty());
}

TEST_F(HostileImage, FileUrisOutsideFileRootsAreRefusedAndCreateNothing) {
  ASSERT_EQ(::symlink("/etc/passwd", (files_ + "/passwd").c_str()), 0);
  for (const std::string& uri : {std::string("file:///etc/passwd"), "file://" + files_ + "/passwd"}) {
    SCOPED_TRACE(uri);
    auto r = agent_->launch(spec(rootfs_.path(), {"true"}, "\"fetch\": [{\"uri\": " + json_string(uri) + "}]"));
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_NE(r.body.find("config fetch.file_roots"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("/fetch/0"), std::string::npos) << r.body;
  }
  EXPECT_EQ(parse(agent_->request("GET", "/v1/containers").body)["containers"].Size(), 0u);
  EXPECT_TRUE(entries(agent_->state_dir() + "/sandboxes").empty());
  // With the default config (no file_roots) file:// is off altogether.
  agent_ = std::make_unique<Agent>();
  ASSERT_TRUE(agent_->start().has_value());
  ASSERT_TRUE(fs::write_file_atomic(files_ + "/tool", "tool").has_value());
  auto r = agent_->launch(spec(rootfs_.path(), {"true"}, "\"fetch\": [{\"uri\": \"file://" + files_ + "/tool\"}]"));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("config fetch.file_roots is empty"), std::string::npos) << r.body;
}

TEST_F(HostileImage, AnOversizedArtifactIsRefusedWithTheBudgetNamedAndLeavesNothing) {
  std::string big(3 << 20, 'z');
  ASSERT_TRUE(fs::write_file_atomic(files_ + "/big.bin", big).has_value());
  // A file is measured before anything is created.
  auto early = agent_->launch(spec(rootfs_.path(), {"true"}, "\"fetch\": [{\"uri\": \"file://" + files_ + "/big.bin\"}]"));
  EXPECT_EQ(early.status, 400) << early.body;
  EXPECT_NE(early.body.find("config fetch.artifact_max_mb"), std::string::npos) << early.body;
  EXPECT_TRUE(entries(agent_->state_dir() + "/sandboxes").empty());
  // Over http the size shows only while downloading: the transfer stops at the budget.
  auto digest = registry_->push_blob("hostile/files", big);
  ASSERT_TRUE(digest.has_value());
  std::string uri = "http://" + registry_->host() + "/v2/hostile/files/blobs/" + *digest;
  auto r = agent_->launch(spec(rootfs_.path(), {"true"}, "\"fetch\": [{\"uri\": " + json_string(uri) +
                                                             ", \"sha256\": " + json_string(*digest) + "}]"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("config fetch.artifact_max_mb"), std::string::npos) << r.body;
  auto list = parse(agent_->request("GET", "/v1/containers").body);
  ASSERT_EQ(list["containers"].Size(), 1u);
  std::string id = list["containers"][0]["id"].GetString();
  EXPECT_STREQ(list["containers"][0]["exit"]["reason"].GetString(), "launch_failed");
  EXPECT_TRUE(entries(agent_->state_dir() + "/sandboxes/" + id + "/work").empty()) << "no partial file in the sandbox";
  EXPECT_TRUE(entries(agent_->state_dir() + "/artifacts/tmp").empty()) << "no partial download";
  EXPECT_TRUE(entries(agent_->state_dir() + "/artifacts/sha256").empty()) << "nothing cached";
}

TEST_F(HostileImage, RegistryCredentialsNeverReachAnArtifactServer) {
  RecordingServer server("#!/bin/sh\necho fetched\n");
  const std::string password = "pw-Artifact-9931";
  // The artifact server is also a configured registry, with credentials.
  start_agent("", "\"" + server.host() + "\": {\"insecure\": true, \"username\": \"berth\", \"password\": " +
                      json_string(password) + "}");
  std::string id = agent_->run(spec(rootfs_.path(), {"/bin/sh", "/mnt/sandbox/tool.sh"},
                                    "\"fetch\": [{\"uri\": \"http://" + server.host() + "/tool.sh\"}]"));
  agent_->wait(id);
  EXPECT_EQ(agent_->logs(id), "fetched\n");
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].find("Authorization"), std::string::npos) << seen[0];
  EXPECT_EQ(seen[0].find(password), std::string::npos) << seen[0];
}

}  // namespace
}  // namespace berth::testing
