#include "agent/api/routes.hpp"

#include "agent/api/image_routes.hpp"

#include <signal.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "agent/logs.hpp"
#include "agent/task_network.hpp"
#include "common/json.hpp"
#include "common/json_schema.hpp"
#include "common/log.hpp"
#include "common/signals.hpp"

namespace berth::api {
namespace {

using agent::Containers;
using agent::EventBus;

constexpr const char* kVersion = "0.1.0";

constexpr const char* kKillSchema = R"({
  "type": "object", "additionalProperties": false,
  "properties": {
    "signal": {"type": ["string", "integer"]},
    "grace_period_s": {"type": "integer", "minimum": 0, "maximum": 86400}
  }
})";

const json::JsonSchema& kill_schema() {
  static const json::JsonSchema s = json::JsonSchema::compile(kKillSchema).value();
  return s;
}

agent::Caller caller_of(const Request& req) { return agent::Caller{req.peer.pid, req.peer.uid}; }

std::string who(const Request& req) {
  return "uid=" + std::to_string(static_cast<int>(req.peer.uid)) + " pid=" + std::to_string(req.peer.pid);
}

Response fail(const Error& e) { return Response::error(e); }

Response bad_request(const std::string& message) {
  return Response::error(make_error(Code::kInvalidArgument, message));
}

// Parses a non-negative integer query parameter; -1 if absent.
Result<long> query_long(const Request& req, const std::string& key) {
  std::string v = req.query_or(key, "");
  if (v.empty()) return -1L;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || n < 0) return make_error(Code::kInvalidArgument, "query '" + key + "' must be a non-negative integer");
  return n;
}

bool query_flag(const Request& req, const std::string& key) {
  std::string v = req.query_or(key, "");
  return v == "1" || v == "true" || v == "yes";
}

Response info(const Containers& containers) {
  const auto& cg = containers.cgroups();
  const auto& cfg = containers.config();
  size_t running = 0;
  auto all = containers.list();
  for (const auto& r : all) running += r.state == agent::State::kRunning;
  struct sysinfo si {};
  ::sysinfo(&si);
  json::JsonWriter w;
  w.begin_object().kv("version", kVersion);
  w.key("cgroup").begin_object().kv("mount", cg.mount).kv("root", cg.root)
      .kv("mode", cg.mode());
  w.key("controllers").begin_array();
  for (const auto& c : cg.controllers) w.value(c);
  w.end_array();
  w.key("missing").begin_array();
  for (const char* c : {"cpu", "memory", "pids", "io"})
    if (!cg.controllers.count(c)) w.value(c);
  w.end_array();
  // Which hierarchy enforces each controller (v2: the unified one; v1: its own mount).
  w.key("serving").begin_object();
  for (const auto& [c, s] : cg.serving)
    w.key(c).begin_object().kv("hierarchy", cgroups::kind_name(s.kind)).kv("mount", s.mount).kv("root", s.root).end_object();
  w.end_object();
  w.kv_strings("notes", cg.notes);
  w.end_object();
  w.key("capacity").begin_object().kv("cpus", static_cast<long>(::sysconf(_SC_NPROCESSORS_ONLN)))
      .kv("memory_mb", static_cast<unsigned long long>(si.totalram) * si.mem_unit / (1024 * 1024)).end_object();
  w.key("containers").begin_object().kv("total", all.size()).kv("running", running).end_object();
  agent::Allocation a = containers.allocated();
  w.key("allocated").begin_object().kv("cpus", a.cpus).kv("memory_mb", a.memory_mb).kv("pids", a.pids)
      .kv("disk_mb", a.disk_mb).kv("tasks", a.tasks).end_object();
  w.kv_strings("isolators", containers.isolator_names());
  w.key("paths").begin_object().kv("socket", cfg.socket).kv("run_dir", cfg.run_dir)
      .kv("state_dir", cfg.state_dir).end_object();
  w.end_object();
  return Response::json(200, w.str());
}

Response list(const Containers& containers, const Request& req) {
  std::string state = req.query_or("state", "");
  json::JsonWriter w;
  w.begin_object().key("containers").begin_array();
  for (const auto& r : containers.list()) {
    if (!state.empty() && state != agent::state_name(r.state)) continue;
    w.raw(agent::container_json(r));
  }
  w.end_array().end_object();
  return Response::json(200, w.str());
}

// Every port mapping of the tasks holding ports (preparing or running): what a discovery
// system publishes.
Response endpoints(const Containers& containers) {
  std::vector<agent::ContainerRecord> live;
  for (auto& r : containers.list())
    if (r.state == agent::State::kRunning || r.state == agent::State::kPreparing) live.push_back(std::move(r));
  return Response::json(200, agent::endpoints_json(live));
}

