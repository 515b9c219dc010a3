#include "isolators/registry.hpp"

#include "isolators/cpu/cpu_isolator.hpp"
#include "isolators/devices/devices_isolator.hpp"
#include "isolators/disk/disk_isolator.hpp"
#include "isolators/filesystem/sandbox_isolator.hpp"
#include "isolators/launch_additions.hpp"
#include "isolators/max_runtime/max_runtime_isolator.hpp"
#include "isolators/memory/memory_isolator.hpp"
#include "isolators/namespaces/namespaces_isolator.hpp"
#include "isolators/network/network_isolator.hpp"
#include "isolators/pids/pids_isolator.hpp"
#include "isolators/userns/userns_isolator.hpp"
#include "isolators/security/security_isolator.hpp"

namespace berth::isolators {

void Resources::apply(const Resources& u) {
  if (u.cpus) cpus = u.cpus;
  if (u.cpuset) cpuset = u.cpuset;
  if (u.memory_mb) memory_mb = u.memory_mb;
  if (u.memory_high_mb) memory_high_mb = u.memory_high_mb;
  if (u.memory_swap_mb) memory_swap_mb = u.memory_swap_mb;
  if (u.pids) pids = u.pids;
  if (u.disk_mb) disk_mb = u.disk_mb;
  network.apply(u.network);
}

void merge(Usage& into, const Usage& from) {
  auto take = [](auto& a, const auto& b) {
    if (b) a = b;
  };
  const cgroups::Stats& f = from.cgroup;
  cgroups::Stats& t = into.cgroup;
  take(t.memory_current, f.memory_current);
  take(t.memory_peak, f.memory_peak);
  take(t.memory_max, f.memory_max);
  take(t.memory_high, f.memory_high);
  take(t.memory_swap_max, f.memory_swap_max);
  take(t.memory_events, f.memory_events);
  take(t.cpu_stat, f.cpu_stat);
  take(t.cpu_max, f.cpu_max);
  take(t.cpu_weight, f.cpu_weight);
  take(t.pids_current, f.pids_current);
  take(t.pids_max, f.pids_max);
  take(t.pids_events, f.pids_events);
  take(t.cpu_pressure, f.cpu_pressure);
  take(t.memory_pressure, f.memory_pressure);
  take(t.io_pressure, f.io_pressure);
  take(into.disk_used_bytes, from.disk_used_bytes);
  take(into.disk_limit_bytes, from.disk_limit_bytes);
  take(into.runtime_s, from.runtime_s);
  take(into.max_runtime_s, from.max_runtime_s);
  take(into.network, from.network);
}

Result<std::unique_ptr<Registry>> Registry::create_default(const std::set<std::string>& controllers,
                                                           const NetworkConfig& network, const UserNamespaceConfig& userns) {
  std::vector<std::unique_ptr<Isolator>> table;
  table.push_back(std::make_unique<NamespacesIsolator>());
  BERTH_TRY_CTX(auto userns_isolator, UserNamespaceIsolator::create(userns), "security/userns");
  table.push_back(std::move(userns_isolator));
  table.push_back(std::make_unique<NetworkIsolator>(network));
  table.push_back(std::make_unique<SandboxIsolator>());
  BERTH_TRY(auto security, SecurityIsolator::create());
  table.push_back(std::move(security));
  table.push_back(std::make_unique<CpuIsolator>(controllers.count("cpu") != 0, controllers.count("cpuset") != 0));
  table.push_back(std::make_unique<MemoryIsolator>(controllers.count("memory") != 0));
  table.push_back(std::make_unique<PidsIsolator>(controllers.count("pids") != 0));
  table.push_back(std::make_unique<DiskIsolator>());
  table.push_back(std::make_unique<MaxRuntimeIsolator>());
  table.push_back(std::make_unique<DevicesIsolator>());
  return create(std::move(table));
}

Result<std::unique_ptr<Registry>> Registry::create(std::vector<std::unique_ptr<Isolator>> isolators) {
  BERTH_TRY(cgroups::EventWatcher watcher, cgroups::EventWatcher::create());
  return std::unique_ptr<Registry>(new Registry(std::move(isolators), std::move(watcher)));
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& i : isolators_) out.emplace_back(i->name());
  return out;
}

void Registry::watch_locked(const ContainerId& id, const ContainerSpec& spec) {
  if (watcher_.watching(id) || !spec.cgroups) return;
  // A cgroup without event files (gone already) is simply not watched: its end is settled
  // from the shim's exit record and the counters read then.
  (void)watcher_.watch(id, *spec.cgroups);
}

Status Registry::recover(std::span<const ContainerState> known) {
  std::lock_guard lk(mu_);
  for (auto& i : isolators_) BERTH_CHECK_CTX(i->recover(known), std::string("recover ") + std::string(i->name()));
  for (const auto& s : known) {
    known_.insert(s.id);
    if (s.spec.cgroups) confined_[s.id] = s.spec.cgroups;
    watch_locked(s.id, s.spec);
  }
  return ok();
}

// A process of the task may outlive its main one until the cgroup is killed (after cleanup):
// the rules stay until the cgroup is empty, and removing the cgroup frees them in any case.
Status Registry::release_devices_locked(const cgroups::TaskCgroups& task) {
  auto populated = task.populated();
  if (!populated || *populated) return ok();
  return cgroups::release_devices(task);
}

