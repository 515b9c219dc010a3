// Server over a temp Unix socket, driven by libcurl and by raw sockets (to hang up mid-stream).
#include "agent/api/server.hpp"

#include <curl/curl.h>
#include <dirent.h>
#include <poll.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/json.hpp"
#include "common/unique_fd.hpp"

namespace berth::api {
namespace {

using namespace std::chrono_literals;

struct Reply {
  long status = 0;
  std::string body;
  std::string headers;
  std::vector<std::string> chunks;  // body pieces as curl delivered them
};

size_t on_body(char* p, size_t, size_t n, void* ud) {
  auto* r = static_cast<Reply*>(ud);
  r->body.append(p, n);
  r->chunks.emplace_back(p, n);
  return n;
}
size_t on_header(char* p, size_t, size_t n, void* ud) {
  static_cast<Reply*>(ud)->headers.append(p, n);
  return n;
}

Reply http(const std::string& sock, const std::string& method, const std::string& target,
           const std::string& body = "", bool send_body = false, bool chunked = false) {
  Reply r;
  CURL* c = curl_easy_init();
  std::string url = "http://localhost" + target;
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_slist* hdrs = curl_slist_append(nullptr, "Expect:");
  if (chunked) hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if (send_body || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return r;
}

int thread_count() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

UniqueFd connect_to(const std::string& sock) {
  UniqueFd fd = UniqueFd::adopt(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a {};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, sock.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return UniqueFd();
  return fd;
}

// Waits up to `limit` for pred(); returns its last value.
template <typename P>
bool eventually(P pred, std::chrono::milliseconds limit = 3000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-api-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/api.sock";
  }
  void TearDown() override {
    server_.reset();
    ::unlink(sock_.c_str());
    ::rmdir(dir_.c_str());
  }
  void start() {
    auto st = server_->start(sock_, 0660, static_cast<gid_t>(-1));
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  std::string dir_, sock_;
  std::unique_ptr<Server> server_ = std::make_unique<Server>();
};

TEST_F(ServerTest, RoutesWithParamsAndDecodedQuery) {
  server_->route("GET", "/v1/containers/{id}/logs", [](const Request& r) {
    json::JsonWriter w;
    w.begin_object().kv("id", r.param("id")).kv("stream", r.query_or("stream", "stdout"))
        .kv("tail", r.query_or("tail", "")).kv("path", r.path).kv("follow", r.query_or("follow", "x"))
        .end_object();
    return Response::json(200, w.str());
  });
  server_->route("DELETE", "/v1/images/{ref}", [](const Request& r) {
    return Response::json(200, "\"" + r.param("ref") + "\"");
  });
  server_->route("POST", "/v1/images/prune", [](const Request&) { return Response::empty(204); });
  start();

  Reply r = http(sock_, "GET", "/v1/containers/web-1/logs?stream=std%65rr&tail=a+b%2Bc&follow");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"id":"web-1","stream":"stderr","tail":"a b+c","path":"/v1/containers/web-1/logs","follow":""})");
  EXPECT_NE(r.headers.find("Content-Type: application/json"), std::string::npos) << r.headers;

  // A '/' inside a parameter travels as %2F.
  r = http(sock_, "DELETE", "/v1/images/registry.internal:5000%2Fweb:1.4");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"registry.internal:5000/web:1.4\"");

  // A literal segment beats a parameter.
  r = http(sock_, "POST", "/v1/images/prune", "", true);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
}

TEST_F(ServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  server_->route("GET", "/v1/containers/{id}", [](const Request&) { return Response::json(200, "{}"); });
  server_->route("DELETE", "/v1/containers/{id}", [](const Request&) { return Response::empty(204); });
  start();

  Reply r = http(sock_, "GET", "/v1/nope");
  EXPECT_EQ(r.status, 404);
  auto doc = json::parse(r.body);
  ASSERT_TRUE(doc.has_value()) << r.body;
  ASSERT_TRUE(doc->HasMember("error"));
  EXPECT_EQ(json::get_string((*doc)["error"], "code"), "not_found");
  EXPECT_NE(json::get_string((*doc)["error"], "message").find("/v1/nope"), std::string::npos);

  r = http(sock_, "POST", "/v1/containers/abc", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.headers.find("Allow: GET, DELETE"), std::string::npos) << r.headers;
  doc = json::parse(r.body);
  ASSERT_TRUE(doc.has_value()) << r.body;
  EXPECT_EQ(json::get_string((*doc)["error"], "code"), "invalid_argument");
}

TEST_F(ServerTest, BodyIsDeliveredAndOversizedBodyIs413) {
  server_->route("POST", "/v1/containers", [](const Request& r) {
    return Response::json(201, std::to_string(r.body.size()));
  });
  start();
  std::string mib(1 << 20, 'x');
  Reply r = http(sock_, "POST", "/v1/containers", mib);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, std::to_string(1 << 20));

