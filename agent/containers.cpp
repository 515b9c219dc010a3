#include "agent/containers.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <chrono>

#include "agent/recovery.hpp"
#include "common/fs.hpp"

namespace berth::agent {

Containers::Containers(Config config, Loop& loop, EventBus& events, Images* images)
    : config_(std::move(config)), loop_(loop), events_(events), images_(images), table_(events) {}

Containers::~Containers() = default;

Status Containers::init() {
  BERTH_TRY(cgroups_, setup_node_cgroups(config_));
  isolators::UserNamespaceConfig userns = config_.userns;
  userns.state_file = config_.userns_ranges_file();
  BERTH_TRY_CTX(isolators_, isolators::Registry::create_default(cgroups_.controllers, config_.network, userns),
                "isolators");
  supervisor_ = std::make_unique<Supervisor>(loop_, table_, *isolators_, *cgroups_.tasks);
  launcher_ = std::make_unique<Launcher>(config_, cgroups_, table_, *supervisor_, *isolators_, images_);
  supervisor_->start_limit_events();

  BERTH_CHECK(fs::mkdir_p(config_.containers_run_dir(), 0700));
  // Sandboxes hold task data: no access for other host users (also on an older install).
  BERTH_CHECK(fs::mkdir_p(config_.sandboxes_dir(), 0700));
  if (::chmod(config_.sandboxes_dir().c_str(), 0700) != 0) return errno_error("chmod " + config_.sandboxes_dir());
  BERTH_TRY_CTX(trash_, Trash::open(config_.trash_dir()), "trash");
  BERTH_CHECK_CTX(trash_->resume(), "trash");  // what an earlier berthd left, in the background
  loop_.on_sigchld([this] { supervisor_->reap_children(); });
  return ok();
}

Status Containers::recover() {
  return Recovery(config_, cgroups_, table_, *supervisor_, *isolators_, events_, images_, *trash_).run();
}

Status Containers::remove(const std::string& id_or_name, bool force, const Caller& caller) {
  std::shared_ptr<Task> task;
  State state;
  {
    auto lk = table_.lock();
    task = table_.find_locked(id_or_name);
    if (!task) return TaskTable::not_found(id_or_name);
    state = task->rec.state;
  }
  const std::string id = task->rec.id;  // immutable once reserved
  if (state == State::kPending || state == State::kPulling || state == State::kPreparing)
    return make_error(Code::kFailedPrecondition, "container '" + id_or_name + "' is still starting");
  if (!is_final(state)) {
    if (!force)
      return make_error(Code::kFailedPrecondition,
                        "container '" + id_or_name + "' is running; kill it first or remove with force");
    auto killed = kill(id, SIGKILL, 0, caller);
    if (!killed && killed.error().code != Code::kFailedPrecondition) return std::move(killed).error();
    BERTH_TRY(auto t, wait(id, 30000));
    if (!t) return make_error(Code::kUnavailable, "container '" + id_or_name + "' did not stop within 30 s");
  }
  ContainerRecord rec;
  {
    auto lk = table_.lock();
    table_.wait_locked(lk, [&] { return !task->cleaning_up; });
    if (table_.by_id_locked(id) != task) return TaskTable::not_found(id_or_name);  // a racing remove won
    rec = task->rec;
    table_.erase_locked(id);
  }
  if (auto st = remove_files(rec); !st) {
    auto lk = table_.lock();
    table_.insert_locked(task);  // keep the record so the operator can retry
    return st;
  }
  {
    auto lk = table_.lock();
    table_.publish_locked("container.removed", rec, "\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)));
  }
  table_.notify();
  return ok();
}

// Files go last-owner-last: the checkpoint in the bundle is removed after everything it
// names, so a crash half-way leaves a record that a retry (or startup) finishes.
Result<ExecResult> Containers::exec(const std::string& id_or_name, const sandbox::ExecRequest& request,
                                    std::function<bool()> cancelled) const {
  BERTH_TRY(ContainerRecord rec, table_.get(id_or_name));
  if (rec.state != State::kRunning || rec.pid <= 0)
    return make_error(Code::kFailedPrecondition, "container '" + rec.id + "' is " + state_name(rec.state) +
                                                     ", not running: exec needs a running task");
  return run_exec(rec, request, ExecEnv{config_.shim_path, cgroups_.shims_path, std::move(cancelled)});
}

Status Containers::remove_files(const ContainerRecord& rec) {
  BERTH_CHECK_CTX(cgroups_.tasks->remove(rec.id, std::chrono::seconds(10)), "remove cgroup");
  // The sandbox may hold anything the task made: it leaves at once, its removal runs later.
  BERTH_CHECK_CTX(trash_->discard(rec.sandbox_dir, rec.id), "remove sandbox");
  BERTH_CHECK_CTX(fs::remove_tree(rec.bundle_dir), "remove bundle");
  if (images_) BERTH_CHECK_CTX(images_->release(rec.id), "release image");
  return ok();
}

}  // namespace berth::agent
