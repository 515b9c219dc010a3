// IdRanges (the host id ranges of task user namespaces) and the user-namespace isolator:
// disjoint lowest-first slots, exhaustion, release and reuse, the state file across a
// restart, ranges held while their holder exists, and the per-task choice over the node's
// default.
#include <gtest/gtest.h>

#include "common/fs.hpp"
#include "isolators/userns/id_ranges.hpp"
#include "isolators/userns/userns_isolator.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

using cgroups::testing::FakeTree;

class IdRangesTest : public ::testing::Test {
 protected:
  IdRangesTest() {
    config_.pool_start = 100000;
    config_.pool_count = 3 * 65536;
    config_.state_file = dir_.path() + "/ranges.json";
  }
  // A holder path that exists until remove_holder().
  std::string holder(const std::string& name) {
    std::string p = dir_.path() + "/" + name;
    EXPECT_TRUE(fs::mkdir_p(p, 0700).has_value());
    return p;
  }
  FakeTree dir_;
  UserNamespaceConfig config_;
};

TEST_F(IdRangesTest, HandsOutDisjointSlotsLowestFirstAndTheSameOneToItsOwner) {
  auto r = IdRanges::open(config_).value();
  EXPECT_EQ(r.acquire("a", holder("a")).value(), (IdRange{100000, 65536}));
  EXPECT_EQ(r.acquire("b", holder("b")).value(), (IdRange{165536, 65536}));
  EXPECT_EQ(r.acquire("a", holder("a")).value(), (IdRange{100000, 65536}));
  ASSERT_TRUE(r.release("a").has_value());
  EXPECT_EQ(r.acquire("c", holder("c")).value(), (IdRange{100000, 65536}));
}

TEST_F(IdRangesTest, AnExhaustedPoolIsUnavailableAndNamesThePool) {
  auto r = IdRanges::open(config_).value();
  for (const char* o : {"a", "b", "c"}) ASSERT_TRUE(r.acquire(o, holder(o)).has_value());
  auto full = r.acquire("d", holder("d"));
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error().code, Code::kUnavailable);
  EXPECT_NE(full.error().message.find("100000-296607"), std::string::npos) << full.error().message;
  EXPECT_NE(full.error().message.find("exhausted"), std::string::npos);
  EXPECT_FALSE(r.held("d"));
  EXPECT_EQ(r.held_count(), 3u);
}

TEST_F(IdRangesTest, HeldRangesSurviveARestartAndAGoneHolderFreesItsRange) {
  std::string keep = holder("keep"), gone = holder("gone");
  {
    auto r = IdRanges::open(config_).value();
    ASSERT_TRUE(r.acquire("keep", keep).has_value());
    ASSERT_TRUE(r.acquire("gone", gone).has_value());
  }
  ASSERT_TRUE(fs::remove_tree(gone).has_value());
  auto r = IdRanges::open(config_).value();  // a new berthd
  EXPECT_EQ(r.held("keep"), (IdRange{100000, 65536}));
  EXPECT_EQ(r.held("gone"), (IdRange{165536, 65536}));
  ASSERT_TRUE(r.sweep().has_value());
  EXPECT_TRUE(r.held("keep"));
  EXPECT_FALSE(r.held("gone"));
  // The swept table is what the next berthd reads.
  EXPECT_FALSE(IdRanges::open(config_).value().held("gone"));
}

TEST_F(IdRangesTest, ARangeHeldUnderAnOldPoolStillBlocksItsIds) {
  {
    auto r = IdRanges::open(config_).value();
    ASSERT_TRUE(r.acquire("old", holder("old")).has_value());  // 100000..165535
  }
  config_.pool_start = 120000;  // the new pool's first slot overlaps the held range
  config_.range_size = 10000;
  auto r = IdRanges::open(config_).value();
  EXPECT_EQ(r.acquire("new", holder("new")).value(), (IdRange{170000, 10000}));
}

TEST_F(IdRangesTest, AnUnreadableStateFileIsAnErrorNotAnEmptyTable) {
  ASSERT_TRUE(fs::write_file_atomic(config_.state_file, "{not json").has_value());
  auto r = IdRanges::open(config_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("cannot tell which id ranges are held"), std::string::npos) << r.error().message;
}

TEST_F(IdRangesTest, APoolWithoutRoomForOneRangeOrStartingAtRootIsRefused) {
  config_.pool_count = 100;
  EXPECT_FALSE(IdRanges::open(config_).has_value());
  config_.pool_count = 65536;
  config_.pool_start = 0;
  EXPECT_FALSE(IdRanges::open(config_).has_value());
}

TEST_F(IdRangesTest, TheTaskChoiceOverridesTheNodeDefault) {
  config_.default_on = true;
  auto iso = UserNamespaceIsolator::create(config_).value();
  ContainerSpec spec;
  spec.sandbox_dir = holder("t");
  spec.security.user_namespace = false;
  auto off = iso->prepare("off", spec).value();
  EXPECT_TRUE(off.namespaces.empty());
  EXPECT_TRUE(off.uid_mappings.empty());
  spec.security.user_namespace = std::nullopt;  // the node's default: on
  auto on = iso->prepare("on", spec).value();
  ASSERT_EQ(on.namespaces.size(), 1u);
  EXPECT_EQ(on.namespaces[0].type, "user");
  EXPECT_EQ(on.uid_mappings, (std::vector<sandbox::OciIdMapping>{{0, 100000, 65536}}));
  EXPECT_EQ(on.gid_mappings, on.uid_mappings);
  // Cleanup at the task's exit keeps the range while its sandbox (its files) exists.
  ASSERT_TRUE(iso->cleanup("on").has_value());
  EXPECT_EQ(IdRanges::open(config_).value().held("on"), (IdRange{100000, 65536}));
}

}  // namespace
}  // namespace berth::isolators
