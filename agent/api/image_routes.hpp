// The image routes of the v1 API: pull (progress as JSON lines), list, remove, prune, load.
#pragma once

#include "agent/api/server.hpp"
#include "agent/containers.hpp"
#include "agent/images.hpp"

namespace berth::api {

void register_image_routes(Server& server, const agent::Containers& containers, agent::Images& images);

}  // namespace berth::api