  r = http(sock_, "POST", "/v1/containers", mib + "y");
  EXPECT_EQ(r.status, 413);
  auto doc = json::parse(r.body);
  ASSERT_TRUE(doc.has_value()) << r.body;
  EXPECT_EQ(json::get_string((*doc)["error"], "code"), "invalid_argument");

  // Without a Content-Length (chunked upload) the limit holds as well.
  r = http(sock_, "POST", "/v1/containers", mib + "y", true, true);
  EXPECT_EQ(r.status, 413);
  r = http(sock_, "POST", "/v1/containers", "{}", true, true);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "2");

  // The server is still fine afterwards.
  r = http(sock_, "POST", "/v1/containers", "{}");
  EXPECT_EQ(r.status, 201);
}

TEST_F(ServerTest, ErrorShapeAndThrowingHandler) {
  server_->route("GET", "/err", [](const Request&) {
    return Response::error(make_error(Code::kFailedPrecondition, "task \"x\" is not running"));
  });
  server_->route("GET", "/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  start();
  Reply r = http(sock_, "GET", "/err");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, R"({"error":{"code":"failed_precondition","message":"task \"x\" is not running"}})");
  r = http(sock_, "GET", "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":{"code":"internal","message":"internal error: boom"}})");
  r = http(sock_, "GET", "/err");
  EXPECT_EQ(r.status, 409);
}

TEST(HttpStatus, MatchesApiTable) {
  EXPECT_EQ(http_status(Code::kInvalidArgument), 400);
  EXPECT_EQ(http_status(Code::kNotFound), 404);
  EXPECT_EQ(http_status(Code::kAlreadyExists), 409);
  EXPECT_EQ(http_status(Code::kPermissionDenied), 403);
  EXPECT_EQ(http_status(Code::kFailedPrecondition), 409);
  EXPECT_EQ(http_status(Code::kUnavailable), 503);
  EXPECT_EQ(http_status(Code::kInternal), 500);
}

TEST_F(ServerTest, PeerCredIsOurs) {
  server_->route("GET", "/whoami", [](const Request& r) {
    return Response::json(200, std::to_string(r.peer.pid) + " " + std::to_string(r.peer.uid) +
                                   " " + std::to_string(r.peer.gid));
  });
  start();
  Reply r = http(sock_, "GET", "/whoami");
  EXPECT_EQ(r.body, std::to_string(getpid()) + " " + std::to_string(getuid()) + " " +
                        std::to_string(getgid()));
}

TEST_F(ServerTest, SocketModeAndStaleSocketAndLiveServer) {
  server_->route("GET", "/x", [](const Request&) { return Response::json(200, "1"); });
  start();
  struct stat st {};
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);

  // A second server on the same path is refused while the first answers.
  Server other;
  auto st2 = other.start(sock_, 0660, static_cast<gid_t>(-1));
  ASSERT_FALSE(st2.has_value());
  EXPECT_EQ(st2.error().code, Code::kAlreadyExists);
  EXPECT_EQ(http(sock_, "GET", "/x").status, 200);

  // stop() removes the socket; a stale socket file (nobody listening) is replaced.
  server_->stop();
  EXPECT_NE(::access(sock_.c_str(), F_OK), 0);
  {
    int raw = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    UniqueFd fd = UniqueFd::adopt(raw);
    sockaddr_un a {};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, sock_.c_str());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }  // closed without unlinking: a stale file
  auto st3 = other.start(sock_, 0600, getgid());
  ASSERT_TRUE(st3.has_value()) << st3.error().message;
  other.route("GET", "/y", [](const Request&) { return Response::json(200, "2"); });
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_gid, getgid());
  other.stop();
}

TEST_F(ServerTest, StreamIsChunked) {
  server_->route("GET", "/v1/events", [](const Request&) {
    Response r;
    r.content_type = "application/x-ndjson";
    auto n = std::make_shared<int>(0);
    auto next = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    // One line every 50 ms; nothing (and no blocking) in between.
    r.stream = [n, next](std::string& out, const std::atomic<bool>&) {
      if (*n == 3) return false;
      if (std::chrono::steady_clock::now() < *next) return true;
      *next += 50ms;
      out += "{\"seq\":" + std::to_string(++*n) + "}\n";
      return true;
    };
    return r;
  });
  start();
  Reply r = http(sock_, "GET", "/v1/events");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n");
  EXPECT_GE(r.chunks.size(), 3u);  // delivered as produced, not as one block
  EXPECT_NE(r.headers.find("Transfer-Encoding: chunked"), std::string::npos) << r.headers;
  EXPECT_NE(r.headers.find("Content-Type: application/x-ndjson"), std::string::npos);
}

