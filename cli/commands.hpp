// The berth CLI's commands: each parses its arguments (args.hpp), talks to berthd through a
// Client and prints tables (format.hpp) or, with --json, the API's own JSON.
//
// Exit codes: 0 on success; 1 when berthd refused or failed a request (a failed pull, any
// failed ref of `rmi`); 2 on a usage error;
// `run` (attached) and `wait` exit with the task's code (128+signal when signalled, 125 when it
// could not be launched or berth itself failed). Errors go to `err` as "berth: <message>".
//
// Threading: an attached `run` follows stdout and stderr on two threads, each writing only to
// its own stream (`out` resp. `err`).
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace berth::cli {

// What `out` is connected to: `pull` redraws its progress in place on a terminal and prints
// plain lines otherwise.
struct Terminal {
  bool is_tty = false;
  size_t columns = 80;
};

// Runs the CLI with argv (without the program name) and returns the process exit code.
int run_cli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
            Terminal terminal = {});

}  // namespace berth::cli
