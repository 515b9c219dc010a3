#include "isolators/disk/disk_isolator.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "cgroups/pressure.hpp"
#include "cgroups/stats.hpp"
#include "common/clock.hpp"
#include "sandbox/layout.hpp"

namespace berth::isolators {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

std::optional<uint64_t> limit_of(const Resources& r) {
  if (!r.disk_mb) return std::nullopt;
  return *r.disk_mb * kMiB;
}

}  // namespace

Result<DiskUsage> disk_usage(const std::string& dir, const fs::WalkBudget& budget) {
  DiskUsage u;
  BERTH_TRY(fs::WalkTotals t, fs::walk_tree_at(AT_FDCWD, dir, budget, [&u](const struct stat& st) {
    u.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }));
  u.entries = t.entries;
  u.stop = t.stop;
  u.stop_reason = t.stop_reason(budget);
  return u;
}

DiskIsolator::DiskIsolator(int64_t check_every_ns, fs::WalkBudget budget)
    : every_ms_(check_every_ns / 1'000'000), budget_(budget) {
  budget_.cancel = &cancel_walk_;
  worker_ = std::thread([this] { run_worker(); });
}

DiskIsolator::~DiskIsolator() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    cancel_walk_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

DiskUsage DiskIsolator::measure(const std::string& sandbox_dir) {
  DiskUsage total;
  sandbox::SandboxLayout layout(sandbox_dir);
  for (const std::string& dir : {layout.work_path(), layout.overlay_upper_path()}) {
    auto u = disk_usage(dir, budget_);
    if (!u) {
      // Unreadable: say so as a stop, keep what was counted.
      total.stop = fs::WalkStop::kCancelled;
      total.stop_reason = u.error().message;
      return total;
    }
    total.bytes += u->bytes;
    total.entries += u->entries;
    if (u->stop != fs::WalkStop::kComplete) {
      total.stop = u->stop;
      total.stop_reason = u->stop_reason;
      return total;
    }
  }
  return total;
}

void DiskIsolator::run_worker() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
    int64_t now = monotonic_ms();
    int64_t next_due = kNever;  // the earliest due time; the task that has it is picked
    auto pick = targets_.end();
    for (auto it = targets_.begin(); it != targets_.end(); ++it) {
      const Target& t = it->second;
      int64_t due = t.requested ? 0 : t.periodic ? t.measured_at_ms + every_ms_ : kNever;
      if (due < next_due) {
        next_due = due;
        pick = it;
      }
    }
    if (next_due > now) {
      if (next_due == kNever) wake_.wait(lk);
      else wake_.wait_for(lk, std::chrono::milliseconds(next_due - now));
      continue;
    }
    ContainerId id = pick->first;
    std::string dir = pick->second.sandbox_dir;
    pick->second.requested = false;
    walking_ = id;
    cancel_walk_ = false;
    lk.unlock();
    DiskUsage u = measure(dir);
    lk.lock();
    walking_.clear();
    auto it = targets_.find(id);
    if (it == targets_.end() || u.stop == fs::WalkStop::kCancelled) continue;  // cleaned up meanwhile
    it->second.measured_at_ms = monotonic_ms();
    it->second.last = std::move(u);
  }
}

void DiskIsolator::set_target(const ContainerId& id, const std::string& sandbox_dir, const State& s) {
  {
    std::lock_guard lk(mu_);
    Target& t = targets_[id];
    if (!sandbox_dir.empty()) t.sandbox_dir = sandbox_dir;
    t.periodic = s.running && s.limit_bytes.has_value();
  }
  wake_.notify_all();
}

std::optional<DiskUsage> DiskIsolator::last_of(const ContainerId& id, bool request) {
  std::optional<DiskUsage> out;
  {
    std::lock_guard lk(mu_);
    auto it = targets_.find(id);
    if (it == targets_.end()) return std::nullopt;
    out = it->second.last;
    if (request) it->second.requested = true;
  }
  if (request) wake_.notify_all();
  return out;
}

Status DiskIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) {
    State& st = tasks_[s.id] = State{s.spec.cgroups, limit_of(s.spec.resources)};
    st.running = true;
    set_target(s.id, s.spec.sandbox_dir, st);
  }
  return ok();
}

Result<LaunchAdditions> DiskIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  State& st = tasks_[id] = State{spec.cgroups, limit_of(spec.resources)};
  set_target(id, spec.sandbox_dir, st);
  return LaunchAdditions{};
}

Status DiskIsolator::isolate(const ContainerId& id, pid_t, int64_t) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  it->second.running = true;
  set_target(id, "", it->second);
  return ok();
}

Status DiskIsolator::check_update(const ContainerId& id, const Resources&) {
  if (!tasks_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
  return ok();
}

Result<Undo> DiskIsolator::update(const ContainerId& id, const Resources& r) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  if (!r.disk_mb) return no_undo();
  State before = it->second;
  it->second.limit_bytes = limit_of(r);
  it->second.reported = false;
  set_target(id, "", it->second);
  return Undo([this, id, before]() -> Status {
    auto again = tasks_.find(id);
    if (again == tasks_.end()) return ok();
    again->second = before;
    set_target(id, "", before);
    return ok();
  });
}

Result<Usage> DiskIsolator::usage(const ContainerId& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  Usage u;
  // The last measurement, and a fresh one asked for: never a walk here.
  if (auto last = last_of(id, true)) u.disk_used_bytes = last->bytes;
  u.disk_limit_bytes = it->second.limit_bytes;
  if (it->second.cgroups) {
    const cgroups::Cgroup& cg = it->second.cgroups->unified();  // PSI: a v2 core file
    BERTH_CHECK(cgroups::read_optional(u.cgroup.io_pressure, cgroups::pressure::read(cg, cgroups::pressure::Resource::kIo)));
  }
  return u;
}

Status DiskIsolator::cleanup(const ContainerId& id) {
  tasks_.erase(id);
  std::lock_guard lk(mu_);
  targets_.erase(id);
  if (walking_ == id) cancel_walk_ = true;
  return ok();
}

std::vector<ContainerLimitation> DiskIsolator::tick(int64_t) {
  std::vector<ContainerLimitation> out;
  for (auto& [id, s] : tasks_) {
    if (!s.limit_bytes || !s.running || s.reported) continue;
    auto last = last_of(id, false);
    if (!last) continue;
    if (last->bytes > *s.limit_bytes) {
      s.reported = true;
      out.push_back({id, Limitation{"disk", "disk_limit", true,
                                    "the task wrote " + std::to_string(last->bytes / kMiB) +
                                        " MiB to its sandbox and writable layer, over disk_mb " +
                                        std::to_string(*s.limit_bytes / kMiB)}});
    } else if (last->stop != fs::WalkStop::kComplete && !s.unmeasured_reported) {
      s.unmeasured_reported = true;
      out.push_back({id, Limitation{"disk", "disk_unmeasured", false,
                                    "disk usage of the sandbox and writable layer not fully measured (" +
                                        last->stop_reason + "); at least " + std::to_string(last->bytes / kMiB) +
                                        " MiB"}});
    }
  }
  return out;
}

}  // namespace berth::isolators
