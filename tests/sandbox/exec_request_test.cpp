// ExecRequest parsing (POST /v1/containers/{id}/exec's body) and the environment merge.
#include <gtest/gtest.h>

#include "sandbox/exec.hpp"
#include "sandbox/exec_request.hpp"

namespace berth::sandbox {
namespace {

TEST(ExecRequest, ParsesEveryField) {
  auto r = parse_exec_request(R"({"cmd": ["sh", "-c", "id"], "env": ["A=1", "B="], "user": "app:staff",
                                  "cwd": "/srv", "timeout_s": 5})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->cmd, (std::vector<std::string>{"sh", "-c", "id"}));
  EXPECT_EQ(r->env, (std::vector<std::string>{"A=1", "B="}));
  EXPECT_EQ(r->user, "app:staff");
  EXPECT_EQ(r->cwd, "/srv");
  EXPECT_EQ(r->timeout_s, 5u);
}

TEST(ExecRequest, DefaultsToTheTasksUserAndCwdAndAMinuteTimeout) {
  auto r = parse_exec_request(R"({"cmd": ["true"]})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->user.empty());
  EXPECT_TRUE(r->cwd.empty());
  EXPECT_TRUE(r->env.empty());
  EXPECT_EQ(r->timeout_s, 60u);
}

TEST(ExecRequest, RoundTripsThroughJson) {
  auto r = parse_exec_request(R"({"cmd": ["a b", "\"q\""], "env": ["X=y"], "user": "1000", "cwd": "/", "timeout_s": 9})");
  ASSERT_TRUE(r.has_value());
  auto back = parse_exec_request(to_json(*r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->cmd, r->cmd);
  EXPECT_EQ(back->env, r->env);
  EXPECT_EQ(back->user, r->user);
  EXPECT_EQ(back->cwd, r->cwd);
  EXPECT_EQ(back->timeout_s, r->timeout_s);
}

TEST(ExecRequest, RefusesBadInputSayingWhatToChange) {
  struct Case { const char* body; const char* says; };
  for (const Case& c : {Case{R"({})", "cmd"}, Case{R"({"cmd": []})", "/cmd"}, Case{R"({"cmd": [""]})", "/cmd/0"},
                        Case{R"({"cmd": ["x"], "env": ["NOEQ"]})", "/env/0"},
                        Case{R"({"cmd": ["x"], "env": ["=v"]})", "/env/0"},
                        Case{R"({"cmd": ["x"], "cwd": "tmp"})", "/cwd"},
                        Case{R"({"cmd": ["x"], "user": "a b"})", "/user"},
                        Case{R"({"cmd": ["x"], "timeout_s": 0})", "/timeout_s"},
                        Case{R"({"cmd": ["x"], "timeout_s": 86401})", "/timeout_s"},
                        Case{R"({"cmd": ["x"], "tty": true})", "tty"},
                        Case{R"({"cmd": ["a\u0000b"]})", "NUL"}, Case{R"([1])", ""}, Case{R"({"cmd": )", ""}}) {
    auto r = parse_exec_request(c.body);
    ASSERT_FALSE(r.has_value()) << c.body;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << c.body;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.body << ": " << r.error().message;
  }
}

TEST(ExecRequest, EnvironmentLaysOverTheTasks) {
  EXPECT_EQ(merge_env({"PATH=/bin", "HOME=/root"}, {"HOME=/tmp", "NEW=1"}),
            (std::vector<std::string>{"PATH=/bin", "HOME=/tmp", "NEW=1"}));
  EXPECT_EQ(merge_env({"A=1"}, {}), (std::vector<std::string>{"A=1"}));
}

TEST(ExecRequest, TheExecSpecIsTheTasksWithTheCommandEnvAndCwd) {
  OciSpec task;
  task.args = {"/bin/server"};
  task.env = {"PATH=/usr/bin", "MODE=prod"};
  task.cwd = "/app";
  task.no_new_privileges = true;
  task.seccomp_bpf = {1, 2, 3, 4, 5, 6, 7, 8};
  ExecRequest req;
  req.cmd = {"sh"};
  req.env = {"MODE=debug"};
  OciSpec s = exec_spec(task, req);
  EXPECT_EQ(s.args, req.cmd);
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/usr/bin", "MODE=debug"}));
  EXPECT_EQ(s.cwd, "/app");
  EXPECT_TRUE(s.no_new_privileges);
  EXPECT_EQ(s.seccomp_bpf, task.seccomp_bpf);
  req.cwd = "/tmp";
  EXPECT_EQ(exec_spec(task, req).cwd, "/tmp");
}

}  // namespace
}  // namespace berth::sandbox
