// Request and Response: the plain values a handler receives and returns (see server.hpp).
#include "agent/api/server.hpp"

#include "common/json.hpp"

namespace berth::api {
namespace {

std::string error_body(Code code, const std::string& message) {
  json::JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.kv("code", code_name(code)).kv("message", message);
  w.end_object().end_object();
  return w.str();
}

}  // namespace

std::string Request::param(const std::string& k) const {
  auto it = params.find(k);
  return it == params.end() ? std::string() : it->second;
}

std::string Request::query_or(const std::string& k, const std::string& fallback) const {
  auto it = query.find(k);
  return it == query.end() ? fallback : it->second;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::later(DeferredFn fn) {
  Response r;
  r.deferred = std::move(fn);
  return r;
}

Response Response::error(const Error& e) { return error(http_status(e.code), e.code, e.message); }

Response Response::error(int status, Code code, const std::string& message) {
  return json(status, error_body(code, message));
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  r.content_type.clear();
  return r;
}

int http_status(Code code) {
  switch (code) {
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kPermissionDenied: return 403;
    case Code::kFailedPrecondition: return 409;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
  }
  return 500;
}

}  // namespace berth::api
