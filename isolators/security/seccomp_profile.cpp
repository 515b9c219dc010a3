#include "isolators/security/seccomp_profile.hpp"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "common/json.hpp"

namespace berth::isolators {
namespace {

using rapidjson::Value;

const std::string kRoot = "/security/seccomp";

Error bad(const std::string& where, const std::string& what) {
  return make_error(Code::kInvalidArgument, "field '" + kRoot + where + "': " + what);
}

Status only_keys(const Value& v, const std::string& where, std::initializer_list<const char*> keys) {
  if (!v.IsObject()) return bad(where, "must be an object");
  for (const auto& m : v.GetObject()) {
    std::string k(m.name.GetString(), m.name.GetStringLength());
    if (std::none_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; }))
      return bad(where + "/" + k, "unknown field of a seccomp profile (Docker or OCI linux.seccomp format)");
  }
  return ok();
}

const Value* find(const Value& v, const char* key) {
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

Result<std::string> get_str(const Value& v, const std::string& where) {
  if (!v.IsString()) return bad(where, "must be a string");
  return std::string(v.GetString(), v.GetStringLength());
}

Result<std::vector<std::string>> get_strs(const Value& v, const std::string& where) {
  if (!v.IsArray()) return bad(where, "must be an array of strings");
  std::vector<std::string> out;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    BERTH_TRY(auto s, get_str(v[i], where + "/" + std::to_string(i)));
    out.push_back(std::move(s));
  }
  return out;
}

Result<uint32_t> get_errno(const Value& v, const std::string& where) {
  if (!v.IsUint() || v.GetUint() == 0 || v.GetUint() > 4095) return bad(where, "must be an errno number from 1 to 4095");
  return v.GetUint();
}

Result<SeccompAction> parse_action(const Value& v, const std::string& where) {
  BERTH_TRY(std::string s, get_str(v, where));
  static const std::pair<const char*, SeccompAction> kActions[] = {
      {"SCMP_ACT_ALLOW", SeccompAction::kAllow},       {"SCMP_ACT_ERRNO", SeccompAction::kErrno},
      {"SCMP_ACT_KILL", SeccompAction::kKillThread},   {"SCMP_ACT_KILL_THREAD", SeccompAction::kKillThread},
      {"SCMP_ACT_KILL_PROCESS", SeccompAction::kKillProcess}, {"SCMP_ACT_TRAP", SeccompAction::kTrap},
      {"SCMP_ACT_LOG", SeccompAction::kLog},           {"SCMP_ACT_TRACE", SeccompAction::kTrace}};
  for (const auto& [name, action] : kActions)
    if (s == name) return action;
  return bad(where, "unknown action '" + s +
                        "'; give SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, "
                        "SCMP_ACT_TRAP, SCMP_ACT_LOG or SCMP_ACT_TRACE (SCMP_ACT_NOTIFY has no listener in berth)");
}

// "SCMP_ARCH_X86_64" -> x86_64; other architectures: nullopt (skipped); unknown: an error.
Result<std::optional<SeccompArch>> parse_arch(const std::string& s, const std::string& where) {
  if (s == "SCMP_ARCH_X86_64" || s == "amd64") return std::optional(SeccompArch::kX86_64);
  if (s == "SCMP_ARCH_X86" || s == "x86" || s == "386") return std::optional(SeccompArch::kX86);
  if (s == "SCMP_ARCH_X32" || s == "x32") return std::optional(SeccompArch::kX32);
  static const char* kOthers[] = {"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
                                  "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
                                  "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
                                  "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
                                  "SCMP_ARCH_RISCV64", "arm", "arm64", "ppc64le", "s390x", "riscv64", "mips64"};
  for (const char* o : kOthers)
    if (s == o) return std::optional<SeccompArch>();
  return bad(where, "unknown architecture '" + s + "'; give e.g. SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32");
}

