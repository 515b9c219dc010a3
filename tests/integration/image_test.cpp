// Tasks from images in a real Distribution registry on 127.0.0.1, through the real berthd:
// pull with progress, the image config applied (and overridden), layered whiteouts, images in
// use, prune, artifacts, an unreachable registry, and a berthd killed mid-pull.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "common/scope_guard.hpp"
#include "fetcher/digest.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fixtures/registry.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

// busybox with every applet linked, an /etc/passwd with "app" (1000), and /etc/os-release.
std::string busybox_base_layer() {
  TarBuilder t;
  t.dir("bin").file("bin/busybox", fs::read_file("/bin/busybox").value_or(""), 0755);
  FILE* p = ::popen("/bin/busybox --list", "r");
  char line[256];
  while (p && std::fgets(line, sizeof(line), p)) {
    std::string name(line);
    while (!name.empty() && (name.back() == '\n')) name.pop_back();
    if (!name.empty() && name != "busybox" && name.find('/') == std::string::npos) t.symlink("bin/" + name, "busybox");
  }
  if (p) ::pclose(p);
  t.dir("etc").file("etc/os-release", "NAME=base\n").file("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")
      .file("etc/group", "root:x:0:\napp:x:1000:\n");
  t.dir("data").file("data/old", "old\n").dir("tmp", 01777).dir("proc").dir("sys").dir("dev").dir("mnt");
  return t.build();
}

// Deletes /etc/os-release, makes /data opaque with a new file in it, adds the app.
std::string app_layer() {
  TarBuilder t;
  t.dir("etc").file("etc/.wh.os-release", "");
  t.dir("data").file("data/.wh..wh..opq", "").file("data/new", "new\n");
  t.dir("app", 0755, TarBuilder::Meta{0755, 1000, 1000, 1700000000, {}}).file("app/hello.txt", "hello\n");
  return t.build();
}

constexpr const char* kAppConfig =
    R"({"Entrypoint":["/bin/sh","-c"],"Cmd":["echo $GREETING from $(cat hello.txt); pwd; id -u"],)"
    R"("Env":["PATH=/bin","GREETING=hi"],"WorkingDir":"/app","User":"app"})";

class Images : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto reg = Registry::start();
    ASSERT_TRUE(reg.has_value()) << reg.error().message;
    registry_ = std::move(reg).value().release();
    auto pushed = push_image(*registry_, "team/app", "1",
                             {{busybox_base_layer(), Compression::kGzip}, {app_layer(), Compression::kZstd}},
                             "amd64", true, kAppConfig);
    ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    ASSERT_NE(registry_, nullptr);
    agent_ = std::make_unique<Agent>("\"registries\": {\"" + registry_->host() + "\": {\"insecure\": true}}");
    auto st = agent_->start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  std::string image(const std::string& repo_tag = "team/app:1") { return registry_->host() + "/" + repo_tag; }
  std::string image_spec(const std::string& extra = "") {
    return "{\"image\": " + json_string(image()) + (extra.empty() ? "" : ", " + extra) + "}";
  }
  // POST /v1/images/pull, collecting the JSON lines.
  std::vector<std::string> pull(const std::string& ref) {
    std::vector<std::string> lines;
    auto st = agent_->stream_lines("POST", "/v1/images/pull", "{\"ref\": " + json_string(ref) + "}",
                                   [&](const std::string& line) {
                                     lines.push_back(line);
                                     return true;
                                   });
    EXPECT_TRUE(st.has_value()) << (st ? "" : st.error().message);
    return lines;
  }

  static Registry* registry_;
  std::unique_ptr<Agent> agent_;
};

Registry* Images::registry_ = nullptr;

