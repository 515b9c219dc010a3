#include "agent/api/server.hpp"

#include <microhttpd.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "agent/api/router.hpp"
#include "common/json.hpp"
#include "common/scope_guard.hpp"
#include "common/unique_fd.hpp"

namespace berth::api {
namespace {

constexpr size_t kMaxBody = 1 << 20;
constexpr size_t kStreamBlock = 64 * 1024;

// The peer closed its end (or the socket broke). A client that merely stopped reading still
// counts as present; MHD's own send path handles that.
bool client_gone(int fd) {
  if (fd < 0) return false;
  struct pollfd p {};
  p.fd = fd;
  p.events = POLLRDHUP;
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

std::string error_body(Code code, const std::string& message) {
  json::JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.kv("code", code_name(code)).kv("message", message);
  w.end_object().end_object();
  return w.str();
}

// Per-request state kept in MHD's con_cls between the calls of the access handler.
struct RequestState {
  std::string body;
  bool too_large = false;
};

}  // namespace

// One open streaming response. Owned by MHD's response object (freed in free_stream).
struct StreamState {
  StreamFn fn;
  std::string pending;
  size_t offset = 0;
  bool done = false;
  std::atomic<bool> cancelled{false};
  int fd = -1;
  Server::Impl* impl = nullptr;
};

struct Server::Impl {
  Router router;
  std::vector<Handler> handlers;
  MHD_Daemon* daemon = nullptr;
  std::string socket_path;
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;            // guards streams
  std::set<StreamState*> streams;
  std::mutex stop_mu;               // serialises start/stop

