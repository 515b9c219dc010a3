// The text formats of cgroup v2 interface files, as pure functions over text so they are
// unit-testable without a kernel (Documentation/admin-guide/cgroup-v2.rst, "Conventions"):
//   single value     "12345\n"                    memory.current, pids.current
//   max-or-value     "max\n" | "12345\n"          memory.max, pids.max
//   flat keyed       "key value\n..."             memory.events, cpu.stat, pids.events
// Parsers accept a missing trailing newline and reject anything else that is malformed: a
// value a kernel never writes is a bug worth surfacing, not a zero.
// No state; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::cgroups {

// A limit; std::nullopt is "max" (no limit).
using Limit = std::optional<uint64_t>;

Result<uint64_t> parse_u64(std::string_view text);
Result<Limit> parse_limit(std::string_view text);
std::string format_limit(const Limit& limit);

// "key value" lines into a map. Values must be unsigned integers.
Result<std::map<std::string, uint64_t>> parse_flat_keyed(std::string_view text);

// The value of `key`, or nullopt when the key is absent (older kernels omit newer keys).
std::optional<uint64_t> find_key(const std::map<std::string, uint64_t>& keyed,
                                 const std::string& key);

// `r`, with its error (if any) prefixed by `context`.
template <typename T>
Result<T> with_context(Result<T> r, const std::string& context) {
  if (r.has_value()) return r;
  return std::move(r).error().wrap(context);
}

}  // namespace berth::cgroups
