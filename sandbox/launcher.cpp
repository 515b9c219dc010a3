#include "sandbox/launcher.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/fs.hpp"
#include "sandbox/child.hpp"
#include "sandbox/clone_task.hpp"
#include "sandbox/hooks.hpp"
#include "sandbox/idmap.hpp"
#include "sandbox/sync_channel.hpp"

namespace berth::sandbox {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace

Result<int> namespace_flag(const std::string& type) {
  struct Entry { const char* name; int flag; };
  static constexpr Entry kTable[] = {
      {"pid", CLONE_NEWPID}, {"mount", CLONE_NEWNS},    {"uts", CLONE_NEWUTS},
      {"ipc", CLONE_NEWIPC}, {"network", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
      {"user", CLONE_NEWUSER},
  };
  for (const auto& e : kTable)
    if (type == e.name) return e.flag;
  return make_error(Code::kInvalidArgument, "namespace \"" + type + "\" is not supported");
}

namespace {

// The namespaces the child joins by path (setns), in spec order.
Result<std::vector<ChildPlan::Join>> namespace_joins(const OciSpec& spec) {
  std::vector<ChildPlan::Join> out;
  for (const auto& n : spec.namespaces) {
    if (n.path.empty()) continue;
    BERTH_TRY(int flag, namespace_flag(n.type));
    if (flag == CLONE_NEWPID || flag == CLONE_NEWNS)
      return make_error(Code::kInvalidArgument, "joining an existing " + n.type + " namespace is not supported");
    out.push_back({flag, n.path});
  }
  return out;
}

// With a new user namespace (created by clone3 with the others, so it owns them): the root
// built from idmapped layers before clone (idmap.hpp); the maps are written after clone.
Status prepare_user_namespace(const OciSpec& spec, unsigned long long ns_flags, ChildPlan& plan, UniqueFd& root) {
  if (!(ns_flags & CLONE_NEWUSER)) return ok();
  // A namespace made elsewhere belongs to the host's user namespace: the task, root only in
  // its own, could not join it.
  if (!plan.joins.empty())
    return make_error(Code::kInvalidArgument,
                      "a task with a user namespace cannot join an existing namespace (it belongs to the host's user "
                      "namespace); drop user_namespace or the joined namespace");
  BERTH_TRY(UniqueFd userns, user_namespace_with_maps(spec));
  BERTH_TRY(root, build_idmapped_root(spec, userns.get()));
  plan.new_user = true;
  plan.root_mount_fd = root.get();
  return ok();
}

}  // namespace

Result<unsigned long long> namespace_flags(const OciSpec& spec) {
  unsigned long long flags = 0;
  for (const auto& n : spec.namespaces) {
    BERTH_TRY(int flag, namespace_flag(n.type));
    if (n.path.empty()) flags |= static_cast<unsigned long long>(flag);
  }
  if (!(flags & CLONE_NEWNS))
    return make_error(Code::kInvalidArgument, "a new \"mount\" namespace is required: the task's mounts must not reach the host");
  return flags;
}

Status check_sysctls(const OciSpec& spec) {
  auto has = [&](const char* type) { return has_namespace(spec, type); };
  for (const auto& [key, value] : spec.sysctls) {
    (void)value;
    auto starts = [&](const char* p) { return key.rfind(p, 0) == 0; };
    bool scoped = (starts("net.") && has("network")) ||
                  ((starts("kernel.shm") || starts("kernel.msg") || key == "kernel.sem" || starts("fs.mqueue.")) && has("ipc")) ||
                  ((key == "kernel.hostname" || key == "kernel.domainname") && has("uts"));
    if (!scoped)
      return make_error(Code::kInvalidArgument, "sysctl " + key +
                                                    " is not scoped by a namespace of the task's own; setting it would change the host");
  }
  return ok();
}

std::vector<std::string> exec_candidates(const std::string& command, const std::vector<std::string>& env) {
  if (command.find('/') != std::string::npos) return {command};
  std::string path = kDefaultPath;
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t colon = path.find(':', pos);
    if (colon == std::string::npos) colon = path.size();
    std::string dir = path.substr(pos, colon - pos);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + command);
    pos = colon + 1;
  }
  return out;
}

