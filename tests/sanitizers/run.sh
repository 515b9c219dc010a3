#!/bin/bash
# Runs one test command of a sanitizer build (make SAN=asan|tsan) so that any finding fails it.
#
#   tests/sanitizers/run.sh asan|tsan REPORT_DIR -- COMMAND ARGS...
#
# Every sanitized process the command starts — the test binary, the berthd and berth CLI it
# runs, their children — halts on its first finding and writes the report to a file of its own
# in a fresh dir under REPORT_DIR (the log_path option), instead of to a stderr that the
# integration harness throws away with berthd's log. The command fails when it fails or when
# any report was written, even by a process nobody waited for (berthd's leak check at exit).
# The reports are printed and kept.
# UBSan is the exception: GCC links it as a separate runtime beside ASan's that ignores
# log_path, so its reports go to stderr. It still halts the process: a test binary fails with
# the report in its output, and berthd's report is in its log, which the integration harness
# prints when berthd does not stop cleanly (tests/integration/harness.cpp, Agent::stop).
set -uo pipefail

usage() { echo "usage: run.sh asan|tsan REPORT_DIR -- COMMAND ARGS..." >&2; exit 2; }
[ $# -ge 4 ] && [ "$3" = "--" ] || usage
san=$1 reports=$2
shift 3
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$reports"
dir=$(mktemp -d "$reports/$(basename "$1").XXXXXX")
case "$san" in
  asan)
    # halt_on_error: the first error ends the process (UBSan: -fno-sanitize-recover=all too).
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:log_path=$dir/asan:strict_init_order=1:check_initialization_order=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
    ;;
  tsan)
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$dir/tsan:suppressions=$here/tsan.supp:print_suppressions=0"
    ;;
  *) usage ;;
esac

"$@"
rc=$?
found=$(find "$dir" -type f | sort)
if [ -n "$found" ]; then
  for f in $found; do
    echo "=== $san report: $f"
    cat "$f"
  done
  echo "run.sh: $san found problems in '$*' (reports in $dir)" >&2
  [ "$rc" -eq 0 ] && rc=1
else
  rmdir "$dir"
fi
exit "$rc"
