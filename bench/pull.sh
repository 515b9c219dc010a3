#!/bin/bash
# bench/pull.sh [all|cold|warm|sweep|profile] — the issue-3 pull benchmark, berth side by side
# with its peers (all = cold + warm):
#   cold: pull + unpack of a 5-layer gzip image (~215 MB compressed, ~280 MB unpacked, built by
#         bench/pull_image.py) from a local docker-registry on 127.0.0.1, berth's
#         POST /v1/images/pull from an empty store vs skopeo copy + umoci unpack vs the floor
#         (curl of the blobs + tar -xzf: streamed one layer after another, all 5 in parallel,
#         and download-then-extract one after another)
#   warm: the same pull with everything present: berth vs skopeo copy to an already-copied
#         OCI layout
#   sweep: berth cold pulls with pull.parallel_layers 1, 2, 4 and 5 (one berthd each) and the
#         parallel floor, interleaved
#   profile: where berth's time goes in a cold pull: CPU time of berthd vs the floor's
#         processes (and gunzip alone, sha256 alone), `perf record -g` of berthd (top symbols),
#         `strace -c -f` (syscall counts), time spent in syncfs/fsync (strace -T); strace slows
#         the pull, so wall times under it are not results
# Modes run interleaved (bench/pull_bench, the order rotating every round) with an untimed
# `sync` between modes, so nobody pays for another's dirty pages. The page cache is not dropped
# for anyone: the registry's blobs are cached for all modes alike after the warm-up round.
# Root only. Removes everything it made: the registry and berthd (by pid), the temp dir and
# berthd's cgroup subtree (under <cgroup2>/berth/pullbench-*). Writes bench/results-pull-<date>.txt.
#
# Knobs (environment): ITERATIONS (7 cold rounds), WARM_REPS (20 warm pulls per round),
#   WARMUP (1 round), PARALLEL_LAYERS (berthd's pull.parallel_layers, 4),
#   IMAGE_DIR (reuse an OCI layout already written by pull_image.py instead of writing one).
set -euo pipefail
cd "$(dirname "$0")/.."
PART=${1:-all}
# Where every mode writes (berth's run and state dirs, skopeo/umoci's, the floor's):
#   disk   this machine's root fs (/tmp; here an ext4 WITHOUT a journal)
#   ext4   a fresh 8 GiB ext4 image with a journal (mkfs defaults) on a loop device
#   tmpfs  memory only: no disk and no fsync cost for anyone
# ext4 and tmpfs are mounted in a private mount namespace of this script (gone when it exits;
# the loop device is released by the unmount).
FS=${FS:-disk}
case "$FS" in
  disk) ;;
  ext4|tmpfs) [ -n "${PULLBENCH_NS:-}" ] || exec unshare -m --propagation private env PULLBENCH_NS=1 bash "$0" "$@" ;;
  *) echo "bench: FS is disk, ext4 or tmpfs" >&2; exit 2 ;;
esac
ITERATIONS=${ITERATIONS:-7} WARM_REPS=${WARM_REPS:-20} WARMUP=${WARMUP:-1} PARALLEL_LAYERS=${PARALLEL_LAYERS:-4}
BUILD=${BUILD:-build}
case "$PART" in all|cold|warm|sweep|profile) ;; *) echo "usage: bench/pull.sh [all|cold|warm|sweep|profile]" >&2; exit 2 ;; esac

[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in skopeo umoci docker-registry curl tar python3; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (make deps)" >&2; exit 1; }
done
make -s -j2 "$BUILD/berthd" "$BUILD/berth-shim" "$BUILD/bench/pull_bench"

T=$(mktemp -d /tmp/berth-pullbench-XXXXXX)
W=$T
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
CGROOT="$CG2/berth/pullbench-${T##*-}"
PIDS=()
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  [ -d "$CGROOT" ] && find "$CGROOT" -depth -type d -exec rmdir {} + 2>/dev/null
  rmdir "$CG2/berth" 2>/dev/null   # only when no other agent uses it
  [ "$W" != "$T" ] && umount "$W"
  rm -rf "$T"
}
trap cleanup EXIT
if [ "$FS" = ext4 ]; then
  truncate -s 8G "$T/fs.img"
  mkfs.ext4 -q -F "$T/fs.img"
  W=$T/w
  mkdir "$W"
  mount -o loop "$T/fs.img" "$W"
elif [ "$FS" = tmpfs ]; then
  W=$T/w
  mkdir "$W"
  mount -t tmpfs -o mode=0755 berth-pullbench "$W"
fi

