// Server: a small HTTP/1.1 server on a Unix socket (libmicrohttpd underneath), routing
// "METHOD /v1/containers/{id}/logs" patterns to handlers.
//
// Invariants: every reply to a bad request is a JSON error {"error":{"code","message"}}:
// unknown path 404, known path with another method 405 (with Allow), body over 1 MiB 413, a
// handler that throws 500. Path segments are percent-decoded one by one after splitting, so
// "{ref}" can hold a "/" sent as %2F. The socket file is created 0660-style (as asked), owned
// by us; stop() removes it only if it is still the one we bound.
//
// Threading: route() only before start(). One thread per connection, so a handler or a stream
// may block; a StreamFn runs on its connection's thread. stop() cancels every open stream
// (their `cancelled` flips), stops accepting, and joins every connection thread; it returns
// once the producers have returned (they must return at least every ~500 ms).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/result.hpp"

namespace berth::api {

struct PeerCred {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

struct Request {
  std::string method;                          // "GET"
  std::string path;                            // "/v1/containers/abc/logs" (no query), decoded
  std::map<std::string, std::string> query;    // decoded; "?follow" alone maps to ""
  std::map<std::string, std::string> params;   // from "{id}" in the route pattern
  std::string body;
  PeerCred peer;                               // SO_PEERCRED of the connection

  std::string param(const std::string& k) const;  // "" if absent
  std::string query_or(const std::string& k, const std::string& fallback) const;

  // True once the server is stopping or the client has hung up. A handler that blocks for
  // long (e.g. wait) should sleep in slices of <= 500 ms and give up when this turns true.
  bool cancelled() const;

  // Set by the server; empty in a Request built by hand (cancelled() is then false).
  const std::atomic<bool>* server_stopping = nullptr;
  int connection_fd = -1;
};

// A streaming body: called again and again on the connection's own thread; appends bytes to
// `out` and returns true to go on, false when the stream is complete. It may block waiting
// for data but must return (possibly with `out` empty) at least every ~500 ms so the server
// notices a closed client or shutdown. `cancelled` flips to true when the client went away or
// the server stops; producers must then return false promptly.
using StreamFn = std::function<bool(std::string& out, const std::atomic<bool>& cancelled)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  StreamFn stream;  // if set: chunked, body ignored
  std::map<std::string, std::string> headers;  // extra headers (e.g. Allow)

  static Response json(int status, std::string body);
  static Response error(const Error& e);  // {"error":{"code","message"}} + http_status(code)
  static Response error(int status, Code code, const std::string& message);
  static Response empty(int status);      // e.g. 204
};

int http_status(Code code);  // the table in docs/API.md

using Handler = std::function<Response(const Request&)>;

class Server {
 public:
  Server();
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // `pattern` is a path whose segments are literals or "{name}". Not thread-safe; call before
  // start(). Where several patterns match a path, the one with literals further left wins.
  void route(const std::string& method, const std::string& pattern, Handler h);

  // Binds socket_path (removing a stale socket file first, but refusing if another live
  // server answers there), chmods it to `mode`, chowns its group to `gid` unless it is
  // (gid_t)-1, listens and serves on internal threads.
  Status start(const std::string& socket_path, mode_t mode, gid_t gid);

  // Stops accepting, cancels open streams, joins every connection thread, removes the socket.
  // Idempotent.
  void stop();

  // Streams currently open (for tests and metrics).
  size_t open_streams() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::api
