#include "agent/api/server.hpp"

#include <microhttpd.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "agent/api/router.hpp"
#include "common/scope_guard.hpp"
#include "common/unique_fd.hpp"

namespace berth::api {
namespace {

constexpr size_t kMaxBody = 1 << 20;
constexpr size_t kStreamBlock = 64 * 1024;
constexpr auto kPumpBeat = std::chrono::milliseconds(100);
// How much of an oversized body is read and dropped so that its 413 reaches the client.
constexpr uint64_t kMaxDiscard = 64ull << 20;

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

}  // namespace

// A suspended connection waiting for something to send: the pump asks advance() each beat and
// resumes the connection once it returns true. Only the pump removes a parked connection, and
// MHD never touches a suspended one, so a Parked object outlives its time in the parked set.
struct Parked {
  virtual ~Parked() = default;
  // True when the connection has something to do again. `stopping`: the server is stopping.
  virtual bool advance(bool stopping) = 0;
  MHD_Connection* conn = nullptr;
  int fd = -1;
};

// Per-request state kept in MHD's con_cls between the calls of the access handler.
struct RequestState : Parked {
  enum class Phase { kReceiving, kRunning, kReady, kDeferred };
  std::string body;
  bool too_large = false;
  Phase phase = Phase::kReceiving;
  Response reply;       // kReady: what to send (set by the handler thread or the pump)
  DeferredFn deferred;  // kDeferred

  bool advance(bool stopping) override;
};

// One open streaming response. Owned by MHD's response object (freed in free_stream).
struct StreamState : Parked {
  std::mutex mu;  // one producer call at a time (content reader or pump)
  StreamFn fn;
  std::string pending;
  size_t offset = 0;
  bool done = false;
  std::atomic<bool> cancelled{false};
  Server::Impl* impl = nullptr;

  bool advance(bool stopping) override;
  // Calls the producer once; if it throws, the stream is cut short.
  void produce();
  // Cancels: the producer gets its last call and the stream is done.
  void finish();
};

struct Server::Impl {
  Router router;
  std::vector<Handler> handlers;
  MHD_Daemon* daemon = nullptr;
  std::string socket_path;
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
  std::atomic<bool> stopping{false};
  unsigned idle_timeout_s = 60;
  mutable std::mutex mu;  // guards everything below
  std::condition_variable pump_cv;
  bool pump_exit = false;
  bool wake_now = false;
  std::set<StreamState*> streams;
  std::set<Parked*> parked;
  std::list<std::thread> workers;         // handler threads and stream destructors
  std::vector<std::thread::id> finished;  // workers whose body has returned
  std::thread pump;
  std::mutex stop_mu;  // serialises start/stop

  struct Prepared {
    Request req;
    size_t route = 0;
  };
  // The request and its route, or the reply to give at once (`early`: 404, 405).
  Result<Prepared> prepare(MHD_Connection* c, const char* raw_url, const char* method,
                          std::string body, Response& early);
  Response dispatch(size_t route, const Request& req);
  MHD_Result queue(MHD_Connection* c, Response r);
  // Suspends `p`'s connection until advance() says so; false (nothing done) when stopping.
  bool park(Parked* p);
  // Runs fn on a thread of its own; false (fn not run) when stopping.
  bool spawn(std::function<void()> fn);
  void pump_loop();
  void sweep(bool stopping);
  void reap_workers();
};

// ---- Request --------------------------------------------------------------------------------

bool Request::cancelled() const {
  if (server_stopping && server_stopping->load()) return true;
  return client_gone(connection_fd);
}

// ---- parked connections ---------------------------------------------------------------------

bool RequestState::advance(bool stopping) {
  bool cancelled = stopping || client_gone(fd);
  std::optional<Response> r;
  try {
    r = deferred(cancelled);
  } catch (const std::exception& e) {
    r = Response::error(500, Code::kInternal, std::string("internal error: ") + e.what());
  }
  if (!r && cancelled)
    r = Response::error(make_error(Code::kUnavailable, stopping ? "berthd is stopping" : "client went away"));
  if (!r) return false;
  reply = std::move(*r);
  deferred = nullptr;
  phase = Phase::kReady;
  return true;
}

void StreamState::produce() {
  try {
    if (!fn(pending, cancelled)) done = true;
  } catch (...) {
    // Headers are gone already; all we can do is cut the stream short.
    cancelled.store(true);
    done = true;
  }
}

void StreamState::finish() {
  cancelled.store(true);
  pending.clear();
  offset = 0;
  // One last call so the producer observes the cancellation (it returns false at once).
  produce();
  pending.clear();
  done = true;
}

bool StreamState::advance(bool stopping) {
  std::lock_guard lk(mu);
  if (stopping || client_gone(fd)) cancelled.store(true);
  if (cancelled.load()) {
    finish();
    return true;
  }
  produce();
  return done || offset < pending.size();
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
  std::lock_guard lk(s->mu);
  bool asked = false;
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
      return s->cancelled.load() ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    if (s->cancelled.load()) {
      s->finish();
      continue;
    }
    if (!asked) {
      asked = true;
      s->produce();
      continue;
    }
    // Nothing now: wait suspended, costing no thread, until the pump finds more.
    if (s->impl->park(s)) return 0;
    s->cancelled.store(true);
  }
}