Response launch(Containers& containers, const Request& req) {
  auto spec = agent::parse_task_spec(req.body);
  if (!spec) return fail(spec.error());
  std::string name = spec->name;
  std::string id;
  auto rec = containers.launch(std::move(spec).value(), caller_of(req), &id);
  if (!rec) {
    log::warn("launch" + (name.empty() ? "" : " '" + name + "'") + " by " + who(req) + " failed: " + rec.error().message);
    if (id.empty() || !containers.get(id)) return fail(rec.error());
    // The failed launch left its record (state failed): the error names it, so the client
    // can inspect or remove it.
    json::JsonWriter w;
    w.begin_object().key("error").begin_object().kv("code", code_name(rec.error().code))
        .kv("message", rec.error().message).kv("id", id).end_object().end_object();
    return Response::json(api::http_status(rec.error().code), w.str());
  }
  log::info("launched container " + rec->id + (name.empty() ? "" : " '" + name + "'") + " (pid " +
            std::to_string(rec->pid) + ") for " + who(req));
  return Response::json(201, agent::container_json(*rec));
}

Response kill(Containers& containers, const Request& req) {
  int signal = SIGTERM;
  uint32_t grace = containers.config().default_grace_period_s;
  if (!req.body.empty()) {
    auto doc = json::parse_and_validate(req.body, kill_schema());
    if (!doc) return fail(doc.error());
    if (doc->HasMember("signal")) {
      const auto& s = (*doc)["signal"];
      auto parsed = parse_signal(s.IsString() ? s.GetString() : std::to_string(s.GetInt64()));
      if (!parsed) return bad_request("field '/signal': unknown signal " + json::to_string(s));
      signal = *parsed;
    }
    if (doc->HasMember("grace_period_s")) grace = (*doc)["grace_period_s"].GetUint();
  }
  auto rec = containers.kill(req.param("id"), signal, grace, caller_of(req));
  if (!rec) return fail(rec.error());
  log::info("kill " + rec->id + " with " + signal_name(signal) + " (grace " + std::to_string(grace) +
            " s) for " + who(req));
  return Response::json(202, agent::container_json(*rec));
}

Response wait(const Containers& containers, const Request& req) {
  auto timeout = query_long(req, "timeout_s");
  if (!timeout) return fail(timeout.error());
  std::string id = req.param("id");
  auto first = containers.wait(id, 0);
  if (!first) return fail(first.error());
  // The reply comes later, from the server's pump: no thread waits for the task.
  bool bounded = *timeout >= 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(bounded ? std::min(*timeout, 86400L) : 0);
  long seconds = *timeout;
  return Response::later([&containers, id, bounded, deadline, seconds](bool cancelled) -> std::optional<Response> {
    auto t = containers.wait(id, 0);
    if (!t) return fail(t.error());
    if (t->has_value()) return Response::json(200, agent::termination_json(**t));
    if (cancelled) return Response::error(make_error(Code::kUnavailable, "berthd is stopping"));
    if (bounded && std::chrono::steady_clock::now() >= deadline) {
      Response r = Response::error(make_error(Code::kUnavailable, "container '" + id + "' is still running after " +
                                                                        std::to_string(seconds) + " s"));
      r.status = 408;
      return r;
    }
    return std::nullopt;
  });
}

Response remove(Containers& containers, const Request& req) {
  bool force = query_flag(req, "force");
  auto st = containers.remove(req.param("id"), force, caller_of(req));
  if (!st) return fail(st.error());
  log::info("removed container " + req.param("id") + " for " + who(req));
  return Response::empty(204);
}

// Logs stream from disk in pieces: from the last `tail` lines (found from the end of the
// newest file) or from the oldest kept byte; with follow, on as the task writes, until it ended.
Response logs(const Containers& containers, const Request& req) {
  auto rec = containers.get(req.param("id"));
  if (!rec) return fail(rec.error());
  std::string stream = req.query_or("stream", "stdout");
  if (stream != "stdout" && stream != "stderr") return bad_request("query 'stream' must be stdout or stderr");
  auto tail = query_long(req, "tail");
  if (!tail) return fail(tail.error());
  auto reader = std::make_shared<agent::LogReader>(rec->sandbox_dir, stream);
  reader->seek_tail(*tail);
  bool follow = query_flag(req, "follow");
  std::string id = rec->id;
  auto done = std::make_shared<bool>(false);
  Response r;
  r.status = 200;
  r.content_type = "text/plain; charset=utf-8";
  r.stream = [&containers, id, reader, follow, done](std::string& out, const std::atomic<bool>& cancelled) {
    if (*done || cancelled) return false;
    // Check "ended" before reading: output written before the exit is then always read.
    bool ended = true;
    if (follow) {
      auto now = containers.get(id);
      ended = !now || agent::is_final(now->state);
    }
    if (reader->read(out)) return true;
    *done = ended;
    return !ended;
  };
  return r;
}

