// A network namespace kept alive by a bind mount of it on a file (as `ip netns add` does),
// so the network isolator can configure it in prepare (before the task exists) and the task
// joins it by path. create() makes a new, empty namespace from a short-lived thread (so no
// berthd thread stays in it) and runs `inside` there, in the new namespace (to open a netlink
// socket in it without another thread and setns); remove() unmounts and unlinks (ok when
// already gone).
// Threading: any thread; each call works on its own path.
#pragma once

#include <functional>
#include <string>

#include "common/result.hpp"

namespace berth::isolators {

Status create_netns_file(const std::string& path, const std::function<Status()>& inside = {});
Status remove_netns_file(const std::string& path);

}  // namespace berth::isolators
