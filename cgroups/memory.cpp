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

}  // namespace

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
  return cg.write("memory.max", format_limit(bytes));
}
Status set_high(const Cgroup& cg, const Limit& bytes) {
  return cg.write("memory.high", format_limit(bytes));
}
Status set_swap_max(const Cgroup& cg, const Limit& bytes) {
  return cg.write("memory.swap.max", format_limit(bytes));
}
Status set_oom_group(const Cgroup& cg, bool group) {
  return cg.write("memory.oom.group", group ? "1" : "0");
}

Result<Limit> max(const Cgroup& cg) { return read_limit(cg, "memory.max"); }
Result<Limit> high(const Cgroup& cg) { return read_limit(cg, "memory.high"); }
Result<Limit> swap_max(const Cgroup& cg) { return read_limit(cg, "memory.swap.max"); }
Result<bool> oom_group(const Cgroup& cg) {
  BERTH_TRY(uint64_t v, read_u64(cg, "memory.oom.group"));
  return v != 0;
}
Result<uint64_t> current(const Cgroup& cg) { return read_u64(cg, "memory.current"); }
Result<uint64_t> peak(const Cgroup& cg) { return read_u64(cg, "memory.peak"); }

Result<Events> events(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("memory.events"));
  return with_context(parse_events(text), cg.path() + "/memory.events");
}

}  // namespace berth::cgroups::memory
