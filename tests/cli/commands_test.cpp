// The CLI and its Client end to end against a fake berthd: an api::Server with canned routes.
#include "cli/commands.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent/api/server.hpp"
#include "cli/client.hpp"
#include "common/json.hpp"

namespace berth::cli {
namespace {

using api::Request;
using api::Response;
using namespace std::chrono_literals;

constexpr const char* kContainer =
    R"({"id":"c0ffee0000000001","name":"web-1","state":"running","created_at":"2026-11-25T18:00:00.000Z",)"
    R"("started_at":"2026-11-25T18:00:00.000Z","spec":{"command":["/bin/sh","-c","echo hi"]},"exit":null})";

constexpr const char* kImage =
    R"({"ref":"registry.local/app:1.0","manifest_digest":"sha256:abcdef0123456789abcdef","index_digest":null,)"
    R"("media_type":"application/vnd.oci.image.manifest.v1+json","config_digest":"sha256:c0",)"
    R"("layers":["sha256:1111111111112222","sha256:aaaaaaaaaaaabbbb"],"size":42000000,"in_use":true})";
const std::string kPulledLine = std::string(R"({"status":"pulled","image":)") + kImage + "}";
const std::string kSummary = "pulled registry.local/app:1.0 (sha256:abcdef012345\u2026, 2 layers, 42.0 MB)\n";

// Sends `parts` one by one, a little apart, then ends.
api::StreamFn chunks(std::vector<std::string> parts) {
  auto i = std::make_shared<size_t>(0);
  return [parts, i](std::string& out, const std::atomic<bool>&) {
    if (*i == parts.size()) return false;
    std::this_thread::sleep_for(20ms);
    out += parts[(*i)++];
    return true;
  };
}

class FakeBerthd : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/berth.sock";
    server_.route("POST", "/v1/containers", [this](const Request& r) {
      record("POST /v1/containers " + r.body);
      auto spec = json::parse(r.body);
      if (!spec.has_value()) return Response::error(spec.error());
      if (json::get_string_array(*spec, "command") == std::vector<std::string>{"/bin/nope"})
        return Response::error(make_error(Code::kInvalidArgument,
                                          "exec \"/bin/nope\": No such file or directory"));
      return Response::json(201, kContainer);
    });
    server_.route("GET", "/v1/containers", [this](const Request& r) {
      record("GET /v1/containers state=" + r.query_or("state", "*"));
      return Response::json(200, std::string(R"({"containers":[)") + kContainer + "]}");
    });
    server_.route("GET", "/v1/containers/{id}", [this](const Request& r) {
      if (r.param("id") != "web-1" && r.param("id") != "c0ffee0000000001")
        return Response::error(make_error(Code::kNotFound, "no container '" + r.param("id") + "'"));
      record("GET container " + r.param("id"));
      return Response::json(200, kContainer);
    });
    server_.route("GET", "/v1/containers/{id}/logs", [this](const Request& r) {
      record("logs " + r.param("id") + " " + r.query_or("stream", "stdout") + " follow=" +
             r.query_or("follow", "0") + " tail=" + r.query_or("tail", "-"));
      Response resp;
      resp.content_type = "text/plain";
      if (r.query_or("stream", "stdout") == "stderr") resp.stream = chunks({"oops\n"});
      else resp.stream = chunks({"hel", "lo\n", "world\n"});
      return resp;
    });
    server_.route("GET", "/v1/containers/{id}/wait", [this](const Request& r) {
      record("wait " + r.param("id"));
      return Response::json(200, wait_reply_);
    });
    server_.route("POST", "/v1/containers/{id}/kill", [this](const Request& r) {
      record("kill " + r.param("id") + " " + r.body);
      return Response::json(202, kContainer);
    });
    server_.route("DELETE", "/v1/containers/{id}", [this](const Request& r) {
      record("rm " + r.param("id") + " force=" + r.query_or("force", "0"));
      if (r.param("id") == "busy")
        return Response::error(make_error(Code::kFailedPrecondition, "container busy is running; use -f"));
      return Response::empty(204);
    });
    server_.route("GET", "/v1/events", [this](const Request& r) {
      record("events since=" + r.query_or("since", "-"));
      Response resp;
      resp.content_type = "application/x-ndjson";
      resp.stream = chunks({R"({"seq":1,"time":"2026-11-25T18:00:00.000Z","type":"agent.started"})"
                            "\n{\"seq\":2,",
                            R"("time":"2026-11-25T18:00:01.000Z","type":"container.created","id":"c1","name":"w"})"
                            "\n"});
      return resp;
    });
    server_.route("GET", "/v1/info", [](const Request&) {
      return Response::json(200, R"({"version":"0.1.0","cgroup":{"mode":"hybrid","controllers":[],"missing":["cpu"]}})");
    });
    add_image_routes();
    auto st = server_.start(sock_, 0660, static_cast<gid_t>(-1));
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  void TearDown() override {
    server_.stop();
    ::rmdir(dir_.c_str());
  }

