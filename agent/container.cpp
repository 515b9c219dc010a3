#include "agent/container.hpp"
#include "agent/task_network.hpp"

#include "common/clock.hpp"
#include "common/json.hpp"
#include "common/signals.hpp"

namespace berth::agent {
namespace {

void write_termination(json::JsonWriter& w, const Termination& t) {
  w.begin_object().kv("reason", t.reason);
  w.key("exit_code");
  t.exit_code ? w.value(*t.exit_code) : w.null();
  w.key("signal");
  t.signal ? w.value(signal_name(*t.signal)) : w.null();
  w.kv("message", t.message);
  w.key("started_at");
  t.started_at_ns ? w.value(rfc3339(t.started_at_ns)) : w.null();
  w.key("finished_at");
  t.finished_at_ns ? w.value(rfc3339(t.finished_at_ns)) : w.null();
  w.key("limits");
  t.limits.empty() ? w.null() : w.raw(t.limits);
  w.key("usage");
  t.usage.empty() ? w.null() : w.raw(t.usage);
  w.end_object();
}

void write_time(json::JsonWriter& w, const char* key, int64_t ns) {
  w.key(key);
  ns ? w.value(rfc3339(ns)) : w.null();
}

}  // namespace

const char* state_name(State s) {
  switch (s) {
    case State::kPending: return "pending";
    case State::kPulling: return "pulling";
    case State::kPreparing: return "preparing";
    case State::kRunning: return "running";
    case State::kExited: return "exited";
    case State::kFailed: return "failed";
  }
  return "pending";
}

Result<State> parse_state(const std::string& s) {
  for (State st : {State::kPending, State::kPulling, State::kPreparing, State::kRunning, State::kExited, State::kFailed})
    if (s == state_name(st)) return st;
  return make_error(Code::kInvalidArgument, "unknown state '" + s + "'");
}

std::string termination_json(const Termination& t) {
  json::JsonWriter w;
  write_termination(w, t);
  return w.str();
}

std::string container_json(const ContainerRecord& r) {
  json::JsonWriter w;
  w.begin_object().kv("id", r.id).kv("name", r.name).kv("state", state_name(r.state));
  write_time(w, "created_at", r.created_at_ns);
  write_time(w, "started_at", r.started_at_ns);
  write_time(w, "finished_at", r.finished_at_ns);
  w.key("pid");
  r.state == State::kRunning && r.pid > 0 ? w.value(r.pid) : w.null();
  w.kv_map("labels", r.spec.labels);
  w.kv("privileged", r.spec.security.privileged);  // the one escape hatch, shown as such
  w.key("spec").raw(r.spec.json.empty() ? "{}" : r.spec.json);
  w.kv("sandbox", r.sandbox_dir);
  if (r.network) write_task_network(w.key("network"), *r.network);
  w.key("exit");
  if (r.exit) write_termination(w, *r.exit); else w.null();
  w.end_object();
  return w.str();
}

std::string checkpoint_json(const ContainerRecord& r) {
  json::JsonWriter w;
  w.begin_object().kv("version", kCheckpointVersion).kv("id", r.id).kv("name", r.name)
      .kv("state", state_name(r.state)).kv("created_at_ns", r.created_at_ns)
      .kv("started_at_ns", r.started_at_ns).kv("finished_at_ns", r.finished_at_ns);
  w.key("spec").raw(r.spec.json.empty() ? "{}" : r.spec.json);
  w.kv("shim_pid", r.shim_pid).kv("shim_start_time", r.shim_start_time).kv("pid", r.pid)
      .kv("pid_start_time", r.pid_start_time).kv("kill_requested", r.kill_requested)
      .kv("kill_deadline_ms", r.kill_deadline_ms)
      .kv("limit_reason", r.limit_reason).kv("limit_message", r.limit_message)
      .kv("bundle_dir", r.bundle_dir).kv("sandbox_dir", r.sandbox_dir).kv("cgroup", r.cgroup)
      .kv_strings("cgroups_v1", r.cgroups_v1);
  if (r.network) write_task_network(w.key("network"), *r.network);
  w.key("exit");
  if (r.exit) {
    const Termination& t = *r.exit;
    w.begin_object().kv("reason", t.reason);
    w.key("exit_code");
    t.exit_code ? w.value(*t.exit_code) : w.null();
    w.key("signal");
    t.signal ? w.value(*t.signal) : w.null();
    w.kv("message", t.message).kv("started_at_ns", t.started_at_ns).kv("finished_at_ns", t.finished_at_ns);
    w.key("limits");
    t.limits.empty() ? w.null() : w.raw(t.limits);
    w.key("usage");
    t.usage.empty() ? w.null() : w.raw(t.usage);
    w.end_object();
  } else {
    w.null();
  }
  w.end_object();
  return w.str();
}

Result<ContainerRecord> parse_checkpoint(const std::string& text) {
  BERTH_TRY(auto doc, json::parse(text));
  if (!doc.IsObject()) return make_error(Code::kInvalidArgument, "checkpoint is not a JSON object");
  int64_t version = json::get_int(doc, "version", 0);
  if (version != kCheckpointVersion)
    return make_error(Code::kFailedPrecondition,
                      "checkpoint version " + std::to_string(version) + " is not supported (this berthd reads " +
                          std::to_string(kCheckpointVersion) + ")");
  ContainerRecord r;
  r.id = json::get_string(doc, "id");
  if (r.id.empty()) return make_error(Code::kInvalidArgument, "checkpoint has no id");
  r.name = json::get_string(doc, "name");
  BERTH_TRY(r.state, parse_state(json::get_string(doc, "state")));
  r.created_at_ns = json::get_int(doc, "created_at_ns");
  r.started_at_ns = json::get_int(doc, "started_at_ns");
  r.finished_at_ns = json::get_int(doc, "finished_at_ns");
  if (doc.HasMember("spec")) {
    BERTH_TRY_CTX(r.spec, parse_task_spec(json::to_string(doc["spec"])), "checkpoint spec");
  }
  r.shim_pid = static_cast<pid_t>(json::get_int(doc, "shim_pid"));
  r.shim_start_time = json::get_uint(doc, "shim_start_time");
  r.pid = static_cast<pid_t>(json::get_int(doc, "pid"));
  r.pid_start_time = json::get_uint(doc, "pid_start_time");
  r.kill_requested = json::get_bool(doc, "kill_requested");
  r.kill_deadline_ms = json::get_int(doc, "kill_deadline_ms");
  r.limit_reason = json::get_string(doc, "limit_reason");
  r.limit_message = json::get_string(doc, "limit_message");
  r.bundle_dir = json::get_string(doc, "bundle_dir");
  r.sandbox_dir = json::get_string(doc, "sandbox_dir");
  r.cgroup = json::get_string(doc, "cgroup");
  r.cgroups_v1 = json::get_string_array(doc, "cgroups_v1");
  if (doc.HasMember("network") && doc["network"].IsObject()) {
    BERTH_TRY_CTX(r.network, parse_task_network(doc["network"]), "checkpoint network");
  }
  if (doc.HasMember("exit") && doc["exit"].IsObject()) {
    const auto& e = doc["exit"];
    Termination t;
    t.reason = json::get_string(e, "reason");
    if (e.HasMember("exit_code") && e["exit_code"].IsInt()) t.exit_code = e["exit_code"].GetInt();
    if (e.HasMember("signal") && e["signal"].IsInt()) t.signal = e["signal"].GetInt();
    t.message = json::get_string(e, "message");
    t.started_at_ns = json::get_int(e, "started_at_ns");
    t.finished_at_ns = json::get_int(e, "finished_at_ns");
    if (e.HasMember("limits") && e["limits"].IsObject()) t.limits = json::to_string(e["limits"]);
    if (e.HasMember("usage") && e["usage"].IsObject()) t.usage = json::to_string(e["usage"]);
    r.exit = t;
  }
  return r;
}

}  // namespace berth::agent
