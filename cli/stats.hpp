// `berth stats`: usage next to limits for running tasks, as a table like top. CPU% is the
// change of cpu usage_usec between two samples over their wall-clock distance, so a table
// needs a previous sample (the first one shows "-"). Pure formatting; thread-safe.
#pragma once

#include <map>
#include <string>

#define RAPIDJSON_HAS_STDSTRING 1
#include <rapidjson/document.h>

namespace berth::cli {

// usage_usec per container id, from a GET /v1/stats reply.
std::map<std::string, uint64_t> cpu_usage_by_id(const rapidjson::Value& stats);

// The table for a GET /v1/stats reply; `prev` and `interval_s` give CPU%.
std::string format_stats(const rapidjson::Value& stats, const std::map<std::string, uint64_t>& prev,
                         double interval_s);

}  // namespace berth::cli
