#include "isolators/network/cni_config.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "common/fs.hpp"
#include "common/json.hpp"

namespace berth::isolators {
namespace {

using rapidjson::Value;

bool plain_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos && s.find('\0') == std::string::npos;
}

std::string string_or_empty(const Value& obj, const char* key) {
  return obj.IsObject() ? json::get_string(obj, key) : std::string();
}

Status check_array(const Value& obj, const char* key, const char* what) {
  if (obj.HasMember(key) && !obj[key].IsArray())
    return make_error(Code::kInvalidArgument, std::string("the ") + what + " field '" + key + "' is not an array");
  return ok();
}

void parse_ips(const Value& doc, CniResult& r) {
  if (!doc.HasMember("ips")) return;
  for (const auto& ip : doc["ips"].GetArray()) {
    CniIp x{string_or_empty(ip, "address"), string_or_empty(ip, "gateway"), std::nullopt};
    if (ip.IsObject() && ip.HasMember("interface") && ip["interface"].IsInt()) x.interface = ip["interface"].GetInt();
    r.ips.push_back(std::move(x));
  }
}

void parse_dns(const Value& doc, CniResult& r) {
  if (!doc.HasMember("dns") || !doc["dns"].IsObject()) return;
  const auto& dns = doc["dns"];
  r.nameservers = json::get_string_array(dns, "nameservers");
  r.search = json::get_string_array(dns, "search");
  r.domain = json::get_string(dns, "domain");
}

}  // namespace

Result<CniConflist> parse_conflist(const std::string& text, const std::string& path) {
  const std::string where = "CNI config " + (path.empty() ? std::string("(text)") : path);
  BERTH_TRY_CTX(auto doc, json::parse(text), where);
  if (!doc.IsObject()) return make_error(Code::kInvalidArgument, where + ": not a JSON object");
  CniConflist list{json::get_string(doc, "name"), json::get_string(doc, "cniVersion"), path, text, {},
                   json::get_bool(doc, "disableCheck")};
  if (list.name.empty()) return make_error(Code::kInvalidArgument, where + ": no \"name\"");
  if (list.cni_version.empty()) return make_error(Code::kInvalidArgument, where + ": no \"cniVersion\"");
  if (!doc.HasMember("plugins") || !doc["plugins"].IsArray() || doc["plugins"].Empty())
    return make_error(Code::kInvalidArgument, where + ": \"plugins\" must be a non-empty array (a .conflist)");
  for (const auto& p : doc["plugins"].GetArray()) {
    std::string type = string_or_empty(p, "type");
    if (!plain_name(type))
      return make_error(Code::kInvalidArgument, where + ": a plugin's \"type\" '" + json::printable(type) +
                                                    "' must be a plain binary name");
    list.types.push_back(type);
  }
  return list;
}

Result<CniConflist> find_conflist(const std::string& dir, const std::string& name) {
  const std::string unknown = "unknown CNI network '" + json::printable(name) + "'";
  auto files = fs::list_dir(dir);
  if (!files) return make_error(Code::kInvalidArgument, unknown + ": cannot read the CNI config dir " + dir + ": " +
                                                            files.error().message);
  std::sort(files->begin(), files->end());
  if (files->size() > kMaxCniConfigFiles)
    return make_error(Code::kInternal, dir + " holds more than " + std::to_string(kMaxCniConfigFiles) +
                                           " entries; the CNI config scan budget ran out");
  for (const auto& f : *files) {
    if (!f.ends_with(".conflist") && !f.ends_with(".json")) continue;
    std::string path = dir + "/" + f;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) > kMaxCniConfigBytes)
      continue;
    auto text = fs::read_file(path);
    if (!text || text->size() > kMaxCniConfigBytes) continue;
    auto list = parse_conflist(*text, path);
    if (list && list->name == name) return list;
  }
  return make_error(Code::kInvalidArgument, unknown + ": no .conflist in " + dir + " has that \"name\"");
}