TEST_F(Images, PullStreamsProgressAndRecordsTheImage) {
  auto lines = pull(image());
  ASSERT_FALSE(lines.empty());
  auto last = parse(lines.back());
  ASSERT_TRUE(last.HasMember("status")) << lines.back();
  EXPECT_STREQ(last["status"].GetString(), "pulled") << lines.back();
  EXPECT_EQ(last["image"]["layers"].Size(), 2u);
  bool saw_progress = false;
  for (const auto& l : lines) saw_progress |= l.find("\"fetched\"") != std::string::npos;
  EXPECT_TRUE(saw_progress);
  auto list = parse(agent_->request("GET", "/v1/images").body);
  ASSERT_EQ(list["images"].Size(), 1u);
  EXPECT_EQ(std::string(list["images"][0]["ref"].GetString()), image());
  // A second pull finds everything present.
  auto again = pull(image());
  EXPECT_STREQ(parse(again.back())["status"].GetString(), "pulled");
}

TEST_F(Images, ATaskRunsFromTheImageWithItsConfig) {
  std::string id = agent_->run(image_spec());  // pulls on demand
  auto exit = agent_->wait(id);
  EXPECT_EQ(exit["exit_code"].GetInt(), 0) << agent_->logs(id, "?stream=stderr");
  EXPECT_EQ(agent_->logs(id), "hi from hello\n/app\n1000\n");
}

TEST_F(Images, TheSpecOverridesTheImageConfig) {
  std::string id = agent_->run(image_spec(R"("env": {"GREETING": "yo"}, "user": "0", "working_dir": "/")"));
  agent_->wait(id);
  EXPECT_EQ(agent_->logs(id, "?stream=stderr"), "cat: can't open 'hello.txt': No such file or directory\n");
  EXPECT_EQ(agent_->logs(id), "yo from\n/\n0\n");
  std::string cmd = agent_->run(image_spec(R"("command": ["echo replaced cmd"])"));
  agent_->wait(cmd);
  EXPECT_EQ(agent_->logs(cmd), "replaced cmd\n");
  std::string ep = agent_->run(image_spec(R"("entrypoint": ["/bin/echo"], "command": ["plain", "args"])"));
  agent_->wait(ep);
  EXPECT_EQ(agent_->logs(ep), "plain args\n");
}

TEST_F(Images, WhiteoutsAndOpaqueDirsGiveTheMergedView) {
  std::string id = agent_->run(image_spec(
      R"("command": ["ls /data; test -e /etc/os-release && echo os-release-present || echo os-release-gone"])"));
  agent_->wait(id);
  EXPECT_EQ(agent_->logs(id), "new\nos-release-gone\n");
}

TEST_F(Images, AnImageInUseCannotBeRemovedAndPruneFreesWhatNothingUses) {
  std::string id = agent_->run(image_spec(R"("command": ["sleep 30"])"));
  std::string enc = image();
  for (size_t p; (p = enc.find('/')) != std::string::npos;) enc.replace(p, 1, "%2F");
  auto busy = agent_->request("DELETE", "/v1/images/" + enc);
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_NE(busy.body.find("used by a container"), std::string::npos);
  auto listed = parse(agent_->request("GET", "/v1/images").body);
  EXPECT_TRUE(listed["images"][0]["in_use"].GetBool());
  EXPECT_EQ(agent_->request("DELETE", "/v1/containers/" + id + "?force=1").status, 204);
  EXPECT_EQ(agent_->request("DELETE", "/v1/images/" + enc).status, 204);
  auto pruned = parse(agent_->request("POST", "/v1/images/prune").body);
  EXPECT_EQ(pruned["removed_layers"].GetUint64(), 2u);
  EXPECT_GT(pruned["freed_bytes"].GetUint64(), 1000000u);
  EXPECT_TRUE(subdirs(agent_->state_dir() + "/store/layers").empty());
}

TEST_F(Images, AnUnreachableRegistryIsAClearErrorAndCreatesNothing) {
  auto r = agent_->launch(R"({"image": "127.0.0.1:1/nothing/here:1"})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("127.0.0.1:1/nothing/here:1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("connect"), std::string::npos) << r.body;
  EXPECT_EQ(parse(agent_->request("GET", "/v1/containers").body)["containers"].Size(), 0u);
  EXPECT_TRUE(entries(agent_->state_dir() + "/sandboxes").empty());
  EXPECT_TRUE(entries(agent_->run_dir() + "/containers").empty());
  auto missing = agent_->launch(image_spec().replace(image_spec().find("team/app:1"), 10, "team/app:nope"));
  EXPECT_EQ(missing.status, 404) << missing.body;
}

