// TaskSpec: what a scheduler asks berthd to run (the body of POST /v1/containers), parsed
// from JSON that the launch schema has already checked, so everything here is well-formed;
// semantic checks that need the machine (does the rootfs exist, is the name free) happen at
// launch. The original JSON is kept verbatim for inspect. Plain value type.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "isolators/network/network_spec.hpp"
#include "isolators/resources.hpp"
#include "isolators/security.hpp"

namespace berth::agent {

struct Volume {
  std::string host_path;
  std::string container_path;
  bool read_only = false;
};

struct Rlimit {
  std::string name;  // "nofile"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// An artifact to place in the sandbox's work dir (/mnt/sandbox) before the task starts.
struct Fetch {
  std::string uri;  // http://, https://, file:///
  std::string sha256;
  bool extract = false;
  bool executable = false;
  std::string output;
};

using Resources = isolators::Resources;
using Policy = isolators::Policy;

struct TaskSpec {
  std::string name;
  std::string rootfs;  // exactly one of rootfs and image
  std::string image;
  std::vector<std::string> command;     // with rootfs: the argv; with image: replaces its Cmd
  std::optional<std::vector<std::string>> entrypoint;  // with image: replaces its Entrypoint
  std::map<std::string, std::string> env;
  std::string user;
  std::string working_dir;
  std::string hostname;
  std::vector<Rlimit> rlimits;
  std::vector<Volume> volumes;
  std::vector<Fetch> fetch;
  std::optional<uint64_t> log_max_size_mb;
  std::optional<uint32_t> log_max_files;
  std::map<std::string, std::string> labels;
  Resources resources;
  Policy policy;  // oom, kill_on, max_runtime_s
  isolators::Security security;  // capabilities, seccomp, devices, privileged, user namespace
  isolators::NetworkSpec network;  // "network": mode
  std::string json;  // the request as received, for inspect and checkpoints
};

// Validates against the launch schema and parses; kInvalidArgument naming the field.
Result<TaskSpec> parse_task_spec(const std::string& json_text);

// The body of POST /v1/containers/{id}/update: a "resources" object as in the launch spec,
// every field optional (the ones given replace the task's).
Result<Resources> parse_resources_update(const std::string& json_text);
// `spec_json` with its "resources" replaced by `r` (for checkpoints after an update).
std::string with_resources(const std::string& spec_json, const Resources& r);
// The limits of a task as JSON: resources and policy, only what was asked for.
std::string limits_json(const Resources& r, const Policy& p);

}  // namespace berth::agent
