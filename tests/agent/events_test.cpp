#include "agent/events.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "common/json.hpp"

namespace berth::agent {
namespace {

TEST(EventBus, NumbersEventsInOrder) {
  EventBus bus;
  EXPECT_EQ(bus.publish("a", "\"id\":\"1\""), 1u);
  EXPECT_EQ(bus.publish("b", ""), 2u);
  auto events = bus.wait_after(0, 0);
  ASSERT_EQ(events.size(), 2u);
  auto first = json::parse(events[0].line);
  ASSERT_TRUE(first.has_value()) << events[0].line;
  EXPECT_EQ(json::get_string(*first, "type"), "a");
  EXPECT_EQ(json::get_string(*first, "id"), "1");
  EXPECT_EQ(json::get_uint(*first, "seq"), 1u);
  EXPECT_FALSE(json::get_string(*first, "time").empty());
  EXPECT_TRUE(json::parse(events[1].line).has_value()) << events[1].line;
  EXPECT_EQ(bus.wait_after(1, 0).size(), 1u);
}

TEST(EventBus, WaitWakesOnPublish) {
  EventBus bus;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    bus.publish("late", "");
  });
  auto events = bus.wait_after(0, 5000);
  t.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(bus.wait_after(1, 10).size(), 0u);  // timeout → nothing
}

TEST(EventBus, KeepsOnlyTheNewest) {
  EventBus bus;
  for (size_t i = 0; i < EventBus::kRetained + 5; ++i) bus.publish("x", "");
  auto events = bus.wait_after(0, 0);
  ASSERT_EQ(events.size(), EventBus::kRetained);
  EXPECT_EQ(events.front().seq, 6u);
}

}  // namespace
}  // namespace berth::agent
