#include "agent/config.hpp"

#include "common/fs.hpp"
#include "common/json_schema.hpp"
#include "isolators/network/port_allocator.hpp"

namespace berth::agent {
namespace {

constexpr const char* kConfigSchema = R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "socket": {"type": "string", "pattern": "^/", "description": "an absolute path"},
    "socket_group": {"type": "string"},
    "run_dir": {"type": "string", "pattern": "^/", "description": "an absolute path"},
    "state_dir": {"type": "string", "pattern": "^/", "description": "an absolute path"},
    "cgroup_root": {"type": "string", "pattern": "^(/.*)?$", "description": "an absolute path"},
    "shim_path": {"type": "string", "pattern": "^(/.*)?$", "description": "an absolute path"},
    "log": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "max_size_mb": {"type": "integer", "minimum": 1, "maximum": 1048576},
        "max_files": {"type": "integer", "minimum": 1, "maximum": 100}
      }
    },
    "launch_timeout_s": {"type": "integer", "minimum": 1, "maximum": 3600},
    "default_grace_period_s": {"type": "integer", "minimum": 0, "maximum": 86400},
    "debug": {"type": "boolean"},
    "registries": {
      "type": "object",
      "additionalProperties": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "insecure": {"type": "boolean"},
          "ca_file": {"type": "string", "pattern": "^/", "description": "an absolute path"},
          "client_cert": {"type": "string", "pattern": "^/", "description": "an absolute path"},
          "client_key": {"type": "string", "pattern": "^/", "description": "an absolute path"},
          "username": {"type": "string"},
          "password": {"type": "string"},
          "mirrors": {"type": "array", "items": {"type": "string", "minLength": 1}}
        }
      }
    },
    "pull": {
      "type": "object", "additionalProperties": false,
      "properties": {"parallel_layers": {"type": "integer", "minimum": 1, "maximum": 64}}
    },
    "gc_headroom_mb": {"type": "integer", "minimum": 0},
    "artifact_cache_mb": {"type": "integer", "minimum": 0},
    "fetch": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "file_roots": {"type": "array", "items": {"type": "string", "pattern": "^/", "description": "an absolute path"}},
        "artifact_max_mb": {"type": "integer", "minimum": 1, "maximum": 1048576},
        "task_max_mb": {"type": "integer", "minimum": 1, "maximum": 1048576}
      }
    },
    "userns": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "default": {"type": "boolean"},
        "pool": {"type": "string", "pattern": "^[0-9]{1,10}-[0-9]{1,10}$", "description": "first-last host id, e.g. 1000000000-1999999999"},
        "range_size": {"type": "integer", "minimum": 1, "maximum": 2147483648}
      }
    },
    "unpack": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "max_mb": {"type": "integer", "minimum": 1, "maximum": 1048576},
        "max_entries": {"type": "integer", "minimum": 1, "maximum": 100000000},
        "max_ratio": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "ratio_after_mb": {"type": "integer", "minimum": 0, "maximum": 1048576},
        "min_free_mb": {"type": "integer", "minimum": 0, "maximum": 1048576}
      }
    },
    "network": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "default_mode": {"enum": ["none", "host"]},
        "cni": {
          "type": "object", "additionalProperties": false,
          "properties": {
            "config_dir": {"type": "string", "pattern": "^/", "description": "an absolute path"},
            "plugin_dirs": {"type": "array", "minItems": 1,
                            "items": {"type": "string", "pattern": "^/[^:]*$", "description": "an absolute path without ':'"}},
            "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 600000}
          }
        },
        "bridge": {
          "type": "object", "additionalProperties": false,
          "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,15}$",
                     "description": "a link name of 1 to 15 letters, digits, '_', '.', '-'"},
            "subnet": {"type": "string"},
            "mtu": {"type": "integer", "minimum": 576, "maximum": 65535},
            "dns": {"type": "array", "items": {"type": "string"}},
            "masquerade": {"type": "boolean"}
          }
        },
        "ports": {
          "type": "object", "additionalProperties": false,
          "properties": {
            "range": {"type": "string", "description": "first-last host ports for mappings, e.g. 20000-32767"},
            "host_ip": {"type": "string", "description": "the node address endpoints name; default 0.0.0.0"}
          }
        }
      }
    }
  }
})";