// A producer that never ends by itself: one line first, then nothing, never blocking.
struct EndlessProducer {
  std::shared_ptr<std::atomic<bool>> saw_cancel = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<bool>> destroyed_flag = std::make_shared<std::atomic<bool>>(false);
  StreamFn fn() const {
    auto seen = saw_cancel;
    auto calls_ = calls;
    // Destroyed together with the stream: proves the server let go of it.
    auto guard = std::shared_ptr<void>(nullptr, [d = destroyed_flag](void*) { d->store(true); });
    return [seen, calls_, guard](std::string& out, const std::atomic<bool>& cancelled) {
      if (cancelled.load()) {
        seen->store(true);
        return false;
      }
      int n = ++*calls_;
      if (n == 1) out = "first\n";
      return true;
    };
  }
};

TEST_F(ServerTest, StreamEndsWhenClientDisconnects) {
  EndlessProducer p;
  server_->route("GET", "/stream", [&](const Request&) {
    Response r;
    r.content_type = "text/plain";
    r.stream = p.fn();
    return r;
  });
  start();
  int threads_before = thread_count();
  {
    UniqueFd fd = connect_to(sock_);
    ASSERT_TRUE(fd.valid());
    std::string req = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::write(fd.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[4096];
    while (got.find("first") == std::string::npos) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      ASSERT_GT(n, 0);
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_EQ(server_->open_streams(), 1u);
  }  // hang up
  EXPECT_TRUE(eventually([&] { return server_->open_streams() == 0; }));
  EXPECT_TRUE(eventually([&] { return p.destroyed_flag->load(); }));
  EXPECT_TRUE(p.saw_cancel->load());
  int calls = p.calls->load();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(p.calls->load(), calls) << "producer still called after the client left";
  EXPECT_TRUE(eventually([&] { return thread_count() <= threads_before; }))
      << thread_count() << " threads, " << threads_before << " before";
}

TEST_F(ServerTest, StopWithOpenStreamReturnsPromptly) {
  EndlessProducer p;
  server_->route("GET", "/stream", [&](const Request&) {
    Response r;
    r.stream = p.fn();
    return r;
  });
  start();
  std::thread client([&] { http(sock_, "GET", "/stream"); });
  ASSERT_TRUE(eventually([&] { return p.calls->load() >= 2; }));
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1500ms);
  EXPECT_TRUE(p.saw_cancel->load());
  EXPECT_TRUE(p.destroyed_flag->load());
  EXPECT_EQ(server_->open_streams(), 0u);
  client.join();
}

TEST_F(ServerTest, BlockingHandlerSeesCancelOnStop) {
  std::atomic<bool> entered{false};
  server_->route("GET", "/wait", [&](const Request& r) {
    entered = true;
    while (!r.cancelled()) std::this_thread::sleep_for(50ms);
    return Response::error(make_error(Code::kUnavailable, "shutting down"));
  });
  start();
  std::thread client([&] { http(sock_, "GET", "/wait"); });
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  client.join();
}


// True when the server closed the connection within `limit` (read gives EOF or an error).
bool closed_by_server(int fd, std::chrono::milliseconds limit) {
  struct pollfd p {};
  p.fd = fd;
  p.events = POLLIN;
  if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char c;
  return ::read(fd, &c, 1) <= 0;
}