TEST_F(Images, ArtifactsArePlacedVerifiedAndExtracted) {
  std::string dir = make_temp_dir("berth-artifacts");
  ScopeGuard remove_dir([&] { (void)fs::remove_tree(dir); });
  // file:// reads only beneath the config's fetch.file_roots.
  agent_ = std::make_unique<Agent>("\"registries\": {\"" + registry_->host() + "\": {\"insecure\": true}}, " +
                                   "\"fetch\": {\"file_roots\": [" + json_string(dir) + "]}");
  ASSERT_TRUE(agent_->start().has_value());
  std::string conf = "key=value\n";
  ASSERT_TRUE(fs::write_file_atomic(dir + "/app.conf", conf).has_value());
  TarBuilder t;
  t.dir("bundle").file("bundle/run.sh", "#!/bin/sh\necho from the bundle\n", 0755);
  ASSERT_TRUE(fs::write_file_atomic(dir + "/bundle.tar.gz", compress(t.build(), Compression::kGzip)).has_value());
  std::string sha = fetcher::Digest::of(conf).hex();
  std::string fetch = R"("fetch": [{"uri": "file://)" + dir + R"(/app.conf", "sha256": ")" + sha +
                      R"("}, {"uri": "file://)" + dir + R"(/bundle.tar.gz", "extract": true}])";
  std::string id = agent_->run(image_spec(fetch + R"(, "command": ["cat /mnt/sandbox/app.conf; /mnt/sandbox/bundle/run.sh"])"));
  agent_->wait(id);
  EXPECT_EQ(agent_->logs(id), "key=value\nfrom the bundle\n") << agent_->logs(id, "?stream=stderr");

  std::string bad = R"("fetch": [{"uri": "file://)" + dir + R"(/app.conf", "sha256": ")" + std::string(64, '0') + R"("}])";
  auto r = agent_->launch(image_spec(bad));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("file://" + dir + "/app.conf"), std::string::npos) << r.body;
  auto list = parse(agent_->request("GET", "/v1/containers").body);
  bool failed_with_reason = false;
  for (const auto& c : list["containers"].GetArray())
    if (std::string(c["state"].GetString()) == "failed")
      failed_with_reason = std::string(c["exit"]["reason"].GetString()) == "launch_failed";
  EXPECT_TRUE(failed_with_reason);
}

TEST_F(Images, ABerthdKilledMidPullLeavesAConsistentStore) {
  // One large incompressible layer so the pull takes a while.
  std::string big(48 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < big.size(); i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    std::memcpy(&big[i], &x, 8);
  }
  TarBuilder t;
  t.dir("blob").file("blob/data", big);
  auto pushed = push_image(*registry_, "team/big", "1",
                           {{busybox_base_layer(), Compression::kGzip}, {t.build(), Compression::kGzip}});
  ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  std::atomic<bool> finished{false};
  std::thread puller([&] {
    (void)agent_->client().stream("POST", "/v1/images/pull", "{\"ref\": " + json_string(image("team/big:1")) + "}",
                                  [&](std::string_view d) {
                                    if (d.find("\"status\"") != std::string_view::npos) finished = true;
                                    return true;
                                  });
  });
  // Mid-pull is when the store has half-written content in its tmp/ dir: kill berthd then.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!finished && entries(agent_->state_dir() + "/store/tmp").empty() &&
         std::chrono::steady_clock::now() < deadline) {
  }
  bool killed_mid_pull = !finished && !entries(agent_->state_dir() + "/store/tmp").empty();
  agent_->kill9();
  puller.join();
  EXPECT_TRUE(killed_mid_pull) << "the pull finished before berthd was killed: nothing was interrupted";
  auto st = agent_->start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_TRUE(entries(agent_->state_dir() + "/store/tmp").empty());
  auto lines = pull(image("team/big:1"));
  ASSERT_FALSE(lines.empty());
  EXPECT_STREQ(parse(lines.back())["status"].GetString(), "pulled") << lines.back();
  std::string id = agent_->run("{\"image\": " + json_string(image("team/big:1")) + ", \"command\": [\"sh\", \"-c\", \"wc -c < /blob/data\"]}");
  agent_->wait(id);
  EXPECT_EQ(agent_->logs(id), std::to_string(big.size()) + "\n");
}

