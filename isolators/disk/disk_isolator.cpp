#include "isolators/disk/disk_isolator.hpp"

#include <ftw.h>
#include <sys/stat.h>

#include "cgroups/pressure.hpp"
#include "cgroups/stats.hpp"
#include "sandbox/layout.hpp"

namespace berth::isolators {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// nftw has no user pointer; the Registry's lock serializes callers, thread_local makes it
// safe regardless.
thread_local uint64_t t_bytes = 0;

int count(const char*, const struct stat* st, int type, struct FTW*) {
  if (type != FTW_NS) t_bytes += static_cast<uint64_t>(st->st_blocks) * 512;
  return 0;
}

std::optional<uint64_t> limit_of(const Resources& r) {
  if (!r.disk_mb) return std::nullopt;
  return *r.disk_mb * kMiB;
}

}  // namespace

Result<uint64_t> disk_usage(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return uint64_t{0};
    return errno_error("stat " + dir);
  }
  t_bytes = 0;
  if (::nftw(dir.c_str(), count, 16, FTW_PHYS | FTW_MOUNT) != 0) return errno_error("walk " + dir);
  return t_bytes;
}

Result<uint64_t> DiskIsolator::used(const State& s) const {
  sandbox::SandboxLayout layout(s.sandbox_dir);
  BERTH_TRY(uint64_t work, disk_usage(layout.work_path()));
  BERTH_TRY(uint64_t upper, disk_usage(layout.overlay_upper_path()));
  return work + upper;
}

Status DiskIsolator::recover(std::span<const ContainerState> known) {
  for (const auto& s : known) {
    State& st = tasks_[s.id] = State{s.spec.sandbox_dir, s.spec.cgroups, limit_of(s.spec.resources)};
    st.running = true;
  }
  return ok();
}

Result<LaunchAdditions> DiskIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  tasks_[id] = State{spec.sandbox_dir, spec.cgroups, limit_of(spec.resources)};
  return LaunchAdditions{};
}

Status DiskIsolator::isolate(const ContainerId& id, pid_t, int64_t) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  it->second.running = true;
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
  it->second.checked_at_ns = 0;
  return Undo([this, id, before]() -> Status {
    auto again = tasks_.find(id);
    if (again != tasks_.end()) again->second = before;
    return ok();
  });
}

Result<Usage> DiskIsolator::usage(const ContainerId& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(Code::kNotFound, "no task '" + id + "'");
  Usage u;
  BERTH_TRY(u.disk_used_bytes, used(it->second));
  u.disk_limit_bytes = it->second.limit_bytes;
  if (it->second.cgroups) {
    const cgroups::Cgroup& cg = it->second.cgroups->for_controller("io");
    BERTH_CHECK(cgroups::read_optional(u.cgroup.io_pressure, cgroups::pressure::read(cg, cgroups::pressure::Resource::kIo)));
  }
  return u;
}

Status DiskIsolator::cleanup(const ContainerId& id) {
  tasks_.erase(id);
  return ok();
}

std::vector<ContainerLimitation> DiskIsolator::tick(int64_t now_ns) {
  std::vector<ContainerLimitation> out;
  for (auto& [id, s] : tasks_) {
    if (!s.limit_bytes || !s.running || s.reported || now_ns - s.checked_at_ns < every_ns_) continue;
    s.checked_at_ns = now_ns;
    auto bytes = used(s);
    if (!bytes || *bytes <= *s.limit_bytes) continue;
    s.reported = true;
    out.push_back({id, Limitation{"disk", "disk_limit", true,
                                  "the task wrote " + std::to_string(*bytes / kMiB) + " MiB to its sandbox and writable layer, over disk_mb " +
                                      std::to_string(*s.limit_bytes / kMiB)}});
  }
  return out;
}

}  // namespace berth::isolators
