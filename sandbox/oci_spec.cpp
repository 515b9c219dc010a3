#include "sandbox/oci_spec.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <set>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "common/unique_fd.hpp"
#include "sandbox/rlimit_names.hpp"

namespace berth::sandbox {
namespace {

using rapidjson::Value;

Error bad(const std::string& where, const std::string& what) {
  return make_error(Code::kInvalidArgument, "config.json: " + where + ": " + what);
}

// Every object is checked against the keys we implement: an unknown key could change what the
// bundle means (hooks, seccomp, uid mappings), so it is refused rather than silently ignored.
// A key given twice is refused too: readers disagree on which one wins.
Status only_keys(const Value& obj, const std::string& where, std::initializer_list<const char*> keys) {
  std::set<std::string> seen;
  for (const auto& m : obj.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    if (!seen.insert(name).second) return bad(where.empty() ? name : where + "." + name, "given twice");
    bool known = false;
    for (const char* k : keys) known = known || name == k;
    if (!known) return bad(where.empty() ? name : where + "." + name, "unsupported field");
  }
  return ok();
}

const Value* find(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

Result<std::string> get_str(const Value& v, const std::string& where) {
  if (!v.IsString()) return bad(where, "expected a string");
  return std::string(v.GetString(), v.GetStringLength());
}

Result<std::vector<std::string>> get_strs(const Value& v, const std::string& where) {
  if (!v.IsArray()) return bad(where, "expected an array of strings");
  std::vector<std::string> out;
  for (const auto& e : v.GetArray()) {
    if (!e.IsString()) return bad(where, "expected an array of strings");
    out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return out;
}

Result<uint32_t> get_u32(const Value& v, const std::string& where) {
  if (!v.IsUint()) return bad(where, "expected a non-negative 32-bit integer");
  return v.GetUint();
}

Result<bool> get_bool(const Value& v, const std::string& where) {
  if (!v.IsBool()) return bad(where, "expected true or false");
  return v.GetBool();
}

Status require_object(const Value& v, const std::string& where) {
  if (!v.IsObject()) return bad(where, "expected an object");
  return ok();
}

Status parse_user(const Value& v, OciUser& user) {
  BERTH_CHECK(require_object(v, "process.user"));
  BERTH_CHECK(only_keys(v, "process.user", {"uid", "gid", "additionalGids"}));
  if (auto* m = find(v, "uid")) { BERTH_TRY(user.uid, get_u32(*m, "process.user.uid")); }
  if (auto* m = find(v, "gid")) { BERTH_TRY(user.gid, get_u32(*m, "process.user.gid")); }
  if (auto* m = find(v, "additionalGids")) {
    if (!m->IsArray()) return bad("process.user.additionalGids", "expected an array of integers");
    for (const auto& g : m->GetArray()) {
      BERTH_TRY(uint32_t gid, get_u32(g, "process.user.additionalGids"));
      user.additional_gids.push_back(gid);
    }
  }
  return ok();
}

Status parse_rlimits(const Value& v, std::vector<OciRlimit>& out) {
  if (!v.IsArray()) return bad("process.rlimits", "expected an array");
  std::set<std::string> seen;
  for (const auto& r : v.GetArray()) {
    BERTH_CHECK(require_object(r, "process.rlimits[]"));
    BERTH_CHECK(only_keys(r, "process.rlimits[]", {"type", "soft", "hard"}));
    OciRlimit rl;
    auto* type = find(r, "type");
    auto* soft = find(r, "soft");
    auto* hard = find(r, "hard");
    if (!type || !soft || !hard) return bad("process.rlimits[]", "needs type, soft and hard");
    BERTH_TRY(rl.type, get_str(*type, "process.rlimits[].type"));
    if (rlimit_resource(rl.type) < 0) return bad("process.rlimits[].type", "unknown limit \"" + rl.type + "\"");
    if (!seen.insert(rl.type).second) return bad("process.rlimits", "\"" + rl.type + "\" given twice");
    if (!soft->IsUint64() || !hard->IsUint64()) return bad("process.rlimits[" + rl.type + "]", "soft and hard must be non-negative integers");
    rl.soft = soft->GetUint64();
    rl.hard = hard->GetUint64();
    if (rl.soft > rl.hard) return bad("process.rlimits[" + rl.type + "]", "soft limit is above the hard limit");
    out.push_back(std::move(rl));
  }
  return ok();
}

constexpr const char* kCapabilitySets[] = {"bounding", "effective", "permitted", "inheritable", "ambient"};

CapabilitySet* capability_set(OciCapabilities& c, int i) {
  CapabilitySet* sets[] = {&c.bounding, &c.effective, &c.permitted, &c.inheritable, &c.ambient};
  return sets[i];
}

Status parse_capabilities(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "process.capabilities"));
  BERTH_CHECK(only_keys(v, "process.capabilities", {"bounding", "effective", "permitted", "inheritable", "ambient"}));
  OciCapabilities caps;
  for (int i = 0; i < 5; ++i) {
    std::string where = std::string("process.capabilities.") + kCapabilitySets[i];
    auto* m = find(v, kCapabilitySets[i]);
    if (!m) continue;
    BERTH_TRY(auto names, get_strs(*m, where));
    for (const auto& n : names) {
      auto num = capability_number(n);
      if (!num || n.rfind("CAP_", 0) != 0) return bad(where, "\"" + n + "\" is not a capability name like CAP_CHOWN");
      *capability_set(caps, i) |= CapabilitySet{1} << *num;
    }
  }
  if ((caps.ambient & ~(caps.permitted & caps.inheritable)) != 0)
    return bad("process.capabilities.ambient", "every ambient capability must also be permitted and inheritable");
  if ((caps.effective & ~caps.permitted) != 0)
    return bad("process.capabilities.effective", "every effective capability must also be permitted");
  spec.capabilities = caps;
  return ok();
}

void write_capabilities(json::JsonWriter& w, const OciCapabilities& caps) {
  w.key("capabilities").begin_object();
  OciCapabilities c = caps;
  for (int i = 0; i < 5; ++i) {
    w.key(kCapabilitySets[i]).begin_array();
    for (int n = 0; n <= kLastCapability; ++n)
      if (*capability_set(c, i) & (CapabilitySet{1} << n)) w.value("CAP_" + capability_name(n));
    w.end_array();
  }
  w.end_object();
}

Status parse_process(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "process"));
  BERTH_CHECK(only_keys(v, "process", {"terminal", "args", "env", "cwd", "user", "rlimits",
                                       "noNewPrivileges", "oomScoreAdj", "capabilities"}));
  if (auto* m = find(v, "terminal")) {
    BERTH_TRY(bool terminal, get_bool(*m, "process.terminal"));
    if (terminal) return bad("process.terminal", "a terminal is not supported");
  }
  auto* args = find(v, "args");
  if (!args) return bad("process.args", "required");
  BERTH_TRY(spec.args, get_strs(*args, "process.args"));
  if (spec.args.empty() || spec.args[0].empty()) return bad("process.args", "needs at least the command");
  if (auto* m = find(v, "env")) {
    BERTH_TRY(spec.env, get_strs(*m, "process.env"));
    for (const auto& e : spec.env)
      if (e.find('=') == std::string::npos || e[0] == '=') return bad("process.env", "\"" + e + "\" is not KEY=value");
  }
  if (auto* m = find(v, "cwd")) { BERTH_TRY(spec.cwd, get_str(*m, "process.cwd")); }
  if (spec.cwd.empty() || spec.cwd[0] != '/') return bad("process.cwd", "must be an absolute path");
  if (auto* m = find(v, "user")) BERTH_CHECK(parse_user(*m, spec.user));
  if (auto* m = find(v, "rlimits")) BERTH_CHECK(parse_rlimits(*m, spec.rlimits));
  if (auto* m = find(v, "noNewPrivileges")) { BERTH_TRY(spec.no_new_privileges, get_bool(*m, "process.noNewPrivileges")); }
  if (auto* m = find(v, "capabilities")) BERTH_CHECK(parse_capabilities(*m, spec));
  if (auto* m = find(v, "oomScoreAdj")) {
    if (!m->IsInt() || m->GetInt() < -1000 || m->GetInt() > 1000)
      return bad("process.oomScoreAdj", "expected an integer in [-1000, 1000]");
    spec.oom_score_adj = m->GetInt();
  }
  return ok();
}

