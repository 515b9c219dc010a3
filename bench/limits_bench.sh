#!/bin/bash
# Cost of limits (bench/limits_bench.cpp): launch latency with and without cpu+memory+pids
# limits and berthd's CPU time per stats collection for 100 tasks, in the cgroup v2 VM
# (tests/vm/run.sh) and, for comparison, on this host (no controllers: no limits half).
# Usage: bench/limits_bench.sh [ROUNDS] [TASKS]   (root; after `make all`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build="${BUILD:-$top/build}"
cd "$top"
make -s all "$build/tests/integration/harness.o" "$build/libberth.a"
mkdir -p "$build/bench"
g++ -O2 -std=c++20 -I. -D_GNU_SOURCE -o "$build/bench/limits_bench" bench/limits_bench.cpp \
  "$build/tests/integration/harness.o" "$build/libberth.a" \
  $(pkg-config --libs libmicrohttpd libcurl libsystemd libcrypto libarchive libseccomp libcap libmnl) -pthread
rounds="${1:-20}"
tasks="${2:-100}"
echo "## host ($(uname -r), $(nproc) cpus)"
BERTH_BIN_DIR="$build" "$build/bench/limits_bench" "$rounds" "$tasks"
echo
echo "## VM (tests/vm/run.sh, TCG)"
BERTH_BIN_DIR="$build" "$top/tests/vm/run.sh" --timeout 900 -- "$build/bench/limits_bench" "$rounds" "$tasks"
