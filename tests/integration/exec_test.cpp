// berth exec (POST /v1/containers/{id}/exec): a command run inside a running task gets the
// task's confinement — its namespaces (compared by inode from the host), its cgroups (and so
// its limits), its capabilities, no_new_privs and seccomp mode — runs from the task's root,
// inherits no fd of berth's, and cannot reach berth's binaries through /proc/*/exe
// (CVE-2019-5736 class during exec). Observed from inside the exec'd process and from the host.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

class Exec : public ::testing::Test {
 protected:
  explicit Exec(const std::string& config = "") : agent_(config) {}
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }

  // A task that runs until killed (its pid 1 is `sleep`), with `extra` spec fields.
  std::string start_task(const std::string& extra = "") {
    return agent_.run(spec(rootfs_.path(), {"sh", "-c", "echo from-task > /tmp/marker; exec sleep 300"}, extra));
  }
  cli::HttpResponse exec(const std::string& id, const std::string& body) const {
    return agent_.request("POST", "/v1/containers/" + id + "/exec", body);
  }
  // The exec's reply for `cmd`, asserting it ran.
  rapidjson::Document run(const std::string& id, const std::vector<std::string>& cmd, const std::string& extra = "") {
    json::JsonWriter w;
    w.begin_object().kv_strings("cmd", cmd).end_object();
    std::string body = w.str();
    if (!extra.empty()) body.insert(body.size() - 1, ", " + extra);
    auto r = exec(id, body);
    EXPECT_EQ(r.status, 200) << r.body;
    return parse(r.status == 200 ? r.body : "{\"stdout\": \"\", \"stderr\": \"\"}");
  }
  std::string out(const std::string& id, const std::vector<std::string>& cmd, const std::string& extra = "") {
    auto d = run(id, cmd, extra);
    return d["stdout"].GetString();
  }
  pid_t task_pid(const std::string& id) { return agent_.get(id)["pid"].GetInt(); }

  Agent agent_;
  BusyboxRootfs rootfs_;
};

