// Human output for the berth CLI: aligned tables, relative times ("Up 3 minutes",
// "Exited (0) 2 seconds ago"), exit codes from termination records, events, node info, image
// sizes and digests.
// Pure functions of the API's JSON and an explicit "now", so they are unit-tested as is.
//
// Times in the API are RFC 3339 UTC with milliseconds ("2026-11-25T18:00:00.123Z"); "now" is
// passed in as milliseconds since the epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"

namespace berth::cli {

// Milliseconds since the epoch, or nullopt when `text` is not an RFC 3339 UTC time.
std::optional<int64_t> parse_time_ms(std::string_view text);
int64_t now_ms();

// "Less than a second", "1 second", "12 seconds", "About a minute", "3 minutes",
// "About an hour", "5 hours", "2 days", "3 weeks", "4 months", "2 years".
std::string human_duration(int64_t ms);

// Columns padded to their widest cell, three spaces apart; the last column is not padded.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// argv joined by spaces, arguments with spaces or quotes quoted, cut to `max` characters.
std::string command_text(const std::vector<std::string>& argv, size_t max = 40);


// The CLI's exit code for a termination record: the task's exit code, 128+signal when it was
// signalled, 125 when it failed to launch or its exit is unknown (lost).
int exit_code_of(const rapidjson::Value& record);

// "Up 3 minutes", "Exited (0) 2 seconds ago", "Exited (SIGKILL) 1 minute ago",
// "Failed (launch_failed) ...", "Lost ...", "Created".
std::string status_text(const rapidjson::Value& container, int64_t now);
std::string created_text(const rapidjson::Value& container, int64_t now);

// The `ps` table for {"containers": [...]}.
std::string format_ps(const rapidjson::Value& list, int64_t now);
// GET /v1/endpoints as a table: task, its name, port name, protocol, host ip:port, container
// port, the task's bridge address.
std::string format_endpoints(const rapidjson::Value& list);

// One human line per event: time, type, id, name and what matters for the type.
std::string format_event(const rapidjson::Value& event);

// The `info` summary.
std::string format_info(const rapidjson::Value& info);

// The `wait` summary of a termination record: "exited with code 0" etc.
std::string format_exit(const rapidjson::Value& record);

// Sizes in decimal units, three significant digits at most: "512 B", "1.5 kB", "12.3 MB",
// "123 MB", "1.0 GB".
std::string human_size(uint64_t bytes);

// "sha256:<hex>" → the first 12 hex digits (other text is returned cut to 12 characters).
std::string short_digest(std::string_view digest);

// "host/repo:tag (sha256:abcdef012345…, 3 layers, 12.3 MB)" for an image object.
std::string image_summary(const rapidjson::Value& image);

// The `images` table for {"images": [...]}: REF, DIGEST, LAYERS, SIZE, IN USE.
std::string format_images(const rapidjson::Value& list);

// What `prune` freed, one line, plus the images it removed and a note when the free space
// is still below the agent's gc_headroom_mb.
std::string format_prune(const rapidjson::Value& stats);

// Indented JSON (for inspect).
std::string pretty_json(const rapidjson::Value& v);

}  // namespace berth::cli
