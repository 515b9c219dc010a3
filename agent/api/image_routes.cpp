#include "agent/api/image_routes.hpp"

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/json.hpp"
#include "common/json_schema.hpp"
#include "common/log.hpp"

namespace berth::api {
namespace {

constexpr const char* kPullSchema = R"({
  "type": "object", "additionalProperties": false, "required": ["ref"],
  "properties": {"ref": {"type": "string", "minLength": 1}}
})";

constexpr const char* kLoadSchema = R"({
  "type": "object", "additionalProperties": false, "required": ["path", "ref"],
  "properties": {
    "path": {"type": "string", "pattern": "^/", "description": "an absolute path to an OCI image layout directory or a tar archive of one"},
    "ref": {"type": "string", "minLength": 1, "description": "the reference to record the image under"},
    "ref_name": {"type": "string"}
  }
})";

const json::JsonSchema& schema(const char* text) {
  static std::mutex mu;
  static std::map<const char*, json::JsonSchema> compiled;
  std::lock_guard lk(mu);
  auto it = compiled.find(text);
  if (it == compiled.end()) it = compiled.emplace(text, json::JsonSchema::compile(text).value()).first;
  return it->second;
}

std::string who(const Request& req) {
  return "uid=" + std::to_string(static_cast<int>(req.peer.uid)) + " pid=" + std::to_string(req.peer.pid);
}

const char* progress_state(fetcher::LayerProgress::State s) {
  switch (s) {
    case fetcher::LayerProgress::State::kWaiting: return "waiting";
    case fetcher::LayerProgress::State::kFetching: return "fetching";
    case fetcher::LayerProgress::State::kDone: return "done";
    case fetcher::LayerProgress::State::kPresent: return "present";
    case fetcher::LayerProgress::State::kFailed: return "failed";
  }
  return "waiting";
}

// Image keys that tasks hold right now.
std::set<std::string> images_in_use(const agent::Containers& containers) {
  std::set<std::string> keys;
  for (const auto& c : containers.list()) {
    if (c.spec.image.empty()) continue;
    if (auto k = agent::Images::key(c.spec.image)) keys.insert(*k);
  }
  return keys;
}

// A pull runs on its own thread; the response streams its progress. Progress is coalesced per
// layer, so a slow client sees the latest numbers rather than a backlog. The pull finishes
// even if the client goes away (the image is then simply in the store).
struct PullJob {
  std::mutex mu;
  std::map<size_t, fetcher::LayerProgress> latest;
  std::set<size_t> dirty;
  std::string final_line;
  bool done = false;
  std::thread worker;
  ~PullJob() {
    if (worker.joinable()) worker.join();
  }
};

std::string progress_line(const fetcher::LayerProgress& p) {
  json::JsonWriter w;
  w.begin_object().kv("layer", p.index).kv("digest", p.blob.str()).kv("state", progress_state(p.state))
      .kv("size", p.size).kv("fetched", p.fetched).kv("written", p.written).end_object();
  return w.str();
}

