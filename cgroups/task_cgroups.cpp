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
    auto dir = rel.empty() ? Cgroup::open(top.path(), top.kind()) : Cgroup::open(top.path() + "/" + rel, top.kind());
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
    auto dir = rel.empty() ? Cgroup::open(top.path(), top.kind()) : Cgroup::open(top.path() + "/" + rel, top.kind());
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

std::string spec_of(const std::set<std::string>& controllers, const std::string& path) {
  std::string names;
  for (const auto& c : controllers) names += (names.empty() ? "" : ",") + c;
  return names + ":" + path;
}

}  // namespace

std::string V1Dir::spec() const { return spec_of(controllers, cg.path()); }

Result<std::pair<std::set<std::string>, std::string>> parse_v1_spec(const std::string& spec) {
  auto colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= spec.size() || spec[colon + 1] != '/')
    return make_error(Code::kInvalidArgument, "malformed v1 cgroup '" + spec + "' (expected ctrl,ctrl:/path)");
  std::set<std::string> controllers;
  std::istringstream in(spec.substr(0, colon));
  std::string c;
  while (std::getline(in, c, ',')) if (!c.empty()) controllers.insert(c);
  return std::make_pair(std::move(controllers), spec.substr(colon + 1));
}

Result<std::shared_ptr<const TaskCgroups>> TaskCgroups::open(const std::string& unified_path,
                                                             const std::vector<std::string>& v1_specs) {
  auto cg = Cgroup::open(unified_path);
  if (!cg) {
    if (cg.error().sys_errno == ENOENT)
      return make_error(Code::kNotFound, "task cgroup " + unified_path + " does not exist");
    return std::move(cg).error().wrap("open task cgroup");
  }
  std::vector<V1Dir> v1;
  for (const auto& spec : v1_specs) {
    BERTH_TRY(auto parsed, parse_v1_spec(spec));
    auto dir = Cgroup::open(parsed.second, Kind::kV1);
    if (!dir) {
      if (dir.error().sys_errno == ENOENT) continue;
      return std::move(dir).error().wrap("open task cgroup");
    }
    v1.push_back(V1Dir{std::move(parsed.first), std::move(dir).value()});
  }
  return std::shared_ptr<const TaskCgroups>(
      new TaskCgroups(task_name_of(unified_path), std::move(cg).value(), std::move(v1)));
}

const Cgroup& TaskCgroups::for_controller(std::string_view controller) const {
  for (const auto& d : v1_)
    if (d.controllers.count(std::string(controller))) return d.cg;
  return unified_;
}

std::vector<std::string> TaskCgroups::v1_specs() const {
  std::vector<std::string> out;
  for (const auto& d : v1_) out.push_back(d.spec());
  return out;
}

const Cgroup* TaskCgroups::freezer() const {
  for (const auto& d : v1_)
    if (d.controllers.count("freezer")) return &d.cg;
  return nullptr;
}

Status TaskCgroups::join_other_hierarchies(pid_t pid) const {
  for (const auto& d : v1_) BERTH_CHECK_CTX(d.cg.add_proc(pid), "move the task into its cgroup");
  return ok();
}

Status TaskCgroups::join_all(pid_t pid) const {
  BERTH_CHECK_CTX(unified_.add_proc(pid), "move the task into its cgroup");
  return join_other_hierarchies(pid);
}

Result<bool> TaskCgroups::populated() const { return unified_.populated(); }

Status TaskCgroups::wait_empty(std::chrono::milliseconds timeout) const { return unified_.wait_empty(timeout); }

