#include "isolators/network/network_isolator.hpp"

namespace berth::isolators {
namespace {

Status check_host_sysctls(const ContainerSpec& spec) {
  for (const auto& [key, value] : spec.security.sysctls) {
    (void)value;
    if (key.rfind("net.", 0) == 0)
      return make_error(Code::kInvalidArgument, "sysctl " + key +
                                                    " would change the node's network: a task in network mode "
                                                    "\"host\" shares it; drop the sysctl or use mode \"none\"");
  }
  return ok();
}

}  // namespace

Status NetworkIsolator::recover(std::span<const ContainerState> known) {
  std::set<std::string> attached;
  for (const auto& s : known) {
    ids_.insert(s.id);
    if (bridge_.attached(s.id)) {
      bridged_.insert(s.id);
      attached.insert(s.id);
      bandwidth_[s.id] = s.spec.resources.network;  // tc state lives in the kernel
    }
  }
  return bridge_.reconcile(attached);
}

Result<LaunchAdditions> NetworkIsolator::prepare_bridge(const ContainerId& id, const ContainerSpec& spec) {
  BERTH_TRY(BridgeAttachment a, bridge_.attach(id, spec.sandbox_dir, spec.hostname));
  bridged_.insert(id);
  if (auto shaped = shape_bridge(id, spec.resources.network); !shaped) {
    (void)cleanup(id);  // the first error is the one to report
    return std::move(shaped).error();
  }
  LaunchAdditions add;
  add.namespaces.push_back({"network", a.netns_path});
  for (auto [dest, source] : {std::pair{"/etc/resolv.conf", a.resolv_conf}, std::pair{"/etc/hosts", a.hosts}})
    add.mounts.push_back({dest, "bind", source, {"bind", "ro", "nosuid", "nodev", "noexec"}});
  return add;
}

Result<LaunchAdditions> NetworkIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  NetworkMode mode = spec.network.mode.value_or(config_.default_mode);
  BERTH_CHECK(check_bandwidth_mode(mode, spec.resources.network));
  LaunchAdditions a;
  switch (mode) {
    case NetworkMode::kNone:
      a.namespaces.push_back({"network", ""});
      break;
    case NetworkMode::kHost:
      BERTH_CHECK(check_host_sysctls(spec));
      break;
    case NetworkMode::kBridge: {
      BERTH_TRY(a, prepare_bridge(id, spec));
      break;
    }
  }
  ids_.insert(id);
  return a;
}

Result<Usage> NetworkIsolator::usage(const ContainerId& id) {
  if (!ids_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
  Usage u;
  BERTH_TRY(u.network, network_usage(id));
  return u;
}

Status NetworkIsolator::cleanup(const ContainerId& id) {
  ids_.erase(id);
  bandwidth_.erase(id);
  if (!bridged_.count(id)) return ok();
  BERTH_CHECK_CTX(bridge_.detach(id), "bridge network of '" + id + "'");
  bridged_.erase(id);
  return ok();
}

}  // namespace berth::isolators
