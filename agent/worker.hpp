// Worker: one background thread that runs slow housekeeping off the event loop and outside
// the task table's lock: writing and fsyncing termination records, removing cgroups (which
// waits for them to empty), isolator cleanup.
// Closures run one at a time, in the order posted. The destructor runs whatever is still
// queued, then joins. post() from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace berth::agent {

class Worker {
 public:
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void post(std::function<void()> fn);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace berth::agent