  // The image routes, shaped like agent/api/image_routes.cpp's.
  void add_image_routes() {
    server_.route("POST", "/v1/images/pull", [this](const Request& r) {
      record("pull " + r.body);
      auto body = json::parse(r.body);
      if (!body.has_value()) return Response::error(body.error());
      std::string ref = json::get_string(*body, "ref");
      if (ref.find('.') == std::string::npos)
        return Response::error(make_error(Code::kInvalidArgument,
                                          "field '/ref': '" + ref + "' names no registry host"));
      Response resp;
      resp.content_type = "application/x-ndjson";
      std::string l0 = R"({"layer":0,"digest":"sha256:1111111111112222","state":")";
      std::string l1 = R"({"layer":1,"digest":"sha256:aaaaaaaaaaaabbbb","state":")";
      if (ref == "registry.local/broken:1") {
        resp.stream = chunks({l0 + R"(fetching","size":2000,"fetched":0,"written":0})" "\n",
                              l0 + R"(failed","size":2000,"fetched":1000,"written":0})" "\n" +
                                  R"({"status":"failed","error":{"code":"invalid_argument",)"
                                  R"("message":"pull registry.local/broken:1: layer 0: digest mismatch"}})" "\n"});
        return resp;
      }
      resp.stream = chunks({l0 + R"(waiting","size":40000000,"fetched":0,"written":0})" "\n" +
                                l1 + R"(present","size":2000000,"fetched":0,"written":0})" "\n",
                            l0 + R"(fetching","size":40000000,"fetched":0,"written":0})" "\n",
                            l0 + R"(fetching","size":40000000,"fetched":20000000,"written":10000000})" "\n" +
                                l0 + R"(done","size":40000000,"fetched":40000000,"written":40000000})",
                            "\n" + kPulledLine + "\n"});
      return resp;
    });
    server_.route("GET", "/v1/images", [this](const Request&) {
      record("images");
      return Response::json(200, std::string(R"({"images":[)") + kImage + "]}");
    });
    server_.route("DELETE", "/v1/images/{ref}", [this](const Request& r) {
      record("rmi " + r.param("ref"));
      if (r.param("ref") == "registry.local/app:1.0")
        return Response::error(make_error(Code::kFailedPrecondition,
                                          "image registry.local/app:1.0 is used by a container; remove the container first"));
      if (r.param("ref") == "registry.local/ghost:1")
        return Response::error(make_error(Code::kNotFound, "no image registry.local/ghost:1"));
      return Response::empty(204);
    });
    server_.route("POST", "/v1/images/prune", [this](const Request&) {
      record("prune");
      return Response::json(200, R"({"removed_layers":2,"removed_blobs":3,"freed_bytes":1500000,)"
                                 R"("removed_images":[],"headroom_met":true})");
    });
    server_.route("POST", "/v1/images/load", [this](const Request& r) {
      record("load " + r.body);
      return Response::json(201, kImage);
    });
  }

  int cli(std::vector<std::string> args, Terminal terminal = {}) {
    args.insert(args.begin(), {"--socket", sock_});
    out_.str("");
    err_.str("");
    return run_cli(args, out_, err_, terminal);
  }
  void record(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(s);
  }
  bool saw(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& x : seen_)
      if (x == s) return true;
    return false;
  }

  std::string dir_, sock_;
  api::Server server_;
  std::mutex mu_;
  std::vector<std::string> seen_;
  std::string wait_reply_ = R"({"reason":"exited","exit_code":3,"signal":null,"message":"exited with code 3"})";
  std::ostringstream out_, err_;
};

