// The v1 API routes (docs/API.md) on top of api::Server. Handlers validate input, log who
// asked for every state-changing call (SO_PEERCRED uid/pid), call into Containers and map
// results to HTTP. Handlers run on the server's connection threads.
#pragma once

#include "agent/containers.hpp"
#include "agent/events.hpp"
#include "agent/images.hpp"
#include "agent/api/server.hpp"

namespace berth::api {

void register_routes(Server& server, agent::Containers& containers, agent::EventBus& events,
                     agent::Images& images);

}  // namespace berth::api
