// Launching a task (launch.hpp): the steps in order, each with its undo.
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <vector>

#include "agent/launch.hpp"
#include "sandbox/layout.hpp"
#include "agent/task_network.hpp"
#include "agent/translate.hpp"
#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "common/scope_guard.hpp"
#include "common/signals.hpp"
#include "sandbox/idmap.hpp"
#include "sandbox/user.hpp"

namespace berth::agent {
namespace {

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : " ") + x;
  return out.empty() ? "none" : out;
}

std::string new_id() {
  unsigned char bytes[8];
  while (::getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
  }
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  return std::string(hex, 16);
}

// Undo actions of the launch steps done so far, run in reverse unless dismissed.
class UndoChain {
 public:
  ~UndoChain() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }
  void push(std::function<void()> undo) { steps_.push_back(std::move(undo)); }
  void dismiss() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

std::vector<fetcher::ArtifactSpec> artifact_specs(const TaskSpec& spec) {
  std::vector<fetcher::ArtifactSpec> out;
  for (const auto& f : spec.fetch) out.push_back({f.uri, f.sha256, f.extract, f.executable, f.output});
  return out;
}

// The task's own dirs belong to the task's user: /mnt/sandbox to its user, the overlay's upper
// dir (the owner of "/") to the image root's owner. With a user namespace these are ids of
// the task's host range, so what it writes there belongs to the range too.
Status give_dirs_to_task(const sandbox::SandboxLayout& box, const std::string& image_top, const sandbox::OciUser& user,
                         const isolators::LaunchAdditions& add) {
  auto host = [](const std::vector<sandbox::OciIdMapping>& maps, uint32_t id) -> uint32_t {
    if (maps.empty()) return id;
    return sandbox::host_id(maps, id).value_or(65534);  // unmapped: the kernel's overflow id
  };
  std::string work = box.work_path();
  if (::chown(work.c_str(), host(add.uid_mappings, user.uid), host(add.gid_mappings, user.gid)) != 0)
    return errno_error("chown " + work);
  if (add.uid_mappings.empty()) return ok();
  struct stat st {};
  if (::stat(image_top.c_str(), &st) != 0) return errno_error("stat " + image_top);
  std::string upper = box.overlay_upper_path();
  if (::chown(upper.c_str(), host(add.uid_mappings, st.st_uid), host(add.gid_mappings, st.st_gid)) != 0)
    return errno_error("chown " + upper);
  return ok();
}

}  // namespace

isolators::ContainerSpec isolator_spec(const ContainerRecord& rec) {
  isolators::ContainerSpec s;
  s.resources = rec.spec.resources;
  s.policy = rec.spec.policy;
  s.security = rec.spec.security;
  if (auto task = cgroups::TaskCgroups::open(rec.cgroup, rec.cgroups_v1)) s.cgroups = std::move(task).value();
  s.sandbox_dir = rec.sandbox_dir;
  s.network = rec.spec.network;
  s.hostname = rec.spec.hostname;
  for (const auto& v : rec.spec.volumes) s.volumes.push_back({v.host_path, v.container_path, v.read_only});
  return s;
}

Status Launcher::check_resources(const Resources& r) const {
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
                        std::string(n.field) + " needs the '" + n.controller +
                            "' controller, which this node cannot use (neither cgroup2 at " + cgroups_.mount +
                            " nor a cgroup v1 hierarchy offers it; usable here: " + join(cgroups_.controllers) +
                            "); remove the limit or run it elsewhere");
  }
  return ok();
}

