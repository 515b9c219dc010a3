#include "agent/task_network.hpp"

#include "agent/container.hpp"
#include "isolators/network/ipam.hpp"

namespace berth::agent {
namespace {

constexpr size_t kMaxPorts = 64;  // the launch schema's maxItems

std::string address_text(uint32_t a) { return a ? isolators::ipv4_text(a) : std::string(); }

}  // namespace

void write_task_network(json::JsonWriter& w, const isolators::TaskNetwork& n) {
  w.begin_object().kv("mode", isolators::network_mode_name(n.mode));
  w.key("address");
  n.address ? w.value(address_text(n.address)) : w.null();
  w.key("ports").begin_array();
  for (const auto& p : n.ports)
    w.begin_object().kv("name", p.name).kv("protocol", p.protocol).kv("container_port", unsigned(p.container_port))
        .kv("host_ip", n.host_ip).kv("host_port", unsigned(p.host_port)).end_object();
  w.end_array();
  if (!n.cni_name.empty()) w.kv("name", n.cni_name);
  if (!n.cni_result.empty()) w.key("cni").raw(n.cni_result);
  w.end_object();
}

Result<isolators::TaskNetwork> parse_task_network(const rapidjson::Value& v) {
  isolators::TaskNetwork n;
  BERTH_TRY(n.mode, isolators::parse_network_mode(json::get_string(v, "mode", "none"), "/network/mode"));
  if (v.HasMember("address") && v["address"].IsString()) {
    BERTH_TRY(n.address, isolators::parse_ipv4(v["address"].GetString()));
  }
  n.cni_name = json::get_string(v, "name");
  if (v.HasMember("cni") && v["cni"].IsObject()) n.cni_result = json::to_string(v["cni"]);
  if (!v.HasMember("ports") || !v["ports"].IsArray()) return n;
  for (const auto& p : v["ports"].GetArray()) {
    if (n.ports.size() >= kMaxPorts || !p.IsObject()) break;
    isolators::PortSpec port;
    port.name = json::get_string(p, "name");
    port.protocol = json::get_string(p, "protocol", "tcp");
    port.container_port = static_cast<uint16_t>(json::get_uint(p, "container_port"));
    port.host_port = static_cast<uint16_t>(json::get_uint(p, "host_port"));
    n.host_ip = json::get_string(p, "host_ip", n.host_ip);
    n.ports.push_back(std::move(port));
  }
  return n;
}

std::string endpoints_json(const std::vector<ContainerRecord>& tasks) {
  json::JsonWriter w;
  w.begin_object().key("endpoints").begin_array();
  for (const auto& t : tasks) {
    if (!t.network) continue;
    for (const auto& p : t.network->ports)
      w.begin_object().kv("task_id", t.id).kv("task_name", t.name).kv("port_name", p.name)
          .kv("protocol", p.protocol).kv("container_port", unsigned(p.container_port))
          .kv("host_ip", t.network->host_ip).kv("host_port", unsigned(p.host_port))
          .kv("mode", isolators::network_mode_name(t.network->mode))
          .kv("address", address_text(t.network->address)).end_object();
  }
  w.end_array().end_object();
  return w.str();
}

}  // namespace berth::agent
