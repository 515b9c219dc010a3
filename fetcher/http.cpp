#include "fetcher/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <optional>

namespace berth::fetcher {
namespace {

constexpr size_t kMaxErrorBody = 4096;

// Pooled easy handles: curl keeps each handle's connection cache, so reusing them reuses
// connections. Handles are reset between uses; the pool only grows to the peak concurrency.
class HandlePool {
 public:
  HandlePool() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  CURL* take() {
    std::lock_guard lk(mu_);
    if (free_.empty()) return curl_easy_init();
    CURL* h = free_.back();
    free_.pop_back();
    return h;
  }
  void give(CURL* h) {
    curl_easy_reset(h);
    std::lock_guard lk(mu_);
    free_.push_back(h);
  }

 private:
  std::mutex mu_;
  std::vector<CURL*> free_;
};

HandlePool& pool() {
  static HandlePool* p = new HandlePool();  // never destroyed: handles may be in use at exit
  return *p;
}

constexpr const char* kCancelled = "cancelled";

struct Transfer {
  CURL* h = nullptr;
  const std::stop_token* stop = nullptr;
  const BodyFn* body = nullptr;
  HttpResponse resp;
  std::optional<Error> sink_error;
  const std::function<void(long)>* on_status = nullptr;
  bool status_seen = false;
};

size_t on_header(char* data, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  std::string line(data, len);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100-continue)
    t->resp.headers.clear();
    t->resp.www_authenticate.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return len;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string value = line.substr(colon + 1);
  value.erase(0, value.find_first_not_of(" \t"));
  if (name == "www-authenticate") t->resp.www_authenticate.push_back(value);
  t->resp.headers[name] = value;
  return len;
}

size_t on_body(char* data, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    size_t room = kMaxErrorBody - std::min(kMaxErrorBody, t->resp.error_body.size());
    t->resp.error_body.append(data, std::min(room, len));
    return len;
  }
  if (!t->status_seen) {
    t->status_seen = true;
    if (t->on_status && *t->on_status) (*t->on_status)(status);
  }
  if (t->body && *t->body) {
    auto st = (*t->body)(data, len);
    if (!st) {
      t->sink_error = std::move(st).error();
      return CURL_WRITEFUNC_ERROR;
    }
  }
  return len;
}

// Also called about once a second while nothing arrives, so a stalled transfer is cancellable.
int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ud);
  return t->stop->stop_requested() ? 1 : 0;
}

}  // namespace

Error cancelled_error(const std::string& what) {
  return Error{Code::kUnavailable, ECANCELED, what + ": " + kCancelled};
}

bool is_cancelled(const Error& e) { return e.code == Code::kUnavailable && e.sys_errno == ECANCELED; }

std::string redact_url(const std::string& url) {
  std::string u = url.substr(0, url.find('?'));
  auto scheme = u.find("://");
  auto at = u.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  auto slash = u.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme != std::string::npos && at != std::string::npos && (slash == std::string::npos || at < slash))
    u = u.substr(0, scheme + 3) + u.substr(at + 1);
  return u;
}

Result<HttpResponse> http_perform(const HttpRequest& req, const BodyFn& body) {
  Transfer t;
  t.h = pool().take();
  if (!t.h) return make_error(Code::kInternal, "curl_easy_init failed");
  t.body = &body;
  t.on_status = &req.on_status;
  t.stop = &req.stop;
  if (req.stop.stop_requested()) {
    pool().give(t.h);
    return cancelled_error(req.method + " " + redact_url(req.url));
  }
  CURL* h = t.h;
  struct curl_slist* hdrs = nullptr;
  for (const auto& hd : req.headers) hdrs = curl_slist_append(hdrs, hd.c_str());
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  if (req.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  const char* protocols = req.https_only ? "https" : "http,https";
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, req.low_speed_time_s);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "berth/0.1");
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  if (!req.tls.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.tls.ca_file.c_str());
  if (!req.tls.client_cert.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, req.tls.client_cert.c_str());
  if (!req.tls.client_key.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, req.tls.client_key.c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t.resp.status);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(hdrs);
  pool().give(h);

  std::string what = req.method + " " + redact_url(req.url);
  if (t.sink_error) return std::move(*t.sink_error);
  if (rc == CURLE_ABORTED_BY_CALLBACK) return cancelled_error(what);
  if (rc != CURLE_OK) {
    std::string msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    Code code = Code::kUnavailable;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
        rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
      code = Code::kFailedPrecondition;  // configuration, not a passing fault: no retry
    return make_error(code, what + ": " + msg);
  }
  return std::move(t.resp);
}

}  // namespace berth::fetcher
