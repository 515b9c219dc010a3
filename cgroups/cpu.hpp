// The cpu controller of one cgroup: a bandwidth limit (cpu.max "quota period": at most
// `quota` µs of CPU time per `period` µs, summed over all CPUs), a share under contention
// (cpu.weight, 1..10000, default 100) and usage (cpu.stat).
// berth expresses both from one number, `cpus`: 0.5 cpus is "50000 100000" and weight 50;
// 2 cpus is "200000 100000" and weight 200. cpu.stat's usage keys exist without the cpu
// controller (cgroup core accounts them); the throttling keys only with it, hence optional.
// On cgroup v1 (Cgroup::kind()) the same functions use cpu.cfs_quota_us/cpu.cfs_period_us
// (max; quota -1 is no limit) and cpu.shares (weight scaled: weight 100 = 1 cpu = 1024 shares).
// Usage on v1 lives in the cpuacct hierarchy and throttling in the cpu one, which may be two
// hierarchies: stat() takes the task's TaskCgroups and picks both directories.
// Functions are stateless over a Cgroup; thread-safe as far as the Cgroup is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/cgroup.hpp"
#include "cgroups/task_cgroups.hpp"
#include "common/result.hpp"

namespace berth::cgroups::cpu {

inline constexpr uint64_t kDefaultPeriodUs = 100000;
inline constexpr uint64_t kMinQuotaUs = 1000;  // the kernel refuses less
inline constexpr uint64_t kMinWeight = 1;
inline constexpr uint64_t kMaxWeight = 10000;
inline constexpr uint64_t kDefaultWeight = 100;

struct Max {
  std::optional<uint64_t> quota_us;  // nullopt: "max", no limit
  uint64_t period_us = kDefaultPeriodUs;
  bool operator==(const Max&) const = default;
};

struct Stat {
  uint64_t usage_usec = 0;
  uint64_t user_usec = 0;
  uint64_t system_usec = 0;
  std::optional<uint64_t> nr_periods;      // only with the cpu controller enabled
  std::optional<uint64_t> nr_throttled;
  std::optional<uint64_t> throttled_usec;
  bool operator==(const Stat&) const = default;
};

// The cpu.max for `cpus` CPUs; cpus <= 0 means no limit. Quota is rounded to whole µs and
// raised to kMinQuotaUs.
Max max_for_cpus(double cpus, uint64_t period_us = kDefaultPeriodUs);
// cpu.weight proportional to `cpus` (1 cpu = the default 100), clamped to 1..10000.
uint64_t weight_for_cpus(double cpus);

std::string format_max(const Max& m);
Result<Max> parse_max(std::string_view cpu_max_text);
Result<Stat> parse_stat(std::string_view cpu_stat_text);
// v1: cpu.cfs_quota_us ("-1" or µs) and cpu.cfs_period_us.
Result<Max> parse_v1_max(std::string_view quota_text, std::string_view period_text);
// v1: cpuacct.usage, cpuacct.usage_user and cpuacct.usage_sys (ns) into usage/user/system µs.
Result<Stat> parse_v1_usage(std::string_view usage_ns, std::string_view user_ns, std::string_view sys_ns);
// v1: the cpu hierarchy's cpu.stat (nr_periods, nr_throttled, throttled_time ns) into `into`.
Status parse_v1_throttling(std::string_view cpu_stat_text, Stat& into);
uint64_t shares_for_weight(uint64_t weight);
// The interface files set_cpus writes here (for snapshots to undo a change).
std::vector<std::string> limit_files(const Cgroup& cg);
uint64_t weight_for_shares(uint64_t shares);

Status set_max(const Cgroup& cg, const Max& m);
Status set_weight(const Cgroup& cg, uint64_t weight);
// Both of the above from one `cpus` figure.
Status set_cpus(const Cgroup& cg, double cpus);

Result<Max> max(const Cgroup& cg);
Result<uint64_t> weight(const Cgroup& cg);
Result<Stat> stat(const Cgroup& cg);
// Usage and throttling of a task, from whichever hierarchies serve cpu and cpuacct.
Result<Stat> stat(const TaskCgroups& task);

}  // namespace berth::cgroups::cpu