Status Registry::cleanup_locked(const ContainerId& id, size_t prepared) {
  watcher_.unwatch(id);
  Status first = ok();
  for (size_t n = prepared; n-- > 0;) {
    auto st = isolators_[n]->cleanup(id);
    if (!st && first) first = std::move(st).error().wrap("cleanup " + std::string(isolators_[n]->name()));
  }
  known_.erase(id);
  if (auto c = confined_.find(id); c != confined_.end()) {
    auto st = release_devices_locked(*c->second);
    if (!st && first) first = std::move(st).error().wrap("cleanup device rules");
    confined_.erase(c);
  }
  return first;
}

Result<LaunchAdditions> Registry::prepare_all_locked(const ContainerId& id, const ContainerSpec& spec,
                                                    size_t* prepared) {
  AdditionsMerger merger;
  for (size_t n = 0; n < isolators_.size(); ++n) {
    *prepared = n + 1;  // the failed one may have done part of its work: it is cleaned up too
    std::string ctx = "prepare " + std::string(isolators_[n]->name());
    BERTH_TRY_CTX(LaunchAdditions a, isolators_[n]->prepare(id, spec), ctx);
    BERTH_CHECK_CTX(merger.add(isolators_[n]->name(), a), ctx);
  }
  if (!merger.devices_from().empty()) {
    // One rule set per cgroup (one eBPF program, attached without override): the union.
    if (!spec.cgroups)
      return make_error(Code::kFailedPrecondition,
                        "isolator " + merger.devices_from() + " asks for device rules, but the task has no cgroup");
    BERTH_CHECK_CTX(cgroups::restrict_devices(*spec.cgroups, merger.merged().devices), "device rules");
    confined_[id] = spec.cgroups;
  }
  return merger.take();
}

Result<LaunchAdditions> Registry::prepare(const ContainerId& id, const ContainerSpec& spec) {
  std::lock_guard lk(mu_);
  if (known_.count(id)) return make_error(Code::kAlreadyExists, "isolators: '" + id + "' is already prepared");
  known_.insert(id);
  size_t prepared = 0;
  auto merged = prepare_all_locked(id, spec, &prepared);
  if (!merged) {
    (void)cleanup_locked(id, prepared);
    return merged;
  }
  watch_locked(id, spec);
  return merged;
}

Status Registry::ready(const ContainerId& id) {
  std::lock_guard lk(mu_);
  if (!known_.count(id)) return make_error(Code::kNotFound, "isolators: '" + id + "' is not prepared");
  for (auto& i : isolators_) BERTH_CHECK_CTX(i->ready(id), "ready " + std::string(i->name()));
  return ok();
}

Status Registry::isolate(const ContainerId& id, pid_t pid, int64_t started_at_ns) {
  std::lock_guard lk(mu_);
  for (auto& i : isolators_)
    BERTH_CHECK_CTX(i->isolate(id, pid, started_at_ns), "isolate " + std::string(i->name()));
  return ok();
}

Status Registry::update(const ContainerId& id, const Resources& resources) {
  std::lock_guard lk(mu_);
  if (!known_.count(id)) return make_error(Code::kNotFound, "isolators: '" + id + "' is not running");
  for (auto& i : isolators_) BERTH_CHECK_CTX(i->check_update(id, resources), "update " + std::string(i->name()));
  std::vector<Undo> undos;
  for (auto& i : isolators_) {
    auto applied = i->update(id, resources);
    if (applied) {
      undos.push_back(std::move(applied).value());
      continue;
    }
    Error e = std::move(applied).error().wrap("update " + std::string(i->name()));
    for (auto u = undos.rbegin(); u != undos.rend(); ++u) {
      auto undone = (*u)();
      // The task keeps a mix of old and new limits: say so, the caller cannot tell otherwise.
      if (!undone) e.message += " (and undoing an earlier isolator failed: " + undone.error().message + ")";
    }
    return e;
  }
  return ok();
}

Result<Usage> Registry::usage(const ContainerId& id) {
  std::lock_guard lk(mu_);
  if (!known_.count(id)) return make_error(Code::kNotFound, "isolators: '" + id + "' is not running");
  Usage all;
  for (auto& i : isolators_) {
    BERTH_TRY_CTX(Usage u, i->usage(id), "usage " + std::string(i->name()));
    merge(all, u);
  }
  return all;
}

Status Registry::cleanup(const ContainerId& id) {
  std::lock_guard lk(mu_);
  return cleanup_locked(id, isolators_.size());
}

std::vector<ContainerLimitation> Registry::dispatch_events() {
  std::lock_guard lk(mu_);
  std::vector<ContainerLimitation> out;
  auto changes = watcher_.read_changes();
  if (!changes) return out;
  for (const auto& c : *changes) {
    if (c.removed) continue;
    for (auto& i : isolators_)
      for (auto& l : i->on_event(c.key, c.file)) out.push_back({c.key, std::move(l)});
  }
  return out;
}

std::vector<ContainerLimitation> Registry::tick(int64_t now_ns) {
  std::lock_guard lk(mu_);
  std::vector<ContainerLimitation> out;
  for (auto& i : isolators_)
    for (auto& l : i->tick(now_ns)) out.push_back(std::move(l));
  return out;
}

}  // namespace berth::isolators
