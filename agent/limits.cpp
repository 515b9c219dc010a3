// Limits of running tasks: berth's cgroup subtree and its controllers, breaches arriving on
// the loop (cgroup event files through the isolator Registry's inotify fd, and its tick for
// disk and runtime), live updates, and usage next to allocation.
#include <signal.h>
#include <unistd.h>

#include "agent/containers.hpp"
#include "agent/stats.hpp"
#include "common/clock.hpp"
#include "common/json.hpp"
#include "common/log.hpp"

namespace berth::agent {
namespace {

constexpr uint64_t kTickMs = 250;

bool is_at_or_below(const std::string& path, const std::string& dir) {
  return path == dir || path.rfind(dir + "/", 0) == 0;
}

}  // namespace

// cgroup v2's no-internal-process rule: a cgroup that hands controllers to its children
// (subtree_control) may hold no process itself (the hierarchy root excepted). berthd starts
// in some cgroup (a systemd unit's, or the root in a VM); when berth's root is at or below
// it, berthd moves itself into <root>/agent, a leaf, so every level from its old cgroup down
// to <root>/containers can delegate controllers. Levels above berthd's own cgroup belong to
// whoever manages it (systemd) and are left alone.
Status Containers::adopt_cgroup_tree(const cgroups::Cgroup& root) {
  BERTH_TRY(std::string own, cgroups::own_cgroup());
  std::string own_path = cgroups_.mount + (own == "/" ? "" : own);
  BERTH_TRY(cgroups::Cgroup containers, root.create_child("containers"));
  BERTH_TRY(cgroups::Cgroup shims, root.create_child("shims"));
  shims_cg_path_ = shims.path();
  if (own_path != cgroups_.mount && is_at_or_below(cgroups_.root, own_path)) {
    BERTH_TRY(cgroups::Cgroup agent, root.create_child("agent"));
    BERTH_CHECK_CTX(agent.add_proc(::getpid()), "move berthd out of " + own_path);
    log::info("moved berthd into " + agent.path() + " so " + own_path + " can delegate controllers");
  }
  // Each level from below the mount down to <root>/containers delegates what it has; one the
  // kernel refuses (a v1 hierarchy holds it, or processes still sit in that level) simply
  // stays unusable and /v1/info says so.
  std::vector<std::string> levels;
  for (std::string p = cgroups_.root; p.size() > cgroups_.mount.size() && is_at_or_below(p, cgroups_.mount);
       p = p.substr(0, p.rfind('/'))) {
    if (is_at_or_below(own_path, p) && own_path != p) break;  // above berthd: not ours
    levels.insert(levels.begin(), p);
  }
  for (const auto& p : levels) {
    auto cg = cgroups::Cgroup::open(p);
    if (!cg) continue;
    auto available = cg->controllers();
    if (!available) continue;
    for (const auto& c : *available) (void)cg->enable_controllers({c});
  }
  BERTH_TRY(auto available, root.controllers());
  for (const auto& c : available) {
    if (root.enable_controllers({c}).has_value()) (void)containers.enable_controllers({c});
  }
  BERTH_TRY(std::string enabled, containers.read("cgroup.subtree_control"));
  cgroups_.controllers.clear();
  for (size_t i = 0, j; i < enabled.size(); i = j + 1) {
    j = enabled.find_first_of(" \n", i);
    if (j == std::string::npos) j = enabled.size();
    if (j > i) cgroups_.controllers.insert(enabled.substr(i, j - i));
  }
  containers_cg_.emplace(std::move(containers));
  return ok();
}

void Containers::start_limit_events() {
  loop_.post([this] {
    auto watched = loop_.watch(isolators_->fd(), [this] { handle_limitations(isolators_->dispatch_events()); });
    if (!watched) log::error("watch cgroup events: " + watched.error().message);
    auto arm = std::make_shared<std::function<void()>>();
    *arm = [this, arm] {
      handle_limitations(isolators_->tick(now_ns()));
      loop_.add_timer_ms(kTickMs, *arm);
    };
    loop_.add_timer_ms(kTickMs, *arm);
  });
}

void Containers::handle_limitations(std::vector<isolators::ContainerLimitation> found) {
  for (const auto& [id, l] : found) {
    std::lock_guard lk(mu_);
    auto it = by_id_.find(id);
    // Not only running tasks: the task runs (and may fork-bomb) before its launch report has
    // marked it running, and a breach then must not be lost.
    if (it == by_id_.end() || is_final(it->second->rec.state)) continue;
    ContainerRecord& r = it->second->rec;
    if (l.fatal) {
      log::info("container " + id + " breached its " + l.resource + " limit; killing it: " + l.message);
      if (r.limit_reason.empty()) {
        r.limit_reason = l.reason;
        r.limit_message = l.message;
        auto cp = checkpoint_locked(r);
        if (!cp) log::error("checkpoint " + id + ": " + cp.error().message);
      }
      auto cg = cgroups::Cgroup::open(r.cgroup);
      auto killed = cg ? cg->kill() : Status(cg.error());
      if (!killed) log::error("kill container " + id + ": " + killed.error().message);
    } else {
      log::info("container " + id + ": " + l.message);
    }
    json::JsonWriter w;
    w.begin_object().kv("resource", l.resource).kv("reason", l.reason).kv("fatal", l.fatal)
        .kv("message", l.message).end_object();
    std::string fields = w.str();
    publish("container.limit", r, fields.substr(1, fields.size() - 2));
  }
}

isolators::ContainerSpec Containers::isolator_spec(const ContainerRecord& rec) const {
  isolators::ContainerSpec s;
  s.resources = rec.spec.resources;
  s.policy = rec.spec.policy;
  if (auto task = cgroups::TaskCgroups::open(rec.cgroup)) s.cgroups = std::move(task).value();
  s.sandbox_dir = rec.sandbox_dir;
  for (const auto& v : rec.spec.volumes) s.volumes.push_back({v.host_path, v.container_path, v.read_only});
  return s;
}

// Usage at the end: through the isolators while they still know the task, else straight
// from the cgroup (a task settled at startup), else nothing.
isolators::Usage Containers::final_usage_locked(const ContainerRecord& rec) {
  if (auto u = isolators_->usage(rec.id)) return *u;
  isolators::Usage u;
  if (auto cg = cgroups::Cgroup::open(rec.cgroup)) {
    if (auto s = cgroups::snapshot(*cg)) u.cgroup = *s;
  }
  return u;
}

Result<ContainerRecord> Containers::update(const std::string& id_or_name, const Resources& resources,
                                           const Caller& caller) {
  BERTH_CHECK(check_resources(resources));
  std::lock_guard lk(mu_);
  auto e = find_locked(id_or_name);
  if (!e) return make_error(Code::kNotFound, "no container '" + id_or_name + "'");
  ContainerRecord& r = e->rec;
  if (r.state != State::kRunning)
    return make_error(Code::kFailedPrecondition,
                      "container '" + id_or_name + "' is not running (state " + state_name(r.state) + ")");
  BERTH_CHECK_CTX(isolators_->update(r.id, resources), "update " + r.id);
  r.spec.resources.apply(resources);
  r.spec.json = with_resources(r.spec.json, r.spec.resources);
  auto cp = checkpoint_locked(r);
  if (!cp) log::error("checkpoint " + r.id + ": " + cp.error().message);
  publish("container.updated", r,
          "\"limits\":" + limits_json(r.spec.resources, r.spec.policy) +
              ",\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)));
  return r;
}

Result<std::string> Containers::stats(const std::string& id_or_name) const {
  ContainerRecord rec;
  {
    std::lock_guard lk(mu_);
    auto e = find_locked(id_or_name);
    if (!e) return make_error(Code::kNotFound, "no container '" + id_or_name + "'");
    rec = e->rec;
  }
  if (rec.state == State::kRunning) {
    if (auto u = isolators_->usage(rec.id)) return stats_json(rec, *u);
    std::lock_guard lk(mu_);  // it ended meanwhile: answer with the record's counters
    if (auto e = find_locked(rec.id)) rec = e->rec;
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
  std::lock_guard lk(mu_);
  for (const auto& [id, e] : by_id_) {
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
