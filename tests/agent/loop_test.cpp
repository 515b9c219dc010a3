#include "agent/loop.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <memory>

namespace berth::agent {
namespace {

// berthd stops with tasks running: their pidfd watches, kill timers and the inotify watch are
// still pending. The loop must free every one of them (and what their actions hold) with itself.
TEST(Loop, StoppingFreesEveryPendingWatchAndTimer) {
  Loop::block_signals();  // sd-event takes SIGTERM/SIGINT/SIGCHLD only when they are blocked
  auto held = std::make_shared<int>(0);
  UniqueFd never = UniqueFd::adopt(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd never2 = UniqueFd::adopt(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));  // one source per fd
  ASSERT_TRUE(never.valid() && never2.valid());
  {
    Loop loop;
    auto st = loop.init();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    st = loop.watch_once(never.get(), [held] {});
    ASSERT_TRUE(st.has_value()) << st.error().message;
    st = loop.watch(never2.get(), [held] {});
    ASSERT_TRUE(st.has_value()) << st.error().message;
    loop.add_timer_ms(3600 * 1000, [held] {});
    EXPECT_EQ(held.use_count(), 4);
  }
  EXPECT_EQ(held.use_count(), 1) << "a pending action outlived the loop";
}

}  // namespace
}  // namespace berth::agent