Status TaskCgroups::freeze(std::chrono::milliseconds timeout) const {
  const Cgroup* v1 = unified_.has_file("cgroup.freeze") ? nullptr : freezer();
  if (v1) {
    BERTH_CHECK(v1->write("freezer.state", "FROZEN"));
  } else {
    BERTH_CHECK(unified_.write("cgroup.freeze", "1"));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (v1) {
      BERTH_TRY(std::string state, v1->read("freezer.state"));
      if (state.rfind("FROZEN", 0) == 0) return ok();
    } else {
      BERTH_TRY(std::string events, unified_.read("cgroup.events"));
      if (events.find("frozen 1") != std::string::npos) return ok();
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(Code::kFailedPrecondition, "cgroup " + path() + " did not freeze in time");
    // Neither file has a wake-up for "frozen" we can wait on cheaply here; freezing takes
    // microseconds to a few ms, so a short poll with a deadline is bounded and cheap.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Status TaskCgroups::thaw() const {
  if (!unified_.has_file("cgroup.freeze"))
    if (const Cgroup* v1 = freezer()) return v1->write("freezer.state", "THAWED");
  return unified_.write("cgroup.freeze", "0");
}

Status TaskCgroups::kill() const {
  if (unified_.has_file("cgroup.kill")) return unified_.write("cgroup.kill", "1");
  // No cgroup.kill: freeze so nothing forks between listing and killing (SIGKILL still ends
  // frozen processes), kill everything listed in every hierarchy, thaw so the kills take
  // effect, repeat.
  bool can_freeze = unified_.has_file("cgroup.freeze") || freezer();
  for (int round = 0; round < kKillRounds; ++round) {
    if (can_freeze) (void)freeze(kKillStep);
    bool any = false;
    auto killed = signal_every_process(unified_, &any);
    for (const auto& d : v1_)
      if (killed) killed = signal_every_process(d.cg, &any);
    if (can_freeze) (void)thaw();
    BERTH_CHECK(killed);
    // Dying takes a moment: only what is still there after that was forked meanwhile.
    if (!any || wait_empty(kKillStep)) return ok();
  }
  return make_error(Code::kInternal, "cgroup " + path() + ": processes keep appearing");
}

Result<TaskCgroupRoot> TaskCgroupRoot::open_or_create(const std::string& unified_path) {
  BERTH_TRY(Cgroup cg, Cgroup::open_or_create(unified_path));
  return TaskCgroupRoot(std::move(cg), {});
}

std::vector<std::string> TaskCgroupRoot::v1_specs_of(const std::string& id) const {
  std::vector<std::string> out;
  for (const auto& d : v1_) out.push_back(spec_of(d.controllers, d.cg.path() + "/" + id));
  return out;
}

Result<std::shared_ptr<const TaskCgroups>> TaskCgroupRoot::create(const std::string& id) const {
  BERTH_TRY_CTX(Cgroup cg, unified_.create_child(id), "create task cgroup");
  std::vector<V1Dir> v1;
  for (const auto& d : v1_) {
    auto child = d.cg.create_child(id);
    if (!child) {
      (void)remove(id, kKillStep);
      return std::move(child).error().wrap("create task cgroup");
    }
    v1.push_back(V1Dir{d.controllers, std::move(child).value()});
  }
  return std::shared_ptr<const TaskCgroups>(new TaskCgroups(id, std::move(cg), std::move(v1)));
}

Result<std::shared_ptr<const TaskCgroups>> TaskCgroupRoot::open(const std::string& id) const {
  auto cg = unified_.child(id);
  if (!cg) {
    if (cg.error().sys_errno == ENOENT)
      return make_error(Code::kNotFound, "task cgroup " + path_of(id) + " does not exist");
    return std::move(cg).error().wrap("open task cgroup");
  }
  std::vector<V1Dir> v1;
  for (const auto& d : v1_) {
    auto child = d.cg.child(id);
    if (!child) {
      if (child.error().sys_errno == ENOENT) continue;
      return std::move(child).error().wrap("open task cgroup");
    }
    v1.push_back(V1Dir{d.controllers, std::move(child).value()});
  }
  return std::shared_ptr<const TaskCgroups>(new TaskCgroups(id, std::move(cg).value(), std::move(v1)));
}

// Nested groups first (deepest last in the list), then the task's own directory. A v1 group
// may still list a process for a moment after the unified one is empty (it leaves each
// hierarchy in turn as it exits): EBUSY is retried until `timeout`.
Status TaskCgroupRoot::remove_dir(const Cgroup& parent, const std::string& id,
                                  std::chrono::milliseconds timeout) const {
  auto dir = parent.child(id);
  if (!dir) return gone(dir.error()) ? ok() : std::move(dir).error();
  BERTH_TRY(auto rels, subtree(*dir));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto rmdir_at = [&](int at, const std::string& name, const std::string& shown) -> Status {
    for (;;) {
      if (::unlinkat(at, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return ok();
      if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline) return errno_error("remove cgroup " + shown);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  for (auto it = rels.rbegin(); it != rels.rend(); ++it)
    BERTH_CHECK(rmdir_at(dir->fd(), *it, dir->path() + "/" + *it));
  return rmdir_at(parent.fd(), id, dir->path());
}

Status TaskCgroupRoot::remove(const std::string& id, std::chrono::milliseconds timeout) const {
  auto task = open(id);
  if (!task) {
    if (task.error().code != Code::kNotFound) return std::move(task).error();
  } else {
    const TaskCgroups& t = **task;
    auto busy = t.populated();
    if (!busy) return gone(busy.error()) ? ok() : std::move(busy).error();
    if (*busy) {
      auto killed = t.kill();
      if (!killed && !gone(killed.error())) return std::move(killed).error().wrap("remove task cgroup");
      auto empty = t.wait_empty(timeout);
      if (!empty && !gone(empty.error())) return std::move(empty).error();
    }
  }
  // Every hierarchy, also where the unified directory is already gone (an interrupted remove).
  Status first = ok();
  for (const auto& d : v1_) {
    auto st = remove_dir(d.cg, id, timeout);
    if (!st && first) first = std::move(st);
  }
  auto st = remove_dir(unified_, id, timeout);
  if (!st && first) first = std::move(st);
  return first;
}

std::vector<std::string> TaskCgroupRoot::ids() const {
  std::set<std::string> all;
  for (auto& c : unified_.children()) all.insert(std::move(c));
  for (const auto& d : v1_)
    for (auto& c : d.cg.children()) all.insert(std::move(c));
  return {all.begin(), all.end()};
}

}  // namespace berth::cgroups
