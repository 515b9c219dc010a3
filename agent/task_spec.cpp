#include "agent/task_spec.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>

#include "common/json.hpp"
#include "common/json_schema.hpp"
#include "isolators/security/security_check.hpp"

namespace berth::agent {
namespace {

// RapidJSON 1.1's patternProperties misapplies schemas, so names are listed and the env key
// check ('=' is not allowed in a name) is done in code.
constexpr const char* kLaunchSchema = R"({
  "definitions": {
    "rlimit": {"type": "object", "additionalProperties": false, "required": ["soft", "hard"],
               "properties": {"soft": {"type": "integer", "minimum": 0},
                              "hard": {"type": "integer", "minimum": 0}}}
  },
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
             "description": "letters, digits, '_', '.', '-'; at most 63 characters"},
    "rootfs": {"type": "string", "pattern": "^/", "description": "an absolute path"},
    "image": {"type": "string", "minLength": 1},
    "command": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "entrypoint": {"type": "array", "items": {"type": "string"}},
    "fetch": {"type": "array", "items": {
      "type": "object", "additionalProperties": false, "required": ["uri"],
      "properties": {
        "uri": {"type": "string", "pattern": "^(https?|file)://", "description": "an http(s):// or file:// URI"},
        "sha256": {"type": "string", "pattern": "^(sha256:)?[0-9a-f]{64}$", "description": "64 hex digits"},
        "extract": {"type": "boolean"},
        "executable": {"type": "boolean"},
        "output": {"type": "string", "minLength": 1}}}},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "user": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$",
             "description": "uid[:gid] or name[:group]"},
    "working_dir": {"type": "string", "pattern": "^/", "description": "an absolute path"},
    "hostname": {"type": "string", "pattern": "^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$"},
    "rlimits": {
      "type": "object", "additionalProperties": false,
      "properties": {"as": {"$ref": "#/definitions/rlimit"}, "core": {"$ref": "#/definitions/rlimit"}, "cpu": {"$ref": "#/definitions/rlimit"}, "data": {"$ref": "#/definitions/rlimit"}, "fsize": {"$ref": "#/definitions/rlimit"}, "locks": {"$ref": "#/definitions/rlimit"}, "memlock": {"$ref": "#/definitions/rlimit"}, "msgqueue": {"$ref": "#/definitions/rlimit"}, "nice": {"$ref": "#/definitions/rlimit"}, "nofile": {"$ref": "#/definitions/rlimit"}, "nproc": {"$ref": "#/definitions/rlimit"}, "rss": {"$ref": "#/definitions/rlimit"}, "rtprio": {"$ref": "#/definitions/rlimit"}, "rttime": {"$ref": "#/definitions/rlimit"}, "sigpending": {"$ref": "#/definitions/rlimit"}, "stack": {"$ref": "#/definitions/rlimit"}}
    },
    "volumes": {"type": "array", "items": {
      "type": "object", "additionalProperties": false,
      "required": ["host_path", "container_path"],
      "properties": {
        "host_path": {"type": "string", "pattern": "^/", "description": "an absolute path"},
        "container_path": {"type": "string", "pattern": "^/.", "description": "an absolute path below /"},
        "read_only": {"type": "boolean"}}}},
    "logging": {"type": "object", "additionalProperties": false, "properties": {
      "max_size_mb": {"type": "integer", "minimum": 1, "maximum": 102400},
      "max_files": {"type": "integer", "minimum": 1, "maximum": 100}}},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "resources": RESOURCES,
    "oom": {"enum": ["group", "process"]},
    "kill_on": {"type": "array", "items": {"enum": ["pids"]}},
    "max_runtime_s": {"type": "integer", "minimum": 1, "maximum": 31536000},
    "security": SECURITY,
    "network": {"type": "object", "additionalProperties": false, "properties": {
      "mode": {"enum": ["none", "host", "bridge", "cni"]},
      "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$",
               "description": "a CNI network name of letters, digits, '_', '.', '-'"},
      "ports": {"type": "array", "maxItems": 64, "items": {"type": "object", "additionalProperties": false,
        "required": ["container_port"], "properties": {
          "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
                   "description": "unique in the task; the env gets PORT_<NAME>; default port<index>"},
          "container_port": {"type": "integer", "minimum": 1, "maximum": 65535},
          "host_port": {"type": "integer", "minimum": 0, "maximum": 65535,
                        "description": "0 (the default): any free port of the node's range"},
          "protocol": {"enum": ["tcp", "udp"]}}}}}}
  }
})";