// Counts the entries and the allocated bytes beneath `dir` (an explicit stack; test data only).
std::pair<size_t, uint64_t> tree_usage(const std::string& dir) {
  size_t entries_seen = 0;
  uint64_t bytes = 0;
  std::vector<std::string> todo{dir};
  while (!todo.empty()) {
    std::string d = todo.back();
    todo.pop_back();
    for (const auto& e : entries(d)) {
      struct stat st {};
      if (::lstat((d + "/" + e).c_str(), &st) != 0) continue;
      ++entries_seen;
      bytes += static_cast<uint64_t>(st.st_blocks) * 512;
      if (S_ISDIR(st.st_mode)) todo.push_back(d + "/" + e);
    }
  }
  return {entries_seen, bytes};
}

// A task in a user namespace runs from the same unpacked layers as any other (idmapped, so
// the image's owners show inside), with whiteouts and opaque dirs intact; the layer store
// neither grows nor changes owner, and the task's writes belong to its host range.
TEST_F(Images, AUserNamespaceTaskSharesTheLayersWithoutCopyOrChown) {
  agent_ = std::make_unique<Agent>("\"registries\": {\"" + registry_->host() +
                                   "\": {\"insecure\": true}}, \"userns\": {\"default\": true, "
                                   "\"pool\": \"3100000000-3100065535\"}");
  ASSERT_TRUE(agent_->start().has_value());
  pull(image());
  std::string layers = agent_->state_dir() + "/store/layers";
  auto before = tree_usage(layers);
  std::string id = agent_->run(image_spec(
      R"("command": ["id -u; stat -c %u /app /app/hello.txt; ls /data; test -e /etc/os-release || echo os-release-gone; )"
      R"(echo new > /app/written; cat /proc/self/uid_map"])"));
  auto exit = agent_->wait(id);
  ASSERT_EQ(exit["exit_code"].GetInt(), 0) << agent_->logs(id, "?stream=stderr");
  std::string out = agent_->logs(id);
  EXPECT_EQ(out.substr(0, out.find("os-release-gone\n") + 16), "1000\n1000\n0\nnew\nos-release-gone\n");
  std::istringstream map(out.substr(out.find("os-release-gone\n") + 16));
  uint64_t inside = 1, base = 0, size = 0;
  map >> inside >> base >> size;
  EXPECT_EQ(inside, 0u);
  EXPECT_EQ(base, 3100000000u);
  EXPECT_EQ(size, 65536u);
  auto after = tree_usage(layers);
  EXPECT_EQ(after, before) << "the layer store changed: " << before.first << " entries, " << before.second
                           << " bytes before; " << after.first << ", " << after.second << " after";
  struct stat st {};
  bool found = false;
  for (const auto& layer : entries(layers)) {
    if (::lstat((layers + "/" + layer + "/fs/app/hello.txt").c_str(), &st) != 0) continue;
    found = true;
    EXPECT_EQ(st.st_uid, 0u) << "the layer file was chowned";
    ASSERT_EQ(::lstat((layers + "/" + layer + "/fs/app").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u) << "the layer dir was chowned";
  }
  EXPECT_TRUE(found);
  ASSERT_EQ(::lstat((agent_->state_dir() + "/sandboxes/" + id + "/overlay/upper/app/written").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 3100000000u + 1000u);
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// A registry with TLS from a private CA and htpasswd Basic auth, configured in agent.json.
class PrivateRegistry : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    RegistryOptions o;
    o.tls = true;
    o.basic_auth = true;
    auto reg = Registry::start(o);
    ASSERT_TRUE(reg.has_value()) << reg.error().message;
    registry_ = std::move(reg).value();
    auto pushed = push_image(*registry_, "private/app", "1", {{busybox_base_layer(), Compression::kGzip}}, "amd64",
                             true, R"({"Cmd":["/bin/sh","-c","echo secret service"],"Env":["PATH=/bin"]})");
    ASSERT_TRUE(pushed.has_value()) << pushed.error().message;
  }
  std::unique_ptr<Agent> agent_with(const std::string& password) {
    auto a = std::make_unique<Agent>("\"registries\": {\"" + registry_->host() + "\": {\"ca_file\": " +
                                     json_string(registry_->ca_file()) + ", \"username\": " +
                                     json_string(registry_->options().username) + ", \"password\": " +
                                     json_string(password) + "}}");
    auto st = a->start();
    EXPECT_TRUE(st.has_value()) << st.error().message;
    return a;
  }
  std::string ref() { return registry_->host() + "/private/app:1"; }
  std::unique_ptr<Registry> registry_;
};

