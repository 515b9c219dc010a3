#include "sandbox/child.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"
#include "sandbox/mount_options.hpp"
#include "sandbox/rlimit_names.hpp"
#include "sandbox/rootfs.hpp"
#include "sandbox/user.hpp"
#include "sandbox/sync_channel.hpp"

namespace berth::sandbox {
namespace {

// The sync socket's fd once close_extra_fds has moved it out of the task's way.
constexpr int kSyncFdAfterClose = 3;
constexpr rlim_t kDefaultNofileSoft = 1024;
constexpr rlim_t kDefaultNofileHard = 524288;

// "go" from the shim, with the fds of the namespaces to join (in plan.joins order).
Status wait_for_go(int sync_fd, GoFds* joins = nullptr) {
  int got = receive_go(sync_fd, joins);
  if (got < 0) return errno_error("wait for the shim");
  if (got == 0) return make_error(Code::kUnavailable, "the shim went away before the task started");
  if (joins && joins->truncated) return make_error(Code::kInternal, "the shim sent more namespaces than expected");
  return ok();
}

Status join_cgroup_namespace(const ChildPlan& plan) {
  if (!plan.unshare_cgroup_after_go) return ok();
  if (::unshare(CLONE_NEWCGROUP) != 0) return errno_error("create cgroup namespace");
  return ok();
}

// Before the mounts: /proc and /sys mounted later must show the joined namespaces. The fds came
// with "go" (the shim opened the paths in its mount namespace; this one is a copy from clone).
Status join_namespaces(const ChildPlan& plan, const GoFds& joins) {
  if (joins.count != plan.joins.size())
    return make_error(Code::kInternal, "the shim sent " + std::to_string(joins.count) + " namespaces to join, not " +
                                           std::to_string(plan.joins.size()));
  for (size_t i = 0; i < joins.count; ++i) {
    if (::setns(joins.fds[i], plan.joins[i].flag) != 0) return errno_error("join namespace " + plan.joins[i].path);
    ::close(joins.fds[i]);
  }
  return ok();
}

// The host paths the task's mounts start from (its root's mount point, bind sources),
// opened while the child still has the host uid that owns berth's 0700 directories: as its
// range's root it may not search them. The spec copy names them as /proc/self/fd/N.
struct PinnedPaths {
  OciSpec spec;
  UniqueFd root_mount_point;
  std::vector<UniqueFd> sources;
};

Status pin_host_paths(const ChildPlan& plan, PinnedPaths& out) {
  if (!plan.new_user) return ok();
  out.spec = *plan.spec;
  BERTH_TRY_CTX(out.root_mount_point, fs::open_at(AT_FDCWD, out.spec.root_path, O_PATH | O_DIRECTORY), "root");
  for (auto& m : out.spec.mounts) {
    if (!parse_mount_options(m.type, m.options).bind) continue;
    BERTH_TRY_CTX(UniqueFd fd, fs::open_at(AT_FDCWD, m.source, O_PATH), "mount " + m.source + " on " + m.destination);
    m.source = "/proc/self/fd/" + std::to_string(fd.get());
    out.sources.push_back(std::move(fd));
  }
  return ok();
}

// Root of the user namespace (its maps are written by now): from here on the child's files
// belong to its host range, and it has capabilities only over what its namespaces own.
Status become_root_in_userns(const ChildPlan& plan) {
  if (!plan.new_user) return ok();
  if (::setresgid(0, 0, 0) != 0) return errno_error("become root in the user namespace (setgid)");
  if (::setgroups(0, nullptr) != 0) return errno_error("become root in the user namespace (setgroups)");
  if (::setresuid(0, 0, 0) != 0) return errno_error("become root in the user namespace (setuid)");
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // a credential change cleared it
  // ... and made it undumpable: its /proc/self files would belong to host root, out of the
  // reach of its own root (oom_score_adj, uid_map). Only its own namespaces can see it, and
  // no other process lives in them yet; execve sets this anew.
  if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return errno_error("set dumpable");
  return ok();
}

// Through the host's /proc, before the rootfs replaces it: /proc/sys answers for the writer's
// own namespaces (launch() checked that each sysctl is scoped by one of the task's).
Status apply_sysctls(const ChildPlan& plan) {
  for (const auto& s : plan.sysctls) {
    BERTH_TRY_CTX(UniqueFd fd, fs::open_at(AT_FDCWD, s.path, O_WRONLY | O_NOFOLLOW), "sysctl");
    BERTH_CHECK_CTX(fs::write_all(fd.get(), s.value.data(), s.value.size()), "sysctl " + s.path);
  }
  return ok();
}

// The last step before execve, after no_new_privs (which an unprivileged user needs for it).
Status install_seccomp(const ChildPlan& plan) {
  if (plan.seccomp.len == 0) return ok();
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan.seccomp, 0, 0) != 0) {
    if (errno == EACCES)
      return errno_error("install seccomp filter (a task without CAP_SYS_ADMIN needs no_new_privileges)");
    return errno_error("install seccomp filter");
  }
  return ok();
}