constexpr const char* kResourcesSchema = R"({"type": "object", "additionalProperties": false, "properties": {
      "cpus": {"type": "number", "minimum": 0.01, "maximum": 4096},
      "cpuset": {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$",
                 "description": "CPU numbers and ranges, e.g. 0-1,3"},
      "memory_mb": {"type": "integer", "minimum": 4, "maximum": 67108864},
      "memory_high_mb": {"type": "integer", "minimum": 4, "maximum": 67108864},
      "memory_swap_mb": {"type": "integer", "minimum": 0, "maximum": 67108864},
      "pids": {"type": "integer", "minimum": 1, "maximum": 4194304},
      "disk_mb": {"type": "integer", "minimum": 1, "maximum": 1073741824},
      "network": {"type": "object", "additionalProperties": false, "properties": {
        "egress_mbit": {"type": "integer", "minimum": 1, "maximum": 100000,
                        "description": "Mbit/s the task may send, 1 to 100000"},
        "ingress_mbit": {"type": "integer", "minimum": 1, "maximum": 100000,
                         "description": "Mbit/s the task may receive, 1 to 100000"}}}}})";

// The "security" object (isolators/security.hpp); what a schema cannot say (capability names,
// sysctl scopes, device rules, a custom seccomp profile) is checked by check_security.
constexpr const char* kSecuritySchema = R"({"type": "object", "additionalProperties": false, "properties": {
      "privileged": {"type": "boolean"},
      "capabilities": {"type": "object", "additionalProperties": false, "properties": {
        "add": {"type": "array", "items": {"type": "string"}},
        "drop": {"type": "array", "items": {"type": "string"}},
        "ambient": {"type": "boolean"}}},
      "no_new_privileges": {"type": "boolean"},
      "seccomp": {"anyOf": [{"enum": ["default", "unconfined"]}, {"type": "object"}],
                  "description": "\"default\", \"unconfined\" or a Docker/OCI seccomp profile object"},
      "read_only_rootfs": {"type": "boolean"},
      "sysctls": {"type": "object", "additionalProperties": {"type": "string"}},
      "devices": {"type": "array", "items": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "path": {"type": "string", "pattern": "^/dev/", "description": "a path under /dev/"},
          "type": {"enum": ["c", "b", "a"]},
          "major": {"type": "integer", "minimum": -1, "maximum": 4294967295},
          "minor": {"type": "integer", "minimum": -1, "maximum": 4294967295},
          "access": {"type": "string", "pattern": "^[rwm]{1,3}$", "description": "some of r, w, m"}}}},
      "user_namespace": {"type": "boolean"}}})";

std::string launch_schema_text() {
  std::string s = kLaunchSchema;
  for (auto [key, text] : {std::pair{"RESOURCES", kResourcesSchema}, std::pair{"SECURITY", kSecuritySchema}}) {
    std::string k = key;
    s.replace(s.find(k), k.size(), text);
  }
  return s;
}

const json::JsonSchema& launch_schema() {
  static const json::JsonSchema schema = json::JsonSchema::compile(launch_schema_text()).value();
  return schema;
}

const json::JsonSchema& resources_schema() {
  static const json::JsonSchema schema = json::JsonSchema::compile(kResourcesSchema).value();
  return schema;
}

Resources parse_resources(const rapidjson::Value& r) {
  Resources out;
  if (r.HasMember("cpus")) out.cpus = r["cpus"].GetDouble();
  if (r.HasMember("cpuset")) out.cpuset = std::string(r["cpuset"].GetString());
  if (r.HasMember("memory_mb")) out.memory_mb = r["memory_mb"].GetUint64();
  if (r.HasMember("memory_high_mb")) out.memory_high_mb = r["memory_high_mb"].GetUint64();
  if (r.HasMember("memory_swap_mb")) out.memory_swap_mb = r["memory_swap_mb"].GetUint64();
  if (r.HasMember("pids")) out.pids = r["pids"].GetUint64();
  if (r.HasMember("disk_mb")) out.disk_mb = r["disk_mb"].GetUint64();
  if (r.HasMember("network")) {
    const auto& n = r["network"];
    if (n.HasMember("egress_mbit")) out.network.egress_mbit = n["egress_mbit"].GetUint();
    if (n.HasMember("ingress_mbit")) out.network.ingress_mbit = n["ingress_mbit"].GetUint();
  }
  return out;
}