const json::JsonSchema& config_schema() {
  static const json::JsonSchema schema = json::JsonSchema::compile(kConfigSchema).value();
  return schema;
}

Status parse_fetch(const rapidjson::Value& f, Config& c) {
  c.fetch_file_roots = json::get_string_array(f, "file_roots");
  for (auto& root : c.fetch_file_roots) {
    if (root.find('\0') != std::string::npos || root.find("/./") != std::string::npos ||
        root.find("/../") != std::string::npos || root.ends_with("/..") || root.ends_with("/."))
      return make_error(Code::kInvalidArgument, "config: fetch.file_roots: '" + root +
                                                    "' must be a plain absolute path (no '.' or '..')");
    while (root.size() > 1 && root.back() == '/') root.pop_back();
  }
  c.fetch_artifact_max_mb = json::get_uint(f, "artifact_max_mb", c.fetch_artifact_max_mb);
  c.fetch_task_max_mb = json::get_uint(f, "task_max_mb", c.fetch_task_max_mb);
  return ok();
}

Status parse_userns(const rapidjson::Value& u, Config& c) {
  isolators::UserNamespaceConfig& n = c.userns;
  n.default_on = json::get_bool(u, "default", n.default_on);
  n.range_size = json::get_uint(u, "range_size", n.range_size);
  std::string pool = json::get_string(u, "pool");
  if (!pool.empty()) {
    size_t dash = pool.find('-');
    uint64_t first = std::stoull(pool.substr(0, dash)), last = std::stoull(pool.substr(dash + 1));
    if (first == 0 || last < first || last > 4294967294ULL)
      return make_error(Code::kInvalidArgument, "config: userns.pool: '" + pool +
                                                    "' must be first-last with 0 < first <= last <= 4294967294 "
                                                    "(host id 0 is root)");
    n.pool_start = first;
    n.pool_count = last - first + 1;
  }
  if (n.range_size > n.pool_count)
    return make_error(Code::kInvalidArgument, "config: userns: the pool holds " + std::to_string(n.pool_count) +
                                                  " ids, fewer than one range of range_size " + std::to_string(n.range_size));
  return ok();
}

Status parse_network(const rapidjson::Value& n, isolators::NetworkConfig& out) {
  if (n.HasMember("default_mode")) {
    BERTH_TRY(out.default_mode, isolators::parse_network_mode(n["default_mode"].GetString(), "/network/default_mode"));
  }
  if (n.HasMember("cni")) {
    const auto& c = n["cni"];
    out.cni_config_dir = json::get_string(c, "config_dir", out.cni_config_dir);
    if (c.HasMember("plugin_dirs")) out.cni_plugin_dirs = json::get_string_array(c, "plugin_dirs");
    out.cni_timeout_ms = static_cast<uint32_t>(json::get_uint(c, "timeout_ms", out.cni_timeout_ms));
  }
  // --- dynamic ports ---
  if (n.HasMember("ports")) {
    const auto& p = n["ports"];
    if (p.HasMember("range")) {
      BERTH_TRY(out.port_range, isolators::parse_port_range(p["range"].GetString(), "/network/ports/range"));
    }
    out.host_ip = json::get_string(p, "host_ip", out.host_ip);
    if (!isolators::parse_ipv4(out.host_ip))
      return make_error(Code::kInvalidArgument, "field '/network/ports/host_ip': '" + out.host_ip +
                                                    "' is not an IPv4 address");
  }
  // --- end dynamic ports ---
  if (!n.HasMember("bridge")) return ok();
  const auto& b = n["bridge"];
  out.bridge.masquerade = json::get_bool(b, "masquerade", out.bridge.masquerade);
  out.bridge.name = json::get_string(b, "name", out.bridge.name);
  if (b.HasMember("subnet")) {
    BERTH_TRY(out.bridge.subnet, isolators::parse_subnet(b["subnet"].GetString(), "/network/bridge/subnet"));
  }
  out.bridge.mtu = static_cast<uint32_t>(json::get_uint(b, "mtu", out.bridge.mtu));
  out.bridge.dns = json::get_string_array(b, "dns");
  for (const auto& server : out.bridge.dns)
    if (!isolators::parse_ipv4(server))
      return make_error(Code::kInvalidArgument, "field '/network/bridge/dns': '" + server + "' is not an IPv4 address");
  return ok();
}

}  // namespace

