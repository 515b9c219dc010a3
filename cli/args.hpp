// Command-line parsing for the berth CLI: global options, then one options struct per command.
// Pure functions over argument vectors (no I/O, no environment unless passed in), so every
// rule is unit-tested without a daemon.
//
// Invariants: a parse either returns a complete options struct or an kInvalidArgument Error
// whose message names the offending argument and says what is expected.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/security_options.hpp"
#include "common/result.hpp"

namespace berth::cli {

using Args = std::vector<std::string>;

struct GlobalOptions {
  std::string socket;     // empty: default_socket_path()
  bool json = false;
  bool help = false;
  bool version = false;
  std::string command;    // "run", "ps", ...; empty with help/version
  Args args;              // the command's own arguments
};
Result<GlobalOptions> parse_global(const Args& argv);  // argv without the program name

// One --fetch: "URI[,sha256=HEX][,extract][,executable][,output=NAME]". A comma inside the URI
// is written %2C (the URI is passed on as is).
struct FetchOption {
  std::string uri, sha256, output;
  bool extract = false, executable = false;
  bool operator==(const FetchOption&) const = default;
};
Result<FetchOption> parse_fetch(const std::string& text);

// One -p/--publish: "[HOST:]CONTAINER[/PROTO]" (HOST 0 or absent: any free host port).
struct PortOption {
  long host_port = 0, container_port = 0;
  std::string protocol = "tcp";
  bool operator==(const PortOption&) const = default;
};
Result<PortOption> parse_port_option(const std::string& text);

struct RunOptions {
  bool detach = false;
  bool remove = false;    // --rm: remove the container once it ended (attached only)
  std::string name, rootfs, image, user, workdir, hostname;
  std::string network;    // --network MODE: "none", "host", "bridge" (berthd checks it)
  std::vector<PortOption> ports;  // -p, in order (berthd names them port0, port1, ...)
  std::map<std::string, std::string> env, labels;
  // --entrypoint, one argument each; a lone --entrypoint "" clears the image's entrypoint.
  std::optional<Args> entrypoint;
  std::vector<FetchOption> fetch;
  // Limits (berthd checks their ranges and that the node can enforce them).
  std::optional<double> cpus;
  std::optional<long> memory_mb, pids, disk_mb, max_runtime_s;
  SecurityOptions security;  // --privileged, --cap-add, --security-opt, ... (security_options.hpp)
  Args command;           // required with rootfs; with image it replaces the image's Cmd
};
// `lookup_env` resolves "--env NAME" (no '=') from the CLI's own environment.
Result<RunOptions> parse_run(const Args& args,
                             const std::function<std::optional<std::string>(const std::string&)>&
                                 lookup_env = nullptr);
// The launch spec of docs/API.md (POST /v1/containers).
std::string run_spec_json(const RunOptions& o);

struct PsOptions { bool all = false; bool quiet = false; };
Result<PsOptions> parse_ps(const Args& args);

struct LogsOptions {
  bool follow = false;
  std::optional<long> tail;
  bool stderr_stream = false;
  std::string id;
};
Result<LogsOptions> parse_logs(const Args& args);
std::string logs_target(const std::string& id, const std::string& stream, bool follow,
                        std::optional<long> tail);

struct KillOptions {
  std::string signal;             // empty: the server's default (SIGTERM)
  std::optional<long> grace_s;    // empty: the server's default (10)
  std::string id;
};
Result<KillOptions> parse_kill(const Args& args);
std::string kill_body(const KillOptions& o);

// berth exec [--user U] [--workdir D] [--env K=V]... [--timeout S] ID [--] CMD...
struct ExecOptions {
  std::string id, user, workdir;
  std::map<std::string, std::string> env;
  std::optional<long> timeout_s;  // empty: the server's default (60)
  Args command;
};
Result<ExecOptions> parse_exec(const Args& args,
                               const std::function<std::optional<std::string>(const std::string&)>& lookup_env = nullptr);
// The body of POST /v1/containers/{id}/exec (docs/API.md).
std::string exec_body(const ExecOptions& o);

struct RmOptions { bool force = false; Args ids; };
Result<RmOptions> parse_rm(const Args& args);

// Image commands. Refs are passed to berthd as typed; it checks them.
struct PullOptions { std::string ref; };
Result<PullOptions> parse_pull(const Args& args);

struct ImagesOptions { bool quiet = false; };
Result<ImagesOptions> parse_images(const Args& args);

struct RmiOptions { Args refs; };
Result<RmiOptions> parse_rmi(const Args& args);

struct LoadOptions { std::string dir, ref, ref_name; };
Result<LoadOptions> parse_load(const Args& args);
std::string load_body(const LoadOptions& o);  // dir must already be absolute

struct EventsOptions { std::optional<unsigned long long> since; };
Result<EventsOptions> parse_events(const Args& args);

// For commands taking exactly one container id or name (inspect, wait).
Result<std::string> parse_single_id(const std::string& command, const Args& args);
Status parse_no_args(const std::string& command, const Args& args);

// The CLI's usage text.
std::string usage();

}  // namespace berth::cli
