// Trash: a discarded tree leaves its place at once and is removed in the background; resume()
// removes what an earlier run left; a leftover name is never reused.
#include "agent/trash.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>

#include "common/fs.hpp"
#include "tests/integration/poll.hpp"

namespace berth::agent {
namespace {

using berth::testing::poll_until;

class TrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/trash-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }

  // A tree 200 levels deep with a file at each level.
  void make_tree(const std::string& top) {
    std::string p = top;
    ASSERT_TRUE(fs::mkdir_p(p, 0755).has_value());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(fs::write_file_atomic(p + "/f", "x", 0644, fs::Durability::kVolatile).has_value());
      p += "/d";
      ASSERT_TRUE(fs::mkdir_p(p, 0755).has_value());
    }
  }
  std::vector<std::string> in_trash() {
    auto names = fs::list_dir(trash_dir());
    auto v = names ? *names : std::vector<std::string>{};
    std::sort(v.begin(), v.end());
    return v;
  }
  bool trash_holds(const std::vector<std::string>& want) {
    return poll_until([&] { return in_trash() == want; }, std::chrono::seconds(30));
  }
  std::string trash_dir() const { return dir_ + "/trash"; }

  std::string dir_;
};

TEST_F(TrashTest, DiscardMovesTheTreeAwayAtOnceAndRemovesItLater) {
  make_tree(dir_ + "/sandboxes/t1");
  auto trash = Trash::open(trash_dir());
  ASSERT_TRUE(trash.has_value()) << trash.error().message;
  ASSERT_TRUE((*trash)->discard(dir_ + "/sandboxes/t1", "t1").has_value());
  EXPECT_FALSE(fs::exists(dir_ + "/sandboxes/t1"));
  EXPECT_TRUE(trash_holds({}));
}

TEST_F(TrashTest, DiscardOfAMissingTreeIsFine) {
  auto trash = Trash::open(trash_dir());
  ASSERT_TRUE(trash.has_value()) << trash.error().message;
  EXPECT_TRUE((*trash)->discard(dir_ + "/sandboxes/none", "none").has_value());
  EXPECT_TRUE(in_trash().empty());
}

TEST_F(TrashTest, ResumeRemovesWhatAnEarlierRunLeft) {
  make_tree(trash_dir() + "/a-0");
  make_tree(trash_dir() + "/b-3");
  auto trash = Trash::open(trash_dir());
  ASSERT_TRUE(trash.has_value()) << trash.error().message;
  ASSERT_TRUE((*trash)->resume().has_value());
  EXPECT_TRUE(trash_holds({}));
}

TEST_F(TrashTest, ALeftoverNameIsNeverReused) {
  make_tree(trash_dir() + "/t1-0");  // not resumed: it must stay as it is
  make_tree(dir_ + "/sandboxes/t1");
  auto trash = Trash::open(trash_dir());
  ASSERT_TRUE(trash.has_value()) << trash.error().message;
  ASSERT_TRUE((*trash)->discard(dir_ + "/sandboxes/t1", "t1").has_value());
  EXPECT_TRUE(trash_holds({"t1-0"}));
  EXPECT_TRUE(fs::exists(trash_dir() + "/t1-0/d/d/f"));
}

}  // namespace
}  // namespace berth::agent