TEST_F(ServerTest, IdleConnectionsCostNoThreadAndLockNobodyOut) {
  server_->route("GET", "/v1/containers", [](const Request&) { return Response::json(200, "[]"); });
  start();
  int threads_before = thread_count();
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(connect_to(sock_));
    ASSERT_TRUE(idle.back().valid()) << i;
    if (i % 10 == 0) {
      ASSERT_EQ(::write(idle.back().get(), "GET /v1/containers HTTP/1.1\r\nHo", 32), 32);
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  Reply r = http(sock_, "GET", "/v1/containers");
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_LE(thread_count(), threads_before + 2) << "threads: " << thread_count() << ", before " << threads_before;
}

TEST_F(ServerTest, IdleConnectionsAreClosedButQuietStreamsAndWaitsAreNot) {
  server_->route("GET", "/quiet", [](const Request&) {
    Response r;
    r.stream = [](std::string&, const std::atomic<bool>& cancelled) { return !cancelled; };
    return r;
  });
  auto ready = std::make_shared<std::atomic<bool>>(false);
  server_->route("GET", "/wait", [ready](const Request&) {
    return Response::later([ready](bool) -> std::optional<Response> {
      if (!ready->load()) return std::nullopt;
      return Response::json(200, "\"done\"");
    });
  });
  ASSERT_TRUE(server_->start(sock_, 0660, static_cast<gid_t>(-1), ServerOptions{64, 1}).has_value());
  UniqueFd idle = connect_to(sock_);
  UniqueFd half = connect_to(sock_);
  ASSERT_EQ(::write(half.get(), "GET /quiet HT", 13), 13);
  UniqueFd quiet = connect_to(sock_);
  std::string req = "GET /quiet HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(quiet.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  UniqueFd waiting = connect_to(sock_);
  req = "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(waiting.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  EXPECT_TRUE(closed_by_server(idle.get(), 4000ms)) << "an idle connection outlived the 1 s timeout";
  EXPECT_TRUE(closed_by_server(half.get(), 4000ms)) << "a half-sent request outlived the 1 s timeout";
  // The stream got its headers and then nothing for over a second: still open.
  std::string got;
  char buf[512];
  while (got.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(quiet.get(), buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_FALSE(closed_by_server(quiet.get(), 300ms));
  EXPECT_FALSE(closed_by_server(waiting.get(), 300ms));
  ready->store(true);
  got.clear();
  while (got.find("\"done\"") == std::string::npos) {
    ssize_t n = ::read(waiting.get(), buf, sizeof(buf));
    ASSERT_GT(n, 0) << got;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
}

TEST_F(ServerTest, ASlowHandlerDoesNotStallOthers) {
  std::atomic<bool> release{false};
  server_->route("GET", "/slow", [&](const Request& r) {
    while (!release && !r.cancelled()) std::this_thread::sleep_for(10ms);
    return Response::json(200, "\"slow\"");
  });
  server_->route("GET", "/fast", [](const Request&) { return Response::json(200, "\"fast\""); });
  start();
  std::vector<std::thread> slow;
  for (int i = 0; i < 4; ++i) slow.emplace_back([&] { EXPECT_EQ(http(sock_, "GET", "/slow").body, "\"slow\""); });
  std::this_thread::sleep_for(100ms);  // let them be in their handlers (not needed for correctness)
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(http(sock_, "GET", "/fast").body, "\"fast\"");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  release = true;
  for (auto& t : slow) t.join();
}

TEST_F(ServerTest, DeferredReplyCostsNoThreadAndSeesAHangUp) {
  auto cancelled_seen = std::make_shared<std::atomic<bool>>(false);
  auto asked = std::make_shared<std::atomic<int>>(0);
  server_->route("GET", "/wait", [cancelled_seen, asked](const Request&) {
    return Response::later([cancelled_seen, asked](bool cancelled) -> std::optional<Response> {
      ++*asked;
      if (!cancelled) return std::nullopt;
      cancelled_seen->store(true);
      return Response::json(503, "{}");
    });
  });
  start();
  int threads_before = thread_count();
  std::vector<UniqueFd> waiters;
  for (int i = 0; i < 50; ++i) {
    waiters.push_back(connect_to(sock_));
    std::string req = "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::write(waiters.back().get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  }
  // Every waiter's reply has been asked for on the pump's beat at least twice: all are parked.
  ASSERT_TRUE(eventually([&] { return asked->load() >= 100; }));
  EXPECT_TRUE(eventually([&] { return thread_count() <= threads_before + 2; }))
      << thread_count() << " threads for 50 waiters, " << threads_before << " before";
  waiters.clear();
  EXPECT_TRUE(eventually([&] { return cancelled_seen->load(); }));
}

TEST_F(ServerTest, ConnectionCapRefusesTheExtraOnesOnly) {
  server_->route("GET", "/x", [](const Request&) { return Response::json(200, "1"); });
  ASSERT_TRUE(server_->start(sock_, 0660, static_cast<gid_t>(-1), ServerOptions{8, 60}).has_value());
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(connect_to(sock_));
  // A 9th is closed or left waiting in the backlog, never served while the others stay.
  UniqueFd extra = connect_to(sock_);
  if (extra.valid()) {
    std::string req = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::write(extra.get(), req.data(), req.size());
    struct pollfd p {};
    p.fd = extra.get();
    p.events = POLLIN;
    char buf[256];
    ssize_t n = ::poll(&p, 1, 500) > 0 ? ::read(extra.get(), buf, sizeof(buf)) : 0;
    EXPECT_LE(n, 0) << "a 9th connection was served: " << std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  extra = UniqueFd();
  idle.clear();
  EXPECT_TRUE(eventually([&] { return http(sock_, "GET", "/x").status == 200; }));
}

}  // namespace
}  // namespace berth::api
