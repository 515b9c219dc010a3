#include "agent/logs.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include "common/fs.hpp"

namespace berth::agent {
namespace {

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-logs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }
  void put(const std::string& name, const std::string& text) {
    ASSERT_TRUE(fs::write_file_atomic(dir_ + "/" + name, text).has_value());
  }
  void append(const std::string& name, const std::string& text) {
    FILE* f = std::fopen((dir_ + "/" + name).c_str(), "a");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  std::string all(const std::string& stream) {
    LogFollower f(dir_, stream);
    f.open();
    std::string out = read_rotated(dir_, stream);
    f.poll(out, SIZE_MAX);
    return out;
  }
  std::string dir_;
};

TEST_F(LogsTest, ReadsRotatedFilesOldestFirst) {
  put("stdout.2", "one\n");
  put("stdout.1", "two\n");
  put("stdout", "three\n");
  put("stderr", "err\n");
  EXPECT_EQ(all("stdout"), "one\ntwo\nthree\n");
  EXPECT_EQ(all("stderr"), "err\n");
  EXPECT_EQ(log_files(dir_, "stdout").front(), dir_ + "/stdout.2");
}

TEST_F(LogsTest, TailCountsLinesAcrossFiles) {
  EXPECT_EQ(tail_lines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(tail_lines("a\nb\nc", 2), "b\nc");  // a last line without newline counts
  EXPECT_EQ(tail_lines("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(tail_lines("a\nb\n", 0), "");
  EXPECT_EQ(tail_lines("a\nb\n", -1), "a\nb\n");
  put("stdout.1", "1\n2\n");
  put("stdout", "3\n");
  EXPECT_EQ(tail_lines(all("stdout"), 2), "2\n3\n");
}

TEST_F(LogsTest, NoLogsYetIsEmpty) { EXPECT_EQ(all("stdout"), ""); }

TEST_F(LogsTest, FollowerSeesAppendsAndSurvivesRotation) {
  put("stdout", "a\n");
  LogFollower f(dir_, "stdout");
  f.open();
  std::string out;
  EXPECT_TRUE(f.poll(out));
  EXPECT_EQ(out, "a\n");
  EXPECT_FALSE(f.poll(out));
  append("stdout", "b\n");
  EXPECT_TRUE(f.poll(out));
  EXPECT_EQ(out, "a\nb\n");
  // Rotation the way the shim does it: the last bytes land in the old file, then it is renamed.
  append("stdout", "c\n");
  ASSERT_EQ(::rename((dir_ + "/stdout").c_str(), (dir_ + "/stdout.1").c_str()), 0);
  put("stdout", "d\n");
  EXPECT_TRUE(f.poll(out));
  EXPECT_EQ(out, "a\nb\nc\nd\n");
}

TEST_F(LogsTest, FollowerPicksUpAFileCreatedLater) {
  LogFollower f(dir_, "stderr");
  f.open();
  std::string out;
  EXPECT_FALSE(f.poll(out));
  put("stderr", "late\n");
  EXPECT_TRUE(f.poll(out));
  EXPECT_EQ(out, "late\n");
}

}  // namespace
}  // namespace berth::agent
