// Containers: the task table and each task's life (launch → running → exited), the owner of
// every task's bundle dir, sandbox dir and cgroup.
//
// State machine: pending → pulling → preparing → running → exited, or → failed before
// running. Every transition is checkpointed (state.json, atomic) before it is published as an
// event, so a restarted berthd resumes from what was last announced; the exit itself is made
// durable by the shim's exit.json, from which a restarted berthd settles a task again.
//
// Threading: API handlers call in from many threads; the table lock guards the records and is
// never held across slow work (spawning a shim, waiting for a report, removing files). Exit
// handling and kill grace timers run on the Loop thread. `changed_` wakes waiters.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/container.hpp"
#include "agent/events.hpp"
#include "agent/images.hpp"
#include "agent/loop.hpp"
#include "cgroups/cgroup.hpp"
#include "common/unique_fd.hpp"
#include "isolators/registry.hpp"

namespace berth::agent {

struct Caller {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
};

// What running tasks are allocated, summed (for /v1/info).
struct Allocation {
  double cpus = 0;
  uint64_t memory_mb = 0;
  uint64_t pids = 0;
  uint64_t disk_mb = 0;
  size_t tasks = 0;
};

struct NodeCgroups {
  std::string mount;                 // where cgroup2 is mounted
  std::string root;                  // berth's root cgroup
  std::set<std::string> controllers;  // usable by tasks
  bool hybrid = false;               // cgroup v1 controllers mounted beside it
};

class Containers {
 public:
  // `images` may be null: tasks then run from a rootfs only.
  Containers(Config config, Loop& loop, EventBus& events, Images* images);
  ~Containers();

  // Finds the cgroup2 mount, creates berth's root, containers/ and shims/ cgroups and the
  // run/state dirs. Called once before recover().
  Status init();
  // Loads checkpoints, re-attaches to live shims, settles tasks that ended while berthd was
  // down, and removes whatever no record owns. Loop thread, before serving the API.
  Status recover();

  Result<ContainerRecord> launch(TaskSpec spec, const Caller& caller);
  Result<ContainerRecord> get(const std::string& id_or_name) const;
  std::vector<ContainerRecord> list() const;
  Result<ContainerRecord> kill(const std::string& id_or_name, int signal, uint32_t grace_s, const Caller& caller);
  // Waits until the task ended; nullopt on timeout (timeout_ms < 0: forever).
  Result<std::optional<Termination>> wait(const std::string& id_or_name, int timeout_ms) const;
  Status remove(const std::string& id_or_name, bool force, const Caller& caller);

  // Applies new limits to a running task at once (the fields given replace its own).
  Result<ContainerRecord> update(const std::string& id_or_name, const Resources& resources, const Caller& caller);
  // Usage next to limits (agent/stats.hpp): live for a running task, the termination
  // record's for one that ended. stats_all: every running task.
  Result<std::string> stats(const std::string& id_or_name) const;
  std::vector<std::string> stats_all() const;
  Allocation allocated() const;
  std::vector<std::string> isolator_names() const { return isolators_->names(); }

  const NodeCgroups& cgroups() const { return cgroups_; }
  const Config& config() const { return config_; }

 private:
  struct Entry {
    ContainerRecord rec;
    UniqueFd task_pidfd;
    uint64_t grace_timer = 0;
    // Set from settle() until termination.json is written outside the lock; remove() waits
    // for it so it never deletes a sandbox under that write.
    bool saving_record = false;
  };

  // All private helpers named *_locked expect mu_ held.
  std::shared_ptr<Entry> find_locked(const std::string& id_or_name) const;
  Status checkpoint_locked(const ContainerRecord& rec);
  void publish(const std::string& type, const ContainerRecord& rec, const std::string& extra = "");
  std::string new_id() const;

  // What the task's root is made of, once its image (if any) is resolved.
  struct Root {
    std::string lowerdir;        // overlay lowerdir: the rootfs, or image layers joined by ':'
    std::string top;             // the directory whose owner and mode "/" takes
    std::string passwd_root;     // where etc/passwd and etc/group are read for user names
    TaskSpec effective;          // the spec with the image's Entrypoint/Cmd/Env/WorkingDir/User
  };

  // Launch steps, in order (launch.cpp).
  Status check_spec(const TaskSpec& spec) const;
  Status check_resources(const Resources& r) const;
  Result<std::shared_ptr<Entry>> reserve(TaskSpec spec);
  Result<Root> resolve_root(const ContainerRecord& rec);
  Status prepare_dirs(const ContainerRecord& rec, const Root& root);
  Status write_bundle(const ContainerRecord& rec, const Root& root, const isolators::LaunchAdditions& additions);
  Result<isolators::LaunchAdditions> create_cgroup(const ContainerRecord& rec);
  Status fetch_artifacts(const ContainerRecord& rec);
  void undo_prepare(const ContainerRecord& rec);
  void set_state(Entry& e, State s);
  // Marks a launch failed (reason launch_failed) and publishes it; the record stays.
  void fail_launch(Entry& e, const std::string& message);
  isolators::ContainerSpec isolator_spec(const ContainerRecord& rec) const;

  // Limits (limits.cpp); loop thread unless noted.
  Status adopt_cgroup_tree(const cgroups::Cgroup& root);
  void start_limit_events();
  void handle_limitations(std::vector<isolators::ContainerLimitation> found);
  isolators::Usage final_usage_locked(const ContainerRecord& rec);

  // Exit handling (lifecycle.cpp); loop thread.
  void watch_shim(const std::string& id, UniqueFd shim_pidfd);
  void on_shim_exit(const std::string& id);
  void settle(Entry& e, const std::string& lost_reason);  // mu_ held
  void save_termination(const ContainerRecord& r);        // mu_ not held
  void escalate_kill(const std::string& id);
  void reap_children();

  // Recovery (recovery.cpp).
  void recover_one(ContainerRecord rec);
  void reconcile(std::vector<std::string>* removed);

  Config config_;
  Loop& loop_;
  EventBus& events_;
  Images* images_;
  NodeCgroups cgroups_;
  std::optional<cgroups::Cgroup> containers_cg_;
  std::unique_ptr<isolators::Registry> isolators_;
  std::string shims_cg_path_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Entry>> by_id_;
};

}  // namespace berth::agent
