#include "isolators/network/network_isolator.hpp"

#include "common/json.hpp"

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
    }
  }
  BERTH_CHECK(bridge_.reconcile(attached));
  return recover_cni(known);
}

// --- cni mode ---
Status NetworkIsolator::recover_cni(std::span<const ContainerState> known) {
  std::set<std::string> keep;
  for (const auto& s : known)
    if (cni_.attached(s.id)) keep.insert(s.id);
  Status first = cni_.reconcile(keep);
  for (const auto& id : keep) {
    cni_ids_.insert(id);
    auto checked = cni_.check(id);
    if (!checked && first) first = std::move(checked).error().wrap("CHECK the CNI network of '" + id + "'");
  }
  return first;
}

Result<LaunchAdditions> NetworkIsolator::prepare_cni(const ContainerId& id, const ContainerSpec& spec) {
  CniCapabilities caps{spec.network.ports, std::nullopt, std::nullopt};
  BERTH_TRY(CniAttachment a, cni_.attach(id, spec.network.name, caps, spec.sandbox_dir, spec.hostname));
  cni_ids_.insert(id);
  LaunchAdditions add;
  add.namespaces.push_back({"network", a.netns_path});
  for (auto [dest, source] : {std::pair{"/etc/resolv.conf", a.resolv_conf}, std::pair{"/etc/hosts", a.hosts}})
    if (!source.empty()) add.mounts.push_back({dest, "bind", source, {"bind", "ro", "nosuid", "nodev", "noexec"}});
  json::JsonWriter w;
  w.begin_object().kv("mode", "cni").kv("name", spec.network.name).key("result").raw(cni_result_json(a.parsed)).end_object();
  add.network_status = w.str();
  return add;
}
// --- end cni mode ---

Result<LaunchAdditions> NetworkIsolator::prepare_bridge(const ContainerId& id, const ContainerSpec& spec) {
  BERTH_TRY(BridgeAttachment a, bridge_.attach(id, spec.sandbox_dir, spec.hostname));
  bridged_.insert(id);
  LaunchAdditions add;
  add.namespaces.push_back({"network", a.netns_path});
  for (auto [dest, source] : {std::pair{"/etc/resolv.conf", a.resolv_conf}, std::pair{"/etc/hosts", a.hosts}})
    add.mounts.push_back({dest, "bind", source, {"bind", "ro", "nosuid", "nodev", "noexec"}});
  return add;
}

Result<LaunchAdditions> NetworkIsolator::prepare(const ContainerId& id, const ContainerSpec& spec) {
  NetworkMode mode = spec.network.mode.value_or(config_.default_mode);
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
    case NetworkMode::kCni: {
      BERTH_TRY(a, prepare_cni(id, spec));
      break;
    }
  }
  ids_.insert(id);
  return a;
}

Result<Usage> NetworkIsolator::usage(const ContainerId& id) {
  if (!ids_.count(id)) return make_error(Code::kNotFound, "no task '" + id + "'");
  return Usage{};
}

Status NetworkIsolator::cleanup(const ContainerId& id) {
  ids_.erase(id);
  if (cni_ids_.count(id)) {
    BERTH_CHECK_CTX(cni_.detach(id), "CNI network of '" + id + "'");
    cni_ids_.erase(id);
  }
  if (!bridged_.count(id)) return ok();
  BERTH_CHECK_CTX(bridge_.detach(id), "bridge network of '" + id + "'");
  bridged_.erase(id);
  return ok();
}

}  // namespace berth::isolators