Result<Config> parse_config(const std::string& json_text) {
  BERTH_TRY_CTX(auto doc, json::parse_and_validate(json_text, config_schema()), "config");
  Config c;
  c.socket = json::get_string(doc, "socket", c.socket);
  c.socket_group = json::get_string(doc, "socket_group", c.socket_group);
  c.run_dir = json::get_string(doc, "run_dir", c.run_dir);
  c.state_dir = json::get_string(doc, "state_dir", c.state_dir);
  c.cgroup_root = json::get_string(doc, "cgroup_root", c.cgroup_root);
  c.shim_path = json::get_string(doc, "shim_path", c.shim_path);
  if (doc.HasMember("log")) {
    c.log_max_size_mb = json::get_uint(doc["log"], "max_size_mb", c.log_max_size_mb);
    c.log_max_files = static_cast<uint32_t>(json::get_uint(doc["log"], "max_files", c.log_max_files));
  }
  c.launch_timeout_s = static_cast<uint32_t>(json::get_uint(doc, "launch_timeout_s", c.launch_timeout_s));
  c.default_grace_period_s =
      static_cast<uint32_t>(json::get_uint(doc, "default_grace_period_s", c.default_grace_period_s));
  c.debug = json::get_bool(doc, "debug", c.debug);
  if (doc.HasMember("registries")) {
    for (const auto& m : doc["registries"].GetObject()) {
      RegistryConfig r;
      r.insecure = json::get_bool(m.value, "insecure");
      r.ca_file = json::get_string(m.value, "ca_file");
      r.client_cert = json::get_string(m.value, "client_cert");
      r.client_key = json::get_string(m.value, "client_key");
      r.username = json::get_string(m.value, "username");
      r.password = json::get_string(m.value, "password");
      r.mirrors = json::get_string_array(m.value, "mirrors");
      if (r.client_cert.empty() != r.client_key.empty())
        return make_error(Code::kInvalidArgument, std::string("config: registry '") + m.name.GetString() +
                                                      "': give both client_cert and client_key");
      c.registries[m.name.GetString()] = r;
    }
  }
  if (doc.HasMember("pull"))
    c.pull_parallel_layers = static_cast<uint32_t>(json::get_uint(doc["pull"], "parallel_layers", c.pull_parallel_layers));
  c.gc_headroom_mb = json::get_uint(doc, "gc_headroom_mb", c.gc_headroom_mb);
  c.artifact_cache_mb = json::get_uint(doc, "artifact_cache_mb", c.artifact_cache_mb);
  if (doc.HasMember("fetch")) BERTH_CHECK(parse_fetch(doc["fetch"], c));
  if (doc.HasMember("userns")) BERTH_CHECK(parse_userns(doc["userns"], c));
  if (doc.HasMember("unpack")) {
    const auto& u = doc["unpack"];
    c.unpack_max_mb = json::get_uint(u, "max_mb", c.unpack_max_mb);
    c.unpack_max_entries = json::get_uint(u, "max_entries", c.unpack_max_entries);
    c.unpack_max_ratio = json::get_uint(u, "max_ratio", c.unpack_max_ratio);
    c.unpack_ratio_after_mb = json::get_uint(u, "ratio_after_mb", c.unpack_ratio_after_mb);
    c.unpack_min_free_mb = json::get_uint(u, "min_free_mb", c.unpack_min_free_mb);
  }
  if (doc.HasMember("network")) BERTH_CHECK_CTX(parse_network(doc["network"], c.network), "config");
  for (std::string* dir : {&c.run_dir, &c.state_dir}) {
    if (dir->size() > 1 && dir->back() == '/') dir->pop_back();
  }
  c.network.ipam_dir = c.state_dir + "/network/ipam";
  c.network.netns_dir = c.run_dir + "/netns";
  c.network.cni_state_dir = c.state_dir + "/network/cni";
  c.network.cni_netns_dir = c.run_dir + "/netns-cni";
  c.network.ports_dir = c.state_dir + "/network/ports";
  return c;
}

Result<Config> load_config(const std::string& path, bool must_exist) {
  auto text = fs::read_file(path);
  if (!text) {
    if (!must_exist && text.error().sys_errno == ENOENT) return Config{};
    return std::move(text).error().wrap("config");
  }
  auto c = parse_config(*text);
  if (!c) return std::move(c).error().wrap(path);
  return c;
}

}  // namespace berth::agent