TEST_F(FakeBerthd, RunAttachedStreamsOutputAndExitsWithTheTaskCode) {
  EXPECT_EQ(cli({"run", "--name", "web-1", "--rootfs", "/srv/r", "--env", "A=1", "--", "/bin/sh", "-c", "echo hi"}), 3);
  EXPECT_EQ(out_.str(), "hello\nworld\n");
  EXPECT_EQ(err_.str(), "oops\n");
  EXPECT_TRUE(saw(R"(POST /v1/containers {"name":"web-1","rootfs":"/srv/r","command":["/bin/sh","-c","echo hi"],"env":{"A":"1"}})"));
  EXPECT_TRUE(saw("logs c0ffee0000000001 stdout follow=1 tail=-"));
  EXPECT_TRUE(saw("logs c0ffee0000000001 stderr follow=1 tail=-"));
  EXPECT_TRUE(saw("wait c0ffee0000000001"));

  wait_reply_ = R"({"reason":"killed","exit_code":null,"signal":"SIGKILL"})";
  EXPECT_EQ(cli({"run", "--rm", "--rootfs", "/srv/r", "true"}), 137);
  EXPECT_TRUE(saw("rm c0ffee0000000001 force=0"));
}

TEST_F(FakeBerthd, RunDetachedPrintsTheId) {
  EXPECT_EQ(cli({"run", "-d", "--rootfs", "/srv/r", "--", "sleep", "1"}), 0);
  EXPECT_EQ(out_.str(), "c0ffee0000000001\n");
  EXPECT_EQ(cli({"--json", "run", "-d", "--rootfs", "/srv/r", "--", "sleep", "1"}), 0);
  EXPECT_EQ(out_.str(), std::string(kContainer) + "\n");
}

TEST_F(FakeBerthd, RunLaunchFailureIs125WithTheServerMessage) {
  EXPECT_EQ(cli({"run", "--rootfs", "/srv/r", "--", "/bin/nope"}), 125);
  EXPECT_EQ(err_.str(), "berth: exec \"/bin/nope\": No such file or directory\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(FakeBerthd, PsInspectLogsKillWaitRmEventsInfo) {
  EXPECT_EQ(cli({"ps"}), 0);
  EXPECT_TRUE(saw("GET /v1/containers state=running"));
  EXPECT_EQ(out_.str().find("ID "), 0u) << out_.str();
  EXPECT_NE(out_.str().find("c0ffee0000000001   web-1   running"), std::string::npos) << out_.str();
  EXPECT_EQ(cli({"ps", "-a"}), 0);
  EXPECT_TRUE(saw("GET /v1/containers state=*"));
  EXPECT_EQ(cli({"--json", "ps", "-a"}), 0);
  EXPECT_TRUE(json::parse(out_.str()).has_value());

  EXPECT_EQ(cli({"inspect", "web-1"}), 0);
  EXPECT_NE(out_.str().find("\n  \"name\": \"web-1\""), std::string::npos) << out_.str();
  EXPECT_EQ(cli({"inspect", "ghost"}), 1);
  EXPECT_EQ(err_.str(), "berth: no container 'ghost'\n");

  EXPECT_EQ(cli({"logs", "--tail", "5", "web-1"}), 0);
  EXPECT_EQ(out_.str(), "hello\nworld\n");
  EXPECT_TRUE(saw("logs web-1 stdout follow=0 tail=5"));
  EXPECT_EQ(cli({"logs", "-f", "--stderr", "web-1"}), 0);
  EXPECT_EQ(err_.str(), "oops\n");
  EXPECT_TRUE(saw("logs web-1 stderr follow=1 tail=-"));

  EXPECT_EQ(cli({"kill", "-s", "SIGKILL", "--grace", "3", "web-1"}), 0);
  EXPECT_TRUE(saw(R"(kill web-1 {"signal":"SIGKILL","grace_period_s":3})"));
  EXPECT_EQ(out_.str(), "c0ffee0000000001\n");

  EXPECT_EQ(cli({"wait", "web-1"}), 3);
  EXPECT_EQ(out_.str(), "3\n");
  EXPECT_EQ(cli({"--json", "wait", "web-1"}), 3);
  EXPECT_NE(out_.str().find("\"exit_code\":3"), std::string::npos);

  EXPECT_EQ(cli({"rm", "-f", "a", "busy", "b"}), 1);
  EXPECT_EQ(out_.str(), "a\nb\n");
  EXPECT_EQ(err_.str(), "berth: rm busy: container busy is running; use -f\n");
  EXPECT_TRUE(saw("rm a force=1"));

  EXPECT_EQ(cli({"events", "--since", "0"}), 0);
  EXPECT_TRUE(saw("events since=0"));
  EXPECT_EQ(out_.str(),
            "2026-11-25T18:00:00.000Z agent.started\n"
            "2026-11-25T18:00:01.000Z container.created c1 (w)\n");
  EXPECT_EQ(cli({"--json", "events"}), 0);
  EXPECT_EQ(out_.str().substr(0, 10), "{\"seq\":1,\"");

  EXPECT_EQ(cli({"info"}), 0);
  EXPECT_NE(out_.str().find("Cgroup mode:"), std::string::npos) << out_.str();
}

TEST_F(FakeBerthd, PullPrintsStateChangesWhenNotATerminal) {
  EXPECT_EQ(cli({"pull", "registry.local/app:1.0"}), 0) << err_.str();
  EXPECT_TRUE(saw(R"(pull {"ref":"registry.local/app:1.0"})"));
  EXPECT_EQ(out_.str(),
            "111111111111  waiting\n"
            "aaaaaaaaaaaa  present   2.0 MB\n"
            "111111111111  fetching  40.0 MB\n"
            "111111111111  done      40.0 MB\n" + kSummary);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(FakeBerthd, PullRedrawsOnATerminal) {
  EXPECT_EQ(cli({"pull", "registry.local/app:1.0"}, Terminal{true, 100}), 0) << err_.str();
  std::string out = out_.str();
  // Frames depend on how the chunks arrive (pull_progress_test has them exactly): the first
  // draws the block, later ones move back over it.
  EXPECT_EQ(out.rfind("\r\x1b[2K111111111111  ", 0), 0u) << out;
  // The last redraw shows every layer finished, then the summary.
  EXPECT_NE(out.find("\x1b[2A\r\x1b[2K111111111111  done      40.0 MB\n\r\x1b[2Kaaaaaaaaaaaa  present   2.0 MB\n" +
                     kSummary),
            std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - kSummary.size()), kSummary);
}

TEST_F(FakeBerthd, PullJsonAndFailures) {
  EXPECT_EQ(cli({"--json", "pull", "registry.local/app:1.0"}), 0);
  std::string out = out_.str();
  EXPECT_EQ(out.substr(out.size() - kPulledLine.size() - 1), kPulledLine + "\n");
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 6);  // 5 progress lines + the result
  EXPECT_EQ(out.find("\x1b"), std::string::npos);

  EXPECT_EQ(cli({"pull", "registry.local/broken:1"}), 1);
  EXPECT_EQ(out_.str(), "111111111111  fetching  2.0 kB\n111111111111  failed    1.0 kB / 2.0 kB\n");
  EXPECT_EQ(err_.str(), "berth: pull registry.local/broken:1: layer 0: digest mismatch\n");

  EXPECT_EQ(cli({"pull", "app"}), 1);  // refused before streaming: an HTTP error
  EXPECT_EQ(err_.str(), "berth: field '/ref': 'app' names no registry host\n");
  EXPECT_EQ(out_.str(), "");

  EXPECT_EQ(cli({"pull"}), 2);
}

