#include "sandbox/exit_record.hpp"

#include <sys/wait.h>

#include "common/json.hpp"

namespace berth::sandbox {

std::string to_json(const ExitRecord& r) {
  json::JsonWriter w;
  w.begin_object();
  w.kv("version", ExitRecord::kVersion);
  w.kv("pid", static_cast<long>(r.pid));
  w.key("exit_code");
  if (r.exit_code) w.value(*r.exit_code); else w.null();
  w.key("signal");
  if (r.signal) w.value(*r.signal); else w.null();
  w.kv("started_at_ns", static_cast<long long>(r.started_at_ns));
  w.kv("finished_at_ns", static_cast<long long>(r.finished_at_ns));
  if (r.launch_error) w.kv("launch_error", *r.launch_error);
  w.end_object();
  return w.str();
}

static Error bad(const std::string& what) {
  return make_error(Code::kInvalidArgument, "exit record: " + what);
}

static Result<std::optional<int>> nullable_int(const rapidjson::Value& doc, const char* key) {
  auto it = doc.FindMember(key);
  if (it == doc.MemberEnd() || it->value.IsNull()) return std::optional<int>();
  if (!it->value.IsInt()) return bad(std::string(key) + ": expected an integer or null");
  return std::optional<int>(it->value.GetInt());
}

Result<ExitRecord> parse_exit_record(const std::string& json_text) {
  auto parsed = json::parse(json_text);
  if (!parsed) return std::move(parsed).error().wrap("exit record");
  const auto& doc = *parsed;
  if (!doc.IsObject()) return bad("expected an object");
  auto version = doc.FindMember("version");
  if (version == doc.MemberEnd() || !version->value.IsInt() || version->value.GetInt() != ExitRecord::kVersion)
    return bad("unsupported version (want 1)");
  ExitRecord r;
  for (const char* key : {"pid", "started_at_ns", "finished_at_ns"}) {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd() || !it->value.IsInt64()) return bad(std::string(key) + ": expected an integer");
  }
  r.pid = static_cast<pid_t>(doc["pid"].GetInt64());
  r.started_at_ns = doc["started_at_ns"].GetInt64();
  r.finished_at_ns = doc["finished_at_ns"].GetInt64();
  BERTH_TRY(r.exit_code, nullable_int(doc, "exit_code"));
  BERTH_TRY(r.signal, nullable_int(doc, "signal"));
  auto le = doc.FindMember("launch_error");
  if (le != doc.MemberEnd() && !le->value.IsNull()) {
    if (!le->value.IsString()) return bad("launch_error: expected a string");
    r.launch_error = std::string(le->value.GetString(), le->value.GetStringLength());
  }
  int set = (r.exit_code ? 1 : 0) + (r.signal ? 1 : 0) + (r.launch_error ? 1 : 0);
  if (set != 1) return bad("exactly one of exit_code, signal, launch_error must be set");
  return r;
}

void set_wait_status(ExitRecord& r, int status) {
  r.exit_code.reset();
  r.signal.reset();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
}

}  // namespace berth::sandbox
