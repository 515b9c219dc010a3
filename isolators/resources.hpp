// Resources and Policy: what a task is allocated and what happens when it breaches it, as
// the launch spec says (docs/API.md). Plain values; `any()` says whether a limit was asked for.
// A Resources also serves as a partial update (POST /v1/containers/{id}/update): the fields
// set replace the task's, the others stay.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace berth::isolators {

// The bandwidth of a task's network ("resources": {"network": {...}}), in Mbit/s (10^6 bit/s),
// from the task's point of view: egress is what it sends, ingress what it receives. Bridge
// mode shapes it with tc on the task's veth (isolators/network/traffic_control.hpp); a cni
// network gets it as the `bandwidth` capability argument. Refused in host and none modes.
struct NetworkBandwidth {
  std::optional<uint32_t> egress_mbit;
  std::optional<uint32_t> ingress_mbit;
  bool any() const { return egress_mbit || ingress_mbit; }
  void apply(const NetworkBandwidth& update) {
    if (update.egress_mbit) egress_mbit = update.egress_mbit;
    if (update.ingress_mbit) ingress_mbit = update.ingress_mbit;
  }
  bool operator==(const NetworkBandwidth&) const = default;
};

struct Resources {
  std::optional<double> cpus;              // cpu.max quota/period and cpu.weight ∝ cpus
  std::optional<std::string> cpuset;       // cpuset.cpus, e.g. "0-1"
  std::optional<uint64_t> memory_mb;       // memory.max
  std::optional<uint64_t> memory_high_mb;  // memory.high (throttle, never kill)
  std::optional<uint64_t> memory_swap_mb;  // memory.swap.max (0 when memory_mb is set and this is not)
  std::optional<uint64_t> pids;            // pids.max
  std::optional<uint64_t> disk_mb;         // sandbox work/ + writable layer
  NetworkBandwidth network;                // tc on the task's veth (isolators/network)
  bool any() const {
    return cpus || cpuset || memory_mb || memory_high_mb || memory_swap_mb || pids || disk_mb || network.any();
  }
  // The fields `update` sets replace ours.
  void apply(const Resources& update);
  bool operator==(const Resources&) const = default;
};

struct Policy {
  bool oom_group = true;       // "oom": "group" (whole task dies) or "process"
  bool kill_on_pids = false;   // "kill_on": ["pids"]
  std::optional<uint64_t> max_runtime_s;
  bool operator==(const Policy&) const = default;
};

}  // namespace berth::isolators
