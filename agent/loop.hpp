// Loop: berthd's event loop (sd-event) on the main thread. It watches shim pidfds, runs kill
// grace timers and handles signals. Other threads (API handlers) never touch sd-event: they
// post() closures, which the loop runs in order on its own thread.
// Thread-safety: post() and exit() from any thread; everything else only on the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
struct signalfd_siginfo;

namespace berth::agent {

class Loop {
 public:
  using Fn = std::function<void()>;

  // Blocks SIGTERM, SIGINT, SIGCHLD in the calling thread: call before starting other threads
  // so every thread inherits the mask and the loop alone receives them.
  static void block_signals();
  static void unblock_signals_in_child();  // async-signal-safe; for forked children

  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  Status init();
  // Runs until exit() or SIGTERM/SIGINT; returns the signal that stopped it (0 for exit()).
  int run();
  void exit();

  void post(Fn fn);
  // Loop thread only.
  uint64_t add_timer_ms(uint64_t delay_ms, Fn fn);
  void cancel_timer(uint64_t id);
  // Calls fn once when `fd` becomes readable (a pidfd: the process exited), then forgets it.
  Status watch_once(int fd, Fn fn);
  void on_sigchld(Fn fn) { sigchld_ = std::move(fn); }
  // Calls fn each time `fd` is readable (an inotify fd), for the life of the loop.
  Status watch(int fd, Fn fn);

 private:
  static int on_wakeup(sd_event_source*, int, uint32_t, void*);
  static int on_timer(sd_event_source*, uint64_t, void*);
  static int on_io(sd_event_source*, int, uint32_t, void*);
  static int on_io_persistent(sd_event_source*, int, uint32_t, void*);
  static int on_signal(sd_event_source*, const struct signalfd_siginfo*, void*);

  struct Timer {
    Loop* loop;
    uint64_t id;
    sd_event_source* source;
    Fn fn;
  };
  struct Watch {
    Loop* loop;
    sd_event_source* source;
    Fn fn;
  };

  sd_event* event_ = nullptr;
  UniqueFd wakeup_;
  std::mutex mu_;
  std::deque<Fn> posted_;
  std::map<uint64_t, Timer*> timers_;
  std::vector<Watch*> watches_;  // persistent ones
  std::set<Watch*> once_watches_;  // pending watch_once ones, freed when they fire or with the loop
  uint64_t next_timer_ = 1;
  Fn sigchld_;
  int stop_signal_ = 0;
};

}  // namespace berth::agent
