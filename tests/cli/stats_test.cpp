#include "cli/stats.hpp"

#include <gtest/gtest.h>

#include "common/json.hpp"

namespace berth::cli {
namespace {

const char* kStats = R"({"containers": [{"id": "0123456789abcdef", "name": "web", "state": "running",
  "limits": {"cpus": 0.5, "memory_mb": 64},
  "usage": {"cpu": {"usage_usec": 3000000, "throttled_usec": 1500000, "limit_cpus": 0.5, "weight": 50},
            "memory": {"current_bytes": 1048576, "peak_bytes": 2097152, "limit_bytes": 67108864,
                       "events": {"oom_kill": 2}},
            "pids": {"current": 3, "limit": 50, "events": {"max": 0}},
            "disk": {"used_bytes": 4096, "limit_bytes": null},
            "runtime": {}, "pressure": {},
            "network": {"rx_bytes": 2048, "tx_bytes": 3145728, "egress_limit_mbit": 10}}}]})";

TEST(StatsTable, ShowsUsageNextToLimits) {
  auto doc = json::parse(kStats);
  ASSERT_TRUE(doc.has_value());
  std::map<std::string, uint64_t> prev{{"0123456789abcdef", 2000000}};
  std::string t = format_stats(*doc, prev, 2.0);  // 1 s of CPU in 2 s
  EXPECT_NE(t.find("0123456789ab "), std::string::npos) << t;
  EXPECT_NE(t.find("50.0"), std::string::npos) << t;
  EXPECT_NE(t.find("0.50"), std::string::npos) << t;
  EXPECT_NE(t.find("1.5s"), std::string::npos) << t;
  EXPECT_NE(t.find("1.0MiB / 64.0MiB"), std::string::npos) << t;
  EXPECT_NE(t.find("3 / 50"), std::string::npos) << t;
  EXPECT_NE(t.find("4.0KiB / max"), std::string::npos) << t;
  EXPECT_NE(t.find("2.0KiB / 3.0MiB"), std::string::npos) << t;  // received / sent
  EXPECT_EQ(cpu_usage_by_id(*doc).at("0123456789abcdef"), 3000000u);
}

TEST(StatsTable, FirstSampleHasNoCpuPercent) {
  auto doc = json::parse(kStats);
  std::string t = format_stats(*doc, {}, 2.0);
  EXPECT_EQ(t.find("50.0"), std::string::npos) << t;
}

}  // namespace
}  // namespace berth::cli