Status set_stdio(const ChildPlan& plan) {
  // dup2 clears close-on-exec on the target, which is exactly what the task's stdio needs.
  if (::dup2(plan.stdin_fd, 0) < 0 || ::dup2(plan.stdout_fd, 1) < 0 || ::dup2(plan.stderr_fd, 2) < 0)
    return errno_error("set up stdio");
  return ok();
}

Status set_hostname(const ChildPlan& plan) {
  const std::string& name = plan.spec->hostname;
  if (name.empty() || !plan.new_uts) return ok();
  if (::sethostname(name.data(), name.size()) != 0) return errno_error("sethostname \"" + name + "\"");
  return ok();
}

// A new network namespace starts with lo down; most programs expect 127.0.0.1 to work.
Status bring_loopback_up(const ChildPlan& plan) {
  if (!plan.new_net) return ok();
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno_error("socket for lo");
  UniqueFd sock = UniqueFd::adopt(s);
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return errno_error("get flags of lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return errno_error("bring lo up");
  return ok();
}

// Always written, so the task never inherits the shim's (or berthd's) adjustment.
Status set_oom_score_adj(const ChildPlan& plan) {
  BERTH_TRY_CTX(UniqueFd fd, fs::open_at(AT_FDCWD, "/proc/self/oom_score_adj", O_WRONLY), "set oom_score_adj");
  std::string v = std::to_string(plan.spec->oom_score_adj);
  BERTH_CHECK_CTX(fs::write_all(fd.get(), v.data(), v.size()), "set oom_score_adj " + v);
  return ok();
}

// berthd may run with a raised open-files limit; a task that did not ask for one gets the
// usual default (soft 1024, hard at most 524288) rather than inheriting the agent's.
Status reset_default_nofile(const ChildPlan& plan) {
  for (const auto& r : plan.spec->rlimits)
    if (r.type == "RLIMIT_NOFILE") return ok();
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return errno_error("getrlimit RLIMIT_NOFILE");
  if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > kDefaultNofileHard) rl.rlim_max = kDefaultNofileHard;
  rl.rlim_cur = std::min<rlim_t>(kDefaultNofileSoft, rl.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return errno_error("setrlimit RLIMIT_NOFILE");
  return ok();
}

Status apply_rlimits(const ChildPlan& plan) {
  BERTH_CHECK(reset_default_nofile(plan));
  for (const auto& r : plan.spec->rlimits) {
    struct rlimit rl {};
    rl.rlim_cur = r.soft;
    rl.rlim_max = r.hard;
    int resource = rlimit_resource(r.type);
    if (resource < 0) return make_error(Code::kInvalidArgument, "unknown rlimit " + r.type);
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &rl) != 0) return errno_error("setrlimit " + r.type);
  }
  return ok();
}

Status switch_user(const ChildPlan& plan) {
  const OciUser& u = plan.spec->user;
  if (::setgroups(u.additional_gids.size(), u.additional_gids.data()) != 0) return errno_error("setgroups");
  if (::setresgid(u.gid, u.gid, u.gid) != 0) return errno_error("setgid " + std::to_string(u.gid));
  if (::setresuid(u.uid, u.uid, u.uid) != 0) return errno_error("setuid " + std::to_string(u.uid));
  return ok();
}

// Capabilities (the spec's process.capabilities; absent: the task keeps the shim's). Raw
// prctl/capset rather than libcap: the shim is linked -static without libcap, and between
// clone and execve the child should not allocate (libcap's cap_t lives on the heap).
CapabilitySet capability_bit(int cap) { return CapabilitySet{1} << cap; }

// The capabilities the child can hand out: those in its bounding set (which ends where the
// kernel's list does), so "all" for a privileged task means all that the shim itself has
// (a node whose berthd runs without e.g. SYS_RESOURCE cannot give it).
CapabilitySet available_capabilities() {
  CapabilitySet have = 0;
  for (int cap = 0; cap < 64; ++cap) {
    int in = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) break;
    if (in == 1) have |= capability_bit(cap);
  }
  return have;
}

// Before switch_user, while the child still has CAP_SETPCAP.
Status drop_bounding_set(const ChildPlan& plan) {
  if (!plan.spec->capabilities) return ok();
  CapabilitySet keep = plan.spec->capabilities->bounding;
  for (int cap = 0; cap < 64; ++cap) {
    int in = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) break;
    if (in == 1 && !(keep & capability_bit(cap)) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      return errno_error("drop capability " + capability_name(cap) + " from the bounding set");
  }
  return ok();
}

