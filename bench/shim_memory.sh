#!/bin/bash
# shim_memory.sh — private memory of the per-task monitor with N tasks `sleep 60` running:
# berth-shim (launched through berthd's API) and conmon (podman's monitor) driving runc or crun.
# Called by bench/run.sh, which owns the temp dir, berthd and the cleanup of what is left.
#
#   shim_memory.sh berth  <socket> <rootfs> <n> <out.tsv>
#   shim_memory.sh conmon <runtime path> <state root> <bundle template config.json> <rootfs> <n> <work dir> <out.tsv>
#
# Each out.tsv line: who, pid, Rss, Pss, Private_Clean, Private_Dirty, Anonymous (kB) from
# /proc/<pid>/smaps_rollup, read once all N monitors run (after a short settle).
set -euo pipefail

rollup() {  # pid → "rss pss private_clean private_dirty anon"
  awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Private_Clean:/{pc=$2} /^Private_Dirty:/{pd=$2} /^Anonymous:/{a=$2}
       END{print r"\t"p"\t"pc"\t"pd"\t"a}' "/proc/$1/smaps_rollup"
}

ppid_of() { awk '{print $4}' "/proc/$1/stat"; }

case "$1" in
berth)
  socket=$2 rootfs=$3 n=$4 out=$5
  ids=()
  spec="{\"rootfs\": \"$rootfs\", \"command\": [\"/bin/sleep\", \"60\"]}"
  for i in $(seq "$n"); do
    reply=$(curl -sS --unix-socket "$socket" -X POST -H 'Content-Type: application/json' -d "$spec" \
      http://localhost/v1/containers)
    id=$(jq -r .id <<<"$reply")
    [ -n "$id" ] && [ "$id" != null ] || { echo "shim_memory: launch failed: $reply" >&2; exit 1; }
    ids+=("$id")
  done
  sleep 1
  : >"$out"
  for id in "${ids[@]}"; do
    pid=$(curl -sS --unix-socket "$socket" "http://localhost/v1/containers/$id" | jq -r .pid)
    shim=$(ppid_of "$pid")
    case "$(cat "/proc/$shim/comm")" in berth-shim*) ;; *) echo "shim_memory: parent of $pid is not berth-shim" >&2; exit 1 ;; esac
    printf 'berth-shim\t%s\t%s\n' "$shim" "$(rollup "$shim")" >>"$out"
  done
  for id in "${ids[@]}"; do
    curl -sS --unix-socket "$socket" -X DELETE "http://localhost/v1/containers/$id?force=1" >/dev/null
  done
  ;;
conmon)
  runtime=$2 state=$3 template=$4 rootfs=$5 n=$6 work=$7 out=$8
  name=$(basename "$runtime")
  mkdir -p "$work/exits" "$work/sockets" "$state"
  ids=()
  stop_all() {  # kill each task and its conmon (by pid), delete the runtime's record and cgroups
    for id in "${ids[@]}"; do
      cp=$(cat "$work/$id/conmon.pid" 2>/dev/null || true)
      "$runtime" --root "$state" kill "$id" KILL 2>/dev/null || true
      if [ -s "$work/$id/pidfile" ]; then kill -KILL "$(cat "$work/$id/pidfile")" 2>/dev/null || true; fi
      for _ in $(seq 100); do [ -n "$cp" ] && kill -0 "$cp" 2>/dev/null || break; sleep 0.05; done
      [ -n "$cp" ] && kill -0 "$cp" 2>/dev/null && kill -KILL "$cp"
      "$runtime" --root "$state" delete -f "$id" 2>/dev/null || true
    done
    ids=()
  }
  trap stop_all EXIT
  for i in $(seq "$n"); do
    id="bench-$name-$$-$i"
    b="$work/$id"
    mkdir -p "$b"
    jq --arg r "$rootfs" '.process.args = ["/bin/sleep", "60"] | .root.path = $r' "$template" >"$b/config.json"
    conmon --api-version 1 -c "$id" -u "$id" -n "$id" -r "$runtime" \
      --runtime-arg --root --runtime-arg "$state" \
      -b "$b" -p "$b/pidfile" -l "$b/ctr.log" --exit-dir "$work/exits" \
      --socket-dir-path "$work/sockets" --conmon-pidfile "$b/conmon.pid" --log-level error
    ids+=("$id")
    # conmon's first process returns before `<runtime> create` is done; the container pid file
    # appears when it is.
    for _ in $(seq 200); do [ -s "$b/pidfile" ] && break; sleep 0.01; done
    [ -s "$b/pidfile" ] || { echo "shim_memory: $id was not created" >&2; exit 1; }
    "$runtime" --root "$state" start "$id"
  done
  sleep 1
  : >"$out"
  for id in "${ids[@]}"; do
    cp=$(cat "$work/$id/conmon.pid")
    [ "$(cat "/proc/$cp/comm")" = conmon ] || { echo "shim_memory: $cp is not conmon" >&2; exit 1; }
    printf 'conmon+%s\t%s\t%s\n' "$name" "$cp" "$(rollup "$cp")" >>"$out"
  done
  stop_all
  ;;
*)
  echo "usage: see the header of $0" >&2
  exit 2
  ;;
esac