TEST_F(FakeBerthd, ImagesRmiPruneLoad) {
  EXPECT_EQ(cli({"images"}), 0);
  EXPECT_EQ(out_.str(),
            "REF                      DIGEST         LAYERS   SIZE      IN USE\n"
            "registry.local/app:1.0   abcdef012345   2        42.0 MB   yes\n");
  EXPECT_EQ(cli({"images", "-q"}), 0);
  EXPECT_EQ(out_.str(), "registry.local/app:1.0\n");
  EXPECT_EQ(cli({"--json", "images"}), 0);
  EXPECT_EQ(out_.str(), std::string(R"({"images":[)") + kImage + "]}\n");

  // Each ref removed or its own error; any error makes the exit 1. The ref travels encoded.
  EXPECT_EQ(cli({"rmi", "registry.local/old:2", "registry.local/app:1.0", "registry.local/ghost:1",
                 "localhost:5000/x/y@sha256:00"}),
            1);
  EXPECT_EQ(out_.str(), "registry.local/old:2\nlocalhost:5000/x/y@sha256:00\n");
  EXPECT_EQ(err_.str(),
            "berth: rmi registry.local/app:1.0: image registry.local/app:1.0 is used by a container; "
            "remove the container first\n"
            "berth: rmi registry.local/ghost:1: no image registry.local/ghost:1\n");
  EXPECT_TRUE(saw("rmi localhost:5000/x/y@sha256:00"));
  EXPECT_EQ(cli({"rmi", "registry.local/old:2"}), 0);

  EXPECT_EQ(cli({"prune"}), 0);
  EXPECT_TRUE(saw("prune"));
  EXPECT_EQ(out_.str(), "removed 0 images, 2 layers, 3 blobs; freed 1.5 MB\n");
  EXPECT_EQ(cli({"prune", "now"}), 2);

  EXPECT_EQ(cli({"load", "/srv/layout", "--ref", "registry.local/app:1.0", "--name", "v1"}), 0);
  EXPECT_TRUE(saw(R"(load {"path":"/srv/layout","ref":"registry.local/app:1.0","ref_name":"v1"})"));
  EXPECT_EQ(out_.str(), "loaded registry.local/app:1.0 (sha256:abcdef012345\u2026, 2 layers, 42.0 MB)\n");
  EXPECT_EQ(cli({"load", "/srv/layout"}), 2);
  EXPECT_NE(err_.str().find("--ref REF"), std::string::npos);
}