Status parse_root(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "root"));
  BERTH_CHECK(only_keys(v, "root", {"path", "readonly"}));
  auto* path = find(v, "path");
  if (!path) return bad("root.path", "required");
  BERTH_TRY(spec.root_path, get_str(*path, "root.path"));
  // The shim's working directory is not meaningful to berthd, so the root is always absolute.
  if (spec.root_path.empty() || spec.root_path[0] != '/') return bad("root.path", "must be an absolute path");
  if (auto* m = find(v, "readonly")) { BERTH_TRY(spec.root_readonly, get_bool(*m, "root.readonly")); }
  return ok();
}

Status parse_mounts(const Value& v, OciSpec& spec) {
  if (!v.IsArray()) return bad("mounts", "expected an array");
  for (const auto& m : v.GetArray()) {
    BERTH_CHECK(require_object(m, "mounts[]"));
    BERTH_CHECK(only_keys(m, "mounts[]", {"destination", "type", "source", "options"}));
    OciMount mount;
    auto* dest = find(m, "destination");
    if (!dest) return bad("mounts[]", "destination is required");
    BERTH_TRY(mount.destination, get_str(*dest, "mounts[].destination"));
    std::string where = "mounts[" + mount.destination + "]";
    if (mount.destination.empty() || mount.destination[0] != '/') return bad(where, "destination must be an absolute path");
    if (auto* t = find(m, "type")) { BERTH_TRY(mount.type, get_str(*t, where + ".type")); }
    if (auto* s = find(m, "source")) { BERTH_TRY(mount.source, get_str(*s, where + ".source")); }
    if (auto* o = find(m, "options")) { BERTH_TRY(mount.options, get_strs(*o, where + ".options")); }
    bool bind = mount.type == "bind";
    for (const auto& o : mount.options) bind = bind || o == "bind" || o == "rbind";
    if (mount.type.empty() && !bind) return bad(where, "type is required (or a bind/rbind option)");
    if (bind && (mount.source.empty() || mount.source[0] != '/')) return bad(where, "a bind mount needs an absolute source");
    spec.mounts.push_back(std::move(mount));
  }
  return ok();
}