// The fields of a "resources" object, inside an object the caller opened.
void write_resource_fields(json::JsonWriter& w, const Resources& r) {
  if (r.cpus) w.kv("cpus", *r.cpus);
  if (r.cpuset) w.kv("cpuset", *r.cpuset);
  if (r.memory_mb) w.kv("memory_mb", *r.memory_mb);
  if (r.memory_high_mb) w.kv("memory_high_mb", *r.memory_high_mb);
  if (r.memory_swap_mb) w.kv("memory_swap_mb", *r.memory_swap_mb);
  if (r.pids) w.kv("pids", *r.pids);
  if (r.disk_mb) w.kv("disk_mb", *r.disk_mb);
  if (r.network.any()) {
    w.key("network").begin_object();
    if (r.network.egress_mbit) w.kv("egress_mbit", uint64_t{*r.network.egress_mbit});
    if (r.network.ingress_mbit) w.kv("ingress_mbit", uint64_t{*r.network.ingress_mbit});
    w.end_object();
  }
}

void write_resources(json::JsonWriter& w, const Resources& r) {
  w.begin_object();
  write_resource_fields(w, r);
  w.end_object();
}

// Strings reach execve(), sethostname() and mount(2) as C strings: a NUL would cut them short
// (and "A\u0000x" would become "A"), so none may hold one.
Status check_no_nul(const rapidjson::Value& doc) {
  auto where = json::find_nul(doc);
  if (!where) return ok();
  return make_error(Code::kInvalidArgument,
                    "field '" + *where + "' contains a NUL character (\\u0000); remove it");
}

// The path a container sees: absolute and normalised, so it names one place without any
// reading of "..", "." or empty components.
Status check_container_path(const std::string& field, const std::string& path) {
  bool normal = path.size() > 1 && path[0] == '/' && path.back() != '/';
  for (size_t pos = 1; normal && pos < path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string_view part(path.data() + pos, end - pos);
    normal = !part.empty() && part != "." && part != "..";
    pos = end + 1;
  }
  if (normal) return ok();
  return make_error(Code::kInvalidArgument, "field '" + field + "': '" + path +
                                                "' is not a normalised absolute path below / (no '.', '..', "
                                                "'//' or trailing '/'); write e.g. '/data'");
}

// The rootfs becomes an overlay lowerdir: ':' would split it into several layers, ',' and '\\'
// would end or escape the option; and the host's own root is never a task's root.
Status check_rootfs(const std::string& rootfs) {
  if (rootfs.find_first_of(":,\\") != std::string::npos)
    return make_error(Code::kInvalidArgument, "field '/rootfs': '" + rootfs +
                                                  "' contains ':', ',' or '\\', which the overlay mount cannot take; "
                                                  "rename or bind the directory to a path without them");
  bool only_root = rootfs.find_first_not_of('/') == std::string::npos;
  for (size_t pos = 0; !only_root && pos < rootfs.size();) {
    size_t end = std::min(rootfs.find('/', pos), rootfs.size());
    std::string_view part(rootfs.data() + pos, end - pos);
    if (part == "." || part == "..")
      return make_error(Code::kInvalidArgument, "field '/rootfs': '" + rootfs +
                                                    "' has a '.' or '..' component; give the directory's plain path");
    pos = end + 1;
  }
  if (only_root)
    return make_error(Code::kInvalidArgument,
                      "field '/rootfs': '/' is the host's own root file system; give the directory of a root "
                      "file system built for the task");
  return ok();
}

isolators::Security parse_security(const rapidjson::Value& v) {
  isolators::Security s;
  s.privileged = json::get_bool(v, "privileged");
  if (v.HasMember("capabilities")) {
    const auto& c = v["capabilities"];
    s.capabilities.add = json::get_string_array(c, "add");
    s.capabilities.drop = json::get_string_array(c, "drop");
    s.capabilities.ambient = json::get_bool(c, "ambient");
  }
  // Privileged turns no_new_privileges off unless the spec asks for it.
  s.no_new_privileges = json::get_bool(v, "no_new_privileges", !s.privileged);
  if (v.HasMember("seccomp")) {
    const auto& sc = v["seccomp"];
    if (sc.IsObject()) {
      s.seccomp.kind = isolators::SeccompChoice::Kind::kCustom;
      s.seccomp.profile_json = json::to_string(sc);
    } else if (std::string_view(sc.GetString()) == "unconfined") {
      s.seccomp.kind = isolators::SeccompChoice::Kind::kUnconfined;
    }
  }
  s.read_only_rootfs = json::get_bool(v, "read_only_rootfs");
  s.sysctls = json::get_string_map(v, "sysctls");
  if (v.HasMember("devices")) {
    for (const auto& d : v["devices"].GetArray()) {
      isolators::DeviceAllow a;
      a.path = json::get_string(d, "path");
      a.type = json::get_string(d, "type", "c")[0];
      a.major = json::get_int(d, "major", -1);
      a.minor = json::get_int(d, "minor", -1);
      a.access = json::get_string(d, "access", "rwm");
      s.devices.push_back(std::move(a));
    }
  }
  if (v.HasMember("user_namespace")) s.user_namespace = v["user_namespace"].GetBool();
  return s;
}