std::string cni_runtime_config(const CniCapabilities& caps) {
  json::JsonWriter w;
  w.begin_object();
  if (!caps.ports.empty()) {
    w.key("portMappings").begin_array();
    for (const auto& p : caps.ports)
      w.begin_object().kv("hostPort", unsigned{p.host_port}).kv("containerPort", unsigned{p.container_port})
          .kv("protocol", p.protocol).end_object();
    w.end_array();
  }
  if (caps.ingress_mbit || caps.egress_mbit) {
    // Rates in bit/s; the burst is 1/8 s of traffic (the plugin wants both or neither).
    w.key("bandwidth").begin_object();
    if (caps.ingress_mbit)
      w.kv("ingressRate", *caps.ingress_mbit * 1000000ULL).kv("ingressBurst", *caps.ingress_mbit * 125000ULL);
    if (caps.egress_mbit)
      w.kv("egressRate", *caps.egress_mbit * 1000000ULL).kv("egressBurst", *caps.egress_mbit * 125000ULL);
    w.end_object();
  }
  w.end_object();
  return w.str();
}

Result<std::string> cni_plugin_config(const CniConflist& list, size_t index, const std::string& prev_result,
                                      const std::string& runtime_config) {
  BERTH_TRY(auto doc, json::parse(list.text));
  if (!doc.IsObject() || !doc.HasMember("plugins") || !doc["plugins"].IsArray() || index >= doc["plugins"].Size())
    return make_error(Code::kInternal, "CNI network '" + list.name + "' has no plugin " + std::to_string(index));
  rapidjson::Document out;
  auto& a = out.GetAllocator();
  out.CopyFrom(doc["plugins"][static_cast<rapidjson::SizeType>(index)], a);
  out.RemoveMember("name");
  out.RemoveMember("cniVersion");
  out.AddMember("name", Value(list.name, a), a);
  out.AddMember("cniVersion", Value(list.cni_version, a), a);
  out.RemoveMember("prevResult");
  if (!prev_result.empty()) {
    BERTH_TRY_CTX(auto prev, json::parse(prev_result), "previous CNI result");
    out.AddMember("prevResult", Value(prev, a), a);
  }
  out.RemoveMember("runtimeConfig");
  if (out.HasMember("capabilities") && out["capabilities"].IsObject() && !runtime_config.empty()) {
    BERTH_TRY(auto offered, json::parse(runtime_config));
    Value given(rapidjson::kObjectType);
    for (auto& m : out["capabilities"].GetObject()) {
      if (!m.value.IsBool() || !m.value.GetBool() || !offered.HasMember(m.name)) continue;
      given.AddMember(Value(m.name, a), Value(offered[m.name], a), a);
    }
    if (given.MemberCount() > 0) out.AddMember("runtimeConfig", given, a);
  }
  return json::to_string(out);
}

Result<CniResult> parse_cni_result(const std::string& text) {
  BERTH_TRY_CTX(auto doc, json::parse(text), "CNI result");
  if (!doc.IsObject()) return make_error(Code::kInvalidArgument, "CNI result: not a JSON object");
  for (const char* key : {"interfaces", "ips", "routes"}) BERTH_CHECK_CTX(check_array(doc, key, "CNI result"), "CNI result");
  CniResult r;
  r.cni_version = json::get_string(doc, "cniVersion");
  if (doc.HasMember("interfaces"))
    for (const auto& i : doc["interfaces"].GetArray()) r.interfaces.push_back(string_or_empty(i, "name"));
  parse_ips(doc, r);
  if (doc.HasMember("routes"))
    for (const auto& rt : doc["routes"].GetArray()) r.routes.push_back({string_or_empty(rt, "dst"), string_or_empty(rt, "gw")});
  parse_dns(doc, r);
  return r;
}

std::string cni_result_json(const CniResult& r) {
  json::JsonWriter w;
  w.begin_object().kv("cni_version", r.cni_version).kv_strings("interfaces", r.interfaces).key("ips").begin_array();
  for (const auto& ip : r.ips) {
    w.begin_object().kv("address", ip.address);
    if (!ip.gateway.empty()) w.kv("gateway", ip.gateway);
    if (ip.interface && *ip.interface >= 0 && static_cast<size_t>(*ip.interface) < r.interfaces.size())
      w.kv("interface", r.interfaces[static_cast<size_t>(*ip.interface)]);
    w.end_object();
  }
  w.end_array().key("routes").begin_array();
  for (const auto& rt : r.routes) {
    w.begin_object().kv("dst", rt.dst);
    if (!rt.gw.empty()) w.kv("gw", rt.gw);
    w.end_object();
  }
  w.end_array().key("dns").begin_object().kv_strings("nameservers", r.nameservers).kv_strings("search", r.search);
  if (!r.domain.empty()) w.kv("domain", r.domain);
  w.end_object().end_object();
  return w.str();
}

}  // namespace berth::isolators