Response events_stream(const EventBus& bus, const Request& req) {
  auto since = query_long(req, "since");
  if (!since) return fail(since.error());
  uint64_t from = *since < 0 ? bus.last_seq() : static_cast<uint64_t>(*since);
  // A resume point older than what is kept would silently skip events: say so instead.
  if (auto kept = bus.check_since(from); !kept) {
    Response gone = fail(kept.error());
    gone.status = 410;
    return gone;
  }
  auto cursor = std::make_shared<uint64_t>(from);
  Response r;
  r.status = 200;
  r.content_type = "application/x-ndjson";
  r.stream = [&bus, cursor](std::string& out, const std::atomic<bool>& cancelled) {
    if (cancelled) return false;
    auto events = bus.read_after(*cursor);
    if (!events) {
      // This client fell behind by more than the bus keeps: end with a line saying so.
      json::JsonWriter w;
      w.begin_object().key("error").begin_object().kv("code", code_name(events.error().code))
          .kv("message", events.error().message).end_object().end_object();
      out += w.str() + "\n";
      return false;
    }
    for (const auto& e : *events) {
      out += e.line;
      out += '\n';
      *cursor = e.seq;
    }
    return true;
  };
  return r;
}

// Runs on this request's own handler thread for as long as the command runs.
Response exec(const Containers& containers, const Request& req) {
  auto request = sandbox::parse_exec_request(req.body);
  if (!request) return fail(request.error());
  std::string id = req.param("id");
  auto result = containers.exec(id, *request, [&req] { return req.cancelled(); });
  if (!result) {
    log::warn("exec in " + id + " by " + who(req) + " failed: " + result.error().message);
    return fail(result.error());
  }
  log::info("exec in " + id + " of \"" + request->cmd[0] + "\" for " + who(req) + ": " +
            (result->exit_code ? "exit " + std::to_string(*result->exit_code)
                               : "signal " + std::to_string(result->signal.value_or(0))) +
            (result->timed_out ? " (timed out)" : ""));
  return Response::json(200, agent::exec_result_json(*result));
}

// ---- limits: live update and usage next to allocation (docs/API.md, "Limits and stats") ----

Response update(Containers& containers, const Request& req) {
  auto doc = json::parse(req.body);
  if (!doc) return fail(doc.error());
  // The body is {"resources": {...}} like the launch spec's, or the resources object itself.
  std::string body = req.body;
  if (doc->IsObject() && doc->HasMember("resources")) {
    if (doc->MemberCount() != 1) return bad_request("give only 'resources' in an update");
    body = json::to_string((*doc)["resources"]);
  }
  auto resources = agent::parse_resources_update(body);
  if (!resources) return fail(resources.error());
  auto rec = containers.update(req.param("id"), *resources, caller_of(req));
  if (!rec) return fail(rec.error());
  log::info("updated limits of " + rec->id + " to " + agent::limits_json(rec->spec.resources, rec->spec.policy) +
            " for " + who(req));
  return Response::json(200, agent::container_json(*rec));
}

Response stats_one(const Containers& containers, const Request& req) {
  auto s = containers.stats(req.param("id"));
  return s ? Response::json(200, *s) : fail(s.error());
}

Response stats_all(const Containers& containers) {
  json::JsonWriter w;
  w.begin_object().key("containers").begin_array();
  for (const auto& s : containers.stats_all()) w.raw(s);
  w.end_array().end_object();
  return Response::json(200, w.str());
}

}  // namespace

void register_routes(Server& server, Containers& containers, EventBus& events, agent::Images& images) {
  register_image_routes(server, containers, images);
  server.route("GET", "/v1/info", [&](const Request&) { return info(containers); });
  server.route("GET", "/v1/containers", [&](const Request& r) { return list(containers, r); });
  server.route("POST", "/v1/containers", [&](const Request& r) { return launch(containers, r); });
  server.route("GET", "/v1/containers/{id}", [&](const Request& r) {
    auto rec = containers.get(r.param("id"));
    return rec ? Response::json(200, agent::container_json(*rec)) : fail(rec.error());
  });
  server.route("DELETE", "/v1/containers/{id}", [&](const Request& r) { return remove(containers, r); });
  server.route("POST", "/v1/containers/{id}/kill", [&](const Request& r) { return kill(containers, r); });
  server.route("GET", "/v1/containers/{id}/wait", [&](const Request& r) { return wait(containers, r); });
  server.route("POST", "/v1/containers/{id}/exec", [&](const Request& r) { return exec(containers, r); });
  server.route("GET", "/v1/containers/{id}/logs", [&](const Request& r) { return logs(containers, r); });
  server.route("GET", "/v1/events", [&](const Request& r) { return events_stream(events, r); });
  // limits
  server.route("POST", "/v1/containers/{id}/update", [&](const Request& r) { return update(containers, r); });
  server.route("GET", "/v1/containers/{id}/stats", [&](const Request& r) { return stats_one(containers, r); });
  server.route("GET", "/v1/stats", [&](const Request&) { return stats_all(containers); });
  server.route("GET", "/v1/endpoints", [&](const Request&) { return endpoints(containers); });
}

}  // namespace berth::api
