// Isolator: one concern of a task's isolation (cpu, memory, pids, disk, max_runtime, its
// namespaces, its filesystem, its confinement (security/); next: devices, network), with the
// Mesos-style lifecycle: recover after a berthd restart, prepare before the task exists (the
// shim clones the task straight into its cgroup, so limits are in place before its first
// instruction), ready while the shim starts (the task is held until then), isolate once it
// runs, update live, report usage, cleanup at the end.
//
// prepare() returns LaunchAdditions: what the task needs from this isolator (namespaces to
// create or join, mounts, masked/read-only paths, env, rlimits, sysctls, a seccomp program,
// device rules, hooks run with the task's pid before it is released). The Registry merges the
// additions of every isolator in table order (rules in registry.hpp: the same env key, mount
// destination, namespace type, rlimit or sysctl from two isolators is an error naming both);
// translate() turns the task spec plus the merged additions into the OCI spec the shim's
// launcher applies. So agent/ never knows which isolator added what.
//
// Adding an isolator (security, devices, network, ...), with no `if` in agent/:
//  1. Write it under isolators/<kind>/: derive from Isolator, fill LaunchAdditions in prepare
//     from the ContainerSpec (add fields to ContainerSpec/Resources if it needs new input;
//     the agent's isolator_spec() copies the task spec into it once, for every isolator).
//  2. Add one line to Registry::create_default's table (registry.cpp), at its place in the
//     order: that table is the only place that lists isolators.
//  3. Add it to the conformance suite's factory list (tests/isolators/conformance_test.cpp).
//  A kind of addition the launcher does not apply yet is refused at prepare with
//  kFailedPrecondition, never ignored. State that must survive a berthd
//  restart is re-derived in recover() from ContainerState (the checkpointed spec) or from the
//  kernel (cgroup files, bind-mounted namespaces), not kept only in memory.
//
// Contract (checked by tests/isolators/conformance_test.cpp for every isolator):
//  - cleanup(id) for an id never prepared, or already cleaned up, is ok and does nothing;
//  - prepare then cleanup leaves no state behind (a later usage(id) is kNotFound);
//  - recover(known) re-adopts running tasks so update/usage/cleanup work as before the restart;
//  - check_update() changes nothing; update() returns an Undo that puts back exactly what it
//    changed (the Registry runs it when a later isolator's update fails: all or nothing).
// Breaches are not polled by callers: an isolator turns a cgroup event (memory.events,
// pids.events) or a tick into a Limitation, returned to the Registry, which hands it to the
// agent on the event loop.
//
// Threading: an isolator is called only by its Registry, under the Registry's lock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/devices.hpp"
#include "cgroups/events.hpp"
#include "cgroups/stats.hpp"
#include "cgroups/task_cgroups.hpp"
#include "common/result.hpp"
#include "isolators/network/network_spec.hpp"
#include "isolators/network/network_usage.hpp"
#include "isolators/resources.hpp"
#include "isolators/security.hpp"
#include "sandbox/oci_spec.hpp"