void free_stream(void* cls) {
  auto* s = static_cast<StreamState*>(cls);
  Server::Impl* impl = s->impl;
  {
    std::lock_guard lk(s->mu);
    if (!s->done) s->finish();  // the connection ended first (client hung up mid-stream)
  }
  {
    std::lock_guard lk(impl->mu);
    impl->streams.erase(s);
  }
  // Destroying a producer may wait for work it owns (a pull's thread): never on the event
  // thread, unless the server is stopping anyway.
  if (!impl->spawn([s] { delete s; })) delete s;
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char*, const char* upload_data, size_t* upload_size,
                      void** con_cls) {
  auto* impl = static_cast<Server::Impl*>(cls);
  auto* st = static_cast<RequestState*>(*con_cls);
  if (!st) {
    st = new RequestState;
    *con_cls = st;
    st->conn = c;
    const char* cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && std::strtoull(cl, nullptr, 10) > kMaxBody) {
      st->too_large = true;
      // Answered once the body has been read (and dropped): a reply sent while the client is
      // still writing is lost to it when the close resets the connection. Past kMaxDiscard it
      // is not worth reading: answer at once.
      if (std::strtoull(cl, nullptr, 10) > kMaxDiscard)
        return impl->queue(c, Response::error(413, Code::kInvalidArgument,
                                              "request body larger than 1 MiB"));
    }
    return MHD_YES;
  }
  using Phase = RequestState::Phase;
  if (st->phase == Phase::kReceiving) {
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
    Response early;
    auto req = impl->prepare(c, url, method, std::move(st->body), early);
    if (!req) return impl->queue(c, std::move(early));
    st->fd = req->req.connection_fd;
    st->phase = Phase::kRunning;
    // Suspended before the handler starts, so its resume always finds it suspended.
    MHD_suspend_connection(c);
    auto shared = std::make_shared<Server::Impl::Prepared>(std::move(req).value());
    bool started = impl->spawn([impl, st, shared] {
      st->reply = impl->dispatch(shared->route, shared->req);
      st->phase = Phase::kReady;
      MHD_resume_connection(st->conn);
    });
    if (!started) {
      MHD_resume_connection(c);
      st->reply = Response::error(make_error(Code::kUnavailable, "berthd is stopping"));
      st->phase = Phase::kReady;
    }
    return MHD_YES;
  }
  if (st->phase == Phase::kReady) {
    Response r = std::move(st->reply);
    if (r.deferred) {
      st->deferred = std::move(r.deferred);
      st->phase = Phase::kDeferred;
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
      if (impl->park(st)) return MHD_YES;
      st->deferred = nullptr;
      r = Response::error(make_error(Code::kUnavailable, "berthd is stopping"));
    }
    st->phase = Phase::kReceiving;  // done; a repeated call would answer again
    return impl->queue(c, std::move(r));
  }
  return MHD_YES;  // kRunning / kDeferred: suspended, MHD should not call
}

void on_completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode code) {
  delete static_cast<RequestState*>(*con_cls);
  *con_cls = nullptr;
  // A stream or a deferred reply lifted the idle timeout; the next request on this
  // connection gets it again.
  if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, static_cast<Server::Impl*>(cls)->idle_timeout_s);
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

Result<Server::Impl::Prepared> Server::Impl::prepare(MHD_Connection* c, const char* raw_url, const char* method,
                                      std::string body, Response& early) {
  Request req;
  req.method = method;
  auto segments = split_path(raw_url);
  for (const auto& s : segments) req.path += "/" + s;
  if (req.path.empty()) req.path = "/";
  auto outcome = router.match(req.method, segments);
  if (!outcome.match) {
    if (outcome.allowed.empty()) {
      early = Response::error(404, Code::kNotFound, "no such endpoint: " + req.path);
    } else {
      std::string allow;
      for (const auto& m : outcome.allowed) allow += (allow.empty() ? "" : ", ") + m;
      early = Response::error(405, Code::kInvalidArgument,
                              "method " + req.method + " not allowed on " + req.path + " (allowed: " + allow + ")");
      early.headers["Allow"] = allow;
    }
    return make_error(Code::kNotFound, "no route");
  }
  req.params = std::move(outcome.match->params);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &collect_query, &req.query);
  req.body = std::move(body);
  req.connection_fd = connection_fd(c);
  req.peer = peer_of(req.connection_fd);
  req.server_stopping = &stopping;
  return Prepared{std::move(req), outcome.match->route};
}