Status parse_namespace(const Value& n, OciSpec& spec) {
  BERTH_CHECK(require_object(n, "linux.namespaces[]"));
  BERTH_CHECK(only_keys(n, "linux.namespaces[]", {"type", "path"}));
  auto* t = find(n, "type");
  if (!t) return bad("linux.namespaces[]", "type is required");
  OciNamespace ns;
  BERTH_TRY(ns.type, get_str(*t, "linux.namespaces[].type"));
  static const std::set<std::string> kKnown = {"pid", "mount", "uts", "ipc", "network", "cgroup", "user"};
  if (!kKnown.count(ns.type)) return bad("linux.namespaces", "namespace \"" + ns.type + "\" is not supported");
  if (auto* p = find(n, "path")) { BERTH_TRY(ns.path, get_str(*p, "linux.namespaces[" + ns.type + "].path")); }
  if (!ns.path.empty() && ns.path[0] != '/') return bad("linux.namespaces[" + ns.type + "].path", "must be an absolute path");
  // Joining these would need the launcher itself to move (pid: before clone; mount: the
  // rootfs is built in a fresh one); refused rather than half done.
  if (!ns.path.empty() && (ns.type == "pid" || ns.type == "mount" || ns.type == "user"))
    return bad("linux.namespaces[" + ns.type + "].path", "joining an existing " + ns.type + " namespace is not supported");
  if (has_namespace(spec, ns.type)) return bad("linux.namespaces", "\"" + ns.type + "\" given twice");
  spec.namespaces.push_back(std::move(ns));
  return ok();
}

// A sysctl name: dot-separated words of [A-Za-z0-9_-], so it maps onto one file under
// /proc/sys and never anywhere else.
bool valid_sysctl_name(const std::string& k) {
  if (k.empty() || k.front() == '.' || k.back() == '.') return false;
  char prev = 0;
  for (char c : k) {
    bool word = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    if (!word && !(c == '.' && prev != '.')) return false;
    prev = c;
  }
  return true;
}

Status parse_sysctls(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "linux.sysctl"));
  for (const auto& m : v.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (!valid_sysctl_name(key)) return bad("linux.sysctl", "\"" + key + "\" is not a sysctl name like net.ipv4.ip_forward");
    if (spec.sysctls.count(key)) return bad("linux.sysctl." + key, "given twice");
    BERTH_TRY(spec.sysctls[key], get_str(m.value, "linux.sysctl." + key));
  }
  return ok();
}

