#!/bin/bash
# berth's main job, end to end: start a private registry on 127.0.0.1 and push a busybox image
# to it, start berthd, pull the image, run a task from it, show its logs, status and exit; then
# a long-running task killed with a grace period; then limits: a memory hog killed at its limit
# with its termination record, and a CPU limit held in `berth stats`, next to the info line
# that says which cgroup hierarchy (v2, or v1 on hybrid hosts) enforces each. Runs in a temp
# dir and removes everything it made (registry and berthd by pid, cgroups in every hierarchy,
# files).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build
[ "$(id -u)" = 0 ] || { echo "demo: run as root (berthd creates namespaces and cgroups)" >&2; exit 1; }

DEMO=$(mktemp -d /tmp/berth-demo-XXXXXX)
CG2=$(awk '$9 == "cgroup2" && $4 == "/" {print $5; exit}' /proc/self/mountinfo)
CGROOT="$CG2/berth/demo-${DEMO##*-}"
BERTHD_PID=
REGISTRY_PID=
cleanup() {
  if [ -n "$BERTHD_PID" ]; then kill "$BERTHD_PID" 2>/dev/null || true; wait "$BERTHD_PID" 2>/dev/null || true; fi
  if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; wait "$REGISTRY_PID" 2>/dev/null || true; fi
  rmdir "$CGROOT/containers" "$CGROOT/shims" "$CGROOT" 2>/dev/null || true
  rmdir "$CG2/berth" 2>/dev/null || true
  # The same root in each cgroup v1 hierarchy (hybrid hosts).
  for mnt in $(awk '$9 == "cgroup" && $4 == "/" {print $5}' /proc/self/mountinfo); do
    rmdir "$mnt${CGROOT#$CG2}/containers" "$mnt${CGROOT#$CG2}" "$mnt/berth" 2>/dev/null || true
  done
  rm -rf "$DEMO"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building a busybox root filesystem"
mkdir -p "$DEMO/rootfs"/{bin,etc,tmp,proc,sys,dev,mnt,root}
cp /bin/busybox "$DEMO/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$DEMO/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$DEMO/rootfs/etc/passwd"
echo 'root:x:0:' > "$DEMO/rootfs/etc/group"
echo "rootfs: $DEMO/rootfs ($(ls "$DEMO/rootfs/bin" | wc -l) programs)"

step "starting a private registry (Debian's docker-registry) on 127.0.0.1"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
mkdir -p "$DEMO/registry"
cat > "$DEMO/registry/config.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $DEMO/registry/data}}
http: {addr: $REG}
YAML
docker-registry serve "$DEMO/registry/config.yml" > "$DEMO/registry/log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
echo "registry: http://$REG"

step "pushing demo/busybox:1.0 (one gzip layer, an OCI image built here) with skopeo"
L=$DEMO/layout
mkdir -p "$L/blobs/sha256"
echo "served from a berth sandbox" > "$DEMO/rootfs/etc/motd"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$L/blobs/sha256/$d"; echo "$d"; }
tar -C "$DEMO/rootfs" --numeric-owner -cf "$DEMO/layer.tar" .
DIFF_ID=$(sha256sum "$DEMO/layer.tar" | cut -d' ' -f1)
gzip -n "$DEMO/layer.tar"
LAYER_SIZE=$(stat -c %s "$DEMO/layer.tar.gz"); LAYER=$(blob "$DEMO/layer.tar.gz")
printf '%s' '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo \"hello from $(hostname): $(cat /etc/motd)\""],"Env":["PATH=/bin","GREETING=hi"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:'"$DIFF_ID"'"]}}' > "$DEMO/config.json"
CONFIG_SIZE=$(stat -c %s "$DEMO/config.json"); CONFIG=$(blob "$DEMO/config.json")
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$CONFIG"'","size":'"$CONFIG_SIZE"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$LAYER"'","size":'"$LAYER_SIZE"'}]}' > "$DEMO/manifest.json"
MANIFEST_SIZE=$(stat -c %s "$DEMO/manifest.json"); MANIFEST=$(blob "$DEMO/manifest.json")
printf '%s' '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$MANIFEST"'","size":'"$MANIFEST_SIZE"',"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}' > "$L/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
skopeo copy --quiet --dest-tls-verify=false "oci:$L:1.0" "docker://$REG/demo/busybox:1.0"
echo "pushed $REG/demo/busybox:1.0"

