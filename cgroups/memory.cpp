#include "cgroups/memory.hpp"

namespace berth::cgroups::memory {
namespace {

Result<Limit> read_limit(const Cgroup& cg, const char* file) {
  BERTH_TRY(std::string text, cg.read(file));
  return with_context(parse_limit(text), cg.path() + "/" + file);
}

Result<uint64_t> read_u64(const Cgroup& cg, const char* file) {
  BERTH_TRY(std::string text, cg.read(file));
  return with_context(parse_u64(text), cg.path() + "/" + file);
}

Result<Limit> read_v1_limit(const Cgroup& cg, const char* file) {
  BERTH_TRY(std::string text, cg.read(file));
  return with_context(parse_v1_limit(text), cg.path() + "/" + file);
}

std::string format_v1_limit(const Limit& l) { return l ? std::to_string(*l) : "-1"; }

constexpr const char* kV1Max = "memory.limit_in_bytes";
constexpr const char* kV1Memsw = "memory.memsw.limit_in_bytes";

// memsw (memory + swap) must stay >= the memory limit. A new limit keeps the swap allowance
// (memsw - limit) as it was, as memory.max leaves memory.swap.max alone on v2: growing writes
// memsw first, shrinking the limit first.
Status set_max_v1(const Cgroup& cg, const Limit& bytes) {
  if (!cg.has_file(kV1Memsw)) return cg.write(kV1Max, format_v1_limit(bytes));
  BERTH_TRY(Limit memsw, read_v1_limit(cg, kV1Memsw));
  BERTH_TRY(Limit limit, read_v1_limit(cg, kV1Max));
  Limit swap = memsw && limit ? Limit(*memsw - std::min(*memsw, *limit)) : std::nullopt;
  Limit new_memsw = bytes && swap ? Limit(*bytes + *swap) : std::nullopt;
  bool grows = !bytes || (limit && *bytes > *limit);
  if (grows) {
    BERTH_CHECK(cg.write(kV1Memsw, format_v1_limit(new_memsw)));
    return cg.write(kV1Max, format_v1_limit(bytes));
  }
  BERTH_CHECK(cg.write(kV1Max, format_v1_limit(bytes)));
  return cg.write(kV1Memsw, format_v1_limit(new_memsw));
}

Status set_swap_max_v1(const Cgroup& cg, const Limit& swap) {
  BERTH_TRY(Limit limit, read_v1_limit(cg, kV1Max));
  Limit memsw = limit && swap ? Limit(*limit + *swap) : std::nullopt;
  return cg.write(kV1Memsw, format_v1_limit(memsw));
}

Result<Limit> swap_max_v1(const Cgroup& cg) {
  BERTH_TRY(Limit memsw, read_v1_limit(cg, kV1Memsw));
  BERTH_TRY(Limit limit, read_v1_limit(cg, kV1Max));
  if (!memsw || !limit) return Limit();
  return Limit(*memsw - std::min(*memsw, *limit));
}

Result<Events> events_v1(const Cgroup& cg) {
  BERTH_TRY(std::string oom, cg.read("memory.oom_control"));
  BERTH_TRY(std::string failcnt, cg.read("memory.failcnt"));
  return with_context(parse_v1_events(oom, failcnt), cg.path() + "/memory.oom_control");
}

bool v1(const Cgroup& cg) { return cg.kind() == Kind::kV1; }

}  // namespace

Result<Limit> parse_v1_limit(std::string_view text) {
  BERTH_TRY(uint64_t v, parse_u64(text));
  // The kernel's "unlimited" is PAGE_COUNTER_MAX * page size rounded: anything at or above
  // 2^62 is no limit a user could have set.
  if (v >= (uint64_t{1} << 62)) return Limit();
  return Limit(v);
}

Result<Events> parse_v1_events(std::string_view oom_control_text, std::string_view failcnt_text) {
  BERTH_TRY(auto keyed, parse_flat_keyed(oom_control_text));
  BERTH_TRY(uint64_t failcnt, parse_u64(failcnt_text));
  if (!find_key(keyed, "under_oom")) return make_error(Code::kInternal, "no 'under_oom' in memory.oom_control");
  Events e;
  e.max = failcnt;
  e.oom_kill = find_key(keyed, "oom_kill").value_or(0);  // kernel 4.13+
  e.oom = e.oom_kill;
  return e;
}

std::vector<std::string> limit_files(const Cgroup& cg) {
  if (v1(cg)) return {"memory.soft_limit_in_bytes", kV1Max, kV1Memsw};
  return {"memory.high", "memory.max", "memory.swap.max"};
}

bool can_limit_swap(const Cgroup& cg) { return cg.has_file(v1(cg) ? kV1Memsw : "memory.swap.max"); }

Result<Events> parse_events(std::string_view text) {
  BERTH_TRY(auto keyed, parse_flat_keyed(text));
  Events e;
  auto need = [&](const char* key, uint64_t& field) -> Status {
    auto v = find_key(keyed, key);
    if (!v) return make_error(Code::kInternal, std::string("no '") + key + "' in memory.events");
    field = *v;
    return ok();
  };
  BERTH_CHECK(need("low", e.low));
  BERTH_CHECK(need("high", e.high));
  BERTH_CHECK(need("max", e.max));
  BERTH_CHECK(need("oom", e.oom));
  BERTH_CHECK(need("oom_kill", e.oom_kill));
  e.oom_group_kill = find_key(keyed, "oom_group_kill").value_or(0);
  return e;
}

Status set_max(const Cgroup& cg, const Limit& bytes) {
  if (v1(cg)) return set_max_v1(cg, bytes);
  return cg.write("memory.max", format_limit(bytes));
}
Status set_high(const Cgroup& cg, const Limit& bytes) {
  if (v1(cg)) return cg.write("memory.soft_limit_in_bytes", format_v1_limit(bytes));
  return cg.write("memory.high", format_limit(bytes));
}
Status set_swap_max(const Cgroup& cg, const Limit& bytes) {
  if (v1(cg)) return set_swap_max_v1(cg, bytes);
  return cg.write("memory.swap.max", format_limit(bytes));
}
Status set_oom_group(const Cgroup& cg, bool group) {
  if (v1(cg)) return ok();
  return cg.write("memory.oom.group", group ? "1" : "0");
}

Result<Limit> max(const Cgroup& cg) { return v1(cg) ? read_v1_limit(cg, kV1Max) : read_limit(cg, "memory.max"); }
Result<Limit> high(const Cgroup& cg) {
  return v1(cg) ? read_v1_limit(cg, "memory.soft_limit_in_bytes") : read_limit(cg, "memory.high");
}
Result<Limit> swap_max(const Cgroup& cg) { return v1(cg) ? swap_max_v1(cg) : read_limit(cg, "memory.swap.max"); }
Result<bool> oom_group(const Cgroup& cg) {
  BERTH_TRY(uint64_t v, read_u64(cg, "memory.oom.group"));
  return v != 0;
}
Result<uint64_t> current(const Cgroup& cg) {
  return v1(cg) ? read_u64(cg, "memory.usage_in_bytes") : read_u64(cg, "memory.current");
}
Result<uint64_t> peak(const Cgroup& cg) {
  return v1(cg) ? read_u64(cg, "memory.max_usage_in_bytes") : read_u64(cg, "memory.peak");
}

Result<Events> events(const Cgroup& cg) {
  if (v1(cg)) return events_v1(cg);
  BERTH_TRY(std::string text, cg.read("memory.events"));
  return with_context(parse_events(text), cg.path() + "/memory.events");
}

}  // namespace berth::cgroups::memory