Status Launcher::check_spec(const TaskSpec& spec) const {
  if (!spec.image.empty()) {
    if (!images_) return make_error(Code::kFailedPrecondition, "this berthd has no image store; give 'rootfs'");
    BERTH_CHECK_CTX(Images::key(spec.image), "field '/image'");
  } else {
    struct stat st {};
    if (::stat(spec.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return make_error(Code::kInvalidArgument, "field '/rootfs': " + spec.rootfs + " is not a directory");
    // A symlink (anywhere in the path) or a bind mount can still name the host's root.
    struct stat host_root {};
    if (::stat("/", &host_root) != 0) return errno_error("stat /");
    if (st.st_dev == host_root.st_dev && st.st_ino == host_root.st_ino)
      return make_error(Code::kInvalidArgument, "field '/rootfs': " + spec.rootfs +
                                                    " resolves to the host's own root file system; give the "
                                                    "directory of a root file system built for the task");
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

Result<std::shared_ptr<Task>> Launcher::reserve(TaskSpec spec) {
  auto lk = table_.lock();
  if (!spec.name.empty() && table_.find_locked(spec.name))
    return make_error(Code::kAlreadyExists, "a container named '" + spec.name + "' exists; pick another name or remove it");
  auto e = std::make_shared<Task>();
  ContainerRecord& r = e->rec;
  do {
    r.id = new_id();
  } while (table_.by_id_locked(r.id));
  r.name = spec.name;
  r.state = spec.image.empty() ? State::kPreparing : State::kPulling;
  r.created_at_ns = now_ns();
  r.spec = std::move(spec);
  r.bundle_dir = config_.containers_run_dir() + "/" + r.id;
  r.sandbox_dir = config_.sandboxes_dir() + "/" + r.id;
  r.cgroup = cgroups_.tasks->path_of(r.id);
  r.cgroups_v1 = cgroups_.tasks->v1_specs_of(r.id);
  table_.insert_locked(e);
  return e;
}

Result<Launcher::Root> Launcher::resolve_root(const ContainerRecord& rec) {
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

Status Launcher::prepare_dirs(const ContainerRecord& rec, const Root& root) {
  sandbox::RunDirLayout run(rec.bundle_dir);
  sandbox::SandboxLayout box(rec.sandbox_dir);
  BERTH_CHECK(fs::mkdir_p(run.dir(), 0700));
  BERTH_CHECK(fs::mkdir_p(run.rootfs_path(), 0755));
  // No access for other host users: the task reaches work/ and the upper dir through its own
  // mounts (made as root), never through these host paths.
  BERTH_CHECK(fs::mkdir_p(box.dir(), 0700));
  BERTH_CHECK(fs::mkdir_p(box.work_path(), 0700));
  BERTH_CHECK(fs::mkdir_p(box.path(sandbox::SandboxLayout::kOverlay), 0700));
  BERTH_CHECK(fs::mkdir_p(box.overlay_upper_path(), 0755));
  BERTH_CHECK(fs::mkdir_p(box.overlay_work_path(), 0700));
  // The overlay's root takes its owner and mode from the upper dir: copy them from the
  // read-only root so "/" looks the same in the task as in the image.
  struct stat st {};
  if (::stat(root.top.c_str(), &st) != 0) return errno_error("stat " + root.top);
  std::string upper = box.overlay_upper_path();
  if (::chown(upper.c_str(), st.st_uid, st.st_gid) != 0 || ::chmod(upper.c_str(), st.st_mode & 07777) != 0)
    return errno_error("set owner of " + upper);
  return ok();
}

Status Launcher::write_bundle(const ContainerRecord& rec, const Root& root,
                              const isolators::LaunchAdditions& additions) {
  sandbox::OciUser user;
  if (!root.effective.user.empty()) {
    BERTH_TRY_CTX(UniqueFd passwd_root, fs::open_dir(root.passwd_root), "root filesystem");
    BERTH_TRY(user, sandbox::resolve_user(passwd_root.get(), root.effective.user));
  }
  // The task's /mnt/sandbox belongs to the task's user so it can write its own files there.
  sandbox::RunDirLayout run(rec.bundle_dir);
  sandbox::SandboxLayout box(rec.sandbox_dir);
  BERTH_CHECK(give_dirs_to_task(box, root.top, user, additions));

  TaskPaths paths{run.rootfs_path(), root.lowerdir, box.overlay_upper_path(), box.overlay_work_path()};
  BERTH_TRY(sandbox::OciSpec oci, translate(root.effective, rec.id, paths, user, additions));
  if (!oci.seccomp_bpf.empty()) {
    // Raw, next to config.json: the shim reads 12 KB instead of parsing 24 KB of hex.
    std::string program(reinterpret_cast<const char*>(oci.seccomp_bpf.data()), oci.seccomp_bpf.size());
    BERTH_CHECK(fs::write_file_atomic(run.seccomp_path(), program, 0600, fs::Durability::kVolatile));
    oci.seccomp_bpf_file = run.seccomp_path();
    oci.seccomp_bpf.clear();
  }
  BERTH_CHECK(fs::write_file_atomic(run.config_path(), sandbox::to_json(oci), 0600,
                                    fs::Durability::kVolatile));

  uint64_t max_mb = rec.spec.log_max_size_mb.value_or(config_.log_max_size_mb);
  uint32_t max_files = rec.spec.log_max_files.value_or(config_.log_max_files);
  json::JsonWriter w;
  w.begin_object().kv("id", rec.id).kv("sandbox_dir", rec.sandbox_dir).kv("cgroup", rec.cgroup)
      .kv_strings("cgroups_v1", rec.cgroups_v1).kv("log_max_bytes", max_mb * 1024 * 1024).kv("log_max_files", max_files).end_object();
  return fs::write_file_atomic(run.shim_config_path(), w.str(), 0600, fs::Durability::kVolatile);
}

// The task's cgroup with its limits in place: the shim clones the task straight into it, so
// the task never runs a single instruction unlimited.
Result<isolators::LaunchAdditions> Launcher::create_cgroup(const ContainerRecord& rec) {
  BERTH_TRY(auto cg, cgroups_.tasks->create(rec.id));
  (void)cg;
  return isolators_.prepare(rec.id, isolator_spec(rec));
}

Status Launcher::fetch_artifacts(const ContainerRecord& rec) {
  if (rec.spec.fetch.empty()) return ok();
  if (!images_) return make_error(Code::kFailedPrecondition, "this berthd has no artifact cache");
  BERTH_TRY(UniqueFd work, fs::open_dir(sandbox::SandboxLayout(rec.sandbox_dir).work_path()));
  return images_->fetch_artifacts(artifact_specs(rec.spec), work.get());  // names the URI, without credentials
}

Status Launcher::commit(Task& task, const std::function<void(ContainerRecord&)>& change) {
  auto lk = table_.lock();
  ContainerRecord next = task.rec;
  change(next);
  BERTH_CHECK_CTX(table_.checkpoint_locked(next), "record the task's state");
  State to = next.state;
  next.state = task.rec.state;
  task.rec = std::move(next);
  if (!table_.advance_locked(task, to))
    return make_error(Code::kInternal, std::string("state ") + state_name(task.rec.state) + " cannot become " +
                                           state_name(to));
  return ok();
}

Error Launcher::fail(Task& task, const std::string& message, ShimHandle* shim, Code code) {
  const std::string id = task.rec.id;
  if (shim) {
    // Whatever started is stopped: the task (its whole cgroup) and a shim that may be stuck.
    if (auto killed = supervisor_.kill_task(task.rec); !killed)
      log::warn("launch " + id + ": " + killed.error().message);
    ::syscall(SYS_pidfd_send_signal, shim->pidfd.get(), SIGKILL, nullptr, 0);
  }
  if (images_) (void)images_->release(id);
  std::optional<ContainerRecord> failed;
  {
    auto lk = table_.lock();
    ContainerRecord& r = task.rec;
    if (table_.advance_locked(task, State::kFailed)) {
      r.finished_at_ns = now_ns();
      r.exit = Termination{"launch_failed", std::nullopt, std::nullopt, message, 0, r.finished_at_ns};
      auto cp = table_.checkpoint_locked(r);
      if (!cp) log::error("checkpoint " + id + ": " + cp.error().message);
      table_.publish_locked("container.failed", r);
      failed = r;
    }
    task.cleaning_up = true;  // until the cleanup below has run
  }
  table_.notify();
  // The cgroup and the isolators' state go once the shim (if any) is gone; termination.json
  // is written then too.
  if (shim) supervisor_.post_watch(id, std::move(shim->pidfd));
  else supervisor_.clean_up_after(id, std::move(failed));
  return make_error(code, "container " + id + " failed to start: " + message);
}

Result<ContainerRecord> Launcher::record_running(Task& task, ShimHandle& shim, const LaunchReport& report) {
  const std::string id = task.rec.id;
  auto task_pidfd = open_process(report.pid, report.start_time);
  int64_t started = now_ns();
  // Outside the table lock: isolators may write cgroup files and take their own lock.
  auto isolated = isolators_.isolate(id, report.pid, started);
  if (!isolated) log::error("isolate " + id + ": " + isolated.error().message);
  auto committed = commit(task, [&](ContainerRecord& r) {
    r.pid = report.pid;
    r.pid_start_time = report.start_time;
    r.started_at_ns = started;
    r.state = State::kRunning;
  });
  if (!committed) return fail(task, committed.error().message + "; the task was stopped", &shim, Code::kUnavailable);
  ContainerRecord rec;
  {
    auto lk = table_.lock();
    if (task_pidfd) task.task_pidfd = std::move(task_pidfd).value();
    std::string extra = "\"pid\":" + std::to_string(report.pid);
    if (task.rec.network) {
      json::JsonWriter w;
      write_task_network(w, *task.rec.network);
      extra += ",\"network\":" + w.str();
    }
    table_.publish_locked("container.started", task.rec, extra);
    rec = task.rec;
  }
  table_.notify();
  // Only now may the exit be settled: it can no longer overtake the start.
  supervisor_.post_watch(id, std::move(shim.pidfd));
  return rec;
}

Result<ContainerRecord> Launcher::launch(TaskSpec spec, const Caller& caller, std::string* id_out) {
  BERTH_CHECK(check_spec(spec));
  BERTH_TRY(std::shared_ptr<Task> task, reserve(std::move(spec)));
  const ContainerRecord rec = table_.get(task->rec.id).value_or(ContainerRecord{});  // its paths and spec
  const std::string& id = rec.id;
  if (id_out) *id_out = id;
  UndoChain undo;
  undo.push([&] {
    auto lk = table_.lock();
    table_.erase_locked(id);
  });

  BERTH_TRY(Root root, resolve_root(rec));  // names the image itself; the id dies with the undo
  if (images_) undo.push([&] { (void)images_->release(id); });
  std::string ctx = "launch " + id;
  undo.push([&] {
    (void)fs::remove_tree(rec.sandbox_dir);
    (void)fs::remove_tree(rec.bundle_dir);
  });
  BERTH_CHECK_CTX(prepare_dirs(rec, root), ctx);
  undo.push([&] {
    (void)isolators_.cleanup(id);
    (void)cgroups_.tasks->remove(id, std::chrono::seconds(5));
  });
  BERTH_TRY_CTX(isolators::LaunchAdditions additions, create_cgroup(rec), ctx);
  BERTH_CHECK_CTX(write_bundle(rec, root, additions), ctx);
  BERTH_CHECK_CTX(commit(*task,
                         [&](ContainerRecord& r) {
                           r.state = State::kPreparing;
                           r.network = additions.network;
                         }),
                  ctx);
  undo.dismiss();  // the point of no return: from here on every outcome is recorded
  {
    auto lk = table_.lock();
    table_.publish_locked("container.created", rec,
                          "\"by_uid\":" + std::to_string(static_cast<int>(caller.uid)) +
                              ",\"by_pid\":" + std::to_string(caller.pid));
  }

  if (auto fetched = fetch_artifacts(rec); !fetched) return fail(*task, fetched.error().message, nullptr);
  auto shim = spawn_shim(config_.shim_path, rec.bundle_dir, cgroups_.shims_path);
  if (!shim) return fail(*task, "start shim: " + shim.error().message, nullptr);
  // Without this checkpoint a restarted berthd could not find (and stop) a shim it never heard from.
  auto recorded = commit(*task, [&](ContainerRecord& r) {
    r.shim_pid = shim->pid;
    r.shim_start_time = shim->start_time;
  });
  if (!recorded) return fail(*task, recorded.error().message + "; the task was stopped", &*shim, Code::kUnavailable);
  // While the shim starts (~10 ms): what the isolators left for now (a bridge task's veth and
  // addresses). The shim holds the task until released.
  if (auto readied = isolators_.ready(id); !readied) return fail(*task, readied.error().message, &*shim);
  if (auto released = release_task(*shim); !released) return fail(*task, released.error().message, &*shim);
  auto report = read_launch_report(*shim, std::chrono::seconds(config_.launch_timeout_s), rec.bundle_dir);
  if (!report) return fail(*task, report.error().message, &*shim);
  if (!report->ok) return fail(*task, report->error, &*shim);
  return record_running(*task, *shim, *report);
}

}  // namespace berth::agent
