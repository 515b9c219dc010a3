// berth-shim: one per task. It starts the task (launcher.hpp), becomes its parent and child
// subreaper, copies its stdout/stderr into rotating files in the sandbox, and when the task
// ends waits for its cgroup to empty, drains the output to EOF and writes exit.json.
// It keeps running when berthd dies; berthd finds it again by pid + start time.
//
// Contract with berthd (berth-shim --bundle <dir>):
//   <dir>/config.json  OCI spec (parse_oci_spec)      <dir>/shim.json  ShimConfig
//   fd 3               status pipe: one JSON line, then closed:
//                      {"pid": N, "start_time": T} once the task exec'd, or {"error": "..."}
//   fd 4               release pipe: the task, cloned, is held before its first step until
//                      one byte arrives (berthd finishes preparing it meanwhile); EOF without
//                      it fails the launch. No fd 4: the task is not held.
//   <dir>/shim.log     the shim's own diagnostics (its stderr)
//   <sandbox>/stdout, stderr (+ .1 .2 ...), <sandbox>/exit.json (ExitRecord)
// Exit status: 0 once exit.json is written (also for a failed launch), 1 when not even that
// was possible (unreadable shim.json, no sandbox directory).
// Single-threaded: one epoll loop over the two pipes, the task's pidfd and a signalfd.
#pragma once

#include <sys/types.h>

#include <string>

namespace berth::sandbox::shim {

// Everything after process setup (main.cpp did setsid, stdio and signal dispositions).
int run(const std::string& bundle_dir, int status_fd, int release_fd);

// berth-shim --exec (exec_mode.cpp): reads an ExecRequest from control_fd to EOF, runs it in
// the task `pid` (started at `start_time`) of bundle_dir with fds 0-2 as its stdio, and writes
// one line to control_fd: {"exit_code": N | "signal": N, "timed_out": bool} or
// {"error": "...", "code": "invalid_argument"}. 0 when the command ran.
int run_exec(const std::string& bundle_dir, pid_t pid, unsigned long long start_time, int control_fd);

// One diagnostic line to stderr (shim.log), with a UTC timestamp.
void diag(const std::string& message);

}  // namespace berth::sandbox::shim
