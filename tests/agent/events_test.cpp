#include "agent/events.hpp"

#include <gtest/gtest.h>

#include "common/json.hpp"

namespace berth::agent {
namespace {

std::vector<Event> after(const EventBus& bus, uint64_t seq) {
  auto r = bus.read_after(seq);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r ? *r : std::vector<Event>{};
}

TEST(EventBus, NumbersEventsInOrder) {
  EventBus bus;
  EXPECT_EQ(bus.publish("a", "\"id\":\"1\""), 1u);
  EXPECT_EQ(bus.publish("b", ""), 2u);
  auto events = after(bus, 0);
  ASSERT_EQ(events.size(), 2u);
  auto first = json::parse(events[0].line);
  ASSERT_TRUE(first.has_value()) << events[0].line;
  EXPECT_EQ(json::get_string(*first, "type"), "a");
  EXPECT_EQ(json::get_string(*first, "id"), "1");
  EXPECT_EQ(json::get_uint(*first, "seq"), 1u);
  EXPECT_FALSE(json::get_string(*first, "time").empty());
  EXPECT_TRUE(json::parse(events[1].line).has_value()) << events[1].line;
  EXPECT_EQ(after(bus, 1).size(), 1u);
  EXPECT_EQ(after(bus, 2).size(), 0u);
  auto ahead = bus.read_after(99);  // from before a restart: the numbers started afresh
  ASSERT_FALSE(ahead.has_value());
  EXPECT_NE(ahead.error().message.find("seq 99 is ahead of the newest event (seq 2)"), std::string::npos)
      << ahead.error().message;
}

TEST(EventBus, KeepsOnlyTheNewestAndReadsInBoundedBatches) {
  EventBus bus;
  for (size_t i = 0; i < EventBus::kRetained + 5; ++i) bus.publish("x", "");
  auto events = after(bus, 5);
  ASSERT_EQ(events.size(), EventBus::kMaxRead);
  EXPECT_EQ(events.front().seq, 6u);
  EXPECT_EQ(after(bus, EventBus::kRetained + 3).size(), 2u);
}

TEST(EventBus, ResumingFromADroppedEventNamesTheOldestKept) {
  EventBus bus;
  for (size_t i = 0; i < EventBus::kRetained + 5; ++i) bus.publish("x", "");
  EXPECT_TRUE(bus.check_since(5).has_value());
  auto r = bus.read_after(4);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("events after seq 4 are no longer kept: the oldest kept is seq 6"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(bus.check_since(0).has_value());
}

}  // namespace
}  // namespace berth::agent