Status parse_hooks(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "hooks"));
  BERTH_CHECK(only_keys(v, "hooks", {"createRuntime"}));
  auto* list = find(v, "createRuntime");
  if (!list) return ok();
  if (!list->IsArray()) return bad("hooks.createRuntime", "expected an array");
  for (const auto& h : list->GetArray()) {
    BERTH_CHECK(require_object(h, "hooks.createRuntime[]"));
    BERTH_CHECK(only_keys(h, "hooks.createRuntime[]", {"path", "args", "env", "timeout"}));
    OciHook hook;
    auto* path = find(h, "path");
    if (!path) return bad("hooks.createRuntime[]", "path is required");
    BERTH_TRY(hook.path, get_str(*path, "hooks.createRuntime[].path"));
    if (hook.path.empty() || hook.path[0] != '/') return bad("hooks.createRuntime[].path", "must be an absolute path");
    if (auto* m = find(h, "args")) { BERTH_TRY(hook.args, get_strs(*m, "hooks.createRuntime[].args")); }
    if (auto* m = find(h, "env")) { BERTH_TRY(hook.env, get_strs(*m, "hooks.createRuntime[].env")); }
    if (auto* m = find(h, "timeout")) {
      BERTH_TRY(hook.timeout_s, get_u32(*m, "hooks.createRuntime[].timeout"));
      if (hook.timeout_s == 0) return bad("hooks.createRuntime[].timeout", "must be at least 1 second");
    }
    spec.create_runtime_hooks.push_back(std::move(hook));
  }
  return ok();
}

constexpr const char* kSeccompAnnotation = "berth.seccomp.bpf";
constexpr const char* kSeccompFileAnnotation = "berth.seccomp.bpf-file";
constexpr size_t kMaxSeccompBytes = 4096 * 8;  // BPF_MAXINSNS instructions of 8 bytes
constexpr const char* kSysReadonlyAnnotation = "berth.sys.readonly";

std::string to_hex(const std::vector<uint8_t>& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

Result<std::vector<uint8_t>> from_hex(const std::string& text) {
  // One BPF instruction is 8 bytes; the kernel takes at most 4096 of them.
  if (text.size() % 16 != 0 || text.size() > kMaxSeccompBytes * 2)
    return bad(std::string("annotations.") + kSeccompAnnotation, "expected 1 to 4096 BPF instructions in hex");
  std::vector<uint8_t> out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return bad(std::string("annotations.") + kSeccompAnnotation, "not lowercase hex");
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

// linux.uidMappings / gidMappings: [{"containerID", "hostID", "size"}], at most 340 lines
// (the kernel's limit), each non-empty and not wrapping around 2^32.
Status parse_id_mappings(const Value& v, const std::string& where, std::vector<OciIdMapping>& out) {
  if (!v.IsArray()) return bad(where, "expected an array");
  if (v.GetArray().Size() > 340) return bad(where, "at most 340 mappings");
  for (const auto& e : v.GetArray()) {
    BERTH_CHECK(require_object(e, where + "[]"));
    BERTH_CHECK(only_keys(e, where + "[]", {"containerID", "hostID", "size"}));
    OciIdMapping m;
    auto* c = find(e, "containerID");
    auto* h = find(e, "hostID");
    auto* n = find(e, "size");
    if (!c || !h || !n) return bad(where + "[]", "containerID, hostID and size are required");
    BERTH_TRY(m.container_id, get_u32(*c, where + "[].containerID"));
    BERTH_TRY(m.host_id, get_u32(*h, where + "[].hostID"));
    BERTH_TRY(m.size, get_u32(*n, where + "[].size"));
    if (m.size == 0 || uint64_t{m.container_id} + m.size > (uint64_t{1} << 32) ||
        uint64_t{m.host_id} + m.size > (uint64_t{1} << 32))
      return bad(where + "[]", "size must be positive and the range must stay below 2^32");
    out.push_back(m);
  }
  return ok();
}

Status check_user_namespace(const OciSpec& spec) {
  bool mapped = !spec.uid_mappings.empty() || !spec.gid_mappings.empty();
  if (!has_namespace(spec, "user")) {
    if (mapped) return bad("linux.uidMappings", "id mappings need a \"user\" namespace");
    return ok();
  }
  if (spec.uid_mappings.empty() || spec.gid_mappings.empty())
    return bad("linux.namespaces", "a \"user\" namespace needs both uidMappings and gidMappings");
  return ok();
}

Status parse_device(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "linux.devices[]"));
  BERTH_CHECK(only_keys(v, "linux.devices[]", {"path", "type", "major", "minor", "fileMode"}));
  OciDevice d;
  const Value* path = find(v, "path");
  const Value* type = find(v, "type");
  if (!path || !type) return bad("linux.devices[]", "needs path and type");
  BERTH_TRY(d.path, get_str(*path, "linux.devices[].path"));
  BERTH_TRY(std::string t, get_str(*type, "linux.devices[].type"));
  if (d.path.rfind("/dev/", 0) != 0 || d.path.size() <= 5) return bad("linux.devices[].path", "must be under /dev/");
  if (t != "c" && t != "b") return bad("linux.devices[].type", "must be \"c\" or \"b\"");
  d.type = t[0];
  for (auto [key, into] : {std::pair{"major", &d.major}, std::pair{"minor", &d.minor}}) {
    const Value* n = find(v, key);
    if (!n || !n->IsInt64() || n->GetInt64() < 0) return bad(std::string("linux.devices[].") + key, "expected a number >= 0");
    *into = n->GetInt64();
  }
  if (const Value* m = find(v, "fileMode")) {
    if (!m->IsUint() || m->GetUint() > 07777) return bad("linux.devices[].fileMode", "expected a mode up to 07777");
    d.file_mode = m->GetUint();
  }
  spec.devices.push_back(std::move(d));
  return ok();
}

