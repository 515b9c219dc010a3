// EventBus: the agent's ordered event log. Every event gets the next sequence number and a
// timestamp under one lock, so subscribers see events in exactly the order they happened.
// The last kRetained events are kept so a client can resume with ?since=SEQ; resuming from
// before the oldest kept event (or past the newest: numbers start afresh with each berthd)
// is an error naming what is kept, never a silent gap.
// Thread-safe: publish from any thread; readers poll with read_after(), which never blocks
// (the API's streams are asked again on the server's beat).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::agent {

struct Event {
  uint64_t seq = 0;
  std::string line;  // the whole JSON object, serialized
};

class EventBus {
 public:
  static constexpr size_t kRetained = 10000;
  static constexpr size_t kMaxRead = 1000;

  // `fields_json` is the inside of a JSON object without braces, e.g. "\"id\":\"x\"" (may be
  // empty); seq, time and type are added. Returns the event's sequence number.
  uint64_t publish(const std::string& type, const std::string& fields_json);

  // Called after every publish, outside the bus's lock (the API server's wake(), so a waiting
  // stream or `wait` hears of a change at once instead of at its next beat). nullptr clears it.
  void set_listener(std::function<void()> listener);

  uint64_t last_seq() const;
  // kFailedPrecondition when events after `after` have already been dropped, or when `after`
  // is beyond the newest event (a resume point from before a restart).
  Status check_since(uint64_t after) const;
  // Up to kMaxRead events with seq > after, oldest first; empty if none yet. The error of
  // check_since() when some were dropped.
  Result<std::vector<Event>> read_after(uint64_t after) const;

 private:
  Status check_locked(uint64_t after) const;
  mutable std::mutex mu_;
  std::deque<Event> events_;
  uint64_t next_seq_ = 1;
  std::function<void()> listener_;
};

}  // namespace berth::agent
