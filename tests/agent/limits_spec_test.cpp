// Limits in the launch spec, the update body, the checkpoint and the stats JSON.
#include <gtest/gtest.h>
#include <signal.h>

#include "agent/container.hpp"
#include "agent/stats.hpp"
#include "agent/task_spec.hpp"
#include "common/json.hpp"

namespace berth::agent {
namespace {

TEST(LimitsSpec, ParsesResourcesAndPolicy) {
  auto s = parse_task_spec(R"({"rootfs": "/r", "command": ["x"],
      "resources": {"cpus": 0.5, "cpuset": "0-1,3", "memory_mb": 64, "memory_high_mb": 48,
                    "memory_swap_mb": 0, "pids": 100, "disk_mb": 10},
      "oom": "process", "kill_on": ["pids"], "max_runtime_s": 30})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->resources.cpus, 0.5);
  EXPECT_EQ(s->resources.cpuset, "0-1,3");
  EXPECT_EQ(s->resources.memory_high_mb, 48u);
  EXPECT_EQ(s->resources.memory_swap_mb, 0u);
  EXPECT_FALSE(s->policy.oom_group);
  EXPECT_TRUE(s->policy.kill_on_pids);
  EXPECT_EQ(s->policy.max_runtime_s, 30u);
  auto d = parse_task_spec(R"({"rootfs": "/r", "command": ["x"]})");
  EXPECT_TRUE(d->policy.oom_group);  // the default
  EXPECT_FALSE(d->policy.kill_on_pids);
}

TEST(LimitsSpec, RefusesWhatCannotBeEnforced) {
  for (const char* bad : {R"({"rootfs": "/r", "command": ["x"], "oom": "sometimes"})",
                          R"({"rootfs": "/r", "command": ["x"], "kill_on": ["memory"]})",
                          R"({"rootfs": "/r", "command": ["x"], "max_runtime_s": 0})",
                          R"({"rootfs": "/r", "command": ["x"], "resources": {"cpuset": "all"}})"}) {
    auto s = parse_task_spec(bad);
    EXPECT_FALSE(s.has_value()) << bad;
  }
}

TEST(LimitsSpec, UpdateTakesPartialResourcesAndRewritesTheSpec) {
  auto u = parse_resources_update(R"({"memory_mb": 128})");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->memory_mb, 128u);
  EXPECT_FALSE(u->cpus.has_value());
  EXPECT_FALSE(parse_resources_update("{}").has_value());
  EXPECT_FALSE(parse_resources_update(R"({"memory_mb": 1})").has_value());
  EXPECT_FALSE(parse_resources_update(R"({"colour": 1})").has_value());

  auto s = parse_task_spec(R"({"rootfs": "/r", "command": ["x"], "resources": {"cpus": 1, "memory_mb": 64}})");
  Resources r = s->resources;
  r.apply(*u);
  auto again = parse_task_spec(with_resources(s->json, r));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->resources.memory_mb, 128u);
  EXPECT_EQ(again->resources.cpus, 1.0);
}

TEST(LimitsSpec, NetworkBandwidthParsesUpdatesAndRoundTrips) {
  auto s = parse_task_spec(R"({"rootfs": "/r", "command": ["x"],
      "resources": {"network": {"egress_mbit": 50, "ingress_mbit": 100000}}})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->resources.network.egress_mbit, 50u);
  EXPECT_EQ(s->resources.network.ingress_mbit, 100000u);
  EXPECT_TRUE(s->resources.any());

  auto u = parse_resources_update(R"({"network": {"egress_mbit": 10}})");
  ASSERT_TRUE(u.has_value()) << u.error().message;
  Resources r = s->resources;
  r.apply(*u);
  EXPECT_EQ(r.network.egress_mbit, 10u);
  EXPECT_EQ(r.network.ingress_mbit, 100000u);  // not named in the update: kept
  auto again = parse_task_spec(with_resources(s->json, r));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->resources.network, r.network);
  EXPECT_NE(limits_json(r, Policy{}).find(R"("network":{"egress_mbit":10,"ingress_mbit":100000})"), std::string::npos)
      << limits_json(r, Policy{});
}

TEST(LimitsSpec, NetworkBandwidthOutOfRangeIsRefusedNamingTheField) {
  for (const char* bad : {R"({"network": {"egress_mbit": 0}})", R"({"network": {"ingress_mbit": 100001}})",
                          R"({"network": {"egress_mbit": -5}})", R"({"network": {"egress_mbit": 1.5}})",
                          R"({"network": {"egress_mbit": "10"}})", R"({"network": {"egres_mbit": 10}})"}) {
    auto u = parse_resources_update(bad);
    ASSERT_FALSE(u.has_value()) << bad;
    EXPECT_EQ(u.error().code, Code::kInvalidArgument) << bad;
    EXPECT_NE(u.error().message.find("network"), std::string::npos) << bad << ": " << u.error().message;
  }
  auto empty = parse_resources_update(R"({"network": {}})");
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message.find("names no resource"), std::string::npos) << empty.error().message;
}

TEST(LimitsSpec, TerminationKeepsLimitsAndUsageThroughACheckpoint) {
  ContainerRecord r;
  r.id = "abc";
  r.spec = parse_task_spec(R"({"rootfs": "/r", "command": ["x"], "resources": {"memory_mb": 32}})").value();
  r.state = State::kExited;
  r.limit_reason = "memory_limit";
  r.limit_message = "ran out";
  r.exit = Termination{"memory_limit", std::nullopt, SIGKILL, "m", 1, 2};
  Resources limits;
  limits.memory_mb = 32;
  r.exit->limits = limits_json(limits, Policy{});
  isolators::Usage u;
  u.cgroup.memory_events = cgroups::memory::Events{0, 0, 5, 1, 1, 1};
  u.cgroup.memory_peak = 1234;
  r.exit->usage = usage_json(u);
  auto back = parse_checkpoint(checkpoint_json(r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->limit_reason, "memory_limit");
  auto t = json::parse(termination_json(*back->exit));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ((*t)["limits"]["memory_mb"].GetUint64(), 32u);
  EXPECT_EQ(json::get_string((*t)["limits"], "oom"), "group");
  EXPECT_EQ((*t)["usage"]["memory"]["events"]["oom_group_kill"].GetUint64(), 1u);
  EXPECT_EQ((*t)["usage"]["memory"]["peak_bytes"].GetUint64(), 1234u);
  EXPECT_TRUE((*t)["usage"]["memory"]["limit_bytes"].IsNull());
}

TEST(LimitsSpec, StatsPutLimitsNextToUsage) {
  isolators::Usage u;
  u.cgroup.cpu_max = cgroups::cpu::Max{50000, 100000};
  u.cgroup.cpu_stat = cgroups::cpu::Stat{100, 60, 40, 10, 3, 500};
  u.cgroup.memory_max = cgroups::Limit{64u << 20};
  u.cgroup.pids_max = cgroups::Limit{};  // "max"
  u.disk_used_bytes = 4096;
  u.disk_limit_bytes = 1u << 20;
  auto d = json::parse(usage_json(u));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ((*d)["cpu"]["limit_cpus"].GetDouble(), 0.5);
  EXPECT_EQ((*d)["cpu"]["nr_throttled"].GetUint64(), 3u);
  EXPECT_EQ((*d)["memory"]["limit_bytes"].GetUint64(), 64u << 20);
  EXPECT_TRUE((*d)["pids"]["limit"].IsNull());
  EXPECT_EQ((*d)["disk"]["used_bytes"].GetUint64(), 4096u);
}

}  // namespace
}  // namespace berth::agent
