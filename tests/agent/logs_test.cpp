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
  // Everything from the start of the last `lines` lines on, read in pieces of `piece`.
  std::string tail(const std::string& stream, long lines, size_t piece = 1 << 20) {
    LogReader r(dir_, stream);
    r.seek_tail(lines);
    std::string out;
    while (true) {
      size_t before = out.size();
      if (!r.read(out, piece)) break;
      EXPECT_LE(out.size() - before, piece);
    }
    return out;
  }
  std::string all(const std::string& stream) { return tail(stream, -1); }
  std::string dir_;
};

TEST_F(LogsTest, ReadsRotatedFilesOldestFirst) {
  put("stdout.2", "one\n");
  put("stdout.1", "two\n");
  put("stdout", "three\n");
  put("stderr", "err\n");
  EXPECT_EQ(all("stdout"), "one\ntwo\nthree\n");
  EXPECT_EQ(all("stderr"), "err\n");
  EXPECT_EQ(tail("stdout", -1, 3), "one\ntwo\nthree\n");  // in small pieces too
}

TEST_F(LogsTest, TailCountsLinesAcrossFiles) {
  put("stdout", "a\nb\nc\n");
  EXPECT_EQ(tail("stdout", 2), "b\nc\n");
  EXPECT_EQ(tail("stdout", 5), "a\nb\nc\n");
  EXPECT_EQ(tail("stdout", 0), "");
  put("stdout", "a\nb\nc");
  EXPECT_EQ(tail("stdout", 2), "b\nc");  // a last line without newline counts
  put("stdout.2", "0\n");
  put("stdout.1", "1\n2\n");
  put("stdout", "3\n");
  EXPECT_EQ(tail("stdout", 2), "2\n3\n");
  EXPECT_EQ(tail("stdout", 3), "1\n2\n3\n");
  EXPECT_EQ(tail("stdout", 4), "0\n1\n2\n3\n");
  EXPECT_EQ(tail("stdout", 9), "0\n1\n2\n3\n");
  put("stdout", "");  // just rotated: the newest lines are in stdout.1
  EXPECT_EQ(tail("stdout", 1), "2\n");
}

TEST_F(LogsTest, TailReadsOnlyTheFilesItNeeds) {
  // A 64 GiB (sparse) old file: reading it, or every rotated file, would never finish.
  put("stdout.1", "older\nold\n");
  {
    FILE* f = std::fopen((dir_ + "/stdout.2").c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(::ftruncate(::fileno(f), 64ll << 30), 0);
    std::fclose(f);
  }
  std::string current;
  for (int i = 0; i < 20000; ++i) current += "line " + std::to_string(i) + "\n";
  put("stdout", current);
  EXPECT_EQ(tail("stdout", 2), "line 19998\nline 19999\n");
  EXPECT_EQ(tail("stdout", 20001), "old\n" + current);  // the line count reached: .2 untouched
  // More lines than there are: the scan stops after kMaxTailScan bytes (counted in 64 KiB
  // blocks: 4 for the current file, 1 for stdout.1, the rest of the 64 GiB one).
  std::string more = tail("stdout", 20003);
  EXPECT_EQ(more.size(), kMaxTailScan - 5 * 65536 + 10 + current.size());
}

TEST_F(LogsTest, NoLogsYetIsEmpty) { EXPECT_EQ(all("stdout"), ""); EXPECT_EQ(tail("stdout", 3), ""); }

TEST_F(LogsTest, ReaderFollowsTheCurrentFileAfterTheTail) {
  put("stdout.1", "a\n");
  put("stdout", "b\n");
  LogReader r(dir_, "stdout");
  r.seek_tail(1);
  std::string out;
  EXPECT_TRUE(r.read(out));
  EXPECT_EQ(out, "b\n");
  EXPECT_FALSE(r.read(out));
  append("stdout", "c\n");
  ASSERT_EQ(::rename((dir_ + "/stdout").c_str(), (dir_ + "/stdout.1").c_str()), 0);
  put("stdout", "d\n");
  EXPECT_TRUE(r.read(out));
  EXPECT_EQ(out, "b\nc\nd\n");
}

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
