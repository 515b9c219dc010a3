#include "agent/container.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include "agent/task_network.hpp"
#include "common/json.hpp"

namespace berth::agent {
namespace {

ContainerRecord sample() {
  ContainerRecord r;
  r.id = "0123456789abcdef";
  r.name = "web-1";
  r.state = State::kRunning;
  r.created_at_ns = 1764093600123000000;
  r.started_at_ns = 1764093600200000000;
  r.spec = parse_task_spec(R"({"name": "web-1", "rootfs": "/r", "command": ["sleep", "9"], "labels": {"t": "w"}})").value();
  r.shim_pid = 100;
  r.shim_start_time = 5555;
  r.pid = 101;
  r.pid_start_time = 5556;
  r.bundle_dir = "/run/berth/containers/0123456789abcdef";
  r.sandbox_dir = "/var/lib/berth/sandboxes/0123456789abcdef";
  r.cgroup = "/sys/fs/cgroup/berth/containers/0123456789abcdef";
  return r;
}

TEST(Checkpoint, RoundTripsARunningTask) {
  ContainerRecord r = sample();
  auto back = parse_checkpoint(checkpoint_json(r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->state, State::kRunning);
  EXPECT_EQ(back->shim_pid, 100);
  EXPECT_EQ(back->shim_start_time, 5555u);
  EXPECT_EQ(back->pid, 101);
  EXPECT_EQ(back->pid_start_time, 5556u);
  EXPECT_EQ(back->spec.command, r.spec.command);
  EXPECT_EQ(back->spec.labels.at("t"), "w");
  EXPECT_EQ(back->cgroup, r.cgroup);
  EXPECT_FALSE(back->exit.has_value());
}

TEST(Checkpoint, KeepsTheCniResultAndInspectShowsIt) {
  ContainerRecord r = sample();
  r.network = isolators::TaskNetwork{isolators::NetworkMode::kCni, 0x0a160005u, {}, "0.0.0.0"};
  r.network->cni_name = "net1";
  r.network->cni_result = R"({"ips":[{"address":"10.22.0.5/24"}]})";
  auto back = parse_checkpoint(checkpoint_json(r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  ASSERT_TRUE(back->network.has_value());
  EXPECT_EQ(back->network->cni_name, "net1");
  EXPECT_EQ(back->network->cni_result, r.network->cni_result);
  std::string shown = container_json(*back);
  EXPECT_NE(shown.find(R"("mode":"cni")"), std::string::npos) << shown;
  EXPECT_NE(shown.find(R"("name":"net1","cni":{"ips":[{"address":"10.22.0.5/24"}]})"), std::string::npos) << shown;
}

TEST(Checkpoint, RoundTripsTheTasksNetworkAndInspectAndEndpointsShowIt) {
  ContainerRecord r = sample();
  r.network = isolators::TaskNetwork{isolators::NetworkMode::kBridge, 0x0a580002, {{"http", 8080, 21000, "tcp"}},
                                     "192.0.2.1"};
  auto back = parse_checkpoint(checkpoint_json(r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  ASSERT_TRUE(back->network.has_value());
  EXPECT_EQ(back->network->mode, isolators::NetworkMode::kBridge);
  EXPECT_EQ(back->network->address, 0x0a580002u);
  EXPECT_EQ(back->network->host_ip, "192.0.2.1");
  ASSERT_EQ(back->network->ports.size(), 1u);
  EXPECT_EQ(back->network->ports[0].host_port, 21000);
  EXPECT_EQ(back->network->ports[0].container_port, 8080);
  EXPECT_NE(container_json(r).find(R"("network":{"mode":"bridge","address":"10.88.0.2","ports":[{"name":"http",)"
                                   R"("protocol":"tcp","container_port":8080,"host_ip":"192.0.2.1","host_port":21000}]})"),
            std::string::npos)
      << container_json(r);
  EXPECT_EQ(endpoints_json({r, sample()}),
            R"({"endpoints":[{"task_id":"0123456789abcdef","task_name":"web-1","port_name":"http","protocol":"tcp",)"
            R"("container_port":8080,"host_ip":"192.0.2.1","host_port":21000,"mode":"bridge","address":"10.88.0.2"}]})");
}

TEST(Checkpoint, RoundTripsATerminationRecord) {
  ContainerRecord r = sample();
  r.state = State::kExited;
  r.kill_requested = true;
  r.exit = Termination{"killed", std::nullopt, SIGKILL, "terminated by SIGKILL", 1, 2};
  auto back = parse_checkpoint(checkpoint_json(r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  ASSERT_TRUE(back->exit.has_value());
  EXPECT_EQ(back->exit->reason, "killed");
  EXPECT_FALSE(back->exit->exit_code.has_value());
  EXPECT_EQ(back->exit->signal, SIGKILL);
  EXPECT_TRUE(back->kill_requested);
}

TEST(Checkpoint, RefusesOtherVersionsAndGarbage) {
  auto newer = parse_checkpoint(R"({"version": 2, "id": "x", "state": "running"})");
  ASSERT_FALSE(newer.has_value());
  EXPECT_NE(newer.error().message.find("version 2 is not supported"), std::string::npos);
  EXPECT_FALSE(parse_checkpoint("{\"version\": 1, \"id\": \"x\"").has_value());
  EXPECT_FALSE(parse_checkpoint(R"({"version": 1, "id": "x", "state": "dancing"})").has_value());
}

TEST(ContainerJson, ShowsTheApiShape) {
  ContainerRecord r = sample();
  auto doc = json::parse(container_json(r));
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(json::get_string(*doc, "state"), "running");
  EXPECT_EQ(json::get_int(*doc, "pid"), 101);
  EXPECT_EQ(json::get_string(*doc, "created_at"), "2025-11-25T18:00:00.123Z");
  EXPECT_TRUE((*doc)["exit"].IsNull());
  EXPECT_EQ((*doc)["spec"]["command"][0].GetString(), std::string("sleep"));
}

TEST(Termination, SignalIsNamedAndCodeIsNull) {
  auto doc = json::parse(termination_json(Termination{"killed", std::nullopt, SIGKILL, "m", 0, 0}));
  ASSERT_TRUE(doc.has_value());
  EXPECT_TRUE((*doc)["exit_code"].IsNull());
  EXPECT_EQ(json::get_string(*doc, "signal"), "SIGKILL");
}

}  // namespace
}  // namespace berth::agent
