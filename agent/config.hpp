// The agent's configuration (/etc/berth/agent.json). Every key has a default, so an empty
// object is a valid config; unknown keys and bad values are a startup error that names the
// key. All paths are overridable so tests can run several agents side by side in temp dirs.
// A plain value type, built once at startup and then only read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "isolators/userns/id_ranges.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::agent {

// How to reach one registry host ("host:port"). Credentials stay here: never logged, never
// shown by the API.
struct RegistryConfig {
  bool insecure = false;  // plain HTTP
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  std::string username;
  std::string password;
  std::vector<std::string> mirrors;  // host:port, tried in order before the host itself
};

struct Config {
  std::string socket = "/run/berth/berth.sock";
  std::string socket_group;              // group that may use the socket ("" = root's group)
  std::string run_dir = "/run/berth";    // runtime state: containers/<id>/{state.json,config.json}
  std::string state_dir = "/var/lib/berth";  // sandboxes/<id>/ (logs, overlay upper, records)
  std::string cgroup_root;               // "" = <cgroup2 mount><berthd's own cgroup>/berth
  std::string shim_path;                 // "" = berth-shim beside the berthd binary
  uint64_t log_max_size_mb = 10;         // defaults for a task's stdout/stderr rotation
  uint32_t log_max_files = 3;
  uint32_t launch_timeout_s = 30;
  uint32_t default_grace_period_s = 10;
  bool debug = false;
  std::map<std::string, RegistryConfig> registries;
  uint32_t pull_parallel_layers = 4;
  uint64_t gc_headroom_mb = 0;       // prune keeps at least this much free space
  uint64_t artifact_cache_mb = 1024;
  // Artifacts ("fetch" in a launch spec). file:// reads only beneath these absolute dirs
  // (none by default: file:// is off); byte budgets per artifact and per task.
  std::vector<std::string> fetch_file_roots;
  uint64_t fetch_artifact_max_mb = 1024;
  uint64_t fetch_task_max_mb = 4096;
  // Budgets of every unpack: image layers (pull, load) and extracted artifacts.
  uint64_t unpack_max_mb = 65536;          // uncompressed bytes of one layer
  uint64_t unpack_max_entries = 2000000;   // entries of one layer or archive
  uint64_t unpack_max_ratio = 100;         // uncompressed:compressed, 0 = unbounded ...
  uint64_t unpack_ratio_after_mb = 64;     // ... judged past this many uncompressed MiB
  uint64_t unpack_min_free_mb = 512;       // free space an unpack leaves on its file system
  // "userns": {"default": false, "pool": "1000000000-1999999999", "range_size": 65536}: the
  // host ids task user namespaces map to (keep the pool out of /etc/subuid and /etc/subgid).
  isolators::UserNamespaceConfig userns;
  isolators::NetworkConfig network;        // "network": default_mode

  std::string containers_run_dir() const { return run_dir + "/containers"; }
  std::string sandboxes_dir() const { return state_dir + "/sandboxes"; }
  // Removed sandboxes wait here for background removal (agent/trash.hpp); same fs as sandboxes.
  std::string trash_dir() const { return state_dir + "/trash"; }
  std::string store_dir() const { return state_dir + "/store"; }
  std::string artifacts_dir() const { return state_dir + "/artifacts"; }
  std::string userns_ranges_file() const { return state_dir + "/userns-ranges.json"; }
};

// Parses a config document; kInvalidArgument naming the bad key.
Result<Config> parse_config(const std::string& json_text);
// Reads and parses `path`; a missing file at the default path means all defaults.
Result<Config> load_config(const std::string& path, bool must_exist);

}  // namespace berth::agent
