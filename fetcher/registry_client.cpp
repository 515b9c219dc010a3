#include "fetcher/registry_client.hpp"

#include <cstdio>
#include <condition_variable>
#include <mutex>

#include "common/json.hpp"

namespace berth::fetcher {
namespace {

bool retryable_status(long s) { return s == 408 || s == 429 || s >= 500; }

std::string registry_error_detail(const std::string& body) {
  // {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}
  auto doc = json::parse(body);
  if (!doc || !doc->IsObject() || !doc->HasMember("errors") || !(*doc)["errors"].IsArray() ||
      (*doc)["errors"].Empty())
    return "";
  const auto& e = (*doc)["errors"][0];
  std::string code = json::get_string(e, "code"), msg = json::get_string(e, "message");
  return code + (msg.empty() ? "" : ": " + msg);
}

std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Waits before retry `attempt` (none before the first); false when `stop` was requested.
bool backoff(std::stop_token stop, int attempt, std::chrono::milliseconds base) {
  if (stop.stop_requested()) return false;
  if (attempt == 0) return true;
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lk(mu);
  cv.wait_for(lk, stop, base * (1 << (attempt - 1)), [] { return false; });  // wakes on stop
  return !stop.stop_requested();
}

// Lower-case scheme of a URL ("" when it has none).
std::string url_scheme(const std::string& url) {
  auto colon = url.find("://");
  if (colon == std::string::npos) return "";
  std::string s = url.substr(0, colon);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

RegistryClient::RegistryClient(RegistryOptions options) : options_(std::move(options)) {}

std::vector<RegistryClient::Endpoint> RegistryClient::endpoints(const std::string& host) const {
  auto settings_for = [&](const std::string& h) -> const RegistryHost* {
    auto it = options_.hosts.find(h);
    return it == options_.hosts.end() ? &default_host_ : &it->second;
  };
  std::vector<Endpoint> out;
  const RegistryHost* origin = settings_for(host);
  for (const auto& m : origin->mirrors) out.push_back({m, settings_for(m)});
  out.push_back({host, origin});
  return out;
}

Error RegistryClient::http_error(const std::string& what, const HttpResponse& resp) const {
  std::string detail = registry_error_detail(resp.error_body);
  std::string msg = what + ": HTTP " + std::to_string(resp.status) + (detail.empty() ? "" : " " + detail);
  Code code = Code::kInvalidArgument;
  if (resp.status == 401 || resp.status == 403) code = Code::kPermissionDenied;
  else if (resp.status == 404) code = Code::kNotFound;
  else if (retryable_status(resp.status)) code = Code::kUnavailable;
  return make_error(code, msg);
}

Result<std::string> RegistryClient::bearer_token(const Endpoint& ep, const Challenge& c, const std::string& scope,
                                                 std::stop_token stop) {
  std::string realm = c.param("realm");
  if (realm.empty()) return make_error(Code::kPermissionDenied, "Bearer challenge from " + ep.host + " has no realm");
  // The realm is a URL the registry names: credentials go there only over https, or over plain
  // http when the operator marked this registry insecure (a trusted test or lab registry).
  const bool has_credentials = !ep.settings->username.empty();
  const bool https_realm = url_scheme(realm) == "https";
  if (has_credentials && !https_realm && !ep.settings->insecure)
    return make_error(Code::kPermissionDenied,
                      "registry " + ep.host + " sends clients to token realm " + redact_url(realm) +
                          ", which is not https; berth does not send the registry credentials there. Serve the "
                          "token endpoint over https, or set \"insecure\": true for " + ep.host +
                          " in the registry config if plain http is intended");
  std::string service = c.param("service");
  std::string want_scope = c.param("scope").empty() ? scope : c.param("scope");
  std::string key = realm + "|" + service + "|" + want_scope + "|" + ep.settings->username;
  if (auto t = tokens_.get(key)) return *t;
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  if (!service.empty()) url += "service=" + url_escape(service) + "&";
  url += "scope=" + url_escape(want_scope);
  HttpRequest req;
  req.url = url;
  req.tls = ep.settings->tls;
  req.https_only = has_credentials && !ep.settings->insecure;  // redirects included
  req.stop = stop;
  req.connect_timeout_s = options_.connect_timeout_s;
  req.low_speed_time_s = options_.low_speed_time_s;
  if (has_credentials)
    req.headers.push_back(basic_authorization(ep.settings->username, ep.settings->password));
  std::string body;
  BERTH_TRY_CTX(HttpResponse resp, http_perform(req, [&](const char* d, size_t n) -> Status {
                  if (body.size() + n > (1 << 20)) return make_error(Code::kUnavailable, "token response too large");
                  body.append(d, n);
                  return ok();
                }), "get token for " + ep.host);
  if (resp.status == 401 || resp.status == 403)
    return make_error(Code::kPermissionDenied, "token server " + redact_url(realm) + " refused the credentials for " +
                                                   ep.host + " (HTTP " + std::to_string(resp.status) +
                                                   "); check username/password in the registry config");
  if (resp.status != 200) return http_error("get token from " + redact_url(realm), resp);
  BERTH_TRY_CTX(Token tok, parse_token_response(body, std::chrono::steady_clock::now()),
                "token server " + redact_url(realm));
  tokens_.put(key, tok);
  return tok.value;
}

Result<HttpResponse> RegistryClient::request(const Endpoint& ep, const std::string& repository, const std::string& path,
                                             std::vector<std::string> headers, const BodyFn& body,
                                             std::stop_token stop, std::function<void(long)> on_status) {
  HttpRequest req;
  req.on_status = std::move(on_status);
  req.stop = stop;
  req.url = std::string(ep.settings->insecure ? "http://" : "https://") + ep.host + "/v2/" + repository + "/" + path;
  req.tls = ep.settings->tls;
  req.connect_timeout_s = options_.connect_timeout_s;
  req.low_speed_time_s = options_.low_speed_time_s;
  std::string scope = "repository:" + repository + ":pull";
  std::optional<Challenge> challenge;
  {
    std::lock_guard lk(challenge_mu_);
    if (auto it = challenges_.find(ep.host); it != challenges_.end()) challenge = it->second;
  }
  for (int round = 0; round < 2; ++round) {
    req.headers = headers;
    if (challenge) {
      if (challenge->scheme == "basic") {
        if (ep.settings->username.empty())
          return make_error(Code::kPermissionDenied, "registry " + ep.host +
                                                         " requires credentials; set username/password for it in the registry config");
        req.headers.push_back(basic_authorization(ep.settings->username, ep.settings->password));
      } else if (challenge->scheme == "bearer") {
        BERTH_TRY(std::string token, bearer_token(ep, *challenge, scope, stop));
        req.headers.push_back("Authorization: Bearer " + token);
      }
    }
    BERTH_TRY(HttpResponse resp, http_perform(req, body));
    if (resp.status != 401 || round == 1) {
      if (resp.status == 401)
        return make_error(Code::kPermissionDenied, "registry " + ep.host + " rejected the credentials (HTTP 401); "
                                                   "check username/password for it in the registry config");
      return resp;
    }
    std::optional<Challenge> next;
    for (const auto& h : resp.www_authenticate) {
      auto parsed = parse_challenges(h);
      if (!parsed) continue;
      for (auto& c : *parsed)
        if (c.scheme == "bearer" || (c.scheme == "basic" && !next)) next = c;
    }
    if (!next) return make_error(Code::kPermissionDenied, "registry " + ep.host + " answered 401 without a usable challenge");
    challenge = next;
    std::lock_guard lk(challenge_mu_);
    challenges_[ep.host] = *next;
  }
  return make_error(Code::kInternal, "unreachable");
}

Result<FetchedManifest> RegistryClient::get_manifest(const Reference& ref, const std::string& tag_or_digest,
                                                     std::stop_token stop) {
  std::string what = "manifest " + ref.name() + ":" + tag_or_digest;
  std::optional<Error> last;
  for (const auto& ep : endpoints(ref.registry)) {
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      if (!backoff(stop, attempt, options_.backoff)) return cancelled_error("get " + what);
      std::string body;
      auto resp = request(ep, ref.repository, "manifests/" + tag_or_digest, {media::accept_header()},
                          [&](const char* d, size_t n) -> Status {
                            if (body.size() + n > options_.max_manifest_bytes)
                              return make_error(Code::kInvalidArgument, "manifest larger than " +
                                                                            std::to_string(options_.max_manifest_bytes) + " bytes");
                            body.append(d, n);
                            return ok();
                          },
                          stop);
      if (!resp) {
        if (is_cancelled(resp.error())) return std::move(resp).error();
        last = std::move(resp).error().wrap("get " + what + " from " + ep.host);
        if (last->code == Code::kUnavailable) continue;
        break;
      }
      if (resp->status != 200) {
        last = http_error("get " + what + " from " + ep.host, *resp);
        if (retryable_status(resp->status)) continue;
        break;
      }
      FetchedManifest m{resp->headers["content-type"], std::move(body), {}};
      m.digest = Digest::of(m.body);
      if (tag_or_digest.starts_with("sha256:") && m.digest.str() != tag_or_digest)
        return make_error(Code::kFailedPrecondition, what + ": content digest is " + m.digest.str() + " (mismatch)");
      BERTH_CHECK_CTX(classify_manifest(m.media_type, m.body), what);
      return m;
    }
  }
  return *last;
}

Status RegistryClient::fetch_blob(const Reference& ref, const Descriptor& blob, const BlobSink& sink,
                                  const FetchedFn& on_fetched, std::stop_token stop) {
  const std::string what = "blob " + blob.digest.str() + " of " + ref.name();
  const uint64_t size = static_cast<uint64_t>(blob.size);
  Sha256 hash;
  uint64_t delivered = 0;
  std::optional<Error> last;
  for (const auto& ep : endpoints(ref.registry)) {
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      if (!backoff(stop, attempt, options_.backoff)) return cancelled_error("fetch " + what);
      std::vector<std::string> headers;
      if (delivered > 0) headers.push_back("Range: bytes=" + std::to_string(delivered) + "-");
      uint64_t skip = 0;
      bool sink_failed = false;
      auto body = [&](const char* d, size_t n) -> Status {
        if (skip) {
          size_t drop = static_cast<size_t>(std::min<uint64_t>(skip, n));
          skip -= drop;
          d += drop;
          n -= drop;
          if (!n) return ok();
        }
        if (delivered + n > size)
          return make_error(Code::kFailedPrecondition, what + ": registry sent more bytes than the descriptor's " +
                                                           std::to_string(size));
        hash.update(d, n);
        delivered += n;
        if (on_fetched) on_fetched(delivered);
        auto st = sink(d, n);
        if (!st) sink_failed = true;
        return st;
      };
      // A 200 to a ranged request restarts from byte 0: skip what the sink already has.
      uint64_t resume_at = delivered;
      auto resp = request(ep, ref.repository, "blobs/" + blob.digest.str(), headers, body, stop,
                          [&](long status) { skip = (status == 200) ? resume_at : 0; });
      if (!resp) {
        if (sink_failed || is_cancelled(resp.error())) return std::move(resp).error();
        last = std::move(resp).error().wrap("fetch " + what + " from " + ep.host);
        if (last->code == Code::kUnavailable) continue;
        if (last->code == Code::kFailedPrecondition && delivered > 0) return *last;
        break;
      }
      if (resp->status == 416 && delivered == size) { /* nothing left to send */ }
      else if (resp->status != 200 && resp->status != 206) {
        last = http_error("fetch " + what + " from " + ep.host, *resp);
        if (retryable_status(resp->status)) continue;
        break;
      }
      if (delivered < size) {
        last = make_error(Code::kUnavailable, "fetch " + what + " from " + ep.host + ": transfer ended at byte " +
                                                  std::to_string(delivered) + " of " + std::to_string(size));
        continue;
      }
      Digest got = hash.finish();
      if (got != blob.digest)
        return make_error(Code::kFailedPrecondition, what + ": content does not match its digest (got " +
                                                         got.str() + "); the registry's copy is corrupt");
      return ok();
    }
  }
  return *last;
}

Result<std::string> RegistryClient::fetch_blob_bytes(const Reference& ref, const Descriptor& blob, size_t max_bytes,
                                                     std::stop_token stop) {
  if (blob.size < 0 || static_cast<size_t>(blob.size) > max_bytes)
    return make_error(Code::kInvalidArgument, "blob " + blob.digest.str() + " is larger than " + std::to_string(max_bytes) + " bytes");
  std::string out;
  out.reserve(static_cast<size_t>(blob.size));
  BERTH_CHECK(fetch_blob(ref, blob, [&](const char* d, size_t n) -> Status {
    out.append(d, n);
    return ok();
  }, nullptr, stop));
  return out;
}

}  // namespace berth::fetcher
