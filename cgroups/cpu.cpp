#include "cgroups/cpu.hpp"

#include <algorithm>
#include <cmath>

#include "cgroups/file_format.hpp"

namespace berth::cgroups::cpu {

Max max_for_cpus(double cpus, uint64_t period_us) {
  Max m;
  m.period_us = period_us;
  if (!(cpus > 0)) return m;
  long long quota = std::llround(cpus * static_cast<double>(period_us));
  m.quota_us = std::max<uint64_t>(kMinQuotaUs, static_cast<uint64_t>(quota));
  return m;
}

uint64_t weight_for_cpus(double cpus) {
  if (!(cpus > 0)) return kDefaultWeight;
  double w = std::round(cpus * static_cast<double>(kDefaultWeight));
  if (w < static_cast<double>(kMinWeight)) return kMinWeight;
  if (w > static_cast<double>(kMaxWeight)) return kMaxWeight;
  return static_cast<uint64_t>(w);
}

std::string format_max(const Max& m) {
  return format_limit(m.quota_us) + " " + std::to_string(m.period_us);
}

Result<Max> parse_max(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  size_t sp = text.find(' ');
  if (sp == std::string_view::npos)
    return make_error(Code::kInternal, "malformed cpu.max '" + std::string(text) + "'");
  Max m;
  BERTH_TRY_CTX(m.quota_us, parse_limit(text.substr(0, sp)), "cpu.max quota");
  BERTH_TRY_CTX(m.period_us, parse_u64(text.substr(sp + 1)), "cpu.max period");
  return m;
}

Result<Stat> parse_stat(std::string_view text) {
  BERTH_TRY(auto keyed, parse_flat_keyed(text));
  auto usage = find_key(keyed, "usage_usec");
  if (!usage) return make_error(Code::kInternal, "no 'usage_usec' in cpu.stat");
  Stat s;
  s.usage_usec = *usage;
  s.user_usec = find_key(keyed, "user_usec").value_or(0);
  s.system_usec = find_key(keyed, "system_usec").value_or(0);
  s.nr_periods = find_key(keyed, "nr_periods");
  s.nr_throttled = find_key(keyed, "nr_throttled");
  s.throttled_usec = find_key(keyed, "throttled_usec");
  return s;
}

Status set_max(const Cgroup& cg, const Max& m) {
  if (m.quota_us && *m.quota_us < kMinQuotaUs)
    return make_error(Code::kInvalidArgument,
                      "cpu quota " + std::to_string(*m.quota_us) + "us is below the minimum " +
                          std::to_string(kMinQuotaUs) + "us");
  return cg.write("cpu.max", format_max(m));
}

Status set_weight(const Cgroup& cg, uint64_t weight) {
  if (weight < kMinWeight || weight > kMaxWeight)
    return make_error(Code::kInvalidArgument,
                      "cpu weight " + std::to_string(weight) + " is outside 1..10000");
  return cg.write("cpu.weight", std::to_string(weight));
}

Status set_cpus(const Cgroup& cg, double cpus) {
  BERTH_CHECK(set_max(cg, max_for_cpus(cpus)));
  return set_weight(cg, weight_for_cpus(cpus));
}

Result<Max> max(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("cpu.max"));
  return with_context(parse_max(text), cg.path() + "/cpu.max");
}

Result<uint64_t> weight(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("cpu.weight"));
  return with_context(parse_u64(text), cg.path() + "/cpu.weight");
}

Result<Stat> stat(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("cpu.stat"));
  return with_context(parse_stat(text), cg.path() + "/cpu.stat");
}

}  // namespace berth::cgroups::cpu