std::string ns_of(const std::string& proc, const std::string& ns) {
  char buf[256] = {};
  ssize_t n = ::readlink((proc + "/ns/" + ns).c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string status_fields(const std::string& status_text) {
  std::string outp;
  std::istringstream in(status_text);
  for (std::string line; std::getline(in, line);)
    for (const char* f : {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"})
      if (line.rfind(f, 0) == 0) outp += line + "\n";
  return outp;
}

TEST_F(Exec, SeesTheTasksRootHostnamePidAndEveryNamespace) {
  std::string id = start_task("\"hostname\": \"exec-box\"");
  pid_t pid = task_pid(id);
  ASSERT_TRUE(poll_until([&] { return out(id, {"cat", "/tmp/marker"}) == "from-task\n"; }, std::chrono::seconds(5)));
  EXPECT_EQ(out(id, {"hostname"}), "exec-box\n");
  EXPECT_EQ(out(id, {"sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"}), "sleep 300 ") << "pid 1 is the task";
  // Each namespace of the exec'd process is the task's, by inode (read from inside).
  std::string proc = "/proc/" + std::to_string(pid);
  for (const char* ns : {"mnt", "net", "uts", "ipc", "pid", "cgroup"}) {
    std::string mine = out(id, {"readlink", std::string("/proc/self/ns/") + ns});
    EXPECT_EQ(mine, ns_of(proc, ns) + "\n") << ns;
    EXPECT_NE(mine, ns_of("/proc/self", ns) + "\n") << ns << " is the host's";
  }
}

TEST_F(Exec, RunsInTheTasksCgroupsAndCountsAgainstItsPidsLimit) {
  std::string id = start_task("\"resources\": {\"pids\": 4}");
  // Every hierarchy's line of the exec'd process equals the task's own (same cgroup namespace).
  auto d = run(id, {"sh", "-c", "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup"});
  std::string text = d["stdout"].GetString();
  auto sep = text.find("---\n");
  ASSERT_NE(sep, std::string::npos) << text;
  EXPECT_EQ(text.substr(0, sep), text.substr(sep + 4));
  EXPECT_NE(text.find("/containers/" + id + "\n"), std::string::npos) << "not in the task's cgroups: " << text;
  // The task (1) + this shell (1) + its children: the fourth fork is refused.
  d = run(id, {"sh", "-c", "for i in 1 2 3 4 5; do sleep 2 & done; wait"});
  EXPECT_NE(std::string(d["stderr"].GetString()).find("fork"), std::string::npos) << d["stderr"].GetString();
}

TEST_F(Exec, HasTheTasksCapabilitiesNoNewPrivsAndSeccomp) {
  std::string id = start_task();
  std::string mine = status_fields(out(id, {"cat", "/proc/self/status"}));
  std::string task = status_fields(fs::read_file("/proc/" + std::to_string(task_pid(id)) + "/status").value_or(""));
  EXPECT_EQ(mine, task);
  EXPECT_NE(mine.find("Seccomp:\t2"), std::string::npos) << mine;
  EXPECT_NE(mine.find("NoNewPrivs:\t1"), std::string::npos) << mine;
}

TEST_F(Exec, APrivilegedTasksExecIsPrivilegedToo) {
  std::string id = start_task("\"security\": {\"privileged\": true}");
  std::string mine = status_fields(out(id, {"cat", "/proc/self/status"}));
  std::string task = status_fields(fs::read_file("/proc/" + std::to_string(task_pid(id)) + "/status").value_or(""));
  EXPECT_EQ(mine, task);
  EXPECT_NE(mine.find("Seccomp:\t0"), std::string::npos) << mine;
}

TEST_F(Exec, AUserSpecAppliesWithTheCapabilitiesOfThatUser) {
  std::string id = start_task();
  EXPECT_EQ(out(id, {"id"}, "\"user\": \"app\"").rfind("uid=1000(app) gid=1000(app) ", 0), 0u);
  std::string st = out(id, {"cat", "/proc/self/status"}, "\"user\": \"1000:1000\"");
  EXPECT_NE(st.find("CapEff:\t0000000000000000"), std::string::npos) << status_fields(st);
  auto r = exec(id, R"({"cmd": ["id"], "user": "nobody-here"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("nobody-here"), std::string::npos) << r.body;
}

TEST_F(Exec, RunsOnlyProgramsOfTheTasksRoot) {
  std::string id = start_task();
  // The shim's own path exists on the host, not in the task's root.
  std::string host_program = bin_dir() + "/berth-shim";
  auto r = exec(id, "{\"cmd\": [" + json_string(host_program) + "]}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("No such file"), std::string::npos) << r.body;
}

TEST_F(Exec, EnvAndWorkingDirectoryApply) {
  std::string id = start_task();
  std::string o = out(id, {"sh", "-c", "pwd; echo $EXTRA"}, R"("env": ["EXTRA=yes"], "cwd": "/tmp")");
  EXPECT_EQ(o, "/tmp\nyes\n");
}

TEST_F(Exec, ExitCodesSignalsAndTimeoutsComeBack) {
  std::string id = start_task();
  auto d = run(id, {"sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(d["exit_code"].GetInt(), 7);
  EXPECT_EQ(std::string(d["stdout"].GetString()), "out\n");
  EXPECT_EQ(std::string(d["stderr"].GetString()), "err\n");
  d = run(id, {"sleep", "60"}, "\"timeout_s\": 1");
  EXPECT_TRUE(d["timed_out"].GetBool());
  EXPECT_EQ(d["signal"].GetInt(), 9);
  auto r = exec(id, R"({"cmd": ["no-such-program"]})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("not found"), std::string::npos) << r.body;
}

TEST_F(Exec, OutputBeyondTheCapIsTruncatedAndSaidSo) {
  std::string id = start_task();
  auto d = run(id, {"sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x"});
  EXPECT_EQ(std::string(d["stdout"].GetString()).size(), 1024u * 1024u);
  EXPECT_TRUE(d["stdout_truncated"].GetBool());
  EXPECT_EQ(d["exit_code"].GetInt(), 0);
}

TEST_F(Exec, NoFdBeyondStdioReachesTheCommand) {
  std::string id = start_task();
  // The shell's own fds, as seen by itself (not the last command, which ash would exec in
  // its place): a leaked one would name berth's files, pipes or directories.
  EXPECT_EQ(out(id, {"sh", "-c", "ls /proc/$$/fd; true"}), "0\n1\n2\n");
  // CVE-2024-21626: a working directory through /proc/self/fd/N reaches nothing of the host.
  for (int n = 3; n < 16; ++n) {
    auto r = exec(id, R"({"cmd": ["pwd"], "cwd": "/proc/self/fd/)" + std::to_string(n) + "\"}");
    if (r.status == 200) EXPECT_EQ(parse(r.body)["stdout"].GetString(), std::string("/proc/self/fd/") + std::to_string(n) + "\n");
    else EXPECT_EQ(r.status, 400) << r.body;
  }
}

TEST_F(Exec, RefusesUnknownStoppedTasksAndBadInput) {
  EXPECT_EQ(exec("no-such-task", R"({"cmd": ["true"]})").status, 404);
  std::string id = start_task();
  EXPECT_EQ(exec(id, R"({"cmd": []})").status, 400);
  EXPECT_EQ(exec(id, R"({"cmd": ["true"], "cwd": "relative"})").status, 400);
  EXPECT_EQ(exec(id, R"({"cmd": ["true"], "env": ["NOEQUALS"]})").status, 400);
  EXPECT_EQ(exec(id, R"({"cmd": ["true"], "bogus": 1})").status, 400);
  EXPECT_EQ(exec(id, R"({"cmd": ["true"], "timeout_s": 0})").status, 400);
  agent_.request("POST", "/v1/containers/" + id + "/kill", "{\"signal\": \"KILL\"}");
  agent_.wait(id);
  auto r = exec(id, R"({"cmd": ["true"]})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("not running"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// A task in a user namespace of its own (opt-in): the exec joins it too, so its root is the
// task's range root, never the host's.
class ExecUserNamespace : public Exec {
 protected:
  ExecUserNamespace() : Exec(R"("userns": {"default": true, "pool": "3100000000-3100131071", "range_size": 65536})") {}
};

TEST_F(ExecUserNamespace, JoinsTheTasksUserNamespaceAndItsIdMaps) {
  std::string id = start_task();
  std::string proc = "/proc/" + std::to_string(task_pid(id));
  EXPECT_EQ(out(id, {"readlink", "/proc/self/ns/user"}), ns_of(proc, "user") + "\n");
  EXPECT_EQ(out(id, {"cat", "/proc/self/uid_map"}), fs::read_file(proc + "/uid_map").value_or("?"));
  EXPECT_EQ(out(id, {"id", "-u"}), "0\n");
  EXPECT_EQ(status_fields(out(id, {"cat", "/proc/self/status"})), status_fields(fs::read_file(proc + "/status").value_or("")));
  EXPECT_EQ(out(id, {"id", "-u"}, "\"user\": \"app\""), "1000\n");
}

}  // namespace
}  // namespace berth::testing
