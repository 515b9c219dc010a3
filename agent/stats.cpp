#include "agent/stats.hpp"

#include "common/clock.hpp"
#include "common/json.hpp"

namespace berth::agent {
namespace {

template <typename T>
void opt(json::JsonWriter& w, const char* key, const std::optional<T>& v) {
  w.key(key);
  v ? w.value(*v) : w.null();
}

// A cgroups::Limit (nullopt = "max") that may itself be unknown.
void limit(json::JsonWriter& w, const char* key, const std::optional<cgroups::Limit>& v) {
  w.key(key);
  if (v && *v) w.value(**v); else w.null();
}

void pressure(json::JsonWriter& w, const char* key, const std::optional<cgroups::pressure::Pressure>& p) {
  w.key(key);
  if (!p) {  // not counted for this cgroup (no cgroup2 PSI here): unknown, never zero
    w.null();
    return;
  }
  w.begin_object().kv("some_avg10", p->some.avg10).kv("some_total_usec", p->some.total_usec);
  if (p->full) w.kv("full_avg10", p->full->avg10).kv("full_total_usec", p->full->total_usec);
  w.end_object();
}

// A bridge task's traffic from its own point of view, beside its bandwidth limits; null for a
// task without a veth of berth's.
void network(json::JsonWriter& w, const std::optional<isolators::NetworkUsage>& n) {
  w.key("network");
  if (!n) {
    w.null();
    return;
  }
  const auto& c = n->counters;
  w.begin_object().kv("rx_bytes", c.rx_bytes).kv("rx_packets", c.rx_packets).kv("rx_dropped", c.rx_dropped)
      .kv("tx_bytes", c.tx_bytes).kv("tx_packets", c.tx_packets).kv("tx_dropped", c.tx_dropped);
  auto mbit = [](const std::optional<uint32_t>& v) { return v ? std::optional<uint64_t>(*v) : std::nullopt; };
  opt(w, "egress_limit_mbit", mbit(n->limits.egress_mbit));
  opt(w, "ingress_limit_mbit", mbit(n->limits.ingress_mbit));
  w.end_object();
}

}  // namespace

std::string usage_json(const isolators::Usage& u) {
  const cgroups::Stats& s = u.cgroup;
  json::JsonWriter w;
  w.begin_object();
  w.key("cpu").begin_object();
  if (s.cpu_stat) {
    w.kv("usage_usec", s.cpu_stat->usage_usec).kv("user_usec", s.cpu_stat->user_usec)
        .kv("system_usec", s.cpu_stat->system_usec);
    opt(w, "nr_periods", s.cpu_stat->nr_periods);
    opt(w, "nr_throttled", s.cpu_stat->nr_throttled);
    opt(w, "throttled_usec", s.cpu_stat->throttled_usec);
  }
  w.key("limit_cpus");
  if (s.cpu_max && s.cpu_max->quota_us && s.cpu_max->period_us)
    w.value(static_cast<double>(*s.cpu_max->quota_us) / static_cast<double>(s.cpu_max->period_us));
  else
    w.null();
  opt(w, "weight", s.cpu_weight);
  w.end_object();

  w.key("memory").begin_object();
  opt(w, "current_bytes", s.memory_current);
  opt(w, "peak_bytes", s.memory_peak);
  limit(w, "limit_bytes", s.memory_max);
  limit(w, "high_bytes", s.memory_high);
  limit(w, "swap_limit_bytes", s.memory_swap_max);
  w.key("events");
  if (s.memory_events) {
    const auto& e = *s.memory_events;
    w.begin_object().kv("low", e.low).kv("high", e.high).kv("max", e.max).kv("oom", e.oom)
        .kv("oom_kill", e.oom_kill).kv("oom_group_kill", e.oom_group_kill).end_object();
  } else {
    w.null();
  }
  w.end_object();

  w.key("pids").begin_object();
  opt(w, "current", s.pids_current);
  limit(w, "limit", s.pids_max);
  w.key("events");
  if (s.pids_events) w.begin_object().kv("max", s.pids_events->max).end_object(); else w.null();
  w.end_object();

  w.key("disk").begin_object();
  opt(w, "used_bytes", u.disk_used_bytes);
  opt(w, "limit_bytes", u.disk_limit_bytes);
  w.end_object();

  w.key("runtime").begin_object();
  opt(w, "seconds", u.runtime_s);
  opt(w, "limit_s", u.max_runtime_s);
  w.end_object();

  network(w, u.network);

  w.key("pressure").begin_object();
  pressure(w, "cpu", s.cpu_pressure);
  pressure(w, "memory", s.memory_pressure);
  pressure(w, "io", s.io_pressure);
  w.end_object();
  w.end_object();
  return w.str();
}

std::string stats_json(const ContainerRecord& r, const isolators::Usage& u) {
  json::JsonWriter w;
  w.begin_object().kv("id", r.id).kv("name", r.name).kv("state", state_name(r.state))
      .kv("read_at", rfc3339(now_ns()));
  w.key("limits").raw(limits_json(r.spec.resources, r.spec.policy));
  w.key("usage").raw(usage_json(u));
  w.end_object();
  return w.str();
}

}  // namespace berth::agent
