#include "agent/containers.hpp"

#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/fs.hpp"
#include "common/json.hpp"

namespace berth::agent {

Containers::Containers(Config config, Loop& loop, EventBus& events, Images* images)
    : config_(std::move(config)), loop_(loop), events_(events), images_(images) {}

Containers::~Containers() = default;

Status Containers::init() {
  BERTH_TRY(std::string mountinfo, fs::read_file("/proc/self/mountinfo"));
  BERTH_TRY(cgroups_.mount, cgroups::find_cgroup2_mount(mountinfo));
  cgroups_.hybrid = mountinfo.find(" - cgroup ") != std::string::npos;
  if (!config_.cgroup_root.empty()) {
    cgroups_.root = config_.cgroup_root;
  } else {
    BERTH_TRY(std::string own, cgroups::own_cgroup());
    cgroups_.root = cgroups_.mount + (own == "/" ? "" : own) + "/berth";
  }
  BERTH_TRY_CTX(cgroups::Cgroup root, cgroups::Cgroup::open_or_create(cgroups_.root), "cgroup root");
  BERTH_CHECK_CTX(adopt_cgroup_tree(root), "cgroup root");
  BERTH_TRY_CTX(isolators_, isolators::Registry::create_default(cgroups_.controllers), "isolators");
  start_limit_events();

  BERTH_CHECK(fs::mkdir_p(config_.containers_run_dir(), 0700));
  BERTH_CHECK(fs::mkdir_p(config_.sandboxes_dir(), 0711));
  loop_.on_sigchld([this] { reap_children(); });
  return ok();
}

std::string Containers::new_id() const {
  unsigned char bytes[8];
  while (::getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
  }
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  return std::string(hex, 16);
}

std::shared_ptr<Containers::Entry> Containers::find_locked(const std::string& id_or_name) const {
  auto it = by_id_.find(id_or_name);
  if (it != by_id_.end()) return it->second;
  for (const auto& [id, e] : by_id_)
    if (!e->rec.name.empty() && e->rec.name == id_or_name) return e;
  return nullptr;
}

static Error not_found(const std::string& id_or_name) {
  return make_error(Code::kNotFound, "no container '" + id_or_name + "'");
}

Status Containers::checkpoint_locked(const ContainerRecord& rec) {
  // run_dir is volatile by design (/run): atomic for readers, no fsync. What must survive a
  // crash of the machine is in the sandbox (exit.json from the shim, termination.json).
  return fs::write_file_atomic(rec.bundle_dir + "/state.json", checkpoint_json(rec), 0600, fs::Durability::kVolatile);
}

void Containers::publish(const std::string& type, const ContainerRecord& rec, const std::string& extra) {
  json::JsonWriter w;
  w.begin_object().kv("id", rec.id).kv("name", rec.name).kv("state", state_name(rec.state));
  if (rec.exit) w.key("exit").raw(termination_json(*rec.exit));
  w.end_object();
  std::string fields = w.str();
  fields = fields.substr(1, fields.size() - 2);
  if (!extra.empty()) fields += "," + extra;
  events_.publish(type, fields);
}

Result<ContainerRecord> Containers::get(const std::string& id_or_name) const {
  std::lock_guard lk(mu_);
  auto e = find_locked(id_or_name);
  if (!e) return not_found(id_or_name);
  return e->rec;
}

std::vector<ContainerRecord> Containers::list() const {
  std::vector<ContainerRecord> out;
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, e] : by_id_) out.push_back(e->rec);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at_ns != b.created_at_ns ? a.created_at_ns < b.created_at_ns : a.id < b.id;
  });
  return out;
}

Result<std::optional<Termination>> Containers::wait(const std::string& id_or_name, int timeout_ms) const {
  std::unique_lock lk(mu_);
  auto e = find_locked(id_or_name);
  if (!e) return not_found(id_or_name);
  auto done = [&] { return is_final(e->rec.state); };
  if (timeout_ms < 0) {
    changed_.wait(lk, done);
  } else if (!changed_.wait_for(lk, std::chrono::milliseconds(timeout_ms), done)) {
    return std::optional<Termination>();
  }
  return std::optional<Termination>(e->rec.exit.value_or(Termination{}));
}

Status Containers::remove(const std::string& id_or_name, bool force, const Caller& caller) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lk(mu_);
    e = find_locked(id_or_name);
    if (!e) return not_found(id_or_name);
    if (e->rec.state == State::kPending || e->rec.state == State::kPulling || e->rec.state == State::kPreparing)
      return make_error(Code::kFailedPrecondition, "container '" + id_or_name + "' is still starting");
    if (!is_final(e->rec.state) && !force)
      return make_error(Code::kFailedPrecondition,
                        "container '" + id_or_name + "' is running; kill it first or remove with force");
  }
  if (!is_final(e->rec.state)) {
    auto killed = kill(e->rec.id, SIGKILL, 0, caller);
    if (!killed && killed.error().code != Code::kFailedPrecondition) return std::move(killed).error();
    BERTH_TRY(auto t, wait(e->rec.id, 30000));
    if (!t) return make_error(Code::kUnavailable, "container '" + id_or_name + "' did not stop within 30 s");
  }
  ContainerRecord rec;
  {
    std::unique_lock lk(mu_);
    changed_.wait(lk, [&] { return !e->saving_record; });
    if (by_id_.find(e->rec.id) == by_id_.end()) return not_found(id_or_name);  // a racing remove won
    rec = e->rec;
    by_id_.erase(rec.id);
  }
  // Files go last-owner-last: the checkpoint in the bundle is removed after everything it
  // names, so a crash half-way leaves a record that a retry (or startup) finishes.
  Status st = ok();
  if (containers_cg_) {
    auto r = containers_cg_->remove_child(rec.id, std::chrono::seconds(10));
    if (!r) st = std::move(r).error().wrap("remove cgroup");
  }
  if (st) {
    auto r = fs::remove_tree(rec.sandbox_dir);
    if (!r) st = std::move(r).error().wrap("remove sandbox");
  }
  if (st) {
    auto r = fs::remove_tree(rec.bundle_dir);
    if (!r) st = std::move(r).error().wrap("remove bundle");
  }
  if (st && images_) {
    auto r = images_->release(rec.id);
    if (!r) st = std::move(r).error().wrap("release image");
  }
  if (!st) {
    std::lock_guard lk(mu_);
    by_id_.emplace(rec.id, e);  // keep the record so the operator can retry
    return st;
  }
  publish("container.removed", rec, "\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)));
  changed_.notify_all();
  return ok();
}

}  // namespace berth::agent
