#include "agent/events.hpp"

#include <chrono>

#include "common/clock.hpp"
#include "common/json.hpp"

namespace berth::agent {

uint64_t EventBus::publish(const std::string& type, const std::string& fields_json) {
  std::lock_guard lk(mu_);
  uint64_t seq = next_seq_++;
  json::JsonWriter head;
  head.begin_object().kv("seq", seq).kv("time", rfc3339(now_ns())).kv("type", type).end_object();
  std::string line = head.str();
  if (!fields_json.empty()) line.insert(line.size() - 1, "," + fields_json);
  events_.push_back(Event{seq, std::move(line)});
  if (events_.size() > kRetained) events_.pop_front();
  cv_.notify_all();
  return seq;
}

uint64_t EventBus::last_seq() const {
  std::lock_guard lk(mu_);
  return next_seq_ - 1;
}

std::vector<Event> EventBus::wait_after(uint64_t after, int timeout_ms) const {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return next_seq_ - 1 > after; });
  std::vector<Event> out;
  for (const auto& e : events_)
    if (e.seq > after) out.push_back(e);
  return out;
}

}  // namespace berth::agent