Status parse_architectures(const Value& doc, SeccompProfile& p) {
  std::vector<std::string> names;
  if (auto* a = find(doc, "architectures")) { BERTH_TRY(names, get_strs(*a, "/architectures")); }
  if (auto* map = find(doc, "archMap")) {  // Docker: [{"architecture": X, "subArchitectures": [..]}]
    if (!map->IsArray()) return bad("/archMap", "must be an array");
    for (rapidjson::SizeType i = 0; i < map->Size(); ++i) {
      std::string w = "/archMap/" + std::to_string(i);
      const Value& m = (*map)[i];
      BERTH_CHECK(only_keys(m, w, {"architecture", "subArchitectures"}));
      if (auto* a = find(m, "architecture")) { BERTH_TRY(auto s, get_str(*a, w + "/architecture")); names.push_back(s); }
      if (auto* s = find(m, "subArchitectures")) {
        BERTH_TRY(auto subs, get_strs(*s, w + "/subArchitectures"));
        names.insert(names.end(), subs.begin(), subs.end());
      }
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    BERTH_TRY(auto arch, parse_arch(names[i], "/architectures/" + std::to_string(i)));
    if (arch && std::find(p.architectures.begin(), p.architectures.end(), *arch) == p.architectures.end())
      p.architectures.push_back(*arch);
  }
  return ok();
}

Result<SeccompArg> parse_arg(const Value& v, const std::string& where) {
  BERTH_CHECK(only_keys(v, where, {"index", "value", "valueTwo", "op"}));
  SeccompArg a;
  auto* index = find(v, "index");
  auto* op = find(v, "op");
  if (!index || !index->IsUint() || index->GetUint() > 5) return bad(where + "/index", "must be an argument index from 0 to 5");
  a.index = index->GetUint();
  for (auto [key, out] : {std::pair{"value", &a.value}, std::pair{"valueTwo", &a.value_two}}) {
    auto* x = find(v, key);
    if (!x) continue;
    if (!x->IsUint64()) return bad(where + "/" + key, "must be a non-negative integer below 2^64");
    *out = x->GetUint64();
  }
  if (!op) return bad(where + "/op", "missing; give e.g. SCMP_CMP_EQ");
  BERTH_TRY(std::string o, get_str(*op, where + "/op"));
  static const std::pair<const char*, SeccompArg::Op> kOps[] = {
      {"SCMP_CMP_NE", SeccompArg::Op::kNe}, {"SCMP_CMP_LT", SeccompArg::Op::kLt}, {"SCMP_CMP_LE", SeccompArg::Op::kLe},
      {"SCMP_CMP_EQ", SeccompArg::Op::kEq}, {"SCMP_CMP_GE", SeccompArg::Op::kGe}, {"SCMP_CMP_GT", SeccompArg::Op::kGt},
      {"SCMP_CMP_MASKED_EQ", SeccompArg::Op::kMaskedEq}};
  for (const auto& [name, value] : kOps)
    if (o == name) {
      a.op = value;
      return a;
    }
  return bad(where + "/op", "unknown comparison '" + o + "'; give SCMP_CMP_EQ, _NE, _LT, _LE, _GE, _GT or _MASKED_EQ");
}

// Docker's "includes"/"excludes": {"caps": [...], "arches": [...], "minKernel": "..."}.
// Only caps narrow a rule: berth's filter covers every x86 ABI at once, and arches/minKernel
// conditions are treated as met (the rule applies), which can only allow more of what the
// profile's author listed for some architecture or kernel.
Result<CapabilitySet> parse_condition_caps(const Value& v, const std::string& where) {
  BERTH_CHECK(only_keys(v, where, {"caps", "arches", "minKernel"}));
  CapabilitySet set = 0;
  if (auto* caps = find(v, "caps")) {
    BERTH_TRY(auto names, get_strs(*caps, where + "/caps"));
    for (size_t i = 0; i < names.size(); ++i) {
      auto n = capability_number(names[i]);
      if (!n) return bad(where + "/caps/" + std::to_string(i), "unknown capability '" + names[i] + "'");
      set |= CapabilitySet{1} << *n;
    }
  }
  return set;
}

Result<SeccompRule> parse_rule(const Value& v, const std::string& where) {
  BERTH_CHECK(only_keys(v, where, {"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes"}));
  SeccompRule r;
  if (auto* n = find(v, "names")) { BERTH_TRY(r.names, get_strs(*n, where + "/names")); }
  if (auto* n = find(v, "name")) { BERTH_TRY(auto s, get_str(*n, where + "/name")); r.names.push_back(s); }
  if (r.names.empty()) return bad(where + "/names", "missing or empty; give the syscalls the rule is for");
  auto* action = find(v, "action");
  if (!action) return bad(where + "/action", "missing; give e.g. SCMP_ACT_ERRNO");
  BERTH_TRY(r.action, parse_action(*action, where + "/action"));
  if (auto* e = find(v, "errnoRet")) { BERTH_TRY(r.errno_ret, get_errno(*e, where + "/errnoRet")); }
  if (auto* args = find(v, "args"); args && !args->IsNull()) {
    if (!args->IsArray() || args->Size() > 6) return bad(where + "/args", "must be an array of at most 6 conditions");
    for (rapidjson::SizeType i = 0; i < args->Size(); ++i) {
      BERTH_TRY(auto a, parse_arg((*args)[i], where + "/args/" + std::to_string(i)));
      r.args.push_back(a);
    }
  }
  if (auto* inc = find(v, "includes")) { BERTH_TRY(r.caps_all, parse_condition_caps(*inc, where + "/includes")); }
  if (auto* exc = find(v, "excludes")) { BERTH_TRY(r.caps_none, parse_condition_caps(*exc, where + "/excludes")); }
  return r;
}

const char* action_name(SeccompAction a) {
  switch (a) {
    case SeccompAction::kAllow: return "SCMP_ACT_ALLOW";
    case SeccompAction::kErrno: return "SCMP_ACT_ERRNO";
    case SeccompAction::kKillThread: return "SCMP_ACT_KILL_THREAD";
    case SeccompAction::kKillProcess: return "SCMP_ACT_KILL_PROCESS";
    case SeccompAction::kTrap: return "SCMP_ACT_TRAP";
    case SeccompAction::kLog: return "SCMP_ACT_LOG";
    case SeccompAction::kTrace: return "SCMP_ACT_TRACE";
  }
  return "SCMP_ACT_KILL_PROCESS";
}

const char* op_name(SeccompArg::Op op) {
  static const char* kNames[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                 "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
  return kNames[static_cast<int>(op)];
}

const char* arch_name(SeccompArch a) {
  switch (a) {
    case SeccompArch::kX86_64: return "SCMP_ARCH_X86_64";
    case SeccompArch::kX86: return "SCMP_ARCH_X86";
    case SeccompArch::kX32: return "SCMP_ARCH_X32";
  }
  return "SCMP_ARCH_X86_64";
}

}  // namespace

std::string to_oci_json(const SeccompProfile& profile, CapabilitySet caps) {
  json::JsonWriter w;
  w.begin_object().kv("defaultAction", action_name(profile.default_action));
  if (profile.default_action == SeccompAction::kErrno) w.kv("defaultErrnoRet", profile.default_errno);
  w.key("architectures").begin_array();
  for (auto a : profile.architectures) w.value(arch_name(a));
  w.end_array().key("syscalls").begin_array();
  for (const auto& r : profile.rules) {
    if ((caps & r.caps_all) != r.caps_all || (caps & r.caps_none) != 0) continue;
    w.begin_object().kv_strings("names", r.names).kv("action", action_name(r.action));
    if (r.action == SeccompAction::kErrno || r.action == SeccompAction::kTrace) w.kv("errnoRet", r.errno_ret);
    if (!r.args.empty()) {
      w.key("args").begin_array();
      for (const auto& a : r.args)
        w.begin_object().kv("index", a.index).kv("value", static_cast<unsigned long long>(a.value))
            .kv("valueTwo", static_cast<unsigned long long>(a.value_two)).kv("op", op_name(a.op)).end_object();
      w.end_array();
    }
    w.end_object();
  }
  w.end_array().end_object();
  return w.str();
}

Result<SeccompProfile> parse_seccomp_profile(const std::string& json_text) {
  BERTH_TRY(auto doc, json::parse(json_text));
  BERTH_CHECK(only_keys(doc, "", {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls",
                                  "flags", "listenerPath", "listenerMetadata"}));
  SeccompProfile p;
  auto* def = find(doc, "defaultAction");
  if (!def) return bad("/defaultAction", "missing; give e.g. SCMP_ACT_ERRNO");
  BERTH_TRY(p.default_action, parse_action(*def, "/defaultAction"));
  if (auto* e = find(doc, "defaultErrnoRet")) { BERTH_TRY(p.default_errno, get_errno(*e, "/defaultErrnoRet")); }
  if (auto* l = find(doc, "listenerPath"); l && !(l->IsString() && l->GetStringLength() == 0))
    return bad("/listenerPath", "berth has no seccomp notify listener; remove it");
  if (auto* f = find(doc, "flags")) { BERTH_CHECK(get_strs(*f, "/flags")); }
  BERTH_CHECK(parse_architectures(doc, p));
  if (auto* s = find(doc, "syscalls"); s && !s->IsNull()) {
    if (!s->IsArray()) return bad("/syscalls", "must be an array of rules");
    for (rapidjson::SizeType i = 0; i < s->Size(); ++i) {
      BERTH_TRY(auto r, parse_rule((*s)[i], "/syscalls/" + std::to_string(i)));
      p.rules.push_back(std::move(r));
    }
  }
  return p;
}

}  // namespace berth::isolators
