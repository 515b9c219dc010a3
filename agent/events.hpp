// EventBus: the agent's ordered event log. Every event gets the next sequence number and a
// timestamp under one lock, so subscribers see events in exactly the order they happened.
// The last kRetained events are kept so a client can resume with ?since=SEQ.
// Thread-safe: publish from any thread; readers block in wait_after().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace berth::agent {

struct Event {
  uint64_t seq = 0;
  std::string line;  // the whole JSON object, serialized
};

class EventBus {
 public:
  static constexpr size_t kRetained = 10000;

  // `fields_json` is the inside of a JSON object without braces, e.g. "\"id\":\"x\"" (may be
  // empty); seq, time and type are added. Returns the event's sequence number.
  uint64_t publish(const std::string& type, const std::string& fields_json);

  uint64_t last_seq() const;
  // Events with seq > after, waiting up to timeout_ms for at least one. Empty on timeout.
  std::vector<Event> wait_after(uint64_t after, int timeout_ms) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<Event> events_;
  uint64_t next_seq_ = 1;
};

}  // namespace berth::agent
