#include "cgroups/task_cgroups.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "common/fs.hpp"

namespace berth::cgroups {
namespace {

// A task cannot nest cgroups deeper than this under its own (berth mounts its cgroup
// namespace read-only); the walks below refuse to go further rather than recurse.
constexpr size_t kMaxDepth = 64;
constexpr int kKillRounds = 100;
constexpr std::chrono::milliseconds kKillStep{100};

bool gone(const Error& e) { return e.sys_errno == ENOENT || e.sys_errno == ENODEV; }

std::string task_name_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Every directory below `top` (relative paths, parents before children), bounded.
Result<std::vector<std::string>> subtree(const Cgroup& top) {
  std::vector<std::pair<std::string, size_t>> stack = {{"", 0}};
  std::vector<std::string> out;
  while (!stack.empty()) {
    auto [rel, depth] = stack.back();
    stack.pop_back();
    if (!rel.empty()) out.push_back(rel);
    if (out.size() > TaskCgroupRoot::kMaxRemoveEntries)
      return make_error(Code::kFailedPrecondition, "cgroup " + top.path() + " has more than " +
                                                       std::to_string(TaskCgroupRoot::kMaxRemoveEntries) + " nested groups");
    if (depth >= kMaxDepth)
      return make_error(Code::kFailedPrecondition, "cgroup " + top.path() + " nests deeper than " + std::to_string(kMaxDepth));
    auto dir = rel.empty() ? Cgroup::open(top.path()) : Cgroup::open(top.path() + "/" + rel);
    if (!dir) {
      if (gone(dir.error())) continue;
      return std::move(dir).error();
    }
    for (const auto& c : dir->children()) stack.push_back({rel.empty() ? c : rel + "/" + c, depth + 1});
  }
  return out;
}

Status signal_every_process(const Cgroup& top, bool* any) {
  BERTH_TRY(auto rels, subtree(top));
  rels.insert(rels.begin(), std::string());
  for (const auto& rel : rels) {
    auto dir = rel.empty() ? Cgroup::open(top.path()) : Cgroup::open(top.path() + "/" + rel);
    if (!dir) continue;  // removed meanwhile
    auto pids = dir->procs();
    if (!pids) continue;
    for (pid_t p : *pids) {
      *any = true;
      ::kill(p, SIGKILL);
    }
  }
  return ok();
}

bool has_file(const Cgroup& cg, const char* name) {
  struct stat st {};
  return ::fstatat(cg.fd(), name, &st, 0) == 0;
}

}  // namespace

Result<std::shared_ptr<const TaskCgroups>> TaskCgroups::open(const std::string& unified_path) {
  auto cg = Cgroup::open(unified_path);
  if (!cg) {
    if (cg.error().sys_errno == ENOENT)
      return make_error(Code::kNotFound, "task cgroup " + unified_path + " does not exist");
    return std::move(cg).error().wrap("open task cgroup");
  }
  return std::shared_ptr<const TaskCgroups>(new TaskCgroups(task_name_of(unified_path), std::move(cg).value()));
}

const Cgroup& TaskCgroups::for_controller(std::string_view controller) const {
  (void)controller;  // one hierarchy today; issue 8 maps v1 controllers to their directories
  return unified_;
}

Status TaskCgroups::join_other_hierarchies(pid_t pid) const {
  (void)pid;
  return ok();
}

Status TaskCgroups::join_all(pid_t pid) const {
  BERTH_CHECK_CTX(unified_.add_proc(pid), "move the task into its cgroup");
  return join_other_hierarchies(pid);
}

Result<bool> TaskCgroups::populated() const { return unified_.populated(); }

Status TaskCgroups::wait_empty(std::chrono::milliseconds timeout) const { return unified_.wait_empty(timeout); }

Status TaskCgroups::freeze(std::chrono::milliseconds timeout) const {
  BERTH_CHECK(unified_.write("cgroup.freeze", "1"));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    BERTH_TRY(std::string events, unified_.read("cgroup.events"));
    if (events.find("frozen 1") != std::string::npos) return ok();
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(Code::kFailedPrecondition, "cgroup " + path() + " did not freeze in time");
    // cgroup.events has no wake-up for "frozen" we can wait on cheaply here; freezing takes
    // microseconds to a few ms, so a short poll with a deadline is bounded and cheap.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Status TaskCgroups::thaw() const { return unified_.write("cgroup.freeze", "0"); }

Status TaskCgroups::kill() const {
  if (has_file(unified_, "cgroup.kill")) return unified_.write("cgroup.kill", "1");
  // No cgroup.kill: freeze so nothing forks between listing and killing (SIGKILL still ends
  // frozen processes), kill everything listed, thaw so the kills take effect, repeat.
  bool can_freeze = has_file(unified_, "cgroup.freeze");
  for (int round = 0; round < kKillRounds; ++round) {
    if (can_freeze) (void)freeze(kKillStep);
    bool any = false;
    auto killed = signal_every_process(unified_, &any);
    if (can_freeze) (void)thaw();
    BERTH_CHECK(killed);
    // Dying takes a moment: only what is still there after that was forked meanwhile.
    if (!any || wait_empty(kKillStep)) return ok();
  }
  return make_error(Code::kInternal, "cgroup " + path() + ": processes keep appearing");
}

Result<TaskCgroupRoot> TaskCgroupRoot::open_or_create(const std::string& unified_path) {
  BERTH_TRY(Cgroup cg, Cgroup::open_or_create(unified_path));
  return TaskCgroupRoot(std::move(cg));
}

Result<std::shared_ptr<const TaskCgroups>> TaskCgroupRoot::create(const std::string& id) const {
  BERTH_TRY_CTX(Cgroup cg, unified_.create_child(id), "create task cgroup");
  return std::shared_ptr<const TaskCgroups>(new TaskCgroups(id, std::move(cg)));
}

Result<std::shared_ptr<const TaskCgroups>> TaskCgroupRoot::open(const std::string& id) const {
  auto cg = unified_.child(id);
  if (!cg) {
    if (cg.error().sys_errno == ENOENT)
      return make_error(Code::kNotFound, "task cgroup " + path_of(id) + " does not exist");
    return std::move(cg).error().wrap("open task cgroup");
  }
  return std::shared_ptr<const TaskCgroups>(new TaskCgroups(id, std::move(cg).value()));
}

Status TaskCgroupRoot::remove(const std::string& id, std::chrono::milliseconds timeout) const {
  auto task = open(id);
  if (!task) return task.error().code == Code::kNotFound ? ok() : std::move(task).error();
  const TaskCgroups& t = **task;
  auto busy = t.populated();
  if (!busy) return gone(busy.error()) ? ok() : std::move(busy).error();
  if (*busy) {
    auto killed = t.kill();
    if (!killed && !gone(killed.error())) return std::move(killed).error().wrap("remove task cgroup");
    auto empty = t.wait_empty(timeout);
    if (!empty && !gone(empty.error())) return std::move(empty).error();
  }
  // Nested groups first (deepest last in the list), then the task's own directory.
  BERTH_TRY(auto rels, subtree(t.unified()));
  for (auto it = rels.rbegin(); it != rels.rend(); ++it)
    if (::unlinkat(t.unified().fd(), it->c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return errno_error("remove cgroup " + t.path() + "/" + *it);
  if (::unlinkat(unified_.fd(), id.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return errno_error("remove cgroup " + t.path());
  return ok();
}

std::vector<std::string> TaskCgroupRoot::ids() const { return unified_.children(); }

}  // namespace berth::cgroups
