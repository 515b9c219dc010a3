#include "cgroups/pids.hpp"

namespace berth::cgroups::pids {

Result<Events> parse_events(std::string_view text) {
  BERTH_TRY(auto keyed, parse_flat_keyed(text));
  auto max = find_key(keyed, "max");
  if (!max) return make_error(Code::kInternal, "no 'max' in pids.events");
  return Events{*max};
}

Status set_max(const Cgroup& cg, const Limit& tasks) {
  if (tasks && *tasks == 0)
    return make_error(Code::kInvalidArgument, "pids limit 0 would refuse the task itself");
  return cg.write("pids.max", format_limit(tasks));
}

Result<Limit> max(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("pids.max"));
  return with_context(parse_limit(text), cg.path() + "/pids.max");
}

Result<uint64_t> current(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("pids.current"));
  return with_context(parse_u64(text), cg.path() + "/pids.current");
}

Result<Events> events(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("pids.events"));
  return with_context(parse_events(text), cg.path() + "/pids.events");
}

}  // namespace berth::cgroups::pids
