#include "sandbox/log_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/sandbox/temp_dir.hpp"

namespace berth::sandbox {
namespace {

using berth::testing::TempDir;

LogWriter open_log(const TempDir& dir, uint64_t max_bytes, uint32_t max_files) {
  auto w = LogWriter::open(dir.fd(), "stdout", max_bytes, max_files);
  EXPECT_TRUE(w.has_value()) << (w ? "" : w.error().message);
  return std::move(w).value();
}

TEST(LogWriter, AppendsWithoutRotationBelowTheLimit) {
  TempDir dir;
  auto w = open_log(dir, 100, 3);
  ASSERT_TRUE(w.append("one\n").has_value());
  ASSERT_TRUE(w.append("two\n").has_value());
  EXPECT_EQ(dir.read("stdout"), "one\ntwo\n");
  EXPECT_FALSE(dir.exists("stdout.1"));
  EXPECT_EQ(w.size(), 8u);
}

TEST(LogWriter, ContinuesAnExistingFile) {
  TempDir dir;
  dir.write("stdout", "old\n");
  auto w = open_log(dir, 10, 2);
  EXPECT_EQ(w.size(), 4u);
  ASSERT_TRUE(w.append("new\n").has_value());
  EXPECT_EQ(dir.read("stdout"), "old\nnew\n");
  // 8 + 4 > 10: rotates, the old content moves to stdout.1.
  ASSERT_TRUE(w.append("more\n").has_value());
  EXPECT_EQ(dir.read("stdout.1"), "old\nnew\n");
  EXPECT_EQ(dir.read("stdout"), "more\n");
}

TEST(LogWriter, RotatesAndKeepsAtMostMaxFiles) {
  TempDir dir;
  auto w = open_log(dir, 6, 3);
  for (const char* line : {"aaaaa\n", "bbbbb\n", "ccccc\n", "ddddd\n"}) ASSERT_TRUE(w.append(line).has_value());
  EXPECT_EQ(dir.read("stdout"), "ddddd\n");
  EXPECT_EQ(dir.read("stdout.1"), "ccccc\n");
  EXPECT_EQ(dir.read("stdout.2"), "bbbbb\n");
  EXPECT_FALSE(dir.exists("stdout.3"));  // "aaaaa" fell off: three files in total
}

TEST(LogWriter, MaxFilesOneTruncatesInPlace) {
  TempDir dir;
  auto w = open_log(dir, 6, 1);
  ASSERT_TRUE(w.append("aaaaa\n").has_value());
  ASSERT_TRUE(w.append("bbbbb\n").has_value());
  EXPECT_EQ(dir.read("stdout"), "bbbbb\n");
  EXPECT_FALSE(dir.exists("stdout.1"));
}

TEST(LogWriter, SplitsAChunkAtItsLastNewlineThatFits) {
  TempDir dir;
  auto w = open_log(dir, 10, 3);
  ASSERT_TRUE(w.append("ab\ncd\nefgh\nij\n").has_value());
  EXPECT_EQ(dir.read("stdout.1"), "ab\ncd\n");
  EXPECT_EQ(dir.read("stdout"), "efgh\nij\n");
}

TEST(LogWriter, SplitsALineLongerThanAFile) {
  TempDir dir;
  auto w = open_log(dir, 4, 4);
  ASSERT_TRUE(w.append("0123456789\n").has_value());
  EXPECT_EQ(dir.read("stdout.2"), "0123");
  EXPECT_EQ(dir.read("stdout.1"), "4567");
  EXPECT_EQ(dir.read("stdout"), "89\n");
  // Nothing is lost and no file is above the limit.
  EXPECT_EQ(dir.read("stdout.2") + dir.read("stdout.1") + dir.read("stdout"), "0123456789\n");
}

TEST(LogWriter, ZeroMaxBytesNeverRotates) {
  TempDir dir;
  auto w = open_log(dir, 0, 2);
  std::string big(100000, 'x');
  ASSERT_TRUE(w.append(big).has_value());
  ASSERT_TRUE(w.append(big).has_value());
  EXPECT_EQ(w.size(), 200000u);
  EXPECT_FALSE(dir.exists("stdout.1"));
}

TEST(LogWriter, NoFileEverExceedsMaxBytes) {
  TempDir dir;
  auto w = open_log(dir, 100, 5);
  std::string all;
  for (int i = 0; i < 200; ++i) {
    std::string line = "line " + std::to_string(i) + std::string(static_cast<size_t>(i % 37), '.') + "\n";
    all += line;
    ASSERT_TRUE(w.append(line).has_value());
  }
  std::string kept;
  for (const char* name : {"stdout.4", "stdout.3", "stdout.2", "stdout.1", "stdout"}) {
    ASSERT_TRUE(dir.exists(name)) << name;
    std::string text = dir.read(name);
    EXPECT_LE(text.size(), 100u) << name;
    EXPECT_EQ(text.back(), '\n') << name;  // short lines never straddle files
    kept += text;
  }
  EXPECT_FALSE(dir.exists("stdout.5"));
  // The kept files are the newest tail of the stream, in order.
  ASSERT_LE(kept.size(), all.size());
  EXPECT_EQ(all.substr(all.size() - kept.size()), kept);
}

TEST(LogWriter, RefusesASymlinkedLogFile) {
  TempDir dir;
  dir.write("target", "");
  ASSERT_EQ(::symlinkat("target", dir.fd(), "stdout"), 0);
  auto w = LogWriter::open(dir.fd(), "stdout", 100, 2);
  EXPECT_FALSE(w.has_value());
}

TEST(LogWriter, RefusesBadArguments) {
  TempDir dir;
  EXPECT_FALSE(LogWriter::open(dir.fd(), "a/b", 100, 2).has_value());
  EXPECT_FALSE(LogWriter::open(dir.fd(), "", 100, 2).has_value());
  EXPECT_FALSE(LogWriter::open(dir.fd(), "stdout", 100, 0).has_value());
}

TEST(LogWriter, NewFilesAreNotWorldReadable) {
  TempDir dir;
  auto w = open_log(dir, 100, 2);
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("stdout").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u);
}

}  // namespace
}  // namespace berth::sandbox
