#include "isolators/launch_additions.hpp"

#include <algorithm>

namespace berth::isolators {
namespace {

void add_once(std::vector<std::string>& into, const std::vector<std::string>& from) {
  for (const auto& p : from)
    if (std::find(into.begin(), into.end(), p) == into.end()) into.push_back(p);
}

}  // namespace

Status AdditionsMerger::claim(const std::string& kind, const std::string& key, std::string_view who) {
  auto [it, fresh] = owners_.emplace(kind + " " + key, std::string(who));
  if (fresh) return ok();
  return make_error(Code::kInvalidArgument, kind + " '" + key + "' is set by both isolator " + it->second +
                                                " and isolator " + std::string(who));
}

Status AdditionsMerger::add(std::string_view who, const LaunchAdditions& a) {
  for (const auto& n : a.namespaces) {
    BERTH_CHECK(claim("namespace", n.type, who));
    merged_.namespaces.push_back(n);
  }
  if (!a.uid_mappings.empty() || !a.gid_mappings.empty()) {
    BERTH_CHECK(claim("user namespace", "id mappings", who));
    merged_.uid_mappings = a.uid_mappings;
    merged_.gid_mappings = a.gid_mappings;
  }
  for (const auto& m : a.mounts) {
    BERTH_CHECK(claim("mount at", m.destination, who));
    merged_.mounts.push_back(m);
  }
  for (const auto& d : a.device_nodes) {
    BERTH_CHECK(claim("device node", d.path, who));
    merged_.device_nodes.push_back(d);
  }
  for (const auto& [k, v] : a.env) {
    BERTH_CHECK(claim("env", k, who));
    merged_.env[k] = v;
  }
  for (const auto& r : a.rlimits) {
    BERTH_CHECK(claim("rlimit", r.type, who));
    merged_.rlimits.push_back(r);
  }
  for (const auto& [k, v] : a.sysctls) {
    BERTH_CHECK(claim("sysctl", k, who));
    merged_.sysctls[k] = v;
  }
  if (!a.seccomp_bpf.empty()) {
    BERTH_CHECK(claim("seccomp", "program", who));
    merged_.seccomp_bpf = a.seccomp_bpf;
  }
  if (a.capabilities) {
    BERTH_CHECK(claim("capabilities", "sets", who));
    merged_.capabilities = a.capabilities;
  }
  if (a.network) {
    BERTH_CHECK(claim("network", "attachment", who));
    merged_.network = a.network;
  }
  merged_.readonly_rootfs = merged_.readonly_rootfs || a.readonly_rootfs;
  merged_.writable_sys = merged_.writable_sys || a.writable_sys;
  add_once(merged_.masked_paths, a.masked_paths);
  add_once(merged_.readonly_paths, a.readonly_paths);
  merged_.no_new_privileges = merged_.no_new_privileges || a.no_new_privileges;
  if (!a.devices.empty() && devices_from_.empty()) devices_from_ = std::string(who);
  merged_.devices.insert(merged_.devices.end(), a.devices.begin(), a.devices.end());
  merged_.hooks.insert(merged_.hooks.end(), a.hooks.begin(), a.hooks.end());
  return ok();
}

}  // namespace berth::isolators
