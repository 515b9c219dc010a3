// The JSON of a task's network (isolators::TaskNetwork, what the network isolator answered at
// prepare): in inspect ("network"), in checkpoints, in the container.started event, and the
// node's port mappings (GET /v1/endpoints, `berth endpoints`):
//   {"mode": "bridge", "address": "10.88.0.2",
//    "ports": [{"name": "http", "protocol": "tcp", "container_port": 8080,
//               "host_ip": "0.0.0.0", "host_port": 20000}]}
// Plain value code; no threading concerns.
#pragma once

#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::agent {

struct ContainerRecord;

void write_task_network(json::JsonWriter& w, const isolators::TaskNetwork& n);
Result<isolators::TaskNetwork> parse_task_network(const rapidjson::Value& v);
// {"endpoints": [{"task_id", "task_name", "port_name", "protocol", "container_port",
//   "host_ip", "host_port", "address"}]}: every mapping of the given tasks.
std::string endpoints_json(const std::vector<ContainerRecord>& tasks);

}  // namespace berth::agent
