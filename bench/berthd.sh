# Sourced by the bench scripts (which set T, BUILD, CGROOT and BERTHD_PIDS=() first).
#
# start_berthd NAME RUN STATE [WRAPPER...]  starts a berthd with its config, socket and log at
#   $T/NAME.{json,sock,log}, its cgroup root at $CGROOT-NAME (its twin in every v1 hierarchy
#   too), run and state dirs RUN and STATE, run through WRAPPER if given; waits until it
#   answers and appends its pid to BERTHD_PIDS. $SHIM picks another berth-shim; $BERTHD_EXTRA
#   (JSON members, e.g. '"network": {...}') is added to the config.
# ON_TMPFS  a WRAPPER giving berthd a private tmpfs mounted on its first argument (unshare
#   execs bash, which execs berthd: the pid recorded is berthd's).
ON_TMPFS=(unshare -m --propagation private bash -c 'mount -t tmpfs -o mode=0755 berth-bench "$0" && exec "$@"')

start_berthd() {
  local name=$1 run=$2 state=$3 shim=${SHIM:-$PWD/$BUILD/berth-shim}
  shift 3
  cat >"$T/$name.json" <<JSON
{"socket": "$T/$name.sock", "run_dir": "$run", "state_dir": "$state",
 "cgroup_root": "$CGROOT-$name", "shim_path": "$shim"${BERTHD_EXTRA:+, $BERTHD_EXTRA}}
JSON
  "$@" "$BUILD/berthd" --config "$T/$name.json" >"$T/$name.log" 2>&1 &
  BERTHD_PIDS+=($!)
  for _ in $(seq 200); do
    curl -sf --unix-socket "$T/$name.sock" http://localhost/v1/info >/dev/null 2>&1 && return 0
    kill -0 "${BERTHD_PIDS[-1]}" 2>/dev/null || { cat "$T/$name.log"; exit 1; }
    sleep 0.025
  done
  echo "bench: $name did not answer" >&2
  exit 1
}
