// What the task's child process does between clone3 and execve, as named steps in order:
//   wait_for_go, join_cgroup_namespace (fallback only), join_namespaces,
//   pin_host_paths + become_root_in_userns (with a user namespace only), set_stdio,
//   apply_sysctls, prepare_root (rootfs.hpp), set_hostname, bring_loopback_up,
//   set_oom_score_adj, apply_rlimits, drop_bounding_set, keep_capabilities, switch_user,
//   set_capabilities, set_no_new_privs, close_extra_fds, change_dir, install_seccomp (last:
//   the filter may forbid what the steps use; before drop_bounding_set instead when the task
//   has no no_new_privs and so needs CAP_SYS_ADMIN to install it), exec_command.
// The first failing step sends errno + message on the sync socket and the child exits.
// ChildPlan is prepared by the parent before clone so the child mostly reads memory it was
// handed; the child allocates only for error messages and mount paths (single-threaded
// parent, so the copied allocator state is consistent).
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

struct ChildPlan {
  const OciSpec* spec = nullptr;
  int sync_fd = -1;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool new_uts = false;
  bool new_net = false;
  // A new user namespace: after "go" the child becomes root in it (become_root_in_userns),
  // having first opened the host paths its mounts start from (pin_host_paths), and moves the
  // idmapped overlay root_mount_fd (inherited from the parent) onto its root.
  bool new_user = false;
  int root_mount_fd = -1;
  // CLONE_INTO_CGROUP was refused: the child was cloned without CLONE_NEWCGROUP and creates
  // its cgroup namespace after the parent moved it, so the namespace is rooted at its cgroup.
  bool unshare_cgroup_after_go = false;
  struct Join {
    int flag;  // CLONE_NEWNET, ...
    std::string path;
  };
  std::vector<Join> joins;
  struct Sysctl {
    std::string path;  // /proc/sys/net/ipv4/ip_forward
    std::string value;
  };
  std::vector<Sysctl> sysctls;
  struct sock_fprog seccomp {};  // len 0: none; points into spec->seccomp_bpf
  std::vector<std::string> exec_paths;
  std::vector<char*> argv;  // null-terminated, pointing into spec->args
  std::vector<char*> envp;  // null-terminated, pointing into spec->env
  // An exec into a running task (exec.hpp): the task's pidfd and the namespaces to join
  // through it, the "user" to resolve inside its root (empty: the task's own), and a child
  // that dies with its helper even after execve.
  int task_pidfd = -1;
  int task_ns_flags = 0;
  std::string exec_user;
  bool die_with_parent = false;
};

[[noreturn]] void run_child(const ChildPlan& plan);

// The child of an exec into a running task, already in the task's cgroups and (for its
// children) pid namespace: wait_for_go, set_oom_score_adj, apply_rlimits (with the host's
// privileges still), join_task_namespaces, resolve_exec_user, set_stdio, then the same
// confinement and final steps as run_child (drop_bounding_set .. set_no_new_privs,
// close_extra_fds, change_dir, install_seccomp, exec_command). Nothing namespace-wide (mounts,
// hostname, sysctls) is done again: the task did it.
[[noreturn]] void run_exec_child(const ChildPlan& plan);

}  // namespace berth::sandbox
