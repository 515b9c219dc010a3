// Waiting in tests for a condition nothing signals (a counter a berthd worker updates, a
// cgroup the kernel empties): poll it with a deadline, and let the caller assert the result,
// so a condition never met fails where it was expected, with its own message, instead of
// surfacing later as an unrelated assertion. Not a sleep: it returns as soon as it holds.
#pragma once

#include <chrono>
#include <thread>

namespace berth::testing {

// True as soon as `done()` holds; false if it still does not at `deadline` from now.
template <typename Done>
bool poll_until(Done done, std::chrono::milliseconds deadline,
                std::chrono::milliseconds every = std::chrono::milliseconds(50)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace berth::testing