  Response dispatch(MHD_Connection* c, const char* raw_url, const char* method,
                    std::string body);
  MHD_Result queue(MHD_Connection* c, Response r);
};

// ---- Request / Response helpers -------------------------------------------------------------

std::string Request::param(const std::string& k) const {
  auto it = params.find(k);
  return it == params.end() ? std::string() : it->second;
}

std::string Request::query_or(const std::string& k, const std::string& fallback) const {
  auto it = query.find(k);
  return it == query.end() ? fallback : it->second;
}

bool Request::cancelled() const {
  if (server_stopping && server_stopping->load()) return true;
  return client_gone(connection_fd);
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
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

// ---- libmicrohttpd callbacks ----------------------------------------------------------------

namespace {

// Paths and query strings reach us still encoded: segments are decoded after splitting.
size_t keep_escaped(void*, MHD_Connection*, char* s) { return std::strlen(s); }

MHD_Result collect_query(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* q = static_cast<std::map<std::string, std::string>*>(cls);
  if (key) (*q)[percent_decode(key, true)] = value ? percent_decode(value, true) : std::string();
  return MHD_YES;
}

ssize_t read_stream(void* cls, uint64_t, char* buf, size_t max) {
  auto* s = static_cast<StreamState*>(cls);
  for (;;) {
    if (s->offset < s->pending.size()) {
      size_t n = std::min(max, s->pending.size() - s->offset);
      std::memcpy(buf, s->pending.data() + s->offset, n);
      s->offset += n;
      if (s->offset == s->pending.size()) {
        s->pending.clear();
        s->offset = 0;
      }
      return static_cast<ssize_t>(n);
    }
    if (s->done)
      return s->cancelled.load() ? MHD_CONTENT_READER_END_WITH_ERROR
                                 : MHD_CONTENT_READER_END_OF_STREAM;
    if (!s->cancelled.load() && client_gone(s->fd)) s->cancelled.store(true);
    if (s->cancelled.load()) {
      // One last call so the producer observes the cancellation (it returns false at once).
      std::string discard;
      try {
        s->fn(discard, s->cancelled);
      } catch (...) {
      }
      s->done = true;
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    try {
      if (!s->fn(s->pending, s->cancelled)) s->done = true;
    } catch (...) {
      // Headers are gone already; all we can do is cut the stream short.
      s->cancelled.store(true);
      s->done = true;
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  }
}

void free_stream(void* cls) {
  auto* s = static_cast<StreamState*>(cls);
  {
    std::lock_guard<std::mutex> lock(s->impl->mu);
    s->impl->streams.erase(s);
  }
  delete s;
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char*, const char* upload_data, size_t* upload_size,
                      void** con_cls) {
  auto* impl = static_cast<Server::Impl*>(cls);
  auto* st = static_cast<RequestState*>(*con_cls);
  if (!st) {
    st = new RequestState;
    *con_cls = st;
    const char* cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && std::strtoull(cl, nullptr, 10) > kMaxBody) {
      st->too_large = true;
      return impl->queue(c, Response::error(413, Code::kInvalidArgument,
                                            "request body larger than 1 MiB"));
    }
    return MHD_YES;
  }
  if (*upload_size != 0) {
    if (!st->too_large) {
      if (st->body.size() + *upload_size > kMaxBody) {
        st->too_large = true;
        std::string().swap(st->body);
      } else {
        st->body.append(upload_data, *upload_size);
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (st->too_large)
    return impl->queue(c, Response::error(413, Code::kInvalidArgument,
                                          "request body larger than 1 MiB"));
  return impl->queue(c, impl->dispatch(c, url, method, std::move(st->body)));
}

void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<RequestState*>(*con_cls);
  *con_cls = nullptr;
}

PeerCred peer_of(int fd) {
  PeerCred p;
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (fd >= 0 && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.pid = cred.pid;
    p.uid = cred.uid;
    p.gid = cred.gid;
  }
  return p;
}

int connection_fd(MHD_Connection* c) {
  const MHD_ConnectionInfo* ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci ? ci->connect_fd : -1;
}

}  // namespace

Response Server::Impl::dispatch(MHD_Connection* c, const char* raw_url, const char* method,
                                std::string body) {
  Request req;
  req.method = method;
  auto segments = split_path(raw_url);
  for (const auto& s : segments) req.path += "/" + s;
  if (req.path.empty()) req.path = "/";
  auto outcome = router.match(req.method, segments);
  if (!outcome.match) {
    if (outcome.allowed.empty())
      return Response::error(404, Code::kNotFound, "no such endpoint: " + req.path);
    std::string allow;
    for (const auto& m : outcome.allowed) allow += (allow.empty() ? "" : ", ") + m;
    Response r = Response::error(405, Code::kInvalidArgument,
                                 "method " + req.method + " not allowed on " + req.path +
                                     " (allowed: " + allow + ")");
    r.headers["Allow"] = allow;
    return r;
  }
  req.params = std::move(outcome.match->params);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &collect_query, &req.query);
  req.body = std::move(body);
  req.connection_fd = connection_fd(c);
  req.peer = peer_of(req.connection_fd);
  req.server_stopping = &stopping;
  try {
    return handlers[outcome.match->route](req);
  } catch (const std::exception& e) {
    return Response::error(500, Code::kInternal, std::string("internal error: ") + e.what());
  } catch (...) {
    return Response::error(500, Code::kInternal, "internal error: unknown exception");
  }
}

MHD_Result Server::Impl::queue(MHD_Connection* c, Response r) {
  MHD_Response* mr = nullptr;
  if (r.stream) {
    auto* s = new StreamState;
    s->fn = std::move(r.stream);
    s->fd = connection_fd(c);
    s->impl = this;
    {
      std::lock_guard<std::mutex> lock(mu);
      streams.insert(s);
      if (stopping.load()) s->cancelled.store(true);
    }
    mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, kStreamBlock, &read_stream, s,
                                           &free_stream);
    if (!mr) {
      free_stream(s);
      return MHD_NO;
    }
  } else {
    mr = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
    if (!mr) return MHD_NO;
  }
  if (!r.content_type.empty())
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  for (const auto& [k, v] : r.headers) MHD_add_response_header(mr, k.c_str(), v.c_str());
  MHD_Result ret = MHD_queue_response(c, static_cast<unsigned>(r.status), mr);
  MHD_destroy_response(mr);
  return ret;
}

// ---- Server ---------------------------------------------------------------------------------

namespace {

// Removes a leftover socket file; refuses when a live server answers on it or when the path
// is something else than a socket.
Status clear_stale_socket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok();
    return errno_error("stat " + path);
  }
  if (!S_ISSOCK(st.st_mode))
    return make_error(Code::kAlreadyExists, path + " exists and is not a socket; remove it");
  int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (raw < 0) return errno_error("socket");
  UniqueFd probe = UniqueFd::adopt(raw);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0)
    return make_error(Code::kAlreadyExists,
                      "another server is listening on " + path + " (is berthd already running?)");
  if (errno != ECONNREFUSED) return errno_error("probe " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("remove stale " + path);
  return ok();
}

}  // namespace

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() { stop(); }

void Server::route(const std::string& method, const std::string& pattern, Handler h) {
  impl_->router.add(method, pattern);
  impl_->handlers.push_back(std::move(h));
}

Status Server::start(const std::string& socket_path, mode_t mode, gid_t gid) {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->daemon) return make_error(Code::kFailedPrecondition, "server already started");
  sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path))
    return make_error(Code::kInvalidArgument,
                      "socket path '" + socket_path + "' is empty or longer than " +
                          std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  BERTH_CHECK(clear_stale_socket(socket_path, addr));

  int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (raw < 0) return errno_error("socket");
  UniqueFd fd = UniqueFd::adopt(raw);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return errno_error("bind " + socket_path);
  ScopeGuard unlink_socket([&] { ::unlink(socket_path.c_str()); });
  // Permissions are set before listen(): until then nobody can connect.
  if (::chmod(socket_path.c_str(), mode) != 0) return errno_error("chmod " + socket_path);
  if (gid != static_cast<gid_t>(-1) && ::chown(socket_path.c_str(), static_cast<uid_t>(-1), gid) != 0)
    return errno_error("chown " + socket_path + " to group " + std::to_string(gid));
  struct stat st {};
  if (::stat(socket_path.c_str(), &st) != 0) return errno_error("stat " + socket_path);
  if (::listen(fd.get(), 128) != 0) return errno_error("listen " + socket_path);

  impl_->stopping.store(false);
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_USE_POLL | MHD_USE_ITC;
  MHD_Daemon* d = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &on_request, impl_.get(),
      MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(fd.get()),
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, impl_.get(),
      MHD_OPTION_UNESCAPE_CALLBACK, &keep_escaped, nullptr,
      MHD_OPTION_CONNECTION_TIMEOUT, 0u,  // streams and waits may be idle for long
      MHD_OPTION_END);
  if (!d) return make_error(Code::kInternal, "start HTTP server on " + socket_path);
  fd.release();  // MHD closes the listening socket in MHD_stop_daemon
  unlink_socket.dismiss();
  impl_->daemon = d;
  impl_->socket_path = socket_path;
  impl_->socket_dev = st.st_dev;
  impl_->socket_ino = st.st_ino;
  return ok();
}

void Server::stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (!impl_->daemon) return;
  {
    std::lock_guard<std::mutex> streams_lock(impl_->mu);
    impl_->stopping.store(true);
    for (StreamState* s : impl_->streams) s->cancelled.store(true);
  }
  MHD_stop_daemon(impl_->daemon);  // joins the listener and every connection thread
  impl_->daemon = nullptr;
  struct stat st {};
  if (::stat(impl_->socket_path.c_str(), &st) == 0 && st.st_dev == impl_->socket_dev &&
      st.st_ino == impl_->socket_ino)
    ::unlink(impl_->socket_path.c_str());
}

size_t Server::open_streams() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->streams.size();
}

}  // namespace berth::api
