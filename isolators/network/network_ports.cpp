#include "isolators/network/network_ports.hpp"

#include <fcntl.h>

#include <cctype>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace berth::isolators {

std::map<std::string, std::string> port_env(const std::vector<PortSpec>& ports) {
  std::map<std::string, std::string> env;
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string host = std::to_string(ports[i].host_port);
    env["PORT" + std::to_string(i)] = host;
    std::string name = "PORT_";
    for (char c : ports[i].name) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env[name] = host;
  }
  return env;
}

Result<PortAllocator*> NetworkPorts::allocator() {
  if (config_.ports_dir.empty())
    return make_error(Code::kFailedPrecondition, "this berthd has no port range configured");
  if (!ports_) {
    BERTH_TRY(PortAllocator opened, PortAllocator::open(config_.ports_dir, config_.port_range));
    ports_.emplace(std::move(opened));
  }
  return &*ports_;
}

// A connection from 127.0.0.1 DNAT'd to the bridge is routed out of it only with
// route_localnet on the bridge (the masquerade then gives it the bridge's address).
Status NetworkPorts::allow_localnet() {
  if (localnet_) return ok();
  std::string path = "/proc/sys/net/ipv4/conf/" + config_.bridge.name + "/route_localnet";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("allow 127.0.0.1 to reach the bridge's tasks: open " + path);
  UniqueFd file = UniqueFd::adopt(fd);
  BERTH_CHECK_CTX(fs::write_all(file.get(), "1", 1), "allow 127.0.0.1 to reach the bridge's tasks: " + path);
  localnet_ = true;
  return ok();
}

std::vector<NatMapping> NetworkPorts::mappings(const std::string& owner) const {
  std::vector<NatMapping> out;
  if (ports_)
    for (const auto& [key, r] : ports_->records())
      if (r.address != 0 && (owner.empty() || r.owner == owner))
        out.push_back({r.port.protocol, r.port.host_port, r.address, r.port.container_port});
  return out;
}

Status NetworkPorts::sync() {
  auto all = mappings("");
  NatConfig nat{config_.bridge.name, config_.bridge.subnet, config_.bridge.masquerade, bridge_up_};
  std::string text = nat_ruleset(nat, all);
  if (!all.empty()) BERTH_CHECK(allow_localnet());
  table_ = Table::kUnknown;  // until the kernel said yes
  BERTH_CHECK(nft_.replace(text));
  table_ = text.empty() ? Table::kAbsent : Table::kPresent;
  return ok();
}

// One task's elements added or removed; anything else (no table yet, a failure) rewrites all.
Status NetworkPorts::change(bool add, const std::vector<NatMapping>& changed) {
  bool empty_after = !add && mappings("").empty() && !bridge_up_;
  if (table_ == Table::kPresent && !empty_after) {
    if (add) BERTH_CHECK(allow_localnet());
    if (nft_.change_elements(add, changed)) return ok();
  }
  return sync();
}

Result<std::vector<PortSpec>> NetworkPorts::publish(const std::string& id, const std::vector<PortSpec>& ports,
                                                    uint32_t address) {
  if (ports.empty()) return ports;
  BERTH_TRY(PortAllocator * pool, allocator());
  BERTH_TRY(auto got, pool->reserve(id, ports, address));
  if (address == 0) return got;
  if (auto st = change(true, mappings(id)); !st) {
    (void)pool->release(id);
    (void)sync();
    return std::move(st).error().wrap("map the ports of " + id);
  }
  return got;
}

Status NetworkPorts::unpublish(const std::string& id) {
  if (!ports_ && config_.ports_dir.empty()) return ok();
  BERTH_TRY(PortAllocator * pool, allocator());
  if (pool->ports_of(id).empty()) return ok();
  auto gone = mappings(id);
  BERTH_CHECK(pool->release(id));
  return gone.empty() ? ok() : change(false, gone);
}

Status NetworkPorts::recover(const std::set<std::string>& keep, bool bridge_up) {
  bridge_up_ = bridge_up;
  if (config_.ports_dir.empty()) return ok();
  BERTH_TRY(PortAllocator * pool, allocator());
  Status first = pool->retain_only(keep);
  auto st = sync();
  return first ? st : first;
}

Status NetworkPorts::bridge_is_up() {
  if (bridge_up_ && table_ == Table::kPresent) return ok();
  bridge_up_ = true;
  return sync();
}

std::vector<PortSpec> NetworkPorts::ports_of(const std::string& id) const {
  return ports_ ? ports_->ports_of(id) : std::vector<PortSpec>{};
}

}  // namespace berth::isolators
