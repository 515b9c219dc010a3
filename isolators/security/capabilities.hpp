// Capability sets (names: sandbox/capability_names.hpp): the conventional default set every
// confined task gets, and the set a task's "security" object asks for (the default plus `add`, minus `drop`; "ALL" in either means every capability;
// privileged means all). A set is a 64-bit mask, bit n = capability n, as capset(2) and
// /proc/<pid>/status show it. Plain functions over constant tables; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "isolators/security.hpp"
#include "sandbox/capability_names.hpp"

namespace berth::isolators {

using sandbox::CapabilitySet;
using sandbox::capability_name;
using sandbox::capability_number;
using sandbox::kAllCapabilities;

// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
// NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP (Docker's, Podman's and containerd's set).
CapabilitySet default_capabilities();

bool has_capability(CapabilitySet set, int number);

// Every name in `caps` is known or "ALL"; otherwise kInvalidArgument naming the field and
// the name (field is a JSON pointer such as "/security/capabilities/add/0").
Status check_capabilities(const Capabilities& caps);
// The task's set: all when privileged, else default + add - drop (drop "ALL" starts from
// none, then add; add "ALL" is every capability). `caps` has passed check_capabilities.
CapabilitySet capability_set(const Security& security);

}  // namespace berth::isolators