Response pull(agent::Images& images, const Request& req) {
  auto doc = json::parse_and_validate(req.body, schema(kPullSchema));
  if (!doc) return Response::error(doc.error());
  std::string ref = json::get_string(*doc, "ref");
  if (auto k = agent::Images::key(ref); !k) return Response::error(k.error().wrap("field '/ref'"));
  log::info("pull " + ref + " for " + who(req));
  auto job = std::make_shared<PullJob>();
  // The worker reports through a raw pointer: the job, owned by the stream, joins the worker
  // in its destructor, so the job and `images` outlive every use the worker makes of them.
  PullJob* raw = job.get();
  job->worker = std::thread([raw, &images, ref] {
    auto rec = images.pull(ref, [raw](const fetcher::LayerProgress& p) {
      std::lock_guard lk(raw->mu);
      raw->latest[p.index] = p;
      raw->dirty.insert(p.index);
      // No wake-up: the stream reads progress on the server's beat; waking it per report
      // cost tens of thousands of futex calls per pull for nothing.
    });
    json::JsonWriter w;
    if (rec) {
      w.begin_object().kv("status", "pulled").key("image").raw(agent::image_json(*rec, false)).end_object();
      log::info("pulled " + rec->ref + " (" + rec->manifest_digest.str() + ")");
    } else {
      w.begin_object().kv("status", "failed").key("error").begin_object()
          .kv("code", code_name(rec.error().code)).kv("message", rec.error().message).end_object().end_object();
      log::warn("pull " + ref + " failed: " + rec.error().message);
    }
    std::lock_guard lk(raw->mu);
    raw->final_line = w.str();
    raw->done = true;
  });
  Response r;
  r.status = 200;
  r.content_type = "application/x-ndjson";
  // Never blocks: the server asks again on its beat while there is nothing new.
  r.stream = [job](std::string& out, const std::atomic<bool>& cancelled) {
    std::lock_guard lk(job->mu);
    if (job->final_line.empty() && job->done) return false;
    for (size_t i : job->dirty) out += progress_line(job->latest[i]) + "\n";
    job->dirty.clear();
    if (job->done) {
      out += job->final_line + "\n";
      job->final_line.clear();
    }
    return !cancelled;
  };
  return r;
}

Response list(const agent::Containers& containers, const agent::Images& images) {
  auto all = images.list();
  if (!all) return Response::error(all.error());
  auto used = images_in_use(containers);
  json::JsonWriter w;
  w.begin_object().key("images").begin_array();
  for (const auto& rec : *all) w.raw(agent::image_json(rec, used.count(rec.ref) > 0));
  w.end_array().end_object();
  return Response::json(200, w.str());
}

Response remove(const agent::Containers& containers, agent::Images& images, const Request& req) {
  std::string ref = req.param("ref");
  auto k = agent::Images::key(ref);
  if (!k) return Response::error(k.error());
  if (images_in_use(containers).count(*k))
    return Response::error(make_error(Code::kFailedPrecondition,
                                      "image " + *k + " is used by a container; remove the container first"));
  auto st = images.remove(ref);
  if (!st) return Response::error(st.error());
  log::info("removed image " + *k + " for " + who(req));
  return Response::empty(204);
}

Response prune(agent::Images& images, const Request& req) {
  auto stats = images.prune();
  if (!stats) return Response::error(stats.error());
  log::info("pruned images for " + who(req) + ": " + std::to_string(stats->removed_layers) + " layers, " +
            std::to_string(stats->freed_bytes) + " bytes");
  json::JsonWriter w;
  w.begin_object().kv("removed_layers", stats->removed_layers).kv("removed_blobs", stats->removed_blobs)
      .kv("freed_bytes", stats->freed_bytes).kv_strings("removed_images", stats->removed_images)
      .kv("headroom_met", stats->headroom_met).end_object();
  return Response::json(200, w.str());
}

Response load(agent::Images& images, const Request& req) {
  auto doc = json::parse_and_validate(req.body, schema(kLoadSchema));
  if (!doc) return Response::error(doc.error());
  std::string ref = json::get_string(*doc, "ref");
  auto k = agent::Images::key(ref);
  if (!k) return Response::error(k.error().wrap("field '/ref'"));
  auto rec = images.load(json::get_string(*doc, "path"), *k, json::get_string(*doc, "ref_name"));
  if (!rec) return Response::error(rec.error());
  log::info("loaded image " + rec->ref + " for " + who(req));
  return Response::json(201, agent::image_json(*rec, false));
}

}  // namespace

void register_image_routes(Server& server, const agent::Containers& containers, agent::Images& images) {
  server.route("POST", "/v1/images/pull", [&](const Request& r) { return pull(images, r); });
  server.route("GET", "/v1/images", [&](const Request&) { return list(containers, images); });
  server.route("DELETE", "/v1/images/{ref}", [&](const Request& r) { return remove(containers, images, r); });
  server.route("POST", "/v1/images/prune", [&](const Request& r) { return prune(images, r); });
  server.route("POST", "/v1/images/load", [&](const Request& r) { return load(images, r); });
}

}  // namespace berth::api
