// Ipam: addresses handed out once, kept across a restart, released, reconciled, and a full
// subnet refused by name; subnet parsing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "common/fs.hpp"
#include "isolators/network/ipam.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

Ipv4Subnet subnet(const char* text) { return parse_subnet(text, "/network/bridge/subnet").value(); }

class IpamTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/ipam"; }
  cgroups::testing::FakeTree tmp_;
};

TEST_F(IpamTest, NeverHandsOutTheNetworkGatewayOrBroadcastNorAnAddressTwice) {
  auto ipam = Ipam::open(dir(), subnet("10.9.0.0/29"));  // 8 addresses, 5 for tasks
  ASSERT_TRUE(ipam.has_value()) << ipam.error().message;
  std::set<uint32_t> got;
  for (int i = 0; i < 5; ++i) {
    auto a = ipam->allocate("t" + std::to_string(i));
    ASSERT_TRUE(a.has_value()) << a.error().message;
    got.insert(*a);
  }
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(*got.begin(), parse_ipv4("10.9.0.2").value());
  EXPECT_EQ(*got.rbegin(), parse_ipv4("10.9.0.6").value());
  EXPECT_EQ(fs::list_dir(dir())->size(), 5u);
}

TEST_F(IpamTest, AFullSubnetIsRefusedByNameAndAllocatesNothing) {
  auto ipam = Ipam::open(dir(), subnet("10.9.0.0/30")).value();  // one address for tasks
  ASSERT_TRUE(ipam.allocate("t1").has_value());
  auto full = ipam.allocate("t2");
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.error().code, Code::kFailedPrecondition);
  EXPECT_NE(full.error().message.find("10.9.0.0/30 is exhausted"), std::string::npos) << full.error().message;
  EXPECT_EQ(ipam.allocations().size(), 1u);
  EXPECT_EQ(fs::list_dir(dir())->size(), 1u);
  ASSERT_TRUE(ipam.release("t1").has_value());
  EXPECT_TRUE(ipam.allocate("t2").has_value());  // free again
}

TEST_F(IpamTest, AllocationsSurviveARestartAndAreNotHandedOutAgain) {
  uint32_t kept;
  {
    auto before = Ipam::open(dir(), subnet("10.9.0.0/29")).value();
    kept = before.allocate("running").value();
  }
  auto after = Ipam::open(dir(), subnet("10.9.0.0/29")).value();
  EXPECT_EQ(after.allocations().at(kept), "running");
  for (int i = 0; i < 4; ++i) EXPECT_NE(after.allocate("new" + std::to_string(i)).value(), kept);
  EXPECT_FALSE(after.allocate("one-too-many").has_value());
}

TEST_F(IpamTest, AnAddressAnotherBerthdRecordedIsSkippedNotShared) {
  auto ipam = Ipam::open(dir(), subnet("10.9.0.0/30")).value();
  ASSERT_TRUE(fs::write_file_atomic(dir() + "/10.9.0.2", "elsewhere").has_value());
  EXPECT_FALSE(ipam.allocate("t1").has_value());
}

TEST_F(IpamTest, ReleaseAndReconciliationRemoveRecordsAndFiles) {
  auto ipam = Ipam::open(dir(), subnet("10.9.0.0/28")).value();
  ASSERT_TRUE(ipam.allocate("a").has_value());
  ASSERT_TRUE(ipam.allocate("b").has_value());
  ASSERT_TRUE(ipam.allocate("c").has_value());
  ASSERT_TRUE(ipam.release("b").has_value());
  ASSERT_TRUE(ipam.release("never-had-one").has_value());
  EXPECT_EQ(ipam.allocations().size(), 2u);
  ASSERT_TRUE(ipam.retain_only({"c"}).has_value());  // "a" died while berthd was down
  ASSERT_EQ(ipam.allocations().size(), 1u);
  EXPECT_EQ(ipam.allocations().begin()->second, "c");
  EXPECT_EQ(fs::list_dir(dir())->size(), 1u);
  EXPECT_EQ(Ipam::open(dir(), subnet("10.9.0.0/28"))->allocations().size(), 1u);
}

TEST_F(IpamTest, StrayAndOutOfSubnetFilesAreDroppedAtOpen) {
  ASSERT_TRUE(fs::mkdir_p(dir()).has_value());
  for (const char* name : {"junk", "10.9.0.1", "192.168.0.5", "10.9.0.3"})
    ASSERT_TRUE(fs::write_file_atomic(dir() + "/" + name, "x").has_value());
  auto ipam = Ipam::open(dir(), subnet("10.9.0.0/29")).value();
  EXPECT_EQ(ipam.allocations().size(), 1u);  // 10.9.0.3 only: .1 is the gateway
  EXPECT_EQ(fs::list_dir(dir())->size(), 1u);
}

TEST(Subnet, ParsesNetworksAndNamesWhatIsWrong) {
  auto s = parse_subnet("10.88.0.0/16", "/network/bridge/subnet");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->text(), "10.88.0.0/16");
  EXPECT_EQ(ipv4_text(s->gateway()), "10.88.0.1");
  for (const char* bad : {"10.88.0.0", "10.88.0.1/16", "10.88.0.0/8", "10.88.0.0/31", "10.88.0/16", "x/16",
                          "10.88.0.0/16x"}) {
    auto r = parse_subnet(bad, "/network/bridge/subnet");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message.find("'/network/bridge/subnet'"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace berth::isolators
