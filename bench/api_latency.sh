#!/bin/bash
# berthd's API latency (GET /v1/containers p50/p99) while a task with millions of files in its
# sandbox and a disk limit runs, exits and is removed, beside the same latency idle
# (bench/api_latency.cpp). Root only; uses the integration harness (own socket, dirs, cgroup
# subtree; all removed at the end).
# Usage: bench/api_latency.sh [FILES=5000000] [IDLE_S=10]
#   BUILD=dir picks the build to measure (e.g. a build of an older commit, to compare).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build="${BUILD:-$top/build}"
cd "$top"
# The harness calls cli::Client (libberth-cli.a since the reshape; in libberth.a before it) and
# gtest's assertion helpers.
cli_lib=()
grep -q 'libberth-cli\.a:' Makefile && cli_lib=("$build/libberth-cli.a")
make -s -j2 BUILD="$build" all "$build/tests/integration/harness.o" "${cli_lib[@]}" "$build/libberth.a"
mkdir -p "$build/bench"
gcc -O2 -static -o "$build/bench/mkfiles" bench/mkfiles.c
g++ -O2 -std=c++20 -I. -D_GNU_SOURCE -o "$build/bench/api_latency" bench/api_latency.cpp \
  "$build/tests/integration/harness.o" "${cli_lib[@]}" "$build/libberth.a" \
  $(pkg-config --libs gtest libmicrohttpd libcurl libsystemd libcrypto libarchive libseccomp libcap libmnl) -pthread
echo "## $(git -C "$top" rev-parse --short HEAD) ($(uname -r), $(nproc) cpus, $(df -T /tmp | awk 'NR==2{print $2}') /tmp)"
BERTH_BIN_DIR="$build" "$build/bench/api_latency" "$build/bench/mkfiles" "${1:-5000000}" "${2:-10}"
