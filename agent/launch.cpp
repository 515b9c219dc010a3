// Launching a task: validate against the machine, reserve the record, prepare dirs, bundle and
// cgroup, start the shim, and wait for its report. Each step is undone by a scope guard unless
// the launch reaches the point where the task runs (or has failed visibly, as a record).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/containers.hpp"
#include "agent/shim_process.hpp"
#include "agent/translate.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "common/scope_guard.hpp"
#include "sandbox/user.hpp"

namespace berth::agent {
namespace {

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : " ") + x;
  return out.empty() ? "none" : out;
}

std::vector<fetcher::ArtifactSpec> artifact_specs(const TaskSpec& spec) {
  std::vector<fetcher::ArtifactSpec> out;
  for (const auto& f : spec.fetch) out.push_back({f.uri, f.sha256, f.extract, f.executable, f.output});
  return out;
}

}  // namespace

Status Containers::check_resources(const Resources& r) const {
  struct Need {
    bool asked;
    const char* field;
    const char* controller;
  };
  // disk_mb and max_runtime_s need no controller: berth enforces them itself.
  for (const Need& n : {Need{r.cpus.has_value(), "resources.cpus", "cpu"},
                        Need{r.cpuset.has_value(), "resources.cpuset", "cpuset"},
                        Need{r.memory_mb.has_value(), "resources.memory_mb", "memory"},
                        Need{r.memory_high_mb.has_value(), "resources.memory_high_mb", "memory"},
                        Need{r.memory_swap_mb.has_value(), "resources.memory_swap_mb", "memory"},
                        Need{r.pids.has_value(), "resources.pids", "pids"}}) {
    if (n.asked && !cgroups_.controllers.count(n.controller))
      return make_error(Code::kInvalidArgument,
                        std::string(n.field) + " needs the cgroup v2 '" + n.controller +
                            "' controller, which this node cannot use (cgroup2 at " + cgroups_.mount +
                            " offers: " + join(cgroups_.controllers) + "); remove the limit or run it elsewhere");
  }
  return ok();
}

