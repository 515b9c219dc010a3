// berth: the command-line client of berthd. Everything lives in cli/commands.cpp so it can be
// tested; this file only hands over argv and what stdout is (a terminal, how wide).
#include <sys/ioctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // `berth logs -f | head` ends through a write error instead
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  berth::cli::Terminal term;
  const char* type = std::getenv("TERM");
  term.is_tty = ::isatty(STDOUT_FILENO) == 1 && !(type && std::strcmp(type, "dumb") == 0);
  struct winsize ws {};
  if (term.is_tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) term.columns = ws.ws_col;
  return berth::cli::run_cli(args, std::cout, std::cerr, term);
}