TEST_F(FakeBerthd, RunFromAnImage) {
  EXPECT_EQ(cli({"run", "-d", "--image", "registry.local/app:1.0", "--entrypoint", "/bin/sh",
                 "--fetch", "file:///srv/tool.tar.gz,extract"}),
            0);
  EXPECT_EQ(out_.str(), "c0ffee0000000001\n");
  EXPECT_TRUE(saw(R"(POST /v1/containers {"image":"registry.local/app:1.0","entrypoint":["/bin/sh"],)"
                  R"("fetch":[{"uri":"file:///srv/tool.tar.gz","extract":true}]})"));
  EXPECT_EQ(cli({"run", "--image", "registry.local/app:1.0", "--", "echo", "hi"}), 3);  // attached
  EXPECT_EQ(out_.str(), "hello\nworld\n");
  EXPECT_TRUE(saw(R"(POST /v1/containers {"image":"registry.local/app:1.0","command":["echo","hi"]})"));
  EXPECT_EQ(cli({"run", "--image", "registry.local/app:1.0", "--rootfs", "/r", "true"}), 125);
  EXPECT_NE(err_.str().find("either --rootfs or --image"), std::string::npos) << err_.str();
}

TEST_F(FakeBerthd, UsageErrorsAndUnknownRoutes) {
  EXPECT_EQ(cli({"frob"}), 2);
  EXPECT_NE(err_.str().find("unknown command 'frob'"), std::string::npos);
  EXPECT_EQ(cli({"wait"}), 2);
  Client c(sock_);
  auto r = c.call("GET", "/v1/nothing");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  auto raw = c.request("PUT", "/v1/info", "{}");
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->status, 405);
}

TEST_F(FakeBerthd, StreamCanStopEarly) {
  Client c(sock_);
  std::string got;
  auto r = c.stream("GET", "/v1/containers/x/logs", "", [&](std::string_view d) {
    got.append(d);
    return false;
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, 200);
  EXPECT_EQ(got, "hel");
}

TEST(Client, ConnectionFailureSaysWhatToCheck) {
  Client c("/nonexistent/berth.sock");
  auto r = c.request("GET", "/v1/info");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().message,
            "cannot connect to berthd at /nonexistent/berth.sock: No such file or directory "
            "(is berthd running? set --socket or BERTH_SOCKET)");
  std::ostringstream out, err;
  EXPECT_EQ(run_cli({"--socket", "/nonexistent/berth.sock", "ps"}, out, err), 1);
  EXPECT_EQ(err.str().rfind("berth: cannot connect to berthd at /nonexistent/berth.sock", 0), 0u);
}

TEST(Client, DefaultSocketPath) {
  ::unsetenv("BERTH_SOCKET");
  EXPECT_EQ(default_socket_path(), "/run/berth/berth.sock");
  ::setenv("BERTH_SOCKET", "/tmp/b.sock", 1);
  EXPECT_EQ(default_socket_path(), "/tmp/b.sock");
  ::unsetenv("BERTH_SOCKET");
}

TEST(Client, ErrorFromReply) {
  Error e = error_from_reply(409, R"({"error":{"code":"failed_precondition","message":"not running"}})");
  EXPECT_EQ(e.code, Code::kFailedPrecondition);
  EXPECT_EQ(e.message, "not running");
  e = error_from_reply(502, "bad gateway\n");
  EXPECT_EQ(e.code, Code::kInternal);
  EXPECT_EQ(e.message, "HTTP 502: bad gateway");
  EXPECT_EQ(url_encode("a/b c"), "a%2Fb%20c");
}

}  // namespace
}  // namespace berth::cli
