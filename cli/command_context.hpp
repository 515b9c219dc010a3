// What every berth command gets: the client, the global options, where to write, and the few
// helpers that keep exit codes and error lines the same across commands (see commands.hpp).
// Internal to cli/: commands.cpp and image_commands.cpp share it.
#pragma once

#include <climits>
#include <ostream>
#include <string>

#include <unistd.h>

#include "cli/args.hpp"
#include "cli/client.hpp"
#include "cli/commands.hpp"

namespace berth::cli {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBerthError = 125;

struct Context {
  Client client;
  bool json = false;
  Terminal terminal;
  std::ostream& out;
  std::ostream& err;
};

inline int fail(Context& ctx, const Error& e, int code = kExitFailure) {
  ctx.err << "berth: " << e.message << "\n";
  ctx.err.flush();
  return code;
}

inline int usage_error(std::ostream& err, const Error& e) {
  err << "berth: " << e.message << "\n";
  return kExitUsage;
}

// berthd resolves paths in its own working directory, so the CLI sends absolute ones.
inline std::string absolute_path(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof(cwd))) return std::string(cwd) + "/" + path;
  return path;
}

// Image commands (image_commands.cpp).
int cmd_pull(Context& ctx, const Args& args);
int cmd_images(Context& ctx, const Args& args);
int cmd_rmi(Context& ctx, const Args& args);
int cmd_prune(Context& ctx, const Args& args);
int cmd_load(Context& ctx, const Args& args);

}  // namespace berth::cli