namespace berth::isolators {

using ContainerId = std::string;

// A host path bind-mounted into the task (the spec's "volumes").
struct Volume {
  std::string host_path;
  std::string container_path;
  bool read_only = false;
};

// What an isolator needs to know about a task.
struct ContainerSpec {
  Resources resources;
  Policy policy;
  Security security;
  // The task's cgroups, created by the agent before prepare (TaskCgroupRoot::create) and
  // shared with every isolator; null only for a task whose cgroup is gone (recover).
  std::shared_ptr<const cgroups::TaskCgroups> cgroups;
  std::string sandbox_dir;  // sandbox::SandboxLayout: work/ and overlay/upper/ count for disk_mb
  std::vector<Volume> volumes;
  NetworkSpec network;  // isolators/network
  std::string hostname;  // the task's, for its /etc/hosts (bridge mode); may be empty
};

// A task known from its checkpoint, for recover().
struct ContainerState {
  ContainerId id;
  ContainerSpec spec;
  int64_t started_at_ns = 0;  // 0 when it never ran
};

// A breach. `reason` is the termination reason when fatal (memory_limit, pids_limit,
// disk_limit, max_runtime) or the event's name when not (memory_oom, pids_limit).
struct Limitation {
  std::string resource;  // "memory", "pids", "disk", "max_runtime"
  std::string reason;
  bool fatal = false;
  std::string message;
};

struct ContainerLimitation {
  ContainerId id;
  Limitation limitation;
};

// Usage: what the kernel counts (a cgroups::Stats, each isolator filling its own part) plus
// what berth measures itself.
struct Usage {
  cgroups::Stats cgroup;
  std::optional<uint64_t> disk_used_bytes;
  std::optional<uint64_t> disk_limit_bytes;
  std::optional<int64_t> runtime_s;
  std::optional<uint64_t> max_runtime_s;
  std::optional<NetworkUsage> network;  // bridge tasks: veth counters and bandwidth limits
};
// Copies the fields `from` has into `into`.
void merge(Usage& into, const Usage& from);

// A device rule (cgroups/devices.hpp): the Registry confines the task's cgroup to the merged
// rules of every isolator before the task exists (an eBPF program on cgroup2, the v1 devices
// controller where that is mounted), and releases them at cleanup.
using DeviceRule = cgroups::DeviceRule;

// The capabilities a task gets; translate() spreads them over its sets by its user
// (sandbox::capabilities_for: root gets them bounding+permitted+effective, another user only
// bounding, or with `ambient` also permitted+inheritable+ambient).
struct CapabilityGrant {
  sandbox::CapabilitySet set = 0;
  bool ambient = false;
};

// What one isolator adds to the launch. Merged across isolators by the Registry.
struct LaunchAdditions {
  std::vector<sandbox::OciNamespace> namespaces;  // path empty: create; else join that one
  std::vector<sandbox::OciIdMapping> uid_mappings;  // with a new "user" namespace: its maps
  std::vector<sandbox::OciIdMapping> gid_mappings;
  std::vector<sandbox::OciMount> mounts;          // after the rootfs, in order
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::map<std::string, std::string> env;
  std::vector<sandbox::OciRlimit> rlimits;
  std::map<std::string, std::string> sysctls;   // written inside the task's namespaces
  std::vector<uint8_t> seccomp_bpf;             // struct sock_filter[]; empty: none
  bool no_new_privileges = false;               // any isolator asking turns it on
  std::optional<CapabilityGrant> capabilities;  // absent: the task keeps all
  bool readonly_rootfs = false;                 // the root file system mounted read-only
  bool writable_sys = false;                    // /sys writable (privileged)
  std::vector<DeviceRule> devices;
  std::vector<sandbox::OciDevice> device_nodes;  // made in the task's /dev
  std::vector<sandbox::OciHook> hooks;          // run with the task's pid before release
  // What the task's network became (mode, bridge address, ports with their host ports), for
  // the task's record (inspect, endpoints, events); at most one isolator (network) sets it.
  std::optional<TaskNetwork> network;
};

// Puts back what one update changed (returned by Isolator::update).
using Undo = std::function<Status()>;
inline Undo no_undo() {
  return [] { return ok(); };
}

class Isolator {
 public:
  virtual ~Isolator() = default;
  virtual std::string_view name() const = 0;  // "cgroups/memory"
  virtual Status recover(std::span<const ContainerState> known) {
    (void)known;
    return ok();
  }
  virtual Result<LaunchAdditions> prepare(const ContainerId&, const ContainerSpec&) = 0;
  // What prepare() may leave for later because the spec does not depend on it, run while the
  // shim starts (a bridge task's namespace, veth and addresses, ~2 ms): the launcher holds the
  // task before its first step until ready() returns, and a failure fails the launch (cleanup
  // follows, as after any prepare).
  virtual Status ready(const ContainerId&) { return ok(); }
  virtual Status isolate(const ContainerId&, pid_t, int64_t /*started_at_ns*/) { return ok(); }
  // Whether update(id, r) would succeed (controller present, values acceptable); changes nothing.
  virtual Status check_update(const ContainerId&, const Resources&) { return ok(); }
  // Applies the fields `r` sets; on success returns how to put the previous values back.
  virtual Result<Undo> update(const ContainerId&, const Resources&) { return no_undo(); }
  virtual Result<Usage> usage(const ContainerId&) = 0;
  virtual Status cleanup(const ContainerId&) = 0;  // unknown id: ok; once; after prepare

  // A watched cgroup event file of `id` changed; returns the breaches it shows.
  virtual std::vector<Limitation> on_event(const ContainerId&, cgroups::EventFile) { return {}; }
  // Called a few times a second (every 250 ms); returns the breaches found (time- and
  // space-based limits, which have no kernel event).
  virtual std::vector<ContainerLimitation> tick(int64_t now_ns) {
    (void)now_ns;
    return {};
  }
};

}  // namespace berth::isolators
