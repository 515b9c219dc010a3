// check_security: the checks of a task's "security" object that a JSON schema cannot express,
// made when the launch spec is parsed so a mistake is a 400 naming the field and nothing is
// created: capability names, sysctls (only those the task's own namespaces scope), device
// rules, and a custom seccomp profile (parsed and compiled once to prove it loads).
// Plain function; thread-safe.
#pragma once

#include <string>

#include "common/result.hpp"
#include "isolators/security.hpp"

namespace berth::isolators {

// Whether the sysctl `name` is scoped by a namespace every berth task has of its own: net.*
// (its own network namespace), kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* (its own
// IPC namespace). Anything else would change the host.
bool sysctl_is_namespaced(const std::string& name);

Status check_security(const Security& security);

}  // namespace berth::isolators
