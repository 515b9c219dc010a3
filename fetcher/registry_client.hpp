// The registry client: the OCI distribution API (manifests and blobs, pull side) over http.hpp.
//
// Per-host settings (RegistryHost) come from the agent config: plain HTTP for `insecure`
// hosts, a private CA bundle, a client certificate, credentials and mirrors. Every request tries
// the host's mirrors in order, then the host itself; each endpoint gets retries with
// exponential backoff on transient failures (connection errors, 429, 5xx). Auth follows the
// 401 challenge: Basic with the configured credentials, or a Bearer token from the challenge's
// realm/service/scope (fetched with the credentials if any), cached until it expires. The
// credentials go to a realm only over https, or plain http when the host is `insecure`.
// Credentials and tokens never appear in errors.
//
// Blobs stream to a sink through a sha256 verifier and a size check against the descriptor;
// the call succeeds only when every byte matched. A retry after a partial transfer resumes
// with `Range: bytes=N-`; a registry that answers 200 instead of 206 is handled by skipping
// the bytes already delivered. The sink therefore sees each byte exactly once, in order.
// Thread-safe: one client is shared by all pulls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "fetcher/auth.hpp"
#include "fetcher/http.hpp"
#include "fetcher/manifest.hpp"
#include "fetcher/reference.hpp"

namespace berth::fetcher {

struct RegistryHost {
  bool insecure = false;       // plain HTTP
  TlsSettings tls;             // CA bundle, client cert/key
  std::string username;        // Basic credentials, also used to get Bearer tokens
  std::string password;
  std::vector<std::string> mirrors;  // host[:port], each with its own RegistryHost entry if any
};

struct RegistryOptions {
  std::map<std::string, RegistryHost> hosts;  // by "host[:port]"; absent → defaults (HTTPS)
  int max_attempts = 4;                       // per endpoint
  std::chrono::milliseconds backoff{200};     // doubled after each failed attempt
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;
  size_t max_manifest_bytes = 4 << 20;
};

struct FetchedManifest {
  std::string media_type;  // Content-Type as served
  std::string body;
  Digest digest;           // sha256 of body; equals the requested digest when one was asked for
};

// Receives the blob's bytes in order, each exactly once, as they arrive: NOT yet verified (the
// digest is known only at the end, when fetch_blob returns). A sink that acts on the bytes
// (an unpacker) must keep its output invisible until fetch_blob succeeded. An error stops the
// transfer and is returned.
using BlobSink = std::function<Status(const char* data, size_t len)>;
using FetchedFn = std::function<void(uint64_t fetched_bytes)>;

class RegistryClient {
 public:
  explicit RegistryClient(RegistryOptions options);

  // Every call stops early (transfer aborted, no more retries or backoff) when `stop` is
  // requested, with an error for which is_cancelled() holds.
  // GET /v2/<repo>/manifests/<tag or digest>. Schema1 is refused here with a clear message.
  Result<FetchedManifest> get_manifest(const Reference& ref, const std::string& tag_or_digest,
                                       std::stop_token stop = {});
  Status fetch_blob(const Reference& ref, const Descriptor& blob, const BlobSink& sink,
                    const FetchedFn& on_fetched = nullptr, std::stop_token stop = {});
  // For small blobs (configs): the verified bytes.
  Result<std::string> fetch_blob_bytes(const Reference& ref, const Descriptor& blob, size_t max_bytes = 16 << 20,
                                       std::stop_token stop = {});

 private:
  struct Endpoint {
    std::string host;
    const RegistryHost* settings;
  };
  std::vector<Endpoint> endpoints(const std::string& host) const;
  // One request with auth handling (at most one challenge round) against one endpoint.
  Result<HttpResponse> request(const Endpoint& ep, const std::string& repository, const std::string& path,
                               std::vector<std::string> headers, const BodyFn& body, std::stop_token stop,
                               std::function<void(long)> on_status = nullptr);
  Result<std::string> bearer_token(const Endpoint& ep, const Challenge& c, const std::string& scope,
                                   std::stop_token stop);
  Error http_error(const std::string& what, const HttpResponse& resp) const;

  RegistryOptions options_;
  RegistryHost default_host_;
  TokenCache tokens_;
  std::mutex challenge_mu_;
  std::map<std::string, Challenge> challenges_;  // last challenge per endpoint host
};

}  // namespace berth::fetcher