# The image, deterministic (same digests every run).
if [ -n "${IMAGE_DIR:-}" ]; then
  L=$IMAGE_DIR
  jq -r '.manifests[0].digest' "$L/index.json" | cut -d: -f2 | xargs -I{} cat "$L/blobs/sha256/{}" |
    jq -r '.layers[].digest' >"$T/layers.txt"
else
  L="$T/layout"
  python3 bench/pull_image.py "$L" bench >"$T/layers.txt" 2>"$T/image.txt"
fi

# The registry: Debian's docker-registry on 127.0.0.1, a free port, its own storage.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/registry"
cat >"$T/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/registry/data
http:
  addr: 127.0.0.1:$PORT
  secret: berth-bench
EOF
docker-registry serve "$T/registry/config.yml" >"$T/registry/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.05; done
REF="127.0.0.1:$PORT/bench/pull:1"
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$L:bench" "docker://$REF"
LAYERS=$(tr '\n' ' ' <"$T/layers.txt")
BLOBS="http://127.0.0.1:$PORT/v2/bench/pull/blobs"

# berthd: run_dir and state_dir on this machine's disk, like the other modes' output dirs.
start_berthd() {  # name parallel_layers; sets BERTHD_PID
  mkdir -p "$T/$1"
  cat >"$T/$1/agent.json" <<EOF
{"socket": "$T/$1/berth.sock", "run_dir": "$W/$1/run", "state_dir": "$W/$1/state",
 "cgroup_root": "$CGROOT/$1", "shim_path": "$PWD/$BUILD/berth-shim",
 "registries": {"127.0.0.1:$PORT": {"insecure": true}}, "pull": {"parallel_layers": $2}}
EOF
  "$BUILD/berthd" --config "$T/$1/agent.json" >"$T/$1/log" 2>&1 &
  BERTHD_PID=$!
  PIDS+=($!)
  for _ in $(seq 200); do
    curl -sf --unix-socket "$T/$1/berth.sock" http://localhost/v1/info >/dev/null 2>&1 && return 0
    kill -0 "$BERTHD_PID" 2>/dev/null || { cat "$T/$1/log"; exit 1; }
    sleep 0.025
  done
  echo "bench: berthd $1 did not answer" >&2
  exit 1
}
start_berthd berth "$PARALLEL_LAYERS"
MAIN_BERTHD=$BERTHD_PID

DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="bench/results-pull-$FS-$PART-$DATE.txt"
{
  echo "# berth pull benchmark ($PART), $DATE"
  echo "command: FS=$FS ITERATIONS=$ITERATIONS WARM_REPS=$WARM_REPS WARMUP=$WARMUP PARALLEL_LAYERS=$PARALLEL_LAYERS ./bench/pull.sh $PART   (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus, kernel $(uname -r), outputs on $(findmnt -no SOURCE,FSTYPE -T "$W" | xargs) ($FS)$(dmesg 2>/dev/null | grep -q "$(findmnt -no SOURCE -T "$W" | sed "s|/dev/||"): .*without journal" && echo ', no journal')"
  echo "peers: $(skopeo --version), $(umoci --version), $(curl --version | head -1 | cut -d' ' -f1-2), $(tar --version | head -1), $(dpkg-query -W -f='docker-registry ${Version}' docker-registry)"
  if [ -s "$T/image.txt" ]; then sed "s/^/image: /" "$T/image.txt"; fi
} | tee "$OUT"

SKOPEO="skopeo copy -q --src-tls-verify=false docker://$REF"
if [ "$PART" = all ] || [ "$PART" = cold ]; then
  {
    echo
    echo "## cold pull + unpack, empty destination ($ITERATIONS rounds after $WARMUP warm-up, rotating order, sync between modes; ms)"
  } | tee -a "$OUT"
  "$BUILD/bench/pull_bench" --iterations "$ITERATIONS" --warmup "$WARMUP" --between sync --berthd-pid "$MAIN_BERTHD" \
    --samples "$T/cold.tsv" --layers "$T/layers.tsv" \
    --berth berth "$T/berth/berth.sock" "$REF" cold 1 \
    --cmd skopeo+umoci 1 "rm -rf $W/su && mkdir $W/su" "$SKOPEO oci:$W/su/oci:bench && umoci unpack --image $W/su/oci:bench $W/su/bundle >/dev/null" \
    --cmd floor-seq 1 "rm -rf $W/fs && mkdir $W/fs" "for d in $LAYERS; do mkdir $W/fs/\${d#sha256:} && curl -sf $BLOBS/\$d | tar -xzf - -C $W/fs/\${d#sha256:} || exit 1; done" \
    --cmd floor-par 1 "rm -rf $W/fp && mkdir $W/fp" "for d in $LAYERS; do (mkdir $W/fp/\${d#sha256:} && curl -sf $BLOBS/\$d | tar -xzf - -C $W/fp/\${d#sha256:}) & p=\"\$p \$!\"; done; for j in \$p; do wait \$j || exit 1; done" \
    --cmd floor-seq-2step 1 "rm -rf $W/f2 && mkdir $W/f2" "for d in $LAYERS; do curl -sf -o $W/f2/\${d#sha256:}.tgz $BLOBS/\$d && mkdir $W/f2/\${d#sha256:} && tar -xzf $W/f2/\${d#sha256:}.tgz -C $W/f2/\${d#sha256:} || exit 1; done" \
    | tee -a "$OUT"
  awk -F'\t' '{ v[$1] = v[$1] " " $4 } END { for (m in v) print m ":" v[m] }' "$T/cold.tsv" | sort | sed 's/^/samples µs: /' | tee -a "$OUT"
  # Ratios of medians to the floor, and berth's per-layer times from its progress lines.
  python3 - "$T/cold.tsv" "$T/layers.tsv" <<'EOF' | tee -a "$OUT"
