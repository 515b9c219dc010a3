// A thin HTTP client over libcurl for the registry client and the artifact fetcher: one
// request, response headers, the body streamed to a callback. Easy handles are pooled so
// keep-alive connections are reused across requests (a warm pull is one round trip).
// Transport failures are kUnavailable (worth a retry); the HTTP status is for the caller to
// judge. A transfer can be cancelled through its stop_token (berthd stopping). Credentials are
// only ever passed as headers and never appear in errors.
// Thread-safe: any number of concurrent requests.
#pragma once

#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::fetcher {

struct TlsSettings {
  std::string ca_file;      // PEM bundle that replaces the system CAs for this host
  std::string client_cert;  // PEM
  std::string client_key;   // PEM
};

struct HttpRequest {
  std::string url;
  std::string method = "GET";  // GET or HEAD
  std::vector<std::string> headers;  // "Name: value"
  TlsSettings tls;
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;  // abort when < 1 KiB/s for this long (a stalled registry)
  // Only https, for the request and every redirect (credentials must not leave over plain http).
  bool https_only = false;
  // Called once with the final status before the first body byte of a 2xx response.
  std::function<void(long status)> on_status;
  // A stop request aborts the transfer within about a second (curl's progress callback), even
  // while it waits on a silent server; the result is then cancelled_error().
  std::stop_token stop;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the final response
  std::vector<std::string> www_authenticate;   // every WWW-Authenticate value
  std::string error_body;                      // first 4 KiB of a non-2xx body
};

// Receives body bytes of a 2xx response; returning an error aborts the transfer with it.
using BodyFn = std::function<Status(const char* data, size_t len)>;

// Follows redirects (blob storage); custom Authorization headers are not sent to other hosts.
Result<HttpResponse> http_perform(const HttpRequest& req, const BodyFn& body);

// kUnavailable with sys_errno ECANCELED ("…: cancelled"); callers do not retry it.
Error cancelled_error(const std::string& what);
bool is_cancelled(const Error& e);

// URL without userinfo/query, for messages.
std::string redact_url(const std::string& url);

}  // namespace berth::fetcher
