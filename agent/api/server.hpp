// Server: a small HTTP/1.1 server on a Unix socket (libmicrohttpd underneath), routing
// "METHOD /v1/containers/{id}/logs" patterns to handlers.
//
// Invariants: every reply to a bad request is a JSON error {"error":{"code","message"}}:
// unknown path 404, known path with another method 405 (with Allow), body over 1 MiB 413, a
// handler that throws 500. Path segments are percent-decoded one by one after splitting, so
// "{ref}" can hold a "/" sent as %2F. The socket file is created 0660-style (as asked), owned
// by us; stop() removes it only if it is still the one we bound. At most
// ServerOptions::max_connections connections are open at once; a connection that sends
// nothing for idle_timeout_s is closed, except while its request is being handled, waits for
// a deferred reply or streams (those have no idle timeout).
//
// Threading: route() only before start(). Connections cost no thread: one event thread
// (epoll) does all socket I/O. Each complete request runs its handler on a thread of its own
// for as long as the handler runs (so a slow handler never stalls other clients); the
// connection is suspended meanwhile. Replies that are not ready yet (Response::deferred) and
// streams (Response::stream) must not block: they are asked again on the server's pump
// thread every ~100 ms (or at once after wake()) while they have nothing, and the connection
// waits suspended in between. stop() cancels every open stream and deferred reply, waits for
// running handlers (they must watch Request::cancelled()) and returns.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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

  // True once the server is stopping or the client has hung up. A handler that takes long
  // should check it now and then and give up when it turns true; one that only waits for
  // something should answer with Response::later() instead of blocking.
  bool cancelled() const;

  // Set by the server; empty in a Request built by hand (cancelled() is then false).
  const std::atomic<bool>* server_stopping = nullptr;
  int connection_fd = -1;
};

// A streaming body: appends the bytes available now to `out` and returns true to go on,
// false when the stream is complete. It must not block: with nothing to give it returns true
// and an empty `out`, and is asked again after ~100 ms or a Server::wake(). Called on server
// threads, one call at a time. `cancelled` is true when the client went away or the server
// stops; the producer is then called once more and must return false.
using StreamFn = std::function<bool(std::string& out, const std::atomic<bool>& cancelled)>;

struct Response;
// A reply that is not ready yet (e.g. wait until a task exits): returns it once it is, or
// nullopt to be asked again after ~100 ms or a Server::wake(). Must not block. When
// `cancelled` (client gone, server stopping) it should return its final reply.
using DeferredFn = std::function<std::optional<Response>(bool cancelled)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  StreamFn stream;  // if set: chunked, body ignored
  DeferredFn deferred;  // if set: the reply comes from it later; everything else ignored
  std::map<std::string, std::string> headers;  // extra headers (e.g. Allow)

  static Response json(int status, std::string body);
  static Response later(DeferredFn fn);
  static Response error(const Error& e);  // {"error":{"code","message"}} + http_status(code)
  static Response error(int status, Code code, const std::string& message);
  static Response empty(int status);      // e.g. 204
};

int http_status(Code code);  // the table in docs/API.md

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  // Open connections at most (idle ones included); more are refused until some close. The
  // soft RLIMIT_NOFILE of the process is raised (up to its hard limit) to hold them.
  size_t max_connections = 4096;
  // A connection that sends nothing for this long between or within requests is closed.
  unsigned idle_timeout_s = 60;
};

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
  Status start(const std::string& socket_path, mode_t mode, gid_t gid, ServerOptions options = {});

  // Stops accepting, cancels open streams and deferred replies, waits for running handlers,
  // removes the socket. Idempotent.
  void stop();

  // Asks every waiting stream and deferred reply again now (e.g. after an event was
  // published) instead of at the next ~100 ms beat. Any thread.
  void wake();

  // Streams currently open (for tests and metrics).
  size_t open_streams() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::api
