#include "sandbox/shim_config.hpp"

#include <set>

#include "common/json.hpp"

namespace berth::sandbox {

static Error bad(const std::string& what) {
  return make_error(Code::kInvalidArgument, "shim.json: " + what);
}

Result<ShimConfig> parse_shim_config(const std::string& json_text) {
  auto parsed = json::parse(json_text);
  if (!parsed) return std::move(parsed).error().wrap("shim.json");
  const auto& doc = *parsed;
  if (!doc.IsObject()) return bad("expected an object");
  ShimConfig c;
  bool have_id = false, have_dir = false, have_cgroup = false;
  std::set<std::string> seen;
  for (const auto& m : doc.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (!seen.insert(key).second) return bad(key + " given twice");
    const auto& v = m.value;
    if (key == "id" || key == "sandbox_dir" || key == "cgroup") {
      if (!v.IsString() || v.GetStringLength() == 0) return bad(key + ": expected a non-empty string");
      std::string s(v.GetString(), v.GetStringLength());
      if (key == "id") { c.id = s; have_id = true; }
      else if (s[0] != '/') return bad(key + ": must be an absolute path");
      else if (key == "sandbox_dir") { c.sandbox_dir = s; have_dir = true; }
      else { c.cgroup = s; have_cgroup = true; }
    } else if (key == "cgroups_v1") {
      if (!v.IsArray()) return bad("cgroups_v1: expected an array of strings");
      for (const auto& e : v.GetArray()) {
        if (!e.IsString()) return bad("cgroups_v1: expected an array of strings");
        std::string s(e.GetString(), e.GetStringLength());
        auto colon = s.find(':');
        if (colon == std::string::npos || colon + 1 >= s.size() || s[colon + 1] != '/')
          return bad("cgroups_v1: '" + s + "' is not \"controllers:/absolute/path\"");
        c.cgroups_v1.push_back(std::move(s));
      }
    } else if (key == "log_max_bytes") {
      if (!v.IsUint64()) return bad("log_max_bytes: expected a non-negative integer");
      c.log_max_bytes = v.GetUint64();
    } else if (key == "log_max_files") {
      if (!v.IsUint() || v.GetUint() == 0 || v.GetUint() > 1000) return bad("log_max_files: expected an integer in [1, 1000]");
      c.log_max_files = v.GetUint();
    } else {
      return bad("unknown field \"" + key + "\"");
    }
  }
  if (!have_id) return bad("id is required");
  if (!have_dir) return bad("sandbox_dir is required");
  if (!have_cgroup) return bad("cgroup is required");
  return c;
}

std::string to_json(const ShimConfig& c) {
  json::JsonWriter w;
  w.begin_object().kv("id", c.id).kv("sandbox_dir", c.sandbox_dir).kv("cgroup", c.cgroup)
      .kv_strings("cgroups_v1", c.cgroups_v1).kv("log_max_bytes", static_cast<unsigned long long>(c.log_max_bytes))
      .kv("log_max_files", static_cast<unsigned>(c.log_max_files)).end_object();
  return w.str();
}

}  // namespace berth::sandbox