Status parse_devices(const Value& v, OciSpec& spec) {
  if (!v.IsArray()) return bad("linux.devices", "expected an array");
  for (const auto& d : v.GetArray()) BERTH_CHECK(parse_device(d, spec));
  return ok();
}

Status parse_linux(const Value& v, OciSpec& spec) {
  BERTH_CHECK(require_object(v, "linux"));
  BERTH_CHECK(only_keys(v, "linux", {"namespaces", "uidMappings", "gidMappings", "maskedPaths", "readonlyPaths", "sysctl", "devices"}));
  if (auto* m = find(v, "uidMappings")) BERTH_CHECK(parse_id_mappings(*m, "linux.uidMappings", spec.uid_mappings));
  if (auto* m = find(v, "gidMappings")) BERTH_CHECK(parse_id_mappings(*m, "linux.gidMappings", spec.gid_mappings));
  if (auto* ns = find(v, "namespaces")) {
    if (!ns->IsArray()) return bad("linux.namespaces", "expected an array");
    for (const auto& n : ns->GetArray()) BERTH_CHECK(parse_namespace(n, spec));
  }
  if (auto* m = find(v, "maskedPaths")) { BERTH_TRY(spec.masked_paths, get_strs(*m, "linux.maskedPaths")); }
  if (auto* m = find(v, "readonlyPaths")) { BERTH_TRY(spec.readonly_paths, get_strs(*m, "linux.readonlyPaths")); }
  if (auto* m = find(v, "sysctl")) BERTH_CHECK(parse_sysctls(*m, spec));
  if (auto* m = find(v, "devices")) BERTH_CHECK(parse_devices(*m, spec));
  for (const auto* list : {&spec.masked_paths, &spec.readonly_paths})
    for (const auto& p : *list)
      if (p.empty() || p[0] != '/') return bad("linux", "masked and read-only paths must be absolute: \"" + p + "\"");
  return check_user_namespace(spec);
}

void write_id_mappings(json::JsonWriter& w, const char* key, const std::vector<OciIdMapping>& maps) {
  if (maps.empty()) return;
  w.key(key).begin_array();
  for (const auto& m : maps)
    w.begin_object().kv("containerID", static_cast<unsigned>(m.container_id))
        .kv("hostID", static_cast<unsigned>(m.host_id)).kv("size", static_cast<unsigned>(m.size)).end_object();
  w.end_array();
}

}  // namespace

