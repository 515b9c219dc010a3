// exit.json and shim.json: the two small files berthd and the shim exchange.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "sandbox/exit_record.hpp"
#include "sandbox/shim_config.hpp"

namespace berth::sandbox {
namespace {

TEST(ExitRecord, RoundTripsAnExit) {
  ExitRecord r;
  r.pid = 4242;
  r.exit_code = 7;
  r.started_at_ns = 1795629642636819830;
  r.finished_at_ns = 1795629642645578964;
  std::string text = to_json(r);
  EXPECT_NE(text.find("\"version\":1"), std::string::npos);
  EXPECT_NE(text.find("\"signal\":null"), std::string::npos);
  EXPECT_EQ(text.find("launch_error"), std::string::npos);
  auto back = parse_exit_record(text);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->exit_code, 7);
  EXPECT_FALSE(back->signal.has_value());
  EXPECT_EQ(back->started_at_ns, r.started_at_ns);
  EXPECT_EQ(back->finished_at_ns, r.finished_at_ns);
  EXPECT_FALSE(back->launch_error.has_value());
}

TEST(ExitRecord, RoundTripsASignalAndALaunchError) {
  ExitRecord s;
  s.pid = 1;
  s.signal = 9;
  auto back = parse_exit_record(to_json(s));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->signal, 9);
  EXPECT_FALSE(back->exit_code.has_value());

  ExitRecord l;
  l.launch_error = "exec \"/bin/nope\": No such file or directory";
  back = parse_exit_record(to_json(l));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->launch_error, l.launch_error);
  EXPECT_EQ(back->pid, 0);
}

TEST(ExitRecord, FromWaitStatus) {
  ExitRecord r;
  set_wait_status(r, 3 << 8);  // exited with 3
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.signal.has_value());
  set_wait_status(r, SIGKILL);  // killed by 9
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_FALSE(r.exit_code.has_value());
}

TEST(ExitRecord, RejectsWhatItCannotTrust) {
  const char* bad[] = {
      "{",
      R"({"version": 2, "pid": 1, "exit_code": 0, "started_at_ns": 0, "finished_at_ns": 0})",
      R"({"pid": 1, "exit_code": 0, "started_at_ns": 0, "finished_at_ns": 0})",
      R"({"version": 1, "exit_code": 0, "started_at_ns": 0, "finished_at_ns": 0})",
      R"({"version": 1, "pid": 1, "exit_code": null, "signal": null, "started_at_ns": 0, "finished_at_ns": 0})",
      R"({"version": 1, "pid": 1, "exit_code": 0, "signal": 9, "started_at_ns": 0, "finished_at_ns": 0})",
      R"({"version": 1, "pid": 1, "exit_code": "0", "started_at_ns": 0, "finished_at_ns": 0})",
  };
  for (const char* text : bad) EXPECT_FALSE(parse_exit_record(text).has_value()) << text;
}

TEST(ShimConfig, ParsesAndRoundTrips) {
  auto c = parse_shim_config(R"({"id": "3f9c", "sandbox_dir": "/var/lib/berth/sandboxes/3f9c",
      "cgroup": "/sys/fs/cgroup/berth/containers/3f9c", "log_max_bytes": 1000, "log_max_files": 2})");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->id, "3f9c");
  EXPECT_EQ(c->sandbox_dir, "/var/lib/berth/sandboxes/3f9c");
  EXPECT_EQ(c->cgroup, "/sys/fs/cgroup/berth/containers/3f9c");
  EXPECT_EQ(c->log_max_bytes, 1000u);
  EXPECT_EQ(c->log_max_files, 2u);
  auto again = parse_shim_config(to_json(*c));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(to_json(*again), to_json(*c));
}

TEST(ShimConfig, LogLimitsDefault) {
  auto c = parse_shim_config(R"({"id": "a", "sandbox_dir": "/s", "cgroup": "/c"})");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->log_max_bytes, 10u * 1024 * 1024);
  EXPECT_EQ(c->log_max_files, 3u);
}

TEST(ShimConfig, Rejects) {
  struct Case { const char* json; const char* part; };
  const Case cases[] = {
      {R"({"id": "a", "sandbox_dir": "/s", "cgroup": "/c", "extra": 1})", "unknown field \"extra\""},
      {R"({"sandbox_dir": "/s", "cgroup": "/c"})", "id is required"},
      {R"({"id": "a", "cgroup": "/c"})", "sandbox_dir is required"},
      {R"({"id": "a", "sandbox_dir": "/s"})", "cgroup is required"},
      {R"({"id": "a", "sandbox_dir": "s", "cgroup": "/c"})", "absolute"},
      {R"({"id": "a", "sandbox_dir": "/s", "cgroup": "/c", "log_max_files": 0})", "log_max_files"},
      {R"({"id": "a", "sandbox_dir": "/s", "cgroup": "/c", "log_max_bytes": -1})", "log_max_bytes"},
      {R"({"id": 5, "sandbox_dir": "/s", "cgroup": "/c"})", "id: expected"},
  };
  for (const auto& c : cases) {
    auto r = parse_shim_config(c.json);
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_NE(r.error().message.find(c.part), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace berth::sandbox
