#!/bin/bash
# bench/pull.sh [all|cold|warm] — the issue-3 pull benchmark, berth side by side with its peers:
#   cold: pull + unpack of a 5-layer gzip image (~215 MB compressed, ~280 MB unpacked, built by
#         bench/pull_image.py) from a local docker-registry on 127.0.0.1, berth's
#         POST /v1/images/pull from an empty store vs skopeo copy + umoci unpack vs the floor
#         (curl of the blobs + tar -xzf: streamed one layer after another, all 5 in parallel,
#         and download-then-extract one after another)
#   warm: the same pull with everything present: berth vs skopeo copy to an already-copied
#         OCI layout
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
ITERATIONS=${ITERATIONS:-7} WARM_REPS=${WARM_REPS:-20} WARMUP=${WARMUP:-1} PARALLEL_LAYERS=${PARALLEL_LAYERS:-4}
BUILD=${BUILD:-build}
case "$PART" in all|cold|warm) ;; *) echo "usage: bench/pull.sh [all|cold|warm]" >&2; exit 2 ;; esac

[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in skopeo umoci docker-registry curl tar python3; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (make deps)" >&2; exit 1; }
done
make -s -j2 "$BUILD/berthd" "$BUILD/berth-shim" "$BUILD/bench/pull_bench"

T=$(mktemp -d /tmp/berth-pullbench-XXXXXX)
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
CGROOT="$CG2/berth/pullbench-${T##*-}"
PIDS=()
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  [ -d "$CGROOT" ] && find "$CGROOT" -depth -type d -exec rmdir {} + 2>/dev/null
  rmdir "$CG2/berth" 2>/dev/null   # only when no other agent uses it
  rm -rf "$T"
}
trap cleanup EXIT

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
mkdir -p "$T/berth"
cat >"$T/berth/agent.json" <<EOF
{"socket": "$T/berth/berth.sock", "run_dir": "$T/berth/run", "state_dir": "$T/berth/state",
 "cgroup_root": "$CGROOT", "shim_path": "$PWD/$BUILD/berth-shim",
 "registries": {"127.0.0.1:$PORT": {"insecure": true}}, "pull": {"parallel_layers": $PARALLEL_LAYERS}}
EOF
"$BUILD/berthd" --config "$T/berth/agent.json" >"$T/berth/log" 2>&1 &
BERTHD_PID=$!
PIDS+=($!)
for _ in $(seq 200); do
  curl -sf --unix-socket "$T/berth/berth.sock" http://localhost/v1/info >/dev/null 2>&1 && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$T/berth/log"; exit 1; }
  sleep 0.025
done

DATE=$(date -u +%Y-%m-%dT%H%M%SZ)
OUT="bench/results-pull-$DATE.txt"
{
  echo "# berth pull benchmark ($PART), $DATE"
  echo "command: ITERATIONS=$ITERATIONS WARM_REPS=$WARM_REPS WARMUP=$WARMUP PARALLEL_LAYERS=$PARALLEL_LAYERS ./bench/pull.sh $PART   (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus, kernel $(uname -r), $(findmnt -no FSTYPE -T "$T") under $T"
  echo "peers: $(skopeo --version), $(umoci --version), $(curl --version | head -1 | cut -d' ' -f1-2), $(tar --version | head -1), $(dpkg-query -W -f='docker-registry ${Version}' docker-registry)"
  if [ -s "$T/image.txt" ]; then sed "s/^/image: /" "$T/image.txt"; fi
} | tee "$OUT"

SKOPEO="skopeo copy -q --src-tls-verify=false docker://$REF"
if [ "$PART" != warm ]; then
  {
    echo
    echo "## cold pull + unpack, empty destination ($ITERATIONS rounds after $WARMUP warm-up, rotating order, sync between modes; ms)"
  } | tee -a "$OUT"
  "$BUILD/bench/pull_bench" --iterations "$ITERATIONS" --warmup "$WARMUP" --between sync --berthd-pid "$BERTHD_PID" \
    --samples "$T/cold.tsv" --layers "$T/layers.tsv" \
    --berth berth "$T/berth/berth.sock" "$REF" cold 1 \
    --cmd skopeo+umoci 1 "rm -rf $T/su && mkdir $T/su" "$SKOPEO oci:$T/su/oci:bench && umoci unpack --image $T/su/oci:bench $T/su/bundle >/dev/null" \
    --cmd floor-seq 1 "rm -rf $T/fs && mkdir $T/fs" "for d in $LAYERS; do mkdir $T/fs/\${d#sha256:} && curl -sf $BLOBS/\$d | tar -xzf - -C $T/fs/\${d#sha256:} || exit 1; done" \
    --cmd floor-par 1 "rm -rf $T/fp && mkdir $T/fp" "for d in $LAYERS; do (mkdir $T/fp/\${d#sha256:} && curl -sf $BLOBS/\$d | tar -xzf - -C $T/fp/\${d#sha256:}) & p=\"\$p \$!\"; done; for j in \$p; do wait \$j || exit 1; done" \
    --cmd floor-seq-2step 1 "rm -rf $T/f2 && mkdir $T/f2" "for d in $LAYERS; do curl -sf -o $T/f2/\${d#sha256:}.tgz $BLOBS/\$d && mkdir $T/f2/\${d#sha256:} && tar -xzf $T/f2/\${d#sha256:}.tgz -C $T/f2/\${d#sha256:} || exit 1; done" \
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
if [ "$PART" != cold ]; then
  {
    echo
    echo "## warm pull, everything present ($ITERATIONS rounds x $WARM_REPS pulls after $WARMUP warm-up; ms)"
    echo "(skopeo: one process per copy, as a user runs it; berth: one HTTP request on a new connection)"
  } | tee -a "$OUT"
  "$BUILD/bench/pull_bench" --iterations "$ITERATIONS" --warmup "$WARMUP" --samples "$T/warm.tsv" --berthd-pid "$BERTHD_PID" \
    --berth berth-warm "$T/berth/berth.sock" "$REF" warm "$WARM_REPS" \
    --cmd skopeo-warm "$WARM_REPS" "[ -d $T/sw ] || { mkdir $T/sw && $SKOPEO oci:$T/sw/oci:bench; }" "$SKOPEO oci:$T/sw/oci:bench" \
    | tee -a "$OUT"
  python3 - "$T/warm.tsv" <<'EOF' | tee -a "$OUT"
import statistics, sys, collections
s = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, r, rep, us, cpu = line.split("\t"); s[m].append(int(us))
print(f"ratio of medians berth-warm/skopeo-warm {statistics.median(s['berth-warm']) / statistics.median(s['skopeo-warm']):.3f}")
EOF
fi
echo "bench: wrote $OUT"