OciCapabilities capabilities_for(CapabilitySet set, bool ambient, uid_t uid) {
  OciCapabilities c;
  c.bounding = set;
  if (uid == 0) {
    c.permitted = c.effective = set;
  } else if (ambient) {
    c.permitted = c.effective = c.inheritable = c.ambient = set;
  }
  return c;
}

bool has_namespace(const OciSpec& spec, const std::string& type) {
  for (const auto& n : spec.namespaces)
    if (n.type == type) return true;
  return false;
}

Result<OciSpec> parse_oci_spec(const std::string& json_text) {
  auto parsed = json::parse(json_text);
  if (!parsed) return std::move(parsed).error().wrap("config.json");
  const rapidjson::Document& doc = *parsed;
  if (!doc.IsObject()) return bad("top level", "expected an object");
  BERTH_CHECK(only_keys(doc, "", {"ociVersion", "process", "root", "hostname", "mounts", "linux", "annotations", "hooks"}));
  OciSpec spec;
  auto* version = find(doc, "ociVersion");
  if (!version) return bad("ociVersion", "required");
  BERTH_TRY(spec.oci_version, get_str(*version, "ociVersion"));
  if (spec.oci_version.rfind("1.", 0) != 0) return bad("ociVersion", "\"" + spec.oci_version + "\" is not a 1.x version");
  auto* process = find(doc, "process");
  if (!process) return bad("process", "required");
  BERTH_CHECK(parse_process(*process, spec));
  auto* root = find(doc, "root");
  if (!root) return bad("root", "required");
  BERTH_CHECK(parse_root(*root, spec));
  if (auto* m = find(doc, "hostname")) { BERTH_TRY(spec.hostname, get_str(*m, "hostname")); }
  if (auto* m = find(doc, "mounts")) BERTH_CHECK(parse_mounts(*m, spec));
  if (auto* m = find(doc, "linux")) BERTH_CHECK(parse_linux(*m, spec));
  if (auto* m = find(doc, "annotations")) {
    BERTH_CHECK(require_object(*m, "annotations"));
    for (const auto& a : m->GetObject()) {
      std::string key(a.name.GetString(), a.name.GetStringLength());
      if (spec.annotations.count(key)) return bad("annotations." + key, "given twice");
      BERTH_TRY(spec.annotations[key], get_str(a.value, "annotations." + key));
    }
  }
  if (auto* m = find(doc, "hooks")) BERTH_CHECK(parse_hooks(*m, spec));
  if (auto it = spec.annotations.find(kSeccompAnnotation); it != spec.annotations.end()) {
    BERTH_TRY(spec.seccomp_bpf, from_hex(it->second));
    spec.annotations.erase(it);
  }
  if (auto it = spec.annotations.find(kSeccompFileAnnotation); it != spec.annotations.end()) {
    const std::string where = std::string("annotations.") + kSeccompFileAnnotation;
    if (!spec.seccomp_bpf.empty()) return bad(where, std::string("given with ") + kSeccompAnnotation + "; give one");
    if (it->second.empty() || it->second[0] != '/') return bad(where, "expected an absolute path");
    spec.seccomp_bpf_file = it->second;
    spec.annotations.erase(it);
  }
  if (auto it = spec.annotations.find(kSysReadonlyAnnotation); it != spec.annotations.end()) {
    if (it->second != "true" && it->second != "false")
      return bad(std::string("annotations.") + kSysReadonlyAnnotation, "expected \"true\" or \"false\"");
    spec.sys_readonly = it->second == "true";
    spec.annotations.erase(it);
  }
  bool has_uts = has_namespace(spec, "uts");
  // Without a UTS namespace sethostname would rename the host.
  if (!spec.hostname.empty() && !has_uts) return bad("hostname", "needs a \"uts\" namespace");
  return spec;
}

