#include "agent/events.hpp"

#include "common/clock.hpp"
#include "common/json.hpp"

namespace berth::agent {

uint64_t EventBus::publish(const std::string& type, const std::string& fields_json) {
  uint64_t seq = 0;
  std::function<void()> listener;
  {
    std::lock_guard lk(mu_);
    seq = next_seq_++;
    json::JsonWriter head;
    head.begin_object().kv("seq", seq).kv("time", rfc3339(now_ns())).kv("type", type).end_object();
    std::string line = head.str();
    if (!fields_json.empty()) line.insert(line.size() - 1, "," + fields_json);
    events_.push_back(Event{seq, std::move(line)});
    if (events_.size() > kRetained) events_.pop_front();
    listener = listener_;
  }
  if (listener) listener();
  return seq;
}

void EventBus::set_listener(std::function<void()> listener) {
  std::lock_guard lk(mu_);
  listener_ = std::move(listener);
}

uint64_t EventBus::last_seq() const {
  std::lock_guard lk(mu_);
  return next_seq_ - 1;
}

Status EventBus::check_locked(uint64_t after) const {
  uint64_t newest = next_seq_ - 1;
  if (after > newest)
    return make_error(Code::kFailedPrecondition,
                      "seq " + std::to_string(after) + " is ahead of the newest event (seq " + std::to_string(newest) +
                          "): berthd restarted since and numbers events afresh; resume with since=0");
  uint64_t oldest = events_.empty() ? next_seq_ : events_.front().seq;
  if (after + 1 >= oldest) return ok();
  return make_error(Code::kFailedPrecondition,
                    "events after seq " + std::to_string(after) + " are no longer kept: the oldest kept is seq " +
                        std::to_string(oldest) + " (the last " + std::to_string(kRetained) +
                        " are kept); resume with since=" + std::to_string(oldest - 1) +
                        " and list containers for the state in between, or omit 'since' for new events only");
}

Status EventBus::check_since(uint64_t after) const {
  std::lock_guard lk(mu_);
  return check_locked(after);
}

Result<std::vector<Event>> EventBus::read_after(uint64_t after) const {
  std::lock_guard lk(mu_);
  BERTH_CHECK(check_locked(after));
  std::vector<Event> out;
  if (events_.empty() || after >= events_.back().seq) return out;
  // Sequence numbers are consecutive: index straight to the first one wanted.
  size_t first = after < events_.front().seq ? 0 : static_cast<size_t>(after + 1 - events_.front().seq);
  for (size_t i = first; i < events_.size() && out.size() < kMaxRead; ++i) out.push_back(events_[i]);
  return out;
}

}  // namespace berth::agent