TEST_F(PrivateRegistry, TlsWithAPrivateCaAndBasicAuth) {
  auto agent = agent_with(registry_->options().password);
  std::string id = agent->run("{\"image\": " + json_string(ref()) + "}");
  agent->wait(id);
  EXPECT_EQ(agent->logs(id), "secret service\n");
  // The password appears nowhere a user or a log reader could see it.
  std::string info = agent->request("GET", "/v1/info").body;
  std::string container = agent->request("GET", "/v1/containers/" + id).body;
  for (const auto& text : {info, container, agent->log_text()})
    EXPECT_EQ(text.find(registry_->options().password), std::string::npos);
}

TEST_F(PrivateRegistry, AWrongPasswordIsRefusedWithoutShowingIt) {
  const std::string wrong = "wrong-Pw-7731";
  auto agent = agent_with(wrong);
  auto r = agent->launch("{\"image\": " + json_string(ref()) + "}");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find(registry_->host()), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(wrong), std::string::npos) << r.body;
  EXPECT_EQ(agent->log_text().find(wrong), std::string::npos);
  EXPECT_EQ(parse(agent->request("GET", "/v1/containers").body)["containers"].Size(), 0u);
}

TEST_F(PrivateRegistry, WithoutTheCaTheCertificateIsRefused) {
  auto agent = std::make_unique<Agent>();
  ASSERT_TRUE(agent->start().has_value());
  auto r = agent->launch("{\"image\": " + json_string(ref()) + "}");
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("certificate"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// `berth load`: an OCI image layout (skopeo writes one from the registry) as a directory or a
// tar archive of it, without any registry in the agent's config.
TEST_F(Images, LoadsAnOciLayoutDirectoryOrArchive) {
  std::string dir = make_temp_dir("berth-layout");
  ScopeGuard remove_dir([&] { (void)fs::remove_tree(dir); });
  std::string cmd = "skopeo copy --quiet --src-tls-verify=false docker://" + image() + " oci:" + dir + "/layout:1 2>&1" +
                    " && tar -C " + dir + "/layout -czf " + dir + "/layout.tar.gz .";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto loaded = agent_->request("POST", "/v1/images/load",
                                "{\"path\": " + json_string(dir + "/layout") + ", \"ref\": \"localhost/app:dir\"}");
  EXPECT_EQ(loaded.status, 201) << loaded.body;
  auto archived = agent_->request("POST", "/v1/images/load",
                                  "{\"path\": " + json_string(dir + "/layout.tar.gz") + ", \"ref\": \"localhost/app:tar\"}");
  EXPECT_EQ(archived.status, 201) << archived.body;
  for (const char* ref : {"localhost/app:dir", "localhost/app:tar"}) {
    std::string id = agent_->run(std::string("{\"image\": \"") + ref + "\"}");
    agent_->wait(id);
    EXPECT_EQ(agent_->logs(id), "hi from hello\n/app\n1000\n") << ref;
  }
  EXPECT_EQ(agent_->request("POST", "/v1/images/load", R"({"path": "/nonexistent", "ref": "localhost/y:1"})").status, 404);
  for (const auto& d : subdirs(agent_->state_dir()))
    EXPECT_NE(d.rfind("load-", 0), 0u) << "a temp dir of load was left behind: " << d;
}

}  // namespace
}  // namespace berth::testing