std::string to_json(const OciSpec& spec) {
  json::JsonWriter w;
  w.begin_object();
  w.kv("ociVersion", spec.oci_version);
  w.key("process").begin_object();
  w.kv_strings("args", spec.args);
  w.kv_strings("env", spec.env);
  w.kv("cwd", spec.cwd);
  w.key("user").begin_object();
  w.kv("uid", static_cast<unsigned>(spec.user.uid)).kv("gid", static_cast<unsigned>(spec.user.gid));
  w.key("additionalGids").begin_array();
  for (gid_t g : spec.user.additional_gids) w.value(static_cast<unsigned>(g));
  w.end_array().end_object();
  w.key("rlimits").begin_array();
  for (const auto& r : spec.rlimits)
    w.begin_object().kv("type", r.type).kv("hard", static_cast<unsigned long long>(r.hard))
        .kv("soft", static_cast<unsigned long long>(r.soft)).end_object();
  w.end_array();
  w.kv("noNewPrivileges", spec.no_new_privileges);
  if (spec.capabilities) write_capabilities(w, *spec.capabilities);
  w.kv("oomScoreAdj", spec.oom_score_adj);
  w.end_object();
  w.key("root").begin_object().kv("path", spec.root_path).kv("readonly", spec.root_readonly).end_object();
  if (!spec.hostname.empty()) w.kv("hostname", spec.hostname);
  w.key("mounts").begin_array();
  for (const auto& m : spec.mounts) {
    w.begin_object().kv("destination", m.destination);
    if (!m.type.empty()) w.kv("type", m.type);
    if (!m.source.empty()) w.kv("source", m.source);
    w.kv_strings("options", m.options).end_object();
  }
  w.end_array();
  w.key("linux").begin_object();
  w.key("namespaces").begin_array();
  for (const auto& n : spec.namespaces) {
    w.begin_object().kv("type", n.type);
    if (!n.path.empty()) w.kv("path", n.path);
    w.end_object();
  }
  w.end_array();
  write_id_mappings(w, "uidMappings", spec.uid_mappings);
  write_id_mappings(w, "gidMappings", spec.gid_mappings);
  w.kv_map("sysctl", spec.sysctls);
  w.kv_strings("maskedPaths", spec.masked_paths);
  w.kv_strings("readonlyPaths", spec.readonly_paths);
  if (!spec.devices.empty()) {
    w.key("devices").begin_array();
    for (const auto& d : spec.devices)
      w.begin_object().kv("path", d.path).kv("type", std::string(1, d.type)).kv("major", d.major)
          .kv("minor", d.minor).kv("fileMode", static_cast<unsigned>(d.file_mode)).end_object();
    w.end_array();
  }
  w.end_object();
  std::map<std::string, std::string> annotations = spec.annotations;
  if (!spec.seccomp_bpf_file.empty()) annotations[kSeccompFileAnnotation] = spec.seccomp_bpf_file;
  else if (!spec.seccomp_bpf.empty()) annotations[kSeccompAnnotation] = to_hex(spec.seccomp_bpf);
  if (!spec.sys_readonly) annotations[kSysReadonlyAnnotation] = "false";
  w.kv_map("annotations", annotations);
  if (!spec.create_runtime_hooks.empty()) {
    w.key("hooks").begin_object().key("createRuntime").begin_array();
    for (const auto& h : spec.create_runtime_hooks) {
      w.begin_object().kv("path", h.path).kv_strings("args", h.args).kv_strings("env", h.env)
          .kv("timeout", static_cast<unsigned>(h.timeout_s)).end_object();
    }
    w.end_array().end_object();
  }
  w.end_object();
  return w.str();
}

Status load_seccomp_file(OciSpec& spec) {
  if (spec.seccomp_bpf_file.empty()) return ok();
  const std::string& path = spec.seccomp_bpf_file;
  int raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (raw < 0) return errno_error("seccomp program " + path);
  UniqueFd fd = UniqueFd::adopt(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("seccomp program " + path);
  const auto size = static_cast<size_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || size == 0 || size % 8 != 0 || size > kMaxSeccompBytes)
    return make_error(Code::kInvalidArgument,
                      "seccomp program " + path + ": expected a file of 1 to 4096 BPF instructions (8 bytes each)");
  spec.seccomp_bpf.resize(size);
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd.get(), spec.seccomp_bpf.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("seccomp program " + path);
    if (n == 0) return make_error(Code::kInvalidArgument, "seccomp program " + path + ": shorter than it said");
    got += static_cast<size_t>(n);
  }
  return ok();
}

Result<OciSpec> read_oci_spec(const std::string& config_path) {
  BERTH_TRY(std::string text, fs::read_file(config_path));
  BERTH_TRY(OciSpec spec, parse_oci_spec(text));
  BERTH_CHECK(load_seccomp_file(spec));
  return spec;
}

}  // namespace berth::sandbox
