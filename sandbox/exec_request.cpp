#include "sandbox/exec_request.hpp"

#include "common/json.hpp"
#include "common/json_schema.hpp"

namespace berth::sandbox {
namespace {

constexpr const char* kSchema = R"({
  "type": "object", "additionalProperties": false, "required": ["cmd"],
  "properties": {
    "cmd": {"type": "array", "minItems": 1, "maxItems": 4096, "items": {"type": "string"}},
    "env": {"type": "array", "maxItems": 4096,
            "items": {"type": "string", "pattern": "^[^=]+=", "description": "KEY=value"}},
    "user": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$"},
    "cwd": {"type": "string", "pattern": "^/", "description": "an absolute path inside the task"},
    "timeout_s": {"type": "integer", "minimum": 1, "maximum": 86400}
  }
})";

const json::JsonSchema& schema() {
  static const json::JsonSchema s = json::JsonSchema::compile(kSchema).value();
  return s;
}

std::string key_of(const std::string& entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

Result<ExecRequest> parse_exec_request(const std::string& json_text) {
  BERTH_TRY(auto doc, json::parse_and_validate(json_text, schema()));
  if (auto nul = json::find_nul(doc))
    return make_error(Code::kInvalidArgument, "field '" + *nul + "' holds a NUL byte, which no argument, "
                                              "environment entry or path can carry");
  ExecRequest r;
  r.cmd = json::get_string_array(doc, "cmd");
  if (r.cmd[0].empty()) return make_error(Code::kInvalidArgument, "field '/cmd/0' is empty: name the program to run");
  r.env = json::get_string_array(doc, "env");
  r.user = json::get_string(doc, "user");
  r.cwd = json::get_string(doc, "cwd");
  r.timeout_s = static_cast<uint32_t>(json::get_uint(doc, "timeout_s", r.timeout_s));
  return r;
}

std::string to_json(const ExecRequest& r) {
  json::JsonWriter w;
  w.begin_object().kv_strings("cmd", r.cmd).kv_strings("env", r.env);
  if (!r.user.empty()) w.kv("user", r.user);
  if (!r.cwd.empty()) w.kv("cwd", r.cwd);
  w.kv("timeout_s", r.timeout_s).end_object();
  return w.str();
}

std::vector<std::string> merge_env(const std::vector<std::string>& task_env, const std::vector<std::string>& extra) {
  std::vector<std::string> out = task_env;
  for (const auto& e : extra) {
    std::string key = key_of(e);
    bool replaced = false;
    for (auto& have : out) {
      if (key_of(have) != key) continue;
      have = e;
      replaced = true;
    }
    if (!replaced) out.push_back(e);
  }
  return out;
}

}  // namespace berth::sandbox
