// Running one CNI plugin binary (the CNI spec's "plugin execution protocol"): the plugin is
// executed directly (no shell) with the CNI_* environment, the network configuration on its
// stdin and its result (or error object) read from its stdout, all through pipes, within a
// deadline after which it is killed. A plugin that exits non-zero is an error carrying the
// plugin's own message (CNI error object {"code", "msg", "details"}, or its stderr).
//
// The plugin runs under a short-lived waiter process that reports its exit status through a
// pipe: berthd reaps its shims with waitpid(-1), which would otherwise take it.
// Threading: any thread; every call owns its child and its pipes.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::isolators {

struct CniExec {
  std::string path;              // the plugin binary
  std::vector<std::string> env;  // "KEY=VALUE", the whole environment
  std::string stdin_text;        // the network configuration
  std::chrono::milliseconds timeout{10000};
};

// The most a plugin may write to stdout / stderr before it counts as broken.
inline constexpr size_t kCniMaxOutput = 1 << 20;
inline constexpr size_t kCniMaxStderr = 64 * 1024;

// The plugin's stdout when it exits 0. Errors: kUnavailable when it did not finish within
// the timeout (it is killed, with whatever it started in its process group), kInternal when
// it failed (its message), could not be started or wrote more than kCniMaxOutput.
Result<std::string> exec_cni_plugin(const CniExec& e);

// The message of a CNI error object ("msg: details (code N)"), or `fallback` when `out` is
// not one.
std::string cni_error_message(const std::string& out, const std::string& fallback);

}  // namespace berth::isolators
