#include "tests/integration/harness.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cgroups/cgroup.hpp"
#include "cgroups/hierarchies.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"

namespace berth::testing {
namespace {

// Orphaned shims (after a berthd kill -9) are re-parented to us rather than to a pid 1 that
// may not reap: the test process cleans up after itself.
const int kSubreaper = ::prctl(PR_SET_CHILD_SUBREAPER, 1);

void must(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "harness: %s\n", what.c_str());
    std::abort();
  }
}

}  // namespace

std::string bin_dir() {
  const char* d = std::getenv("BERTH_BIN_DIR");
  return d ? d : "build";
}

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  must(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  return tmpl;
}

BusyboxRootfs::BusyboxRootfs() {
  (void)kSubreaper;
  path_ = make_temp_dir("berth-rootfs");
  ::chmod(path_.c_str(), 0755);
  for (const char* d : {"bin", "etc", "tmp", "proc", "sys", "dev", "mnt", "root", "home/app"})
    must(fs::mkdir_p(path_ + "/" + d).has_value(), "mkdir rootfs");
  ::chmod((path_ + "/tmp").c_str(), 01777);
  ::chown((path_ + "/home/app").c_str(), 1000, 1000);
  auto busybox = fs::read_file("/bin/busybox");
  must(busybox.has_value(), "read /bin/busybox (install busybox-static)");
  must(fs::write_file_atomic(path_ + "/bin/busybox", *busybox, 0755).has_value(), "write busybox");
  FILE* p = ::popen("/bin/busybox --list", "r");
  must(p != nullptr, "busybox --list");
  char line[256];
  while (std::fgets(line, sizeof(line), p)) {
    std::string name(line);
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    if (name.empty() || name == "busybox" || name.find('/') != std::string::npos) continue;
    (void)::symlink("busybox", (path_ + "/bin/" + name).c_str());
  }
  ::pclose(p);
  must(fs::write_file_atomic(path_ + "/etc/passwd",
                             "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
           .has_value(),
       "passwd");
  must(fs::write_file_atomic(path_ + "/etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app\n").has_value(), "group");
}

BusyboxRootfs::~BusyboxRootfs() { (void)fs::remove_tree(path_); }

Agent::Agent(const std::string& extra_config, const std::string& cgroup_root) {
  root_ = make_temp_dir("berth-it");
  socket_ = root_ + "/berth.sock";
  auto mount = cgroups::find_cgroup2_mount();
  must(mount.has_value(), "no cgroup2 mount");
  cgroup_root_ = !cgroup_root.empty() ? cgroup_root : *mount + "/berth/it-" + root_.substr(root_.rfind('-') + 1);
  config_path_ = root_ + "/agent.json";
  std::string config = "{\"socket\": " + json_string(socket_) + ", \"run_dir\": " + json_string(root_ + "/run") +
                       ", \"state_dir\": " + json_string(root_ + "/state") +
                       ", \"cgroup_root\": " + json_string(cgroup_root_) +
                       ", \"shim_path\": " + json_string(bin_dir() + "/berth-shim") +
                       (extra_config.empty() ? "" : ", " + extra_config) + "}";
  must(fs::write_file_atomic(config_path_, config).has_value(), "write config");
}

Agent::~Agent() {
  if (pid_ > 0) {
    // Remove what the test left, through the API, then stop.
    auto list = request("GET", "/v1/containers");
    if (list.status == 200) {
      auto doc = parse(list.body);
      for (const auto& c : doc["containers"].GetArray())
        request("DELETE", std::string("/v1/containers/") + c["id"].GetString() + "?force=1");
    }
    stop();
  }
  for (const auto& path : cgroup_roots()) {
    auto kind = path == cgroup_root_ ? cgroups::Kind::kV2 : cgroups::Kind::kV1;
    if (auto root = cgroups::Cgroup::open(path.substr(0, path.rfind('/')), kind)) {
      (void)root->remove_child(path.substr(path.rfind('/') + 1), std::chrono::seconds(5));
      // The shared parent goes too once no other agent uses it.
      ::rmdir(root->path().c_str());
    }
  }
  reap_children();
  (void)fs::remove_tree(root_);
}

std::vector<std::string> Agent::cgroup_roots() const {
  std::vector<std::string> out = {cgroup_root_};
  auto mount = cgroups::find_cgroup2_mount();
  auto found = cgroups::discover_hierarchies();
  if (!mount || !found || cgroup_root_.rfind(*mount, 0) != 0) return out;
  std::string rel = cgroup_root_.substr(mount->size());
  for (const auto& h : found->v1) out.push_back(h.mount + rel);
  return out;
}

std::vector<std::string> Agent::leftover_task_cgroups() const {
  std::vector<std::string> out;
  for (const auto& root : cgroup_roots()) {
    auto names = fs::list_dir(root + "/containers");
    if (!names) continue;
    for (const auto& n : *names) {
      struct stat st {};
      if (::stat((root + "/containers/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        out.push_back(root + "/containers/" + n);
    }
  }
  return out;
}

Status Agent::start() {
  std::string berthd = bin_dir() + "/berthd";
  std::string log = root_ + "/berthd.log";
  pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork");
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (!start_cgroup_.empty()) {
      int procs = ::open((start_cgroup_ + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (procs < 0 || ::write(procs, "0", 1) != 1) ::_exit(126);
    }
    if (!start_netns_.empty()) {
      int ns = ::open(start_netns_.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) ::_exit(125);
    }
    if (!hide_mount_.empty()) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0 ||
          ::mount("berth-test-cover", hide_mount_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k") != 0)
        ::_exit(124);
    }
    ::execl(berthd.c_str(), berthd.c_str(), "--config", config_path_.c_str(), "--debug", (char*)nullptr);
    ::_exit(127);
  }
  pid_ = pid;
  // 30 s: a sanitizer build, or the VM under qemu TCG on a busy host, can take seconds to
  // start; a healthy berthd answers in milliseconds and ends the wait then.
  for (int i = 0; i < 1200; ++i) {
    auto r = client().request("GET", "/v1/info");
    if (r && r->status == 200) return ok();
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return make_error(Code::kUnavailable, "berthd exited at startup: " + log_text());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return make_error(Code::kUnavailable, "berthd did not answer within 30 s: " + log_text());
}

void Agent::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  // A clean stop exits 0. Anything else is a crash, or a sanitizer's finding in a sanitizer
  // build (its report is in the log, which goes with the agent's dir).
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string log = log_text();
    ADD_FAILURE() << "berthd did not stop cleanly on SIGTERM ("
                  << (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                        : std::string("signal ") + strsignal(WTERMSIG(status)))
                  << "); the end of its log:\n" << log.substr(log.size() > 8000 ? log.size() - 8000 : 0);
  }
}

void Agent::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

cli::HttpResponse Agent::request(const std::string& method, const std::string& target, const std::string& body) const {
  auto r = client().request(method, target, body);
  if (!r) return cli::HttpResponse{0, r.error().message};
  return *r;
}

cli::HttpResponse Agent::launch(const std::string& spec_json) const {
  return request("POST", "/v1/containers", spec_json);
}

rapidjson::Document Agent::wait(const std::string& id) const {
  auto r = request("GET", "/v1/containers/" + id + "/wait?timeout_s=60");
  if (r.status != 200) throw std::runtime_error("wait " + id + ": HTTP " + std::to_string(r.status) + " " + r.body);
  return parse(r.body);
}

std::string Agent::run(const std::string& spec_json) const {
  auto r = launch(spec_json);
  if (r.status != 201) throw std::runtime_error("launch: HTTP " + std::to_string(r.status) + " " + r.body);
  auto doc = parse(r.body);
  return doc["id"].GetString();
}

rapidjson::Document Agent::get(const std::string& id) const {
  auto r = request("GET", "/v1/containers/" + id);
  if (r.status != 200) throw std::runtime_error("get " + id + ": HTTP " + std::to_string(r.status) + " " + r.body);
  return parse(r.body);
}

std::string Agent::logs(const std::string& id, const std::string& query) const {
  return request("GET", "/v1/containers/" + id + "/logs" + query).body;
}

Result<long> Agent::stream_lines(const std::string& method, const std::string& target, const std::string& body,
                                 const std::function<bool(const std::string& line)>& on_line) const {
  std::string buf;
  return client().stream(method, target, body, [&](std::string_view d) {
    buf.append(d);
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!on_line(line)) return false;
    }
    return true;
  });
}

std::string Agent::log_text() const { return fs::read_file(root_ + "/berthd.log").value_or(""); }

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  if (doc.HasParseError()) doc.SetObject();
  return doc;
}

std::string json_string(const std::string& s) {
  json::JsonWriter w;
  w.value(s);
  return w.str();
}

std::string spec(const std::string& rootfs, const std::vector<std::string>& command, const std::string& extra) {
  json::JsonWriter w;
  w.begin_object().kv("rootfs", rootfs).kv_strings("command", command).end_object();
  std::string s = w.str();
  if (!extra.empty()) s.insert(s.size() - 1, ", " + extra);
  return s;
}

std::vector<std::string> entries(const std::string& dir) { return fs::list_dir(dir).value_or({}); }

std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : entries(dir)) {
    struct stat st {};
    if (::lstat((dir + "/" + e).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(e);
  }
  return out;
}

std::vector<pid_t> children_of(pid_t ppid) {
  std::vector<pid_t> out;
  for (const auto& name : entries("/proc")) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = fs::read_file("/proc/" + name + "/stat");
    if (!stat) continue;
    auto close = stat->rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream in(stat->substr(close + 2));
    std::string state;
    long parent = 0;
    in >> state >> parent;
    if (parent == ppid && state != "Z") out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

bool process_alive(pid_t pid) {
  auto stat = fs::read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  auto close = stat->rfind(')');
  return close != std::string::npos && stat->size() > close + 2 && (*stat)[close + 2] != 'Z';
}

void reap_children() {
  int status;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

}  // namespace berth::testing
