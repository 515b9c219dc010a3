// Device access of a task's cgroup: which device nodes its processes may open or mknod,
// whatever nodes exist in their /dev. A rule set is an ordered list; the last rule matching an
// access decides, and an access no rule matches is refused (so the set is an allowlist unless
// a rule says "a *:* rwm").
//
// Where it is enforced is chosen here, never by a caller:
//  - a cgroup2 directory (the task's unified one, also on hybrid hosts: cgroup-bpf works on the
//    unified hierarchy even when the v1 devices controller is mounted) gets a
//    BPF_PROG_TYPE_CGROUP_DEVICE program compiled from the rules, attached with flags 0 (no
//    override: nothing below the task's cgroup can attach a looser one). The kernel keeps it
//    referenced by the cgroup: it outlives berthd and goes when the cgroup is removed. A rule
//    set is loaded (verified, JITed) once per berthd and the same program attached to every
//    cgroup that has that set.
//  - a v1 devices directory (TaskCgroups::for_controller("devices") where that is not the
//    unified one) gets devices.deny "a" and one devices.allow / devices.deny line per rule.
// The kernel checks both where both exist. restrict() fails when neither could be used.
// Threading: safe from several threads (the loaded programs are cached under a lock).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cgroups/task_cgroups.hpp"
#include "common/result.hpp"

namespace berth::cgroups {

struct DeviceRule {
  bool allow = true;
  char type = 'c';                 // 'c', 'b' or 'a' (any)
  int64_t major = -1, minor = -1;  // -1: any
  std::string access = "rwm";      // a subset of "rwm"
  bool operator==(const DeviceRule&) const = default;
};

// The standard nodes every task has: null, zero, full, random, urandom, tty, console, ptmx,
// the pts devices (136:*), plus mknod of any char/block node (opening it is what is refused).
std::vector<DeviceRule> default_device_rules();
// Everything ("a *:* rwm"): a privileged task.
std::vector<DeviceRule> all_devices_rule();

// kInvalidArgument naming the rule when a type, number or access string is unusable.
Status validate(const DeviceRule& rule);
// "c 1:3 rwm", "b *:* r" (the v1 devices.allow syntax).
std::string to_string(const DeviceRule& rule);

// The eBPF program (struct bpf_insn[]) deciding `rules`, for tests and for restrict().
std::vector<uint8_t> compile_device_program(const std::vector<DeviceRule>& rules);

// Confines the task's cgroups to `rules` (replacing an earlier set). Before the task runs.
Status restrict_devices(const TaskCgroups& task, const std::vector<DeviceRule>& rules);
// Detaches the program from the unified directory (nothing attached, or gone: ok).
Status release_devices(const TaskCgroups& task);

}  // namespace berth::cgroups
