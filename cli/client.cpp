#include "cli/client.hpp"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace berth::cli {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

Code code_from_name(std::string_view name) {
  static const std::pair<const char*, Code> kCodes[] = {
      {"invalid_argument", Code::kInvalidArgument}, {"not_found", Code::kNotFound},
      {"already_exists", Code::kAlreadyExists}, {"permission_denied", Code::kPermissionDenied},
      {"failed_precondition", Code::kFailedPrecondition}, {"unavailable", Code::kUnavailable},
      {"internal", Code::kInternal}};
  for (const auto& [n, c] : kCodes)
    if (name == n) return c;
  return Code::kInternal;
}

Code code_from_status(long status) {
  switch (status) {
    case 400: case 405: case 413: return Code::kInvalidArgument;
    case 403: return Code::kPermissionDenied;
    case 404: return Code::kNotFound;
    case 409: return Code::kFailedPrecondition;
    case 408: case 503: return Code::kUnavailable;
    default: return Code::kInternal;
  }
}

// Everything the write callback needs: either collect the body or hand it on.
struct Transfer {
  CURL* curl = nullptr;
  std::string body;                                     // whole body, or an error body
  const std::function<bool(std::string_view)>* on_data = nullptr;
  bool stopped_by_caller = false;
};

size_t write_cb(char* ptr, size_t, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  if (t->on_data) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      if (!(*t->on_data)(std::string_view(ptr, n))) {
        t->stopped_by_caller = true;
        return 0;  // makes curl abort with CURLE_WRITE_ERROR
      }
      return n;
    }
  }
  t->body.append(ptr, n);
  return n;
}

Error transport_error(const std::string& socket, CURL* c, CURLcode rc, const char* errbuf) {
  long os_errno = 0;
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
    int err = os_errno ? static_cast<int>(os_errno) : ECONNREFUSED;
    std::string hint = (err == EACCES || err == EPERM)
                           ? "(run as root or as a member of the socket's group)"
                           : "(is berthd running? set --socket or BERTH_SOCKET)";
    return Error{Code::kUnavailable, err,
                 "cannot connect to berthd at " + socket + ": " + std::strerror(err) + " " + hint};
  }
  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  return Error{Code::kUnavailable, static_cast<int>(os_errno),
               "talking to berthd at " + socket + ": " + detail};
}

}  // namespace

Client::Client(std::string socket_path) : socket_path_(std::move(socket_path)) {}

static Result<long> perform(const std::string& socket, const std::string& method,
                            const std::string& target, const std::string& body,
                            Transfer& t) {
  global_init();
  CurlPtr curl(curl_easy_init());
  if (!curl) return make_error(Code::kInternal, "curl_easy_init failed");
  CURL* c = curl.get();
  t.curl = c;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string url = "http://localhost" + target;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "berth-cli/0.1");
  SlistPtr headers(curl_slist_append(nullptr, "Expect:"));  // no 100-continue round trip
  if (method != "GET" && method != "HEAD") {
    if (!body.empty()) headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.stopped_by_caller))
    return transport_error(socket, c, rc, errbuf);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

Result<HttpResponse> Client::request(const std::string& method, const std::string& target,
                                     const std::string& body) {
  Transfer t;
  BERTH_TRY(long status, perform(socket_path_, method, target, body, t));
  return HttpResponse{status, std::move(t.body)};
}

Result<long> Client::stream(const std::string& method, const std::string& target,
                            const std::string& body,
                            const std::function<bool(std::string_view)>& on_data) {
  Transfer t;
  t.on_data = &on_data;
  BERTH_TRY(long status, perform(socket_path_, method, target, body, t));
  if (status < 200 || status >= 300) return error_from_reply(status, t.body);
  return status;
}

Result<rapidjson::Document> Client::call(const std::string& method, const std::string& target,
                                         const std::string& body) {
  BERTH_TRY(HttpResponse r, request(method, target, body));
  if (r.status < 200 || r.status >= 300) return error_from_reply(r.status, r.body);
  if (r.body.empty()) return rapidjson::Document();
  BERTH_TRY_CTX(rapidjson::Document doc, json::parse(r.body),
                "reply to " + method + " " + target);
  return doc;
}

Error error_from_reply(long status, std::string_view body) {
  auto doc = json::parse(body);
  if (doc.has_value() && doc->IsObject() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
    const auto& e = (*doc)["error"];
    std::string message = json::get_string(e, "message");
    if (message.empty()) message = "HTTP " + std::to_string(status);
    return make_error(code_from_name(json::get_string(e, "code")), message);
  }
  std::string text(body.substr(0, 200));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return make_error(code_from_status(status),
                    "HTTP " + std::to_string(status) + (text.empty() ? "" : ": " + text));
}

std::string url_encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string default_socket_path() {
  const char* env = std::getenv("BERTH_SOCKET");
  return env && *env ? env : "/run/berth/berth.sock";
}

}  // namespace berth::cli