Status Containers::check_spec(const TaskSpec& spec) const {
  if (!spec.image.empty()) {
    if (!images_) return make_error(Code::kFailedPrecondition, "this berthd has no image store; give 'rootfs'");
    BERTH_CHECK_CTX(Images::key(spec.image), "field '/image'");
  } else {
    struct stat st {};
    if (::stat(spec.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return make_error(Code::kInvalidArgument, "field '/rootfs': " + spec.rootfs + " is not a directory");
  }
  BERTH_CHECK(check_resources(spec.resources));
  for (const auto& v : spec.volumes) {
    struct stat st {};
    if (::stat(v.host_path.c_str(), &st) != 0)
      return make_error(Code::kInvalidArgument, "volume host_path " + v.host_path + " does not exist");
  }
  auto artifacts = artifact_specs(spec);
  for (size_t i = 0; i < artifacts.size(); ++i) {
    if (!images_) return make_error(Code::kFailedPrecondition, "this berthd has no artifact cache");
    BERTH_CHECK_CTX(images_->check_artifact(artifacts[i]),
                    "field '/fetch/" + std::to_string(i) + "': " + fetcher::redact_url(artifacts[i].uri));
  }
  return ok();
}

Result<std::shared_ptr<Containers::Entry>> Containers::reserve(TaskSpec spec) {
  std::lock_guard lk(mu_);
  if (!spec.name.empty() && find_locked(spec.name))
    return make_error(Code::kAlreadyExists, "a container named '" + spec.name + "' exists; pick another name or remove it");
  auto e = std::make_shared<Entry>();
  ContainerRecord& r = e->rec;
  do {
    r.id = new_id();
  } while (by_id_.count(r.id));
  r.name = spec.name;
  r.state = spec.image.empty() ? State::kPreparing : State::kPulling;
  r.created_at_ns = now_ns();
  r.spec = std::move(spec);
  r.bundle_dir = config_.containers_run_dir() + "/" + r.id;
  r.sandbox_dir = config_.sandboxes_dir() + "/" + r.id;
  r.cgroup = containers_cg_->path() + "/" + r.id;
  by_id_.emplace(r.id, e);
  return e;
}

Result<Containers::Root> Containers::resolve_root(const ContainerRecord& rec) {
  Root root;
  root.effective = rec.spec;
  if (rec.spec.image.empty()) {
    root.lowerdir = root.top = root.passwd_root = rec.spec.rootfs;
    return root;
  }
  BERTH_TRY_CTX(TaskImage image, images_->acquire(rec.id, rec.spec.image), "image " + rec.spec.image);
  fetcher::ProcessOverrides o;
  o.entrypoint = rec.spec.entrypoint;
  if (!rec.spec.command.empty()) o.command = rec.spec.command;
  for (const auto& [k, v] : rec.spec.env) o.env.push_back(k + "=" + v);
  if (!rec.spec.working_dir.empty()) o.working_dir = rec.spec.working_dir;
  if (!rec.spec.user.empty()) o.user = rec.spec.user;
  BERTH_TRY_CTX(fetcher::Process process, fetcher::resolve_process(image.config, o), "image " + rec.spec.image);
  root.effective.command = process.argv;
  root.effective.env.clear();
  for (const auto& kv : process.env) {
    auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) root.effective.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  root.effective.working_dir = process.working_dir;
  root.effective.user = process.user;
  for (const auto& dir : image.lower_dirs) root.lowerdir += (root.lowerdir.empty() ? "" : ":") + dir;
  root.top = image.lower_dirs.front();
  // User names come from the newest layer that has a passwd file.
  root.passwd_root = root.top;
  for (const auto& dir : image.lower_dirs) {
    if (fs::exists(dir + "/etc/passwd")) {
      root.passwd_root = dir;
      break;
    }
  }
  return root;
}

Status Containers::prepare_dirs(const ContainerRecord& rec, const Root& root) {
  BERTH_CHECK(fs::mkdir_p(rec.bundle_dir, 0700));
  BERTH_CHECK(fs::mkdir_p(rec.bundle_dir + "/rootfs", 0755));
  BERTH_CHECK(fs::mkdir_p(rec.sandbox_dir, 0711));
  BERTH_CHECK(fs::mkdir_p(rec.sandbox_dir + "/work", 0755));
  BERTH_CHECK(fs::mkdir_p(rec.sandbox_dir + "/overlay/upper", 0755));
  BERTH_CHECK(fs::mkdir_p(rec.sandbox_dir + "/overlay/work", 0700));
  // The overlay's root takes its owner and mode from the upper dir: copy them from the
  // read-only root so "/" looks the same in the task as in the image.
  struct stat st {};
  if (::stat(root.top.c_str(), &st) != 0) return errno_error("stat " + root.top);
  std::string upper = rec.sandbox_dir + "/overlay/upper";
  if (::chown(upper.c_str(), st.st_uid, st.st_gid) != 0 || ::chmod(upper.c_str(), st.st_mode & 07777) != 0)
    return errno_error("set owner of " + upper);
  return ok();
}

Status Containers::write_bundle(const ContainerRecord& rec, const Root& root,
                                const isolators::LaunchAdditions& additions) {
  sandbox::OciUser user;
  if (!root.effective.user.empty()) {
    BERTH_TRY_CTX(UniqueFd passwd_root, fs::open_dir(root.passwd_root), "root filesystem");
    BERTH_TRY(user, sandbox::resolve_user(passwd_root.get(), root.effective.user));
  }
  // The task's /mnt/sandbox belongs to the task's user so it can write its own files there.
  std::string work = rec.sandbox_dir + "/work";
  if (::chown(work.c_str(), user.uid, user.gid) != 0) return errno_error("chown " + work);

  TaskPaths paths{rec.bundle_dir + "/rootfs", root.lowerdir, rec.sandbox_dir + "/overlay/upper",
                  rec.sandbox_dir + "/overlay/work"};
  BERTH_TRY(sandbox::OciSpec oci, translate(root.effective, rec.id, paths, user, additions));
  BERTH_CHECK(fs::write_file_atomic(rec.bundle_dir + "/config.json", sandbox::to_json(oci), 0600,
                                    fs::Durability::kVolatile));

  uint64_t max_mb = rec.spec.log_max_size_mb.value_or(config_.log_max_size_mb);
  uint32_t max_files = rec.spec.log_max_files.value_or(config_.log_max_files);
  json::JsonWriter w;
  w.begin_object().kv("id", rec.id).kv("sandbox_dir", rec.sandbox_dir).kv("cgroup", rec.cgroup)
      .kv("log_max_bytes", max_mb * 1024 * 1024).kv("log_max_files", max_files).end_object();
  return fs::write_file_atomic(rec.bundle_dir + "/shim.json", w.str(), 0600, fs::Durability::kVolatile);
}

// The task's cgroup with its limits in place: the shim clones the task straight into it, so
// the task never runs a single instruction unlimited.
Result<isolators::LaunchAdditions> Containers::create_cgroup(const ContainerRecord& rec) {
  BERTH_TRY(cgroups::Cgroup cg, containers_cg_->create_child(rec.id));
  (void)cg;
  return isolators_->prepare(rec.id, isolator_spec(rec));
}

Status Containers::fetch_artifacts(const ContainerRecord& rec) {
  if (rec.spec.fetch.empty()) return ok();
  if (!images_) return make_error(Code::kFailedPrecondition, "this berthd has no artifact cache");
  BERTH_TRY(UniqueFd work, fs::open_dir(rec.sandbox_dir + "/work"));
  return images_->fetch_artifacts(artifact_specs(rec.spec), work.get());  // names the URI, without credentials
}

void Containers::undo_prepare(const ContainerRecord& rec) {
  (void)isolators_->cleanup(rec.id);
  if (containers_cg_) (void)containers_cg_->remove_child(rec.id, std::chrono::seconds(5));
  (void)fs::remove_tree(rec.sandbox_dir);
  (void)fs::remove_tree(rec.bundle_dir);
  if (images_) (void)images_->release(rec.id);
  std::lock_guard lk(mu_);
  by_id_.erase(rec.id);
}

void Containers::set_state(Entry& e, State s) {
  std::lock_guard lk(mu_);
  e.rec.state = s;
  auto cp = checkpoint_locked(e.rec);
  if (!cp) log::error("checkpoint " + e.rec.id + ": " + cp.error().message);
  changed_.notify_all();
}

void Containers::fail_launch(Entry& e, const std::string& message) {
  std::lock_guard lk(mu_);
  e.rec.state = State::kFailed;
  e.rec.finished_at_ns = now_ns();
  e.rec.exit = Termination{"launch_failed", std::nullopt, std::nullopt, message, 0, e.rec.finished_at_ns};
  (void)fs::write_file_atomic(e.rec.sandbox_dir + "/termination.json", termination_json(*e.rec.exit), 0644);
  auto cp = checkpoint_locked(e.rec);
  if (!cp) log::error("checkpoint " + e.rec.id + ": " + cp.error().message);
  publish("container.failed", e.rec);
  changed_.notify_all();
}

Result<ContainerRecord> Containers::launch(TaskSpec spec, const Caller& caller) {
  BERTH_CHECK(check_spec(spec));
  BERTH_TRY(std::shared_ptr<Entry> e, reserve(std::move(spec)));
  const ContainerRecord rec = e->rec;  // immutable paths and spec, read without the lock
  const std::string& id = rec.id;
  ScopeGuard undo([&] { undo_prepare(rec); });

  BERTH_TRY(Root root, resolve_root(rec));  // names the image itself; the id dies with the undo
  std::string ctx = "launch " + id;
  BERTH_CHECK_CTX(prepare_dirs(rec, root), ctx);
  BERTH_TRY_CTX(isolators::LaunchAdditions additions, create_cgroup(rec), ctx);
  BERTH_CHECK_CTX(write_bundle(rec, root, additions), ctx);
  {
    std::lock_guard lk(mu_);
    e->rec.state = State::kPreparing;
    BERTH_CHECK_CTX(checkpoint_locked(e->rec), ctx);
  }
  undo.dismiss();  // from here on the record exists and every outcome is recorded in it
  publish("container.created", rec,
          "\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)) + ",\"by_pid\":" + std::to_string(caller.pid));

  auto fail = [&](const std::string& message) -> Error {
    (void)isolators_->cleanup(id);
    (void)containers_cg_->remove_child(id, std::chrono::seconds(5));
    if (images_) (void)images_->release(id);
    fail_launch(*e, message);
    return make_error(Code::kInvalidArgument, "container " + id + " failed to start: " + message);
  };
  if (auto fetched = fetch_artifacts(rec); !fetched) return fail(fetched.error().message);
  auto shim = spawn_shim(config_.shim_path, rec.bundle_dir, shims_cg_path_);
  if (!shim) return fail("start shim: " + shim.error().message);
  {
    std::lock_guard lk(mu_);
    e->rec.shim_pid = shim->pid;
    e->rec.shim_start_time = shim->start_time;
    (void)checkpoint_locked(e->rec);
  }
  auto report = read_launch_report(*shim, std::chrono::seconds(config_.launch_timeout_s), rec.bundle_dir);
  if (!report) {
    // The shim is stuck: stop the task and the shim; its exit is still handled below.
    if (auto cg = cgroups::Cgroup::open(rec.cgroup)) (void)cg->kill();
    ::syscall(SYS_pidfd_send_signal, shim->pidfd.get(), SIGKILL, nullptr, 0);
  }
  // The shim's exit is handled on the loop thread whatever happens next.
  auto shim_pidfd = std::make_shared<UniqueFd>(std::move(shim->pidfd));
  loop_.post([this, id = rec.id, shim_pidfd] { watch_shim(id, std::move(*shim_pidfd)); });

  if (!report || !report->ok) {
    std::string message = report ? report->error : report.error().message;
    fail_launch(*e, message);
    return make_error(Code::kInvalidArgument, "container " + id + " failed to start: " + message);
  }
  auto task_pidfd = open_process(report->pid, report->start_time);
  std::lock_guard lk(mu_);
  e->rec.pid = report->pid;
  e->rec.pid_start_time = report->start_time;
  e->rec.started_at_ns = now_ns();
  e->rec.state = State::kRunning;
  if (task_pidfd) e->task_pidfd = std::move(task_pidfd).value();
  auto isolated = isolators_->isolate(id, report->pid, e->rec.started_at_ns);
  if (!isolated) log::error("isolate " + id + ": " + isolated.error().message);
  auto cp = checkpoint_locked(e->rec);
  if (!cp) log::error("checkpoint " + id + ": " + cp.error().message);
  publish("container.started", e->rec, "\"pid\":" + std::to_string(report->pid));
  changed_.notify_all();
  return e->rec;
}

}  // namespace berth::agent
