// Integration-test harness: a busybox-static root filesystem built in a temp dir, and a real
// berthd started on its own socket, run dir, state dir and cgroup subtree, so tests run side
// by side and talk to it like a scheduler would. Everything a harness creates it removes
// (tasks, dirs, cgroups, processes by pid). Needs root.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#define RAPIDJSON_HAS_STDSTRING 1
#include <rapidjson/document.h>

#include "cli/client.hpp"
#include "common/result.hpp"

namespace berth::testing {

std::string bin_dir();  // $BERTH_BIN_DIR or ./build
std::string make_temp_dir(const std::string& prefix);

// /bin/busybox plus a symlink per applet, /etc/passwd with root and "app" (1000), /etc/group.
class BusyboxRootfs {
 public:
  BusyboxRootfs();
  ~BusyboxRootfs();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Agent {
 public:
  // `cgroup_root`: berth's cgroup subtree (default: a fresh one under <cgroup2>/berth/).
  explicit Agent(const std::string& extra_config = "", const std::string& cgroup_root = "");
  ~Agent();

  Status start();
  // berthd starts as a member of this cgroup (as under a systemd unit) instead of ours.
  void start_in_cgroup(const std::string& path) { start_cgroup_ = path; }
  // berthd starts in this network namespace (a /run/netns/<name> path; setns(2) before exec,
  // as `nsenter --net=PATH` does, leaving the mounts alone) instead of ours.
  void start_in_netns(const std::string& path) { start_netns_ = path; }
  // berthd starts in a mount namespace of its own in which an empty tmpfs covers `path` (a
  // cgroup v1 hierarchy, say), so it finds the host without it. The machine's mounts are
  // untouched: the cover exists only in that namespace (propagation from it is off).
  void start_hiding_mount(const std::string& path) { hide_mount_ = path; }
  void stop();     // SIGTERM, wait
  void kill9();    // SIGKILL, wait: the tasks keep running
  pid_t pid() const { return pid_; }

  cli::Client client() const { return cli::Client(socket_); }
  // The API's reply, asserting nothing: tests check status and body themselves.
  cli::HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "") const;
  // POST /v1/containers; returns the container JSON (or the error body).
  cli::HttpResponse launch(const std::string& spec_json) const;
  // These throw (failing the test, not the binary) when the API says no.
  std::string run(const std::string& spec_json) const;     // launch; the new id
  rapidjson::Document get(const std::string& id) const;     // the container
  rapidjson::Document wait(const std::string& id) const;    // the termination record
  std::string logs(const std::string& id, const std::string& query = "") const;
  // Streams a JSON-lines response (events, pull progress) one whole line at a time;
  // on_line returns false to stop reading.
  Result<long> stream_lines(const std::string& method, const std::string& target, const std::string& body,
                            const std::function<bool(const std::string& line)>& on_line) const;

  const std::string& root() const { return root_; }
  const std::string& socket() const { return socket_; }
  std::string run_dir() const { return root_ + "/run"; }
  std::string state_dir() const { return root_ + "/state"; }
  const std::string& cgroup_root() const { return cgroup_root_; }
  // The same root in every hierarchy (the unified one first, then each v1 one this host has).
  std::vector<std::string> cgroup_roots() const;
  // Task directories left under <root>/containers in any hierarchy ("<root>/containers/<id>").
  std::vector<std::string> leftover_task_cgroups() const;
  std::string log_text() const;

 private:
  std::string root_;
  std::string socket_;
  std::string cgroup_root_;
  std::string config_path_;
  std::string start_cgroup_;
  std::string start_netns_;
  std::string hide_mount_;
  pid_t pid_ = -1;
};

rapidjson::Document parse(const std::string& text);
std::string spec(const std::string& rootfs, const std::vector<std::string>& command, const std::string& extra = "");
std::string json_string(const std::string& s);
// Children of a directory (empty when it does not exist).
std::vector<std::string> entries(const std::string& dir);
std::vector<std::string> subdirs(const std::string& dir);
// Processes whose parent is `ppid`.
std::vector<pid_t> children_of(pid_t ppid);
bool process_alive(pid_t pid);
// Reaps exited children of the test process (it is a subreaper, so orphaned shims land here).
void reap_children();

}  // namespace berth::testing
