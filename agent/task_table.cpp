#include "agent/task_table.hpp"

#include <algorithm>
#include <chrono>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "sandbox/layout.hpp"

namespace berth::agent {
namespace {

// Position in the forward order; failed sits beside exited as a final state.
int rank(State s) {
  switch (s) {
    case State::kPending: return 0;
    case State::kPulling: return 1;
    case State::kPreparing: return 2;
    case State::kRunning: return 3;
    case State::kExited:
    case State::kFailed: return 4;
  }
  return 0;
}

}  // namespace

Error TaskTable::not_found(const std::string& id_or_name) {
  return make_error(Code::kNotFound, "no container '" + id_or_name + "'");
}

std::shared_ptr<Task> TaskTable::find_locked(const std::string& id_or_name) const {
  if (auto t = by_id_locked(id_or_name)) return t;
  for (const auto& [id, t] : by_id_)
    if (!t->rec.name.empty() && t->rec.name == id_or_name) return t;
  return nullptr;
}

std::shared_ptr<Task> TaskTable::by_id_locked(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void TaskTable::insert_locked(std::shared_ptr<Task> task) {
  std::string id = task->rec.id;
  by_id_.emplace(std::move(id), std::move(task));
}

std::vector<std::shared_ptr<Task>> TaskTable::all_locked() const {
  std::vector<std::shared_ptr<Task>> out;
  out.reserve(by_id_.size());
  for (const auto& [id, t] : by_id_) out.push_back(t);
  return out;
}

bool TaskTable::advance_locked(Task& task, State to) {
  State from = task.rec.state;
  if (is_final(from) || rank(to) < rank(from)) return false;
  if (to == State::kFailed && from == State::kRunning) return false;  // a started task exits
  task.rec.state = to;
  return true;
}

Status TaskTable::checkpoint_locked(const ContainerRecord& rec) {
  // run_dir is volatile by design (/run): atomic for readers, no fsync. What must survive a
  // crash of the machine is in the sandbox (exit.json from the shim, termination.json).
  return fs::write_file_atomic(sandbox::RunDirLayout(rec.bundle_dir).state_path(), checkpoint_json(rec), 0600,
                               fs::Durability::kVolatile);
}

void TaskTable::publish_locked(const std::string& type, const ContainerRecord& rec, const std::string& extra) {
  json::JsonWriter w;
  w.begin_object().kv("id", rec.id).kv("name", rec.name).kv("state", state_name(rec.state));
  if (rec.exit) w.key("exit").raw(termination_json(*rec.exit));
  w.end_object();
  std::string fields = w.str();
  fields = fields.substr(1, fields.size() - 2);
  if (!extra.empty()) fields += "," + extra;
  events_.publish(type, fields);
}

Result<ContainerRecord> TaskTable::get(const std::string& id_or_name) const {
  std::lock_guard lk(mu_);
  auto t = find_locked(id_or_name);
  if (!t) return not_found(id_or_name);
  return t->rec;
}

std::vector<ContainerRecord> TaskTable::list() const {
  std::vector<ContainerRecord> out;
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, t] : by_id_) out.push_back(t->rec);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at_ns != b.created_at_ns ? a.created_at_ns < b.created_at_ns : a.id < b.id;
  });
  return out;
}

Result<std::optional<Termination>> TaskTable::wait(const std::string& id_or_name, int timeout_ms) const {
  std::unique_lock lk(mu_);
  auto t = find_locked(id_or_name);
  if (!t) return not_found(id_or_name);
  auto done = [&] { return is_final(t->rec.state); };
  if (timeout_ms < 0) {
    changed_.wait(lk, done);
  } else if (!changed_.wait_for(lk, std::chrono::milliseconds(timeout_ms), done)) {
    return std::optional<Termination>();
  }
  return std::optional<Termination>(t->rec.exit.value_or(Termination{}));
}

}  // namespace berth::agent
