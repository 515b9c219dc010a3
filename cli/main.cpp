// berth: the command-line client of berthd. Everything lives in cli/commands.cpp so it can be
// tested; this file only hands over argv.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // `berth logs -f | head` ends through a write error instead
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  return berth::cli::run_cli(args, std::cout, std::cerr);
}
