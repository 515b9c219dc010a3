#include "cgroups/cpu.hpp"

#include <algorithm>
#include <cmath>

#include "cgroups/file_format.hpp"

namespace berth::cgroups::cpu {
namespace {

bool v1(const Cgroup& cg) { return cg.kind() == Kind::kV1; }

Result<uint64_t> read_u64(const Cgroup& cg, const char* file) {
  BERTH_TRY(std::string text, cg.read(file));
  return with_context(parse_u64(text), cg.path() + "/" + file);
}

std::string trimmed(std::string_view t) {
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
  return std::string(t);
}

}  // namespace

std::vector<std::string> limit_files(const Cgroup& cg) {
  if (v1(cg)) return {"cpu.cfs_quota_us", "cpu.shares"};
  return {"cpu.max", "cpu.weight"};
}

uint64_t shares_for_weight(uint64_t weight) {
  return std::clamp<uint64_t>(weight * 1024 / kDefaultWeight, 2, 262144);
}

uint64_t weight_for_shares(uint64_t shares) {
  return std::clamp<uint64_t>((shares * kDefaultWeight + 512) / 1024, kMinWeight, kMaxWeight);
}

Result<Max> parse_v1_max(std::string_view quota_text, std::string_view period_text) {
  Max m;
  BERTH_TRY_CTX(m.period_us, parse_u64(period_text), "cpu.cfs_period_us");
  if (trimmed(quota_text) == "-1") return m;
  BERTH_TRY_CTX(m.quota_us, parse_u64(quota_text), "cpu.cfs_quota_us");
  return m;
}

Result<Stat> parse_v1_usage(std::string_view usage_ns, std::string_view user_ns, std::string_view sys_ns) {
  Stat s;
  BERTH_TRY_CTX(uint64_t usage, parse_u64(usage_ns), "cpuacct.usage");
  BERTH_TRY_CTX(uint64_t user, parse_u64(user_ns), "cpuacct.usage_user");
  BERTH_TRY_CTX(uint64_t sys, parse_u64(sys_ns), "cpuacct.usage_sys");
  s.usage_usec = usage / 1000;
  s.user_usec = user / 1000;
  s.system_usec = sys / 1000;
  return s;
}

Status parse_v1_throttling(std::string_view text, Stat& into) {
  BERTH_TRY(auto keyed, parse_flat_keyed(text));
  into.nr_periods = find_key(keyed, "nr_periods");
  into.nr_throttled = find_key(keyed, "nr_throttled");
  auto ns = find_key(keyed, "throttled_time");
  if (!into.nr_periods || !ns) return make_error(Code::kInternal, "no 'nr_periods'/'throttled_time' in cpu.stat");
  into.throttled_usec = *ns / 1000;
  return ok();
}

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
  if (!v1(cg)) return cg.write("cpu.max", format_max(m));
  // A period the current quota does not fit is refused: lift the quota, set the period, cap.
  BERTH_CHECK(cg.write("cpu.cfs_quota_us", "-1"));
  BERTH_CHECK(cg.write("cpu.cfs_period_us", std::to_string(m.period_us)));
  return cg.write("cpu.cfs_quota_us", m.quota_us ? std::to_string(*m.quota_us) : "-1");
}

Status set_weight(const Cgroup& cg, uint64_t weight) {
  if (weight < kMinWeight || weight > kMaxWeight)
    return make_error(Code::kInvalidArgument,
                      "cpu weight " + std::to_string(weight) + " is outside 1..10000");
  if (v1(cg)) return cg.write("cpu.shares", std::to_string(shares_for_weight(weight)));
  return cg.write("cpu.weight", std::to_string(weight));
}

Status set_cpus(const Cgroup& cg, double cpus) {
  BERTH_CHECK(set_max(cg, max_for_cpus(cpus)));
  return set_weight(cg, weight_for_cpus(cpus));
}

Result<Max> max(const Cgroup& cg) {
  if (v1(cg)) {
    BERTH_TRY(std::string quota, cg.read("cpu.cfs_quota_us"));
    BERTH_TRY(std::string period, cg.read("cpu.cfs_period_us"));
    return with_context(parse_v1_max(quota, period), cg.path());
  }
  BERTH_TRY(std::string text, cg.read("cpu.max"));
  return with_context(parse_max(text), cg.path() + "/cpu.max");
}

Result<uint64_t> weight(const Cgroup& cg) {
  if (v1(cg)) {
    BERTH_TRY(uint64_t shares, read_u64(cg, "cpu.shares"));
    return weight_for_shares(shares);
  }
  BERTH_TRY(std::string text, cg.read("cpu.weight"));
  return with_context(parse_u64(text), cg.path() + "/cpu.weight");
}

Result<Stat> stat(const Cgroup& cg) {
  BERTH_TRY(std::string text, cg.read("cpu.stat"));
  return with_context(parse_stat(text), cg.path() + "/cpu.stat");
}

Result<Stat> stat(const TaskCgroups& task) {
  const Cgroup& acct = task.for_controller("cpuacct");
  if (!v1(acct)) return stat(task.for_controller("cpu"));
  BERTH_TRY(std::string usage, acct.read("cpuacct.usage"));
  BERTH_TRY(std::string user, acct.read("cpuacct.usage_user"));
  BERTH_TRY(std::string sys, acct.read("cpuacct.usage_sys"));
  BERTH_TRY_CTX(Stat s, parse_v1_usage(usage, user, sys), acct.path());
  const Cgroup& cpu = task.for_controller("cpu");
  if (v1(cpu)) {
    BERTH_TRY(std::string text, cpu.read("cpu.stat"));
    BERTH_CHECK_CTX(parse_v1_throttling(text, s), cpu.path());
  }
  return s;
}

}  // namespace berth::cgroups::cpu
