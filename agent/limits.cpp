// Resources of tasks: live updates of their limits, usage next to limits, and what the node
// has allocated. (Breaches are the Supervisor's; the cgroup subtree is node_cgroups.cpp's.)
#include "agent/containers.hpp"
#include "agent/stats.hpp"
#include "common/clock.hpp"
#include "common/json.hpp"
#include "common/log.hpp"

namespace berth::agent {

Result<ContainerRecord> Containers::update(const std::string& id_or_name, const Resources& resources,
                                           const Caller& caller) {
  BERTH_CHECK(launcher_->check_resources(resources));
  auto lk = table_.lock();
  auto e = table_.find_locked(id_or_name);
  if (!e) return TaskTable::not_found(id_or_name);
  ContainerRecord& r = e->rec;
  if (r.state != State::kRunning)
    return make_error(Code::kFailedPrecondition,
                      "container '" + id_or_name + "' is not running (state " + state_name(r.state) + ")");
  BERTH_CHECK_CTX(isolators_->update(r.id, resources), "update " + r.id);
  r.spec.resources.apply(resources);
  r.spec.json = with_resources(r.spec.json, r.spec.resources);
  auto cp = table_.checkpoint_locked(r);
  if (!cp) log::error("checkpoint " + r.id + ": " + cp.error().message);
  table_.publish_locked("container.updated", r,
          "\"limits\":" + limits_json(r.spec.resources, r.spec.policy) +
              ",\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)));
  return r;
}

Result<std::string> Containers::stats(const std::string& id_or_name) const {
  BERTH_TRY(ContainerRecord rec, table_.get(id_or_name));
  if (rec.state == State::kRunning) {
    if (auto u = isolators_->usage(rec.id)) return stats_json(rec, *u);
    if (auto now = table_.get(rec.id)) rec = *now;  // it ended meanwhile: the record's counters
  }
  json::JsonWriter w;
  w.begin_object().kv("id", rec.id).kv("name", rec.name).kv("state", state_name(rec.state));
  w.key("limits").raw(limits_json(rec.spec.resources, rec.spec.policy));
  w.key("usage");
  if (rec.exit && !rec.exit->usage.empty()) w.raw(rec.exit->usage); else w.null();
  w.end_object();
  return w.str();
}

std::vector<std::string> Containers::stats_all() const {
  std::vector<std::string> out;
  for (const auto& r : list()) {
    if (r.state != State::kRunning) continue;
    if (auto u = isolators_->usage(r.id)) out.push_back(stats_json(r, *u));
  }
  return out;
}

Allocation Containers::allocated() const {
  Allocation a;
  auto lk = table_.lock();
  for (const auto& e : table_.all_locked()) {
    if (is_final(e->rec.state)) continue;
    const Resources& r = e->rec.spec.resources;
    ++a.tasks;
    a.cpus += r.cpus.value_or(0);
    a.memory_mb += r.memory_mb.value_or(0);
    a.pids += r.pids.value_or(0);
    a.disk_mb += r.disk_mb.value_or(0);
  }
  return a;
}

}  // namespace berth::agent