import statistics, sys, collections
s = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, r, rep, us, cpu = line.split("\t"); s[m].append(int(us))
med = {m: statistics.median(v) for m, v in s.items()}
print("\nratios of medians: " + "  ".join(f"berth/{m} {med['berth'] / med[m]:.2f}" for m in med if m != "berth"))
lay = collections.defaultdict(list)
for line in open(sys.argv[2]):
    m, r, i, size, first, fetching, done, end = line.split("\t")
    lay[int(i)].append((int(size), int(fetching), int(done), int(end)))
print("\nberth per layer (medians over rounds, ms from the request; 'done' = fetched, unpacked, committed):")
print(f"{'layer':>5} {'MB gz':>7} {'fetching':>9} {'done':>9} {'done-fetching':>14} {'MB/s':>6}")
for i in sorted(lay):
    v = lay[i]
    f = statistics.median(x[1] for x in v) / 1000; d = statistics.median(x[2] for x in v) / 1000
    print(f"{i:>5} {v[0][0] / 1e6:7.1f} {f:9.1f} {d:9.1f} {d - f:14.1f} {v[0][0] / 1e6 / ((d - f) / 1000):6.1f}")
last = [max(x[2] for x in (lay[i][r] for i in lay)) for r in range(len(lay[0]))]
ends = [lay[0][r][3] for r in range(len(lay[0]))]
print(f"last layer done → final line: {statistics.median(e - l for e, l in zip(ends, last)) / 1000:.1f} ms (median)")
EOF
fi
if [ "$PART" = all ] || [ "$PART" = warm ]; then
  {
    echo
    echo "## warm pull, everything present ($ITERATIONS rounds x $WARM_REPS pulls after $WARMUP warm-up; ms)"
    echo "(skopeo: one process per copy, as a user runs it; berth: one HTTP request on a new connection)"
  } | tee -a "$OUT"
  "$BUILD/bench/pull_bench" --iterations "$ITERATIONS" --warmup "$WARMUP" --samples "$T/warm.tsv" --berthd-pid "$MAIN_BERTHD" \
    --berth berth-warm "$T/berth/berth.sock" "$REF" warm "$WARM_REPS" \
    --cmd skopeo-warm "$WARM_REPS" "[ -d $W/sw ] || { mkdir $W/sw && $SKOPEO oci:$W/sw/oci:bench; }" "$SKOPEO oci:$W/sw/oci:bench" \
    | tee -a "$OUT"
  python3 - "$T/warm.tsv" <<'EOF' | tee -a "$OUT"
import statistics, sys, collections
s = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, r, rep, us, cpu = line.split("\t"); s[m].append(int(us))
print(f"ratio of medians berth-warm/skopeo-warm {statistics.median(s['berth-warm']) / statistics.median(s['skopeo-warm']):.3f}")
EOF
fi
FLOOR_PAR="for d in $LAYERS; do (mkdir $W/fp/\${d#sha256:} && curl -sf $BLOBS/\$d | tar -xzf - -C $W/fp/\${d#sha256:}) & p=\"\$p \$!\"; done; for j in \$p; do wait \$j || exit 1; done"
if [ "$PART" = sweep ]; then
  args=()
  for n in 1 2 5; do
    start_berthd "berth-p$n" "$n"
    args+=(--berth "berth-p$n" "$T/berth-p$n/berth.sock" "$REF" cold 1)
  done
  { echo; echo "## berth cold pull by pull.parallel_layers ($ITERATIONS rounds after $WARMUP warm-up, rotating, sync between; ms)"; } | tee -a "$OUT"
  "$BUILD/bench/pull_bench" --iterations "$ITERATIONS" --warmup "$WARMUP" --between sync \
    --berth "berth-p$PARALLEL_LAYERS" "$T/berth/berth.sock" "$REF" cold 1 "${args[@]}" \
    --cmd floor-par 1 "rm -rf $W/fp && mkdir $W/fp" "$FLOOR_PAR" | tee -a "$OUT"