Response Server::Impl::dispatch(size_t route, const Request& req) {
  try {
    return handlers[route](req);
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
    s->conn = c;
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
    // A stream may be quiet for long (logs -f, events): no idle timeout.
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
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

bool Server::Impl::park(Parked* p) {
  std::lock_guard lk(mu);
  if (stopping.load()) return false;
  parked.insert(p);
  MHD_suspend_connection(p->conn);
  // One sweep right after parking: what it waits for may have happened between its last look
  // and now, and that change's wake() found nothing parked (a lost wakeup would cost a beat).
  wake_now = true;
  pump_cv.notify_all();
  return true;
}

bool Server::Impl::spawn(std::function<void()> fn) {
  std::lock_guard lk(mu);
  if (stopping.load()) return false;
  workers.emplace_back([this, fn = std::move(fn)]() mutable {
    fn();
    fn = nullptr;  // drop what it holds before saying we are done
    std::lock_guard lk2(mu);
    finished.push_back(std::this_thread::get_id());
  });
  return true;
}

void Server::Impl::reap_workers() {
  std::list<std::thread> done;
  {
    std::lock_guard lk(mu);
    for (auto it = workers.begin(); it != workers.end();) {
      auto f = std::find(finished.begin(), finished.end(), it->get_id());
      if (f == finished.end()) {
        ++it;
        continue;
      }
      finished.erase(f);
      done.splice(done.end(), workers, it++);
    }
  }
  for (auto& t : done) t.join();  // their bodies have returned: immediate
}

void Server::Impl::sweep(bool stop_all) {
  std::vector<Parked*> snapshot;
  {
    std::lock_guard lk(mu);
    snapshot.assign(parked.begin(), parked.end());
  }
  std::vector<Parked*> ready;
  for (Parked* p : snapshot)
    if (p->advance(stop_all)) ready.push_back(p);
  {
    std::lock_guard lk(mu);
    for (Parked* p : ready) parked.erase(p);
  }
  for (Parked* p : ready) MHD_resume_connection(p->conn);
}

void Server::Impl::pump_loop() {
  for (;;) {
    {
      std::unique_lock lk(mu);
      pump_cv.wait_for(lk, kPumpBeat, [&] { return pump_exit || wake_now; });
      wake_now = false;
      if (pump_exit) break;
    }
    sweep(false);
    reap_workers();
  }
  sweep(true);  // stopping: every parked connection gets its last answer and is resumed
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

// Room for the fds berthd needs beside its connections.
constexpr size_t kFdHeadroom = 256;

// Best effort: with a lower limit, accepting fails with EMFILE and MHD refuses connections.
void raise_fd_limit(size_t want) {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min<rlim_t>(want, rl.rlim_max);
  (void)::setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() { stop(); }

void Server::route(const std::string& method, const std::string& pattern, Handler h) {
  impl_->router.add(method, pattern);
  impl_->handlers.push_back(std::move(h));
}

Status Server::start(const std::string& socket_path, mode_t mode, gid_t gid, ServerOptions options) {
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
  if (::listen(fd.get(), SOMAXCONN) != 0) return errno_error("listen " + socket_path);

  raise_fd_limit(options.max_connections + kFdHeadroom);
  impl_->stopping.store(false);
  impl_->pump_exit = false;
  impl_->idle_timeout_s = options.idle_timeout_s;
  // One event thread for all connections; handlers run on threads of their own (spawn()).
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
  MHD_Daemon* d = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &on_request, impl_.get(),
      MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(fd.get()),
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, impl_.get(),
      MHD_OPTION_UNESCAPE_CALLBACK, &keep_escaped, nullptr,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(options.max_connections),
      MHD_OPTION_CONNECTION_TIMEOUT, options.idle_timeout_s,  // streams and waits lift it
      MHD_OPTION_END);
  if (!d) return make_error(Code::kInternal, "start HTTP server on " + socket_path);
  impl_->pump = std::thread([impl = impl_.get()] { impl->pump_loop(); });
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
    impl_->pump_exit = true;
  }
  impl_->pump_cv.notify_all();
  impl_->pump.join();  // its last sweep resumed every parked connection
  std::list<std::thread> workers;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    workers.swap(impl_->workers);
    impl_->finished.clear();
  }
  for (auto& t : workers) t.join();  // handlers see Request::cancelled()
  MHD_stop_daemon(impl_->daemon);  // joins the event thread, closes every connection
  impl_->daemon = nullptr;
  struct stat st {};
  if (::stat(impl_->socket_path.c_str(), &st) == 0 && st.st_dev == impl_->socket_dev &&
      st.st_ino == impl_->socket_ino)
    ::unlink(impl_->socket_path.c_str());
}

void Server::wake() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->wake_now = true;
  }
  impl_->pump_cv.notify_all();
}

size_t Server::open_streams() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->streams.size();
}

}  // namespace berth::api