Status plan_program(const OciSpec& spec, ChildPlan& plan) {
  const size_t insns = spec.seccomp_bpf.size() / sizeof(struct sock_filter);
  if (spec.seccomp_bpf.size() % sizeof(struct sock_filter) != 0 || insns > BPF_MAXINSNS)
    return make_error(Code::kInvalidArgument, "the seccomp program is not a whole number of BPF instructions (at most 4096)");
  plan.seccomp.len = static_cast<unsigned short>(insns);
  plan.seccomp.filter = const_cast<struct sock_filter*>(reinterpret_cast<const struct sock_filter*>(spec.seccomp_bpf.data()));
  plan.exec_paths = exec_candidates(spec.args[0], spec.env);
  for (const auto& a : spec.args) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  for (const auto& e : spec.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
  plan.envp.push_back(nullptr);
  return ok();
}

Result<LaunchedTask> launch(const OciSpec& spec, const TaskStdio& stdio, const LaunchTarget& target) {
  if (spec.args.empty()) return make_error(Code::kInvalidArgument, "process.args is empty");
  BERTH_TRY(unsigned long long ns_flags, namespace_flags(spec));
  BERTH_CHECK(check_sysctls(spec));

  // Everything the child reads is prepared here, before clone.
  ChildPlan plan;
  plan.spec = &spec;
  plan.stdin_fd = stdio.in;
  plan.stdout_fd = stdio.out;
  plan.stderr_fd = stdio.err;
  plan.new_uts = ns_flags & CLONE_NEWUTS;  // a joined uts namespace is shared: never renamed
  plan.new_net = ns_flags & CLONE_NEWNET;
  BERTH_TRY(plan.joins, namespace_joins(spec));
  for (const auto& [key, value] : spec.sysctls) {
    std::string path = "/proc/sys/" + key;
    for (auto& c : path)
      if (c == '.') c = '/';
    plan.sysctls.push_back({std::move(path), value});
  }
  BERTH_CHECK(plan_program(spec, plan));
  UniqueFd idmapped_root;
  BERTH_CHECK(prepare_user_namespace(spec, ns_flags, plan, idmapped_root));

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return errno_error("sync socketpair");
  UniqueFd parent_end = UniqueFd::adopt(sv[0]);
  UniqueFd child_end = UniqueFd::adopt(sv[1]);
  plan.sync_fd = child_end.get();

  int pidfd = -1;
  bool into_cgroup = target.cgroup_fd >= 0;
  pid_t pid = clone3_task(ns_flags | (into_cgroup ? CLONE_INTO_CGROUP : 0), target.cgroup_fd, &pidfd);
  bool moved_by_parent = false;
  if (into_cgroup && pid < 0 && errno != EAGAIN && errno != ENOMEM) {
    // Kernels before 5.7, or a cgroup the kernel will not clone into: clone without it (and
    // without the cgroup namespace, which would be rooted at the shim's cgroup) and move the
    // child while it waits for "go".
    moved_by_parent = true;
    pid = clone3_task(ns_flags & ~static_cast<unsigned long long>(CLONE_NEWCGROUP), -1, &pidfd);
    plan.unshare_cgroup_after_go = ns_flags & CLONE_NEWCGROUP;
  }
  if (pid < 0) return errno_error("clone3");
  if (pid == 0) {
    parent_end.release();  // closed below without running the parent's destructor logic
    ::close(sv[0]);        // so the child sees EOF if the shim dies before "go"
    run_child(plan);
  }
  LaunchedTask task;
  task.pid = pid;
  task.pidfd = UniqueFd::adopt(pidfd);
  child_end.reset();
  idmapped_root.reset();  // the child holds it now
  if (plan.new_user) {
    if (auto mapped = write_id_maps(pid, spec); !mapped) {
      kill_and_reap(pid, task.pidfd.get());
      return std::move(mapped).error().wrap("user namespace");
    }
  }

  const auto& join = moved_by_parent ? target.join_all_cgroups : target.join_other_cgroups;
  if (join) {
    auto added = join(pid);
    if (!added) {
      kill_and_reap(pid, task.pidfd.get());
      return std::move(added).error().wrap("move the task into its cgroups");
    }
  }

  // Isolate seam: the task exists, sits in its cgroups and namespaces, and is blocked until
  // "go". Per-task setup that needs its pid (a veth moved into its network namespace)
  // runs here, as createRuntime hooks.
  if (auto hooked = run_create_runtime_hooks(spec, pid, target.bundle_dir); !hooked) {
    kill_and_reap(pid, task.pidfd.get());
    return std::move(hooked).error();
  }
  if (target.before_release) {
    if (auto released = target.before_release(); !released) {
      kill_and_reap(pid, task.pidfd.get());
      return std::move(released).error();
    }
  }

  // The namespaces to join go with "go", opened here: the child's mount namespace is a copy
  // of this one taken at clone, so a namespace file bound since (by berthd, while the shim
  // started) is only visible from here.
  std::vector<UniqueFd> join_fds;
  std::vector<int> raw_fds;
  for (const auto& j : plan.joins) {
    auto ns = fs::open_at(AT_FDCWD, j.path, O_RDONLY);
    if (!ns) {
      kill_and_reap(pid, task.pidfd.get());
      return std::move(ns).error().wrap("join namespace " + j.path);
    }
    raw_fds.push_back(ns->get());
    join_fds.push_back(std::move(ns).value());
  }
  if (!send_go(parent_end.get(), raw_fds.data(), raw_fds.size())) {
    int err = errno;
    kill_and_reap(pid, task.pidfd.get());
    return errno_error(err, "release the task");
  }
  auto verdict = read_verdict(parent_end.get());
  if (!verdict) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
    return std::move(verdict).error();
  }
  return task;
}

}  // namespace berth::sandbox
