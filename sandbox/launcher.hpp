// The launcher starts a task from an OCI spec: clone3() into new namespaces and straight into
// the task's cgroup (CLONE_INTO_CGROUP, so nothing of the task is ever charged to the shim's
// cgroup), with a pidfd for the caller. The child sets up its root and process (see
// child.hpp) and reports any failure as errno + message over a SOCK_SEQPACKET sync socket;
// EOF on that socket after the close-on-exec execve means the task runs.
//
// Sequence:  parent                                child
//            [user namespace: idmapped root built (idmap.hpp)]
//            clone3 ───────────────────────────►   waits for "go"
//            [user namespace: uid_map, gid_map]
//            [join the task's other cgroups, or all of them if CLONE_INTO_CGROUP failed]
//            [createRuntime hooks with the pid: the task is blocked here]
//            send "go" ────────────────────────►   join namespaces, [become root of the
//                                                  user namespace], sysctls, mounts,
//                                                  pivot_root, rlimits, user, no_new_privs,
//                                                  seccomp (last), execve
//            recv: EOF = running / message = error ◄──
//
// Everything in the OciSpec is applied or the launch fails: namespaces created or joined by
// path (network, ipc, uts, cgroup; pid, mount and user can only be new; with a new user
// namespace, which clone3 creates first so it owns the others, none can be joined), mounts, env, rlimits,
// sysctls (only those the task's own namespaces scope: net.* with its own network namespace,
// kernel.shm*/msg*/sem and fs.mqueue.* with its own ipc one, kernel.hostname/domainname with
// its own uts one — anything else would change the host), the seccomp program, hooks.
//
// Threading: call from a single-threaded process (the shim); the child runs on a copy of the
// caller's memory between clone and execve and allocates there.
#pragma once

#include <sys/types.h>

#include <functional>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::sandbox {

// Borrowed fds that become the task's 0, 1 and 2.
struct TaskStdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

struct LaunchedTask {
  pid_t pid = 0;
  UniqueFd pidfd;
};

// Where the task goes, as the launcher needs it (it does not know cgroups/): the directory
// clone3 puts it in, and the owner's calls that place a pid in the task's other hierarchies
// (after CLONE_INTO_CGROUP) or in all of them (where the kernel refused CLONE_INTO_CGROUP).
struct LaunchTarget {
  int cgroup_fd = -1;
  std::function<Status(pid_t)> join_other_cgroups;
  std::function<Status(pid_t)> join_all_cgroups;
  std::string bundle_dir;  // for the hooks' OCI state
  // Called after the hooks, before the task is let go (and joins its namespaces by path); an
  // error stops the task. Unset: nothing to wait for.
  std::function<Status()> before_release;
};

// Starts the task. On failure the child has been reaped and the error's message is what a
// user needs: `exec "/bin/nope": No such file or directory`.
Result<LaunchedTask> launch(const OciSpec& spec, const TaskStdio& stdio, const LaunchTarget& target);

// kInvalidArgument unless each sysctl is scoped by a namespace the task has of its own.
Status check_sysctls(const OciSpec& spec);

// The clone flag of a namespace type ("network": CLONE_NEWNET); kInvalidArgument otherwise.
Result<int> namespace_flag(const std::string& type);

// Clone flags for the namespaces the spec creates (those with a path are joined instead, by
// the child); a new mount namespace is required (the launcher mounts, and no mount may
// appear in the host's namespace).
Result<unsigned long long> namespace_flags(const OciSpec& spec);

// The paths execve tries for args[0]: itself when it holds a '/', else each directory of
// PATH from `env` (or the usual default PATH) joined with it.
std::vector<std::string> exec_candidates(const std::string& command, const std::vector<std::string>& env);

struct ChildPlan;
// The program a launch's or an exec's child runs, into `plan`, pointing into `spec` (which must
// outlive it): the seccomp filter (kInvalidArgument unless whole BPF instructions, at most
// 4096), the paths execve tries, argv and envp.
Status plan_program(const OciSpec& spec, ChildPlan& plan);

}  // namespace berth::sandbox