// "name" names the CNI network of mode "cni", and only there.
Status parse_cni_name(const rapidjson::Value& n, isolators::NetworkSpec& out) {
  out.name = json::get_string(n, "name");
  bool cni = out.mode == isolators::NetworkMode::kCni;
  if (cni && out.name.empty())
    return make_error(Code::kInvalidArgument, "field '/network/name': network mode \"cni\" needs the CNI network's name");
  if (!cni && !out.name.empty())
    return make_error(Code::kInvalidArgument, "field '/network/name' names a CNI network; set \"mode\": \"cni\" or drop it");
  return ok();
}

}  // namespace

namespace {

// --- dynamic ports ---
// The schema checked each entry; here: names default to port<index>, and names (as env keys,
// case-folded) and container ports (per protocol) are unique.
Result<std::vector<isolators::PortSpec>> parse_ports(const rapidjson::Value& list) {
  std::vector<isolators::PortSpec> out;
  std::set<std::string> names;
  std::set<std::pair<std::string, uint32_t>> targets, hosts;
  for (const auto& p : list.GetArray()) {
    std::string field = "/network/ports/" + std::to_string(out.size());
    isolators::PortSpec port;
    port.name = json::get_string(p, "name", "port" + std::to_string(out.size()));
    port.container_port = static_cast<uint16_t>(json::get_uint(p, "container_port"));
    port.host_port = static_cast<uint16_t>(json::get_uint(p, "host_port"));
    port.protocol = json::get_string(p, "protocol", "tcp");
    std::string key;
    for (char c : port.name) key += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!names.insert(key).second)
      return make_error(Code::kInvalidArgument, "field '" + field + "/name': port name '" + port.name +
                                                    "' is used twice (names are compared as PORT_" + key +
                                                    "); give each port its own name");
    if (!targets.insert({port.protocol, port.container_port}).second)
      return make_error(Code::kInvalidArgument, "field '" + field + "/container_port': " +
                                                    std::to_string(port.container_port) + "/" + port.protocol +
                                                    " is mapped twice; map each container port once");
    if (port.host_port != 0 && !hosts.insert({port.protocol, port.host_port}).second)
      return make_error(Code::kInvalidArgument, "field '" + field + "/host_port': " + std::to_string(port.host_port) +
                                                    "/" + port.protocol + " is asked for twice; give each its own "
                                                    "or 0 (any)");
    out.push_back(std::move(port));
  }
  return out;
}
// --- end dynamic ports ---

}  // namespace