// A change from uid 0 to another clears the permitted set unless KEEPCAPS is on (it is
// cleared again by execve); the effective set is cleared either way and set_capabilities
// sets it.
Status keep_capabilities(const ChildPlan& plan) {
  if (!plan.spec->capabilities) return ok();
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return errno_error("keep capabilities across setuid");
  return ok();
}

Status set_capabilities(const ChildPlan& plan) {
  if (!plan.spec->capabilities) return ok();
  const OciCapabilities& c = *plan.spec->capabilities;
  CapabilitySet known = available_capabilities();
  struct __user_cap_header_struct header {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  struct __user_cap_data_struct data[2] {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>((c.effective & known) >> (32 * i));
    data[i].permitted = static_cast<uint32_t>((c.permitted & known) >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>((c.inheritable & known) >> (32 * i));
  }
  if (::syscall(SYS_capset, &header, data) != 0) return errno_error("set capabilities (capset)");
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return errno_error("reset keep-capabilities");
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno_error("clear ambient capabilities");
  for (int cap = 0; cap < 64; ++cap) {
    if (!(c.ambient & known & capability_bit(cap))) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
      return errno_error("raise ambient capability " + capability_name(cap));
  }
  return ok();
}

// Without no_new_privs the kernel takes a filter only from a task with CAP_SYS_ADMIN, which
// set_capabilities may take away: then the filter goes in before the capabilities change (as
// runc does), and the remaining steps (prctl, capset, setres*id, chdir, close_range, execve)
// run under it.
bool seccomp_before_capabilities(const ChildPlan& plan) {
  return plan.seccomp.len != 0 && !plan.spec->no_new_privileges && plan.spec->capabilities.has_value();
}

Status set_no_new_privs(const ChildPlan& plan) {
  if (!plan.spec->no_new_privileges) return ok();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno_error("set no_new_privs");
  return ok();
}

// After switch_user, so a directory the user may not enter fails here, as it would later;
// after close_extra_fds, and resolved inside the new root with no magic links, so a
// "/proc/self/fd/N" working directory cannot name a directory of the host (CVE-2024-21626).
Status change_dir(const ChildPlan& plan) {
  const std::string& cwd = plan.spec->cwd;
  BERTH_TRY_CTX(UniqueFd root, fs::open_at(AT_FDCWD, "/", O_PATH | O_DIRECTORY), "chdir \"" + cwd + "\"");
  BERTH_TRY_CTX(UniqueFd dir, fs::open_in_root(root.get(), cwd, O_PATH | O_DIRECTORY), "chdir \"" + cwd + "\"");
  if (::fchdir(dir.get()) != 0) return errno_error("chdir \"" + cwd + "\"");
  return ok();
}

// Nothing of the shim may leak into the task: every fd above 2 goes, except the sync socket,
// which moves to 3 and closes itself on execve.
Status close_extra_fds(const ChildPlan& plan) {
  if (plan.sync_fd != kSyncFdAfterClose &&
      ::dup3(plan.sync_fd, kSyncFdAfterClose, O_CLOEXEC) < 0)
    return errno_error("move the sync socket");
  if (::close_range(kSyncFdAfterClose + 1, ~0U, 0) != 0) return errno_error("close inherited fds");
  return ok();
}

// Tries each candidate path like execvp does: a missing file moves on to the next PATH entry,
// a permission problem is remembered, anything else stops.
[[noreturn]] void exec_command(const ChildPlan& plan) {
  const std::string& cmd = plan.spec->args[0];
  int err = ENOENT;
  bool saw_eacces = false;
  // pdeathsig guarded the setup; the running task must outlive the shim like any process. An
  // exec'd process instead dies with its helper (re-armed: a credential change cleared it).
  ::prctl(PR_SET_PDEATHSIG, plan.die_with_parent ? SIGKILL : 0, 0, 0, 0);
  for (const auto& path : plan.exec_paths) {
    ::execve(path.c_str(), plan.argv.data(), plan.envp.data());
    err = errno;
    if (err == EACCES) saw_eacces = true;
    if (err != ENOENT && err != ENOTDIR && err != EACCES) break;
  }
  std::string msg;
  bool searched = cmd.find('/') == std::string::npos;
  if (searched && !saw_eacces && (err == ENOENT || err == ENOTDIR)) {
    msg = "exec \"" + cmd + "\": executable file not found in $PATH";
  } else {
    if (searched && saw_eacces) err = EACCES;
    msg = "exec \"" + cmd + "\": " + std::strerror(err);
  }
  send_failure(kSyncFdAfterClose, err, msg.c_str());
  ::_exit(127);
}

[[noreturn]] void fail(int sync_fd, const Error& e) {
  send_failure(sync_fd, e.sys_errno, e.message.c_str());
  ::_exit(127);
}

// Until execve, the child dies with the shim rather than run unsupervised.
void reset_process_state() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ::umask(022);
  // The shim ignores and blocks signals for itself; the task starts with the defaults.
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// The process's own confinement, the same for a task and for a process exec'd into it:
// bounding set, user, capabilities, no_new_privs (and seccomp first where it must be).
Status confine_process(const ChildPlan& plan) {
  if (seccomp_before_capabilities(plan)) BERTH_CHECK(install_seccomp(plan));
  BERTH_CHECK(drop_bounding_set(plan));
  BERTH_CHECK(keep_capabilities(plan));
  BERTH_CHECK(switch_user(plan));
  BERTH_CHECK(set_capabilities(plan));
  BERTH_CHECK(set_no_new_privs(plan));
  return ok();
}

// The last steps, after which nothing of the shim is left but the command.
[[noreturn]] void close_fds_and_exec(const ChildPlan& plan) {
  auto done = close_extra_fds(plan);
  if (!done) fail(plan.sync_fd, done.error());
  // From here the sync socket lives at kSyncFdAfterClose.
  done = change_dir(plan);
  if (!done) fail(kSyncFdAfterClose, done.error());
  if (!seccomp_before_capabilities(plan)) {
    done = install_seccomp(plan);
    if (!done) fail(kSyncFdAfterClose, done.error());
  }
  exec_command(plan);
}

// Every namespace of the running task at once, by its pidfd (kernel 5.8+; the kernel orders
// a user namespace first). The pid namespace was joined by the parent (it applies to
// children only). From here "/" and the working directory are the task's root.
Status join_task_namespaces(const ChildPlan& plan) {
  if (plan.task_ns_flags == 0) return ok();
  if (::setns(plan.task_pidfd, plan.task_ns_flags) != 0) return errno_error("join the task's namespaces");
  return ok();
}

// An exec's "user", resolved from the task's own /etc/passwd and /etc/group (never the
// host's, never NSS); its capabilities follow it as a launch's do (capabilities_for).
Status resolve_exec_user(const ChildPlan& plan, OciSpec& spec) {
  if (plan.exec_user.empty()) return ok();
  BERTH_TRY_CTX(UniqueFd root, fs::open_at(AT_FDCWD, "/", O_PATH | O_DIRECTORY), "user");
  BERTH_TRY(spec.user, resolve_user(root.get(), plan.exec_user));
  if (spec.capabilities)
    spec.capabilities = capabilities_for(spec.capabilities->bounding, spec.capabilities->ambient != 0, spec.user.uid);
  return ok();
}

}  // namespace

void run_exec_child(const ChildPlan& exec_plan) {
  reset_process_state();
  OciSpec spec = *exec_plan.spec;  // the user is resolved inside the task's root
  ChildPlan plan = exec_plan;
  plan.spec = &spec;
  auto steps = [&]() -> Status {
    BERTH_CHECK(wait_for_go(plan.sync_fd));
    // Through the host's /proc, with the host's privileges (raising a hard limit needs them).
    BERTH_CHECK(set_oom_score_adj(plan));
    BERTH_CHECK(apply_rlimits(plan));
    BERTH_CHECK(join_task_namespaces(plan));
    BERTH_CHECK(resolve_exec_user(plan, spec));
    BERTH_CHECK(set_stdio(plan));
    return confine_process(plan);
  };
  auto done = steps();
  if (!done) fail(plan.sync_fd, done.error());
  close_fds_and_exec(plan);
}

void run_child(const ChildPlan& plan) {
  reset_process_state();
  auto steps = [&]() -> Status {
    GoFds joins;
    BERTH_CHECK(wait_for_go(plan.sync_fd, &joins));
    BERTH_CHECK(join_cgroup_namespace(plan));
    BERTH_CHECK(join_namespaces(plan, joins));
    PinnedPaths pinned;
    BERTH_CHECK(pin_host_paths(plan, pinned));
    BERTH_CHECK(become_root_in_userns(plan));
    BERTH_CHECK(set_stdio(plan));
    BERTH_CHECK(apply_sysctls(plan));
    if (plan.new_user)
      BERTH_CHECK(prepare_root(pinned.spec, PreparedRoot{plan.root_mount_fd, pinned.root_mount_point.get()}));
    else
      BERTH_CHECK(prepare_root(*plan.spec));
    BERTH_CHECK(set_hostname(plan));
    BERTH_CHECK(bring_loopback_up(plan));
    BERTH_CHECK(set_oom_score_adj(plan));
    BERTH_CHECK(apply_rlimits(plan));
    return confine_process(plan);
  };
  auto done = steps();
  if (!done) fail(plan.sync_fd, done.error());
  close_fds_and_exec(plan);
}

}  // namespace berth::sandbox