step "starting berthd"
cat > "$DEMO/agent.json" <<JSON
{"socket": "$DEMO/berth.sock", "run_dir": "$DEMO/run", "state_dir": "$DEMO/state",
 "cgroup_root": "$CGROOT", "registries": {"$REG": {"insecure": true}}}
JSON
"$BIN/berthd" --config "$DEMO/agent.json" 2> "$DEMO/berthd.log" &
BERTHD_PID=$!
export BERTH_SOCKET=$DEMO/berth.sock
for _ in $(seq 100); do "$BIN/berth" info >/dev/null 2>&1 && break; sleep 0.05; done
"$BIN/berth" info

step "berth pull: layers streamed from the registry, verified, unpacked"
"$BIN/berth" pull "$REG/demo/busybox:1.0"
"$BIN/berth" images

step "berth run (attached) from the image: the task's output, then its exit code"
set +e
"$BIN/berth" run --name hello --image "$REG/demo/busybox:1.0"
echo "exit code: $?"
"$BIN/berth" run --name hello-rc --image "$REG/demo/busybox:1.0" -- 'echo "$GREETING, pid $$ in its own namespace"; echo oops >&2; exit 3'
echo "exit code: $?"
set -e

step "berth ps -a"
"$BIN/berth" ps -a
step "berth logs hello-rc / berth logs --stderr hello-rc"
"$BIN/berth" logs hello-rc
"$BIN/berth" logs --stderr hello-rc
step "berth inspect hello-rc (the termination record)"
"$BIN/berth" --json inspect hello-rc | python3 -m json.tool | sed -n '/"exit"/,/}/p'

step "a long-running task, killed with SIGTERM and a 2 s grace period"
"$BIN/berth" run -d --name sleeper --rootfs "$DEMO/rootfs" -- sh -c 'trap "" TERM; while :; do sleep 1; done'
"$BIN/berth" ps
"$BIN/berth" kill -s TERM --grace 2 sleeper
set +e; "$BIN/berth" wait sleeper; echo "wait exit code: $?"; set -e
"$BIN/berth" ps -a

step "limits: which cgroup hierarchy enforces each"
"$BIN/berth" info | grep -E '^(Cgroup mode|Enforced by|Note):'

step "a memory hog with --memory 32: killed at its limit, and its termination record"
set +e
"$BIN/berth" run --name hog --memory 32 --rootfs "$DEMO/rootfs" -- awk 'BEGIN { s = "x"; while (1) s = s s }'
echo "exit code: $?"
set -e
"$BIN/berth" --json inspect hog | python3 -c '
import json, sys
e = json.load(sys.stdin)["exit"]
m = e["usage"]["memory"]
print("reason:  ", e["reason"], "-", e["message"])
print("limit:   ", m["limit_bytes"] // 2**20, "MiB;", "peak:", m["peak_bytes"] // 2**20, "MiB")
print("events:  ", json.dumps(m["events"]))'

step "a CPU spinner with --cpus 0.5: berth stats shows the limit held"
"$BIN/berth" run -d --name spin --cpus 0.5 --rootfs "$DEMO/rootfs" -- sh -c 'while :; do :; done'
sleep 3
"$BIN/berth" stats --no-stream
"$BIN/berth" --json stats --no-stream | python3 -c '
import json, sys
for c in json.load(sys.stdin)["containers"]:
    u = c["usage"]["cpu"]
    print(c["name"], "limit", u["limit_cpus"], "cpus; throttled", u.get("nr_throttled"), "of", u.get("nr_periods"), "periods,", round(u.get("throttled_usec", 0) / 1e6, 2), "s")'
"$BIN/berth" kill spin
set +e; "$BIN/berth" wait spin >/dev/null; set -e

step "cleaning up"
"$BIN/berth" rm hello hello-rc sleeper hog spin
"$BIN/berth" rmi "$REG/demo/busybox:1.0"
"$BIN/berth" prune
"$BIN/berth" ps -a
step "berthd's own log"
cat "$DEMO/berthd.log"