Result<TaskSpec> parse_task_spec(const std::string& json_text) {
  BERTH_TRY(auto doc, json::parse(json_text));
  BERTH_CHECK(check_no_nul(doc));
  BERTH_CHECK(launch_schema().validate(doc));
  if (!doc.IsObject()) return make_error(Code::kInvalidArgument, "the launch spec must be a JSON object");
  TaskSpec s;
  s.json = json::to_string(doc);
  s.name = json::get_string(doc, "name");
  s.rootfs = json::get_string(doc, "rootfs");
  s.image = json::get_string(doc, "image");
  if (s.rootfs.empty() == s.image.empty())
    return make_error(Code::kInvalidArgument, "give exactly one of 'rootfs' and 'image'");
  if (!s.rootfs.empty()) BERTH_CHECK(check_rootfs(s.rootfs));
  s.command = json::get_string_array(doc, "command");
  if (!s.rootfs.empty() && s.command.empty())
    return make_error(Code::kInvalidArgument, "missing required field '/command' (needed with 'rootfs')");
  if (doc.HasMember("entrypoint")) {
    if (s.image.empty()) return make_error(Code::kInvalidArgument, "field '/entrypoint' goes with 'image'");
    s.entrypoint = json::get_string_array(doc, "entrypoint");
  }
  s.env = json::get_string_map(doc, "env");
  for (const auto& [k, v] : s.env) {
    if (k.empty() || k.find('=') != std::string::npos)
      return make_error(Code::kInvalidArgument, "field '/env': '" + k + "' is not a valid variable name");
  }
  s.user = json::get_string(doc, "user");
  s.working_dir = json::get_string(doc, "working_dir");
  s.hostname = json::get_string(doc, "hostname");
  s.labels = json::get_string_map(doc, "labels");
  if (doc.HasMember("rlimits")) {
    for (const auto& m : doc["rlimits"].GetObject()) {
      Rlimit r{m.name.GetString(), m.value["soft"].GetUint64(), m.value["hard"].GetUint64()};
      if (r.soft > r.hard)
        return make_error(Code::kInvalidArgument, "field '/rlimits/" + r.name + "': soft limit above hard limit");
      s.rlimits.push_back(r);
    }
  }
  if (doc.HasMember("volumes")) {
    for (const auto& v : doc["volumes"].GetArray()) {
      Volume vol{json::get_string(v, "host_path"), json::get_string(v, "container_path"), json::get_bool(v, "read_only")};
      BERTH_CHECK(check_container_path("/volumes/" + std::to_string(s.volumes.size()) + "/container_path",
                                       vol.container_path));
      s.volumes.push_back(std::move(vol));
    }
  }
  if (doc.HasMember("fetch")) {
    for (const auto& f : doc["fetch"].GetArray()) {
      Fetch x{json::get_string(f, "uri"), json::get_string(f, "sha256"), json::get_bool(f, "extract"),
              json::get_bool(f, "executable"), json::get_string(f, "output")};
      // The name lands in the sandbox: one plain component, so it cannot point elsewhere.
      if (x.output == "." || x.output == ".." || x.output.find('/') != std::string::npos)
        return make_error(Code::kInvalidArgument, "field '/fetch': output '" + x.output + "' must be a plain file name");
      s.fetch.push_back(std::move(x));
    }
  }
  if (doc.HasMember("logging")) {
    const auto& l = doc["logging"];
    if (l.HasMember("max_size_mb")) s.log_max_size_mb = l["max_size_mb"].GetUint64();
    if (l.HasMember("max_files")) s.log_max_files = l["max_files"].GetUint();
  }
  if (doc.HasMember("resources")) s.resources = parse_resources(doc["resources"]);
  s.policy.oom_group = json::get_string(doc, "oom", "group") == "group";
  for (const auto& k : json::get_string_array(doc, "kill_on"))
    if (k == "pids") s.policy.kill_on_pids = true;
  if (doc.HasMember("max_runtime_s")) s.policy.max_runtime_s = doc["max_runtime_s"].GetUint64();
  if (doc.HasMember("security")) s.security = parse_security(doc["security"]);
  BERTH_CHECK(isolators::check_security(s.security));
  if (doc.HasMember("network") && doc["network"].HasMember("mode")) {
    BERTH_TRY(s.network.mode, isolators::parse_network_mode(doc["network"]["mode"].GetString(), "/network/mode"));
  }
  if (doc.HasMember("network")) BERTH_CHECK(parse_cni_name(doc["network"], s.network));
  if (doc.HasMember("network") && doc["network"].HasMember("ports")) {
    BERTH_TRY(s.network.ports, parse_ports(doc["network"]["ports"]));
  }
  return s;
}

Result<Resources> parse_resources_update(const std::string& json_text) {
  BERTH_TRY(auto doc, json::parse_and_validate(json_text, resources_schema()));
  BERTH_CHECK(check_no_nul(doc));
  Resources r = parse_resources(doc);
  if (!r.any()) return make_error(Code::kInvalidArgument, "the update names no resource; give e.g. {\"memory_mb\": 256}");
  return r;
}

std::string with_resources(const std::string& spec_json, const Resources& r) {
  auto doc = json::parse(spec_json);
  if (!doc || !doc->IsObject()) return spec_json;
  json::JsonWriter w;
  write_resources(w, r);
  auto res = json::parse(w.str());
  if (!res) return spec_json;
  doc->RemoveMember("resources");
  doc->AddMember("resources", rapidjson::Value(*res, doc->GetAllocator()), doc->GetAllocator());
  return json::to_string(*doc);
}

std::string limits_json(const Resources& r, const Policy& p) {
  json::JsonWriter w;
  w.begin_object();
  write_resource_fields(w, r);
  if (p.max_runtime_s) w.kv("max_runtime_s", *p.max_runtime_s);
  w.kv("oom", p.oom_group ? "group" : "process");
  w.key("kill_on").begin_array();
  if (p.kill_on_pids) w.value("pids");
  w.end_array();
  w.end_object();
  return w.str();
}

}  // namespace berth::agent
