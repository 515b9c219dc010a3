// What a hostile or careless client sends over the socket: berthd answers each with a clear
// 4xx, changes nothing, and stays alive and serving others (issue 7, defects 1, 3, 11, 13,
// 20, 22).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "common/json.hpp"
#include "common/scope_guard.hpp"
#include "common/unique_fd.hpp"
#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A field of /proc/<pid>/status ("Threads", "VmRSS" in kB).
long proc_status(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

UniqueFd connect_to(const std::string& path) {
  UniqueFd fd = UniqueFd::adopt(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a {};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return UniqueFd();
  return fd;
}

std::string error_message(const std::string& body) {
  auto doc = json::parse(body);
  if (!doc || !doc->IsObject() || !doc->HasMember("error")) return "<not an error body: " + body.substr(0, 200) + ">";
  return json::get_string((*doc)["error"], "message");
}

class HostileApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // berthd is alive and answers a fresh client at once.
  void expect_serving() {
    ASSERT_TRUE(process_alive(agent_.pid())) << "berthd died";
    auto t0 = Clock::now();
    auto r = agent_.request("GET", "/v1/containers");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  }

  size_t container_count() { return agent_.client().call("GET", "/v1/containers")->operator[]("containers").Size(); }

  // A bad launch: a 400 whose message has `expect`, and no container was created.
  void expect_refused(const std::string& spec_json, const std::string& expect) {
    size_t before = container_count();
    auto r = agent_.launch(spec_json);
    EXPECT_EQ(r.status, 400) << spec_json.substr(0, 200) << " -> " << r.body;
    EXPECT_NE(error_message(r.body).find(expect), std::string::npos)
        << "message: " << error_message(r.body) << "\nexpected to contain: " << expect;
    EXPECT_EQ(container_count(), before);
  }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(HostileApi, DeeplyNestedJsonIsRefusedEverywhere) {
  std::string deep(300 * 1024, '[');  // used to SIGSEGV berthd (recursive parse)
  expect_refused(deep, "nested deeper than 64 levels");
  std::string id = agent_.run(spec(rootfs_.path(), {"sleep", "1000"}));
  for (const char* target : {"/v1/images/pull", "/v1/images/load"}) {
    auto r = agent_.request("POST", target, deep);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
  }
  for (const std::string& target : {"/v1/containers/" + id + "/kill", "/v1/containers/" + id + "/update"}) {
    std::string objects;
    for (int i = 0; i < 40000; ++i) objects += "{\"a\":";
    auto r = agent_.request("POST", target, objects);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    EXPECT_NE(error_message(r.body).find("nested deeper"), std::string::npos) << r.body;
  }
  expect_serving();
  EXPECT_STREQ(agent_.get(id)["state"].GetString(), "running");
}

TEST_F(HostileApi, NulCharactersAreRefusedInEveryField) {
  const std::string r = json_string(rootfs_.path());
  expect_refused(R"({"rootfs": )" + r + R"(, "command": ["true"], "name": "web\u0000x"})", "field '/name' contains a NUL");
  expect_refused(R"({"rootfs": )" + r + R"(, "command": ["true"], "hostname": "h\u0000"})", "field '/hostname' contains a NUL");
  expect_refused(R"({"rootfs": )" + r + R"(, "command": ["sh", "-c", "echo\u0000rm"]})", "field '/command/2' contains a NUL");
  expect_refused(R"({"rootfs": )" + r + R"(, "command": ["true"], "env": {"A\u0000B": "1"}})",
                 "field '/env/A\\u0000B' contains a NUL");
  expect_refused(R"({"rootfs": )" + r + R"(, "command": ["true"], "env": {"A": "x\u0000y"}})", "field '/env/A' contains a NUL");
  expect_serving();
}

TEST_F(HostileApi, OutOfRangeUserIdsAreRefused) {
  // (uid_t)-1 is "unchanged" to setresuid(): this used to run the task as root.
  for (const char* user : {"4294967295", "0:4294967295", "99999999999"}) {
    auto res = agent_.launch(spec(rootfs_.path(), {"id", "-u"}, std::string(R"("user": ")") + user + "\""));
    EXPECT_GE(res.status, 400) << user << ": " << res.body;
    EXPECT_LT(res.status, 500) << user << ": " << res.body;
    EXPECT_NE(error_message(res.body).find("is out of range; ids go from 0 to 4294967294"), std::string::npos)
        << user << ": " << res.body;
  }
  std::string id = agent_.run(spec(rootfs_.path(), {"id", "-u"}, R"("user": "4294967294")"));
  EXPECT_EQ(agent_.wait(id)["exit_code"].GetInt(), 0);
  EXPECT_EQ(agent_.logs(id), "4294967294\n");
  expect_serving();
}

TEST_F(HostileApi, BadSpecPathsAreRefused) {
  expect_refused(spec("/", {"true"}), "'/' is the host's own root file system");
  // Reaching the host's root through a symlink or a bind mount is refused the same way.
  std::string to_root = agent_.root() + "/to-root";
  ASSERT_EQ(::symlink("/", to_root.c_str()), 0) << std::strerror(errno);
  expect_refused(spec(to_root, {"true"}), "resolves to the host's own root file system");
  std::string bound = agent_.root() + "/bound-root";
  ASSERT_EQ(::mkdir(bound.c_str(), 0755), 0) << std::strerror(errno);
  ASSERT_EQ(::mount("/", bound.c_str(), nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
  ScopeGuard unmount([&] { EXPECT_EQ(::umount2(bound.c_str(), MNT_DETACH), 0) << std::strerror(errno); });
  expect_refused(spec(bound, {"true"}), "resolves to the host's own root file system");
  expect_refused(spec(rootfs_.path() + ":/etc", {"true"}), "contains ':', ','");
  expect_refused(spec(rootfs_.path() + ",upperdir=/tmp", {"true"}), "contains ':', ','");
  expect_refused(spec(rootfs_.path() + "/..", {"true"}), "'.' or '..' component");
  for (const char* path : {"/..", "/data/../etc", "/./x", "/data/"}) {
    expect_refused(spec(rootfs_.path(), {"true"},
                        R"("volumes": [{"host_path": "/tmp", "container_path": ")" + std::string(path) + "\"}]"),
                   "is not a normalised absolute path");
  }
  expect_refused(spec(rootfs_.path(), {"true"}, R"("volumes": [{"host_path": "tmp", "container_path": "/data"}])"),
                 "'/volumes/0/host_path'");
  expect_serving();
}

TEST_F(HostileApi, AThousandIdleConnectionsLockNobodyOutAndCostNoThreads) {
  long threads_before = proc_status(agent_.pid(), "Threads");
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 1000; ++i) {
    UniqueFd fd = connect_to(agent_.socket());
    ASSERT_TRUE(fd.valid()) << "connection " << i << ": " << std::strerror(errno);
    // A tenth of them stop in the middle of their request's headers (slowloris).
    if (i % 10 == 0) {
      ASSERT_EQ(::write(fd.get(), "GET /v1/info HTTP/1.1\r\nHo", 25), 25);
    }
    idle.push_back(std::move(fd));
  }
  // Let berthd accept them all before measuring.
  for (int i = 0; i < 100 && proc_status(agent_.pid(), "FDSize") < 1000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  expect_serving();
  long threads = proc_status(agent_.pid(), "Threads");
  EXPECT_LT(threads, threads_before + 8) << "berthd threads with 1,000 idle clients: " << threads;
  std::string id = agent_.run(spec(rootfs_.path(), {"echo", "still here"}));
  EXPECT_EQ(agent_.wait(id)["exit_code"].GetInt(), 0);
  EXPECT_EQ(agent_.logs(id), "still here\n");
  idle.clear();
  expect_serving();
}

TEST_F(HostileApi, WaitersAndFollowersCostNoThreads) {
  std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c", "echo up; sleep 1000"}));
  long threads_before = proc_status(agent_.pid(), "Threads");
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 200; ++i) {
    UniqueFd fd = connect_to(agent_.socket());
    ASSERT_TRUE(fd.valid());
    std::string target = i % 3 == 0 ? "/v1/containers/" + id + "/wait"
                       : i % 3 == 1 ? "/v1/containers/" + id + "/logs?follow=1"
                                    : std::string("/v1/events");
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: berth\r\n\r\n";
    ASSERT_EQ(::write(fd.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
    clients.push_back(std::move(fd));
  }
  expect_serving();
  long threads = 0;
  for (int i = 0; i < 50; ++i) {  // handlers that set the streams up end quickly
    threads = proc_status(agent_.pid(), "Threads");
    if (threads < threads_before + 8) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LT(threads, threads_before + 8) << "berthd threads with 200 waiting clients: " << threads;
  auto k = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "KILL"})");
  EXPECT_EQ(k.status, 202) << k.body;
  // Every waiter gets the termination record.
  for (size_t i = 0; i < clients.size(); i += 3) {
    std::string got;
    char buf[4096];
    while (got.find("\"reason\"") == std::string::npos) {
      ssize_t n = ::read(clients[i].get(), buf, sizeof(buf));
      ASSERT_GT(n, 0) << "waiter " << i << " got: " << got;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
  }
  clients.clear();
  expect_serving();
}

TEST_F(HostileApi, TailOfAHugeLogIsFastAndCostsNoMemory) {
  // 200 MB across rotated files (50 MB each), ending with known lines.
  std::string id = agent_.run(spec(rootfs_.path(),
      {"sh", "-c", "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c 200000000;"
                   " echo; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo last-$i; done"},
      R"("logging": {"max_size_mb": 50, "max_files": 5})"));
  EXPECT_EQ(agent_.wait(id)["exit_code"].GetInt(), 0);
  long rss_before = proc_status(agent_.pid(), "VmRSS");
  auto t0 = Clock::now();
  std::string tail = agent_.logs(id, "?tail=10");
  auto took = Clock::now() - t0;
  EXPECT_EQ(tail, "last-3\nlast-4\nlast-5\nlast-6\nlast-7\nlast-8\nlast-9\nlast-10\nlast-11\nlast-12\n");
  EXPECT_LT(took, std::chrono::milliseconds(500));
  // The whole log streams without being held in memory either.
  size_t total = 0;
  auto st = agent_.client().stream("GET", "/v1/containers/" + id + "/logs", "", [&](std::string_view d) {
    total += d.size();
    return true;
  });
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_GT(total, 150u * 1000 * 1000);  // the rotation keeps at most 5 x 50 MB; all of it came
  long rss_after = proc_status(agent_.pid(), "VmRSS");
  EXPECT_LT(rss_after - rss_before, 32 * 1024) << "berthd RSS grew from " << rss_before << " kB to " << rss_after << " kB";
  expect_serving();
}

TEST_F(HostileApi, EventsSinceOlderThanKeptIsAClearError) {
  std::string id = agent_.run(spec(rootfs_.path(), {"sleep", "1000"}));
  // Each kill request publishes an event: push the first ones out of the 10,000 kept.
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 2550; ++i) {
        auto r = agent_.request("POST", "/v1/containers/" + id + "/kill", R"({"signal": "CONT", "grace_period_s": 0})");
        if (r.status != 202) ADD_FAILURE() << r.body;
      }
    });
  }
  for (auto& t : clients) t.join();
  auto r = agent_.request("GET", "/v1/events?since=1");
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_NE(error_message(r.body).find("events after seq 1 are no longer kept: the oldest kept is seq"), std::string::npos)
      << r.body;
  // Resuming from a seq this berthd never reached (it restarted) is refused too.
  r = agent_.request("GET", "/v1/events?since=99999999");
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_NE(error_message(r.body).find("newest"), std::string::npos) << r.body;
  expect_serving();
}

}  // namespace
}  // namespace berth::testing
