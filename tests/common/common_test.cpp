#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/clock.hpp"
#include "common/fs.hpp"
#include "common/json_schema.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "common/scope_guard.hpp"
#include "common/signals.hpp"

namespace berth {
namespace {

Result<int> half(int x) {
  if (x % 2) return make_error(Code::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> quarter(int x) {
  BERTH_TRY_CTX(int h, half(x), "first half");
  BERTH_TRY(int q, half(h));
  return q;
}

Status check_even(int x) {
  BERTH_CHECK_CTX(half(x), "check");
  return ok();
}

TEST(Result, MacrosPropagateWithContext) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto bad = quarter(3);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, "first half: odd");
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_EQ(quarter(6).error().message, "odd");
  EXPECT_TRUE(check_even(2).has_value());
  EXPECT_EQ(check_even(1).error().message, "check: odd");
}

TEST(Result, ErrnoErrorMapsCodes) {
  EXPECT_EQ(errno_error(ENOENT, "open x").code, Code::kNotFound);
  EXPECT_EQ(errno_error(EEXIST, "x").code, Code::kAlreadyExists);
  EXPECT_EQ(errno_error(EACCES, "x").code, Code::kPermissionDenied);
  EXPECT_EQ(errno_error(ENOENT, "open x").message, "open x: No such file or directory");
  EXPECT_EQ(errno_error(ENOENT, "open x").sys_errno, ENOENT);
}

TEST(ScopeGuard, RunsUnlessDismissed) {
  int runs = 0;
  { ScopeGuard g([&] { ++runs; }); }
  {
    ScopeGuard g([&] { ++runs; });
    g.dismiss();
  }
  EXPECT_EQ(runs, 1);
}

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-fs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }
  std::string dir_;
};

TEST_F(FsTest, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/state.json", "one").has_value());
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/state.json", "two", 0600).has_value());
  EXPECT_EQ(fs::read_file(dir_ + "/state.json").value(), "two");
  EXPECT_FALSE(fs::exists(dir_ + "/state.json.tmp"));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(FsTest, AtomicWriteIntoMissingDirFails) {
  auto r = fs::write_file_atomic(dir_ + "/nope/state.json", "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
}

TEST_F(FsTest, MkdirPAndRemoveTree) {
  ASSERT_TRUE(fs::mkdir_p(dir_ + "/a/b/c").has_value());
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/a/b/c/f", "x").has_value());
  ASSERT_EQ(::symlink("/etc", (dir_ + "/a/link").c_str()), 0);
  ASSERT_TRUE(fs::remove_tree(dir_ + "/a").has_value());
  EXPECT_FALSE(fs::exists(dir_ + "/a"));
  EXPECT_TRUE(fs::exists("/etc/hostname") || fs::exists("/etc/passwd"));  // the link was not followed
  EXPECT_TRUE(fs::remove_tree(dir_ + "/never-existed").has_value());
}

TEST_F(FsTest, OpenBeneathRefusesEscapes) {
  ASSERT_TRUE(fs::mkdir_p(dir_ + "/root/etc").has_value());
  ASSERT_TRUE(fs::write_file_atomic(dir_ + "/root/etc/passwd", "root:x:0:0::/root:/bin/sh\n").has_value());
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/root/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../etc/passwd", (dir_ + "/root/rel").c_str()), 0);
  auto root = fs::open_dir(dir_ + "/root");
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(fs::open_beneath(root->get(), "etc/passwd", O_RDONLY).has_value());
  EXPECT_FALSE(fs::open_beneath(root->get(), "../root/etc/passwd", O_RDONLY).has_value());
  EXPECT_FALSE(fs::open_beneath(root->get(), "/etc/passwd", O_RDONLY).has_value());
  EXPECT_FALSE(fs::open_beneath(root->get(), "abs", O_RDONLY).has_value());
  EXPECT_FALSE(fs::open_beneath(root->get(), "rel", O_RDONLY).has_value());
}

TEST(Fs, ProcessStartTimeIsStable) {
  auto a = fs::process_start_time(::getpid());
  auto b = fs::process_start_time(::getpid());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, *b);
  EXPECT_GT(*a, 0u);
  EXPECT_FALSE(fs::process_start_time(0x3fffffff).has_value());
}

TEST(Signals, NamesAndNumbers) {
  EXPECT_EQ(parse_signal("SIGKILL"), 9);
  EXPECT_EQ(parse_signal("KILL"), 9);
  EXPECT_EQ(parse_signal("term"), 15);
  EXPECT_EQ(parse_signal("15"), 15);
  EXPECT_FALSE(parse_signal("SIGNOPE").has_value());
  EXPECT_FALSE(parse_signal("").has_value());
  EXPECT_FALSE(parse_signal("0").has_value());
  EXPECT_FALSE(parse_signal("9x").has_value());
  EXPECT_FALSE(parse_signal("99999").has_value());
  EXPECT_EQ(signal_name(9), "SIGKILL");
  EXPECT_EQ(signal_name(10), "SIGUSR1");
}

TEST(Clock, Rfc3339) {
  EXPECT_EQ(rfc3339(0), "");
  EXPECT_EQ(rfc3339(1764093600123456789), "2025-11-25T18:00:00.123Z");
}

TEST(JsonSchema, NamesTheField) {
  auto schema = json::JsonSchema::compile(R"({"type": "object", "additionalProperties": false,
    "required": ["a"], "properties": {"a": {"type": "integer", "minimum": 1},
    "b": {"type": "string", "enum": ["x", "y"]}}})");
  ASSERT_TRUE(schema.has_value());
  auto check = [&](const char* text) {
    auto r = json::parse_and_validate(text, *schema);
    return r.has_value() ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(check(R"({"a": 1})"), "ok");
  EXPECT_EQ(check(R"({})"), "missing required field '/a'");
  EXPECT_EQ(check(R"({"a": 1, "c": 2})"), "unknown field '/c'");
  EXPECT_EQ(check(R"({"a": 0})"), "field '/a' must be at least 1");
  EXPECT_EQ(check(R"({"a": "1"})"), "field '/a' must be an integer, not a string");
  EXPECT_EQ(check(R"({"a": 1, "b": "z"})"), "field '/b' must be one of [\"x\",\"y\"]");
}

// The debug flag is read on every log line without the lock: built with -fsanitize=thread this
// reported a data race while it was a plain bool.
TEST(Log, DebugFlagChangesWhileOthersLog) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) log::debug("not shown");
  });
  for (int i = 0; i < 2000; ++i) log::init("berth-test", false);
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace berth