fi
if [ "$PART" = profile ]; then
  S="$T/berth/berth.sock"
  prof() {  # label, then the tracer's argv (it gets -p <berthd>); one cold pull under it (the
            # image removed and pruned, then sync, before the tracer starts)
    local label=$1
    shift
    curl -s --unix-socket "$S" -X DELETE "http://localhost/v1/images/$(printf %s "$REF" | jq -sRr @uri)" >/dev/null
    curl -sf --unix-socket "$S" -X POST -d '{}' http://localhost/v1/images/prune >/dev/null
    sync
    "$@" -p "$MAIN_BERTHD" 2>"$T/$label.err" &
    local tracer=$!
    sleep 1
    "$BUILD/bench/pull_bench" --iterations 1 --warmup 0 --between sync --berthd-pid "$MAIN_BERTHD" \
      --berth "under-$label" "$S" "$REF" cold 1 2>/dev/null | tail -1 | tee -a "$OUT"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
  }
  {
    echo
    echo "## profile of a cold pull (berthd pid $MAIN_BERTHD)"
    echo "### wall and CPU time (user+sys) of berth vs the floor and its parts (3 rounds, rotating, sync between; ms)"
  } | tee -a "$OUT"
  "$BUILD/bench/pull_bench" --iterations 3 --warmup 0 --between sync --berthd-pid "$MAIN_BERTHD" \
    --berth berth "$S" "$REF" cold 1 --cmd floor-par 1 "rm -rf $W/fp && mkdir $W/fp" "$FLOOR_PAR" \
    --cmd curl-only-seq 1 "" "for d in $LAYERS; do curl -sf $BLOBS/\$d >/dev/null || exit 1; done" \
    --cmd gunzip-only-seq 1 "" "for d in $LAYERS; do curl -sf $BLOBS/\$d | gzip -dc >/dev/null || exit 1; done" \
    --cmd sha256-only-seq 1 "" "for d in $LAYERS; do curl -sf $BLOBS/\$d | sha256sum >/dev/null || exit 1; done" \
    | tee -a "$OUT"
  { echo; echo "### perf record -g -F 499 of berthd, one cold pull: top symbols by self samples"; } | tee -a "$OUT"
  prof perf perf record -q -g -F 499 -o "$T/perf.data"
  perf report -i "$T/perf.data" --no-children -g none --sort dso,symbol --stdio >"$T/perf.sym" 2>/dev/null || true
  perf report -i "$T/perf.data" --no-children -g none --sort comm --stdio >"$T/perf.comm" 2>/dev/null || true
  { grep -E '^ +[0-9]' "$T/perf.sym" | sed -E 's/ +$//; s/  +/  /g' | sed -n 1,30p
    echo; echo "by thread name:"; grep -E '^ +[0-9]' "$T/perf.comm" | sed -E 's/ +$//' | sed -n 1,8p; } | tee -a "$OUT"
  { echo; echo "### strace -c -f of berthd, one cold pull (the pull is slower under strace)"; } | tee -a "$OUT"
  prof strace-c strace -c -f -o "$T/strace-c.txt"
  sed -n 1,22p "$T/strace-c.txt" | tee -a "$OUT"
  { echo; echo "### syncfs/fsync/fdatasync during one cold pull (strace -f -T)"; } | tee -a "$OUT"
  prof strace-sync strace -f -T -e trace=syncfs,fsync,fdatasync -o "$T/strace-sync.txt"
  python3 - "$T/strace-sync.txt" <<'PYEOF' | tee -a "$OUT"
import re, sys, collections
n, tot, mx = collections.Counter(), collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r'(syncfs|fsync|fdatasync)\(.*<([0-9.]+)>$', line) or re.search(r'<\.\.\. (syncfs|fsync|fdatasync) resumed>.*<([0-9.]+)>$', line)
    if m:
        k, t = m.group(1), float(m.group(2)); n[k] += 1; tot[k] += t; mx[k] = max(mx[k], t)
for k in n:
    print(f"{k:10} calls {n[k]:4}  total {tot[k]:.3f} s  max {mx[k]:.3f} s")
PYEOF
fi
echo "bench: wrote $OUT"
