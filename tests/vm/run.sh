#!/bin/bash
# Runs one command inside a throw-away VM with a real cgroup v2 kernel, so limit enforcement
# (memory.max, cpu.max, pids.max, ...) can be tested on hosts whose own cgroups are a v1/v2
# hybrid without those controllers.
#
#   tests/vm/run.sh [--timeout SECS] [--mem MB] [--smp N] -- COMMAND ARGS...
#
# The guest is Debian's kernel (`linux-image-amd64`, resolved to its versioned package) under
# qemu TCG (nested KVM hangs on our test machines). It boots a tiny busybox initramfs that
# loads the 9p modules, mounts the host's root read-only over 9p, puts a tmpfs-backed overlay
# on top of it (so the guest can write anywhere; nothing reaches the host), adds plain tmpfs
# at /tmp /run /var/lib /var/tmp /var/cache /var/log (overlayfs cannot be an overlay upper dir,
# and a container runtime keeps its upper dirs under /var/lib), mounts cgroup2 at
# /sys/fs/cgroup with every controller enabled at the root, switches root and runs COMMAND as
# root in the current directory. Nothing but the serial console and two 9p shares connects
# the guest to the host: there is no network device.
#
# Environment:
#   BERTH_VM_CACHE   cache dir for the kernel, modules and initramfs (/var/cache/berth-vm)
#   BERTH_VM_KERNEL  kernel package to use (default: what linux-image-amd64 depends on)
#   BERTH_VM_OUT     host directory shared writable at the same path in the guest, for results;
#                    the console output is copied there as console.log
#   BERTH_VM_ENV     extra variable names to pass into the guest; BERTH_*, GTEST_*, PATH,
#                    TERM, LANG and LC_ALL are always passed
#   BERTH_VM_ROOT    "overlay" (default) or "ro": the root without the writable overlay
#   BERTH_VM_VERBOSE 1: show the kernel's boot messages
# Exit status: COMMAND's, or 124 on timeout, or 125 when the VM could not run the command.
set -euo pipefail

timeout_s=600
mem_mb=2048
smp=2
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_s="$2"; shift 2 ;;
    --mem) mem_mb="$2"; shift 2 ;;
    --smp) smp="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (usage: run.sh [--timeout S] [--mem MB] -- CMD...)" >&2
       exit 125 ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "run.sh: no command given (usage: run.sh [--timeout S] [--mem MB] -- CMD...)" >&2
  exit 125
fi

cache="${BERTH_VM_CACHE:-/var/cache/berth-vm}"
root_mode="${BERTH_VM_ROOT:-overlay}"
log() { echo "berth-vm: $*" >&2; }
die() { log "$*"; exit 125; }

for tool in qemu-system-x86_64 apt-get apt-cache dpkg busybox cpio depmod modprobe gzip; do
  command -v "$tool" >/dev/null || die "missing '$tool' (run packaging/install-deps.sh)"
done
[ -x /bin/busybox ] || die "missing /bin/busybox (busybox-static)"
[ "$(id -u)" = 0 ] || die "must run as root (qemu's 9p passthrough export needs it)"

# Modules the initramfs loads before the root exists (the 9p transport and overlayfs);
# modprobe resolves each one's dependencies in order and skips what is built in.
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"
# Loaded from the shared modules tree after boot, so tests need not wait for autoloading.
EXTRA_MODULES="${BERTH_VM_MODULES:-}"

# --- kernel -------------------------------------------------------------------------------
resolve_kernel_package() {
  if [ -n "${BERTH_VM_KERNEL:-}" ]; then echo "$BERTH_VM_KERNEL"; return; fi
  local dep
  dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$dep" ] || die "cannot resolve linux-image-amd64 to a versioned kernel (apt-get update?)"
  echo "$dep"
}

t_start=$(date +%s.%N)
pkg=$(resolve_kernel_package)
kver=${pkg#linux-image-}
kdir="$cache/$kver"
mkdir -p "$cache"

# One preparation at a time per cache (parallel runs share the result).
exec 9>"$cache/.lock"
flock 9

if [ ! -e "$kdir/.complete" ]; then
  log "preparing kernel $pkg in $kdir"
  rm -rf "$kdir" "$kdir.tmp"
  mkdir -p "$kdir.tmp/dl"
  ( cd "$kdir.tmp/dl" && apt-get download -q "$pkg" >/dev/null 2>&1 ) ||
    { rm -rf "$kdir.tmp"; die "apt-get download $pkg failed"; }
  dpkg -x "$kdir.tmp"/dl/*.deb "$kdir.tmp/root"
  rm -rf "$kdir.tmp/dl"
  # Compressed modules are unpacked once here, so busybox insmod and any modprobe can load them.
  find "$kdir.tmp/root/lib/modules/$kver" -name '*.ko.xz' -exec xz -d {} + 2>/dev/null || true
  find "$kdir.tmp/root/lib/modules/$kver" -name '*.ko.zst' -exec zstd -q -d --rm {} + 2>/dev/null || true
  depmod -b "$kdir.tmp/root" "$kver"
  cp "$kdir.tmp/root/boot/vmlinuz-$kver" "$kdir.tmp/vmlinuz"
  touch "$kdir.tmp/.complete"
  mv "$kdir.tmp" "$kdir"
fi
modroot="$kdir/root"
[ -d "$modroot/lib/modules/$kver" ] || die "$modroot/lib/modules/$kver missing; remove $kdir"

# --- initramfs ----------------------------------------------------------------------------
# The stage-1 /init. Kept in this script so its hash decides when the initramfs is rebuilt.
read -r -d '' INIT_SCRIPT <<'EOF' || true
#!/bin/busybox sh
# berth VM stage 1: modules, root, writable dirs, cgroup2; then switch_root into stage 2.
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "berth-vm-init: $*"; echo "BERTH-VM-EXIT:125"; poweroff -f; sleep 10; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko; do
  insmod "$ko" || fail "insmod $ko"
done < /modules.order
root_mode=ro
grep -q 'berth.root=overlay' /proc/cmdline && root_mode=overlay

mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 root /lower || fail "mount 9p root"
if [ "$root_mode" = overlay ]; then
  mount -t tmpfs -o mode=0755 tmpfs /rw
  mkdir -p /rw/upper /rw/work
  if ! mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot; then
    echo "berth-vm-init: overlay root failed, using the read-only root"
    root_mode=ro
  fi
fi
[ "$root_mode" = ro ] && mount --bind /lower /newroot
for d in /tmp /run /var/lib /var/tmp /var/cache /var/log; do
  mount -t tmpfs -o mode=0755 tmpfs "/newroot$d" || fail "tmpfs on $d"
done
chmod 1777 /newroot/tmp /newroot/var/tmp
mkdir -p /newroot/run/berth-vm/ctl /newroot/run/berth-vm/lower /newroot/run/berth-vm/rw
echo "$root_mode" > /newroot/run/berth-vm/root_mode
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ctl /newroot/run/berth-vm/ctl ||
  fail "mount 9p ctl"
# Keep the layers of the root visible and named, not hidden under the dead initramfs.
mount --move /lower /newroot/run/berth-vm/lower
if [ "$root_mode" = overlay ]; then mount --move /rw /newroot/run/berth-vm/rw; else rmdir /rw; fi
if [ -f /newroot/run/berth-vm/ctl/out_path ]; then
  out=$(cat /newroot/run/berth-vm/ctl/out_path)
  mkdir -p "/newroot$out" 2>/dev/null || true
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out "/newroot$out" ||
    fail "mount 9p out on $out"
fi
for m in proc sys dev; do mount --move "/$m" "/newroot/$m"; done
exec switch_root /newroot /bin/bash /run/berth-vm/ctl/stage2.sh
fail "switch_root"
EOF

# Stage 2 runs as pid 1 in the host's root: the rest of the mounts, then the command.
read -r -d '' STAGE2_SCRIPT <<'EOF' || true
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ctl=/run/berth-vm/ctl
finish() {
  echo "$1" > "$ctl/status.tmp" && mv "$ctl/status.tmp" "$ctl/status"
  echo "BERTH-VM-EXIT:$1"
  sync
  /bin/busybox poweroff -f
  echo o > /proc/sysrq-trigger
  sleep 60
}
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue 2>/dev/null
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || finish 125
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
    echo "berth-vm: cannot enable controller $c at the root"
done
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
hostname berth-vm
/bin/busybox stty -onlcr 2>/dev/null < /dev/console
ip link set lo up 2>/dev/null
# The guest kernel's modules live in the host cache; bind them where modprobe (and the
# kernel's autoloading) look, so veth, bridge, nf_tables, ... load on first use.
kmod_dir="/run/berth-vm/lower$(cat "$ctl/kmod_root")/lib/modules/$(uname -r)"
# On a read-only root /lib/modules cannot be created: a wrapper in /run points modprobe there.
if mkdir -p "/lib/modules/$(uname -r)" 2>/dev/null &&
   mount --bind "$kmod_dir" "/lib/modules/$(uname -r)"; then
  modprobe=/sbin/modprobe
else
  modprobe=/run/berth-vm/modprobe
  printf '#!/bin/sh\nexec /sbin/modprobe -d %s "$@"\n' "${kmod_dir%/lib/modules/*}" > "$modprobe"
  chmod 755 "$modprobe"
fi
echo "$modprobe" > /proc/sys/kernel/modprobe
for m in $(cat "$ctl/extra_modules"); do "$modprobe" "$m" || echo "berth-vm: modprobe $m failed"; done
. "$ctl/env.sh"
# A checkout or build dir under a tmpfs-covered dir (a CI clone in /tmp, say) is bound back
# from the 9p root at its own path, so the command and the paths it was given work unchanged.
for p in "$BERTH_VM_CWD" "${BERTH_BIN_DIR:-}"; do
  case "$p" in /tmp/?*|/run/?*|/var/lib/?*|/var/tmp/?*|/var/cache/?*|/var/log/?*) ;; *) continue ;; esac
  if [ ! -e "$p" ] && [ -d "/run/berth-vm/lower$p" ]; then
    mkdir -p "$p" && mount --bind "/run/berth-vm/lower$p" "$p" || echo "berth-vm: cannot bind $p"
  fi
done
cd "$BERTH_VM_CWD" 2>/dev/null || cd /
cut -d' ' -f1 /proc/uptime > "$ctl/started"
echo "BERTH-VM-START"
"$@" < /dev/null &
cmd=$!
# The watchdog: a command still running shortly before the host's deadline prints what it is
# stuck on (tests/vm/diagnose.sh) and the guest stops with 124, so a hang in the guest reads as
# a diagnosis instead of a silent kill by the host.
limit=$(cat "$ctl/guest_limit")
( sleep "$limit"
  kill -0 "$cmd" 2>/dev/null || exit 0
  echo "berth-vm: the command still runs after ${limit}s"
  "$BERTH_VM_DIAGNOSE" "$cmd"
  finish 124 ) &
wait "$cmd"
finish $?
EOF

busybox_sum=$(sha256sum /bin/busybox | cut -c1-16)
key=$(printf '%s\n' "$INIT_SCRIPT" "$BOOT_MODULES" "$busybox_sum" "$kver" | sha256sum | cut -c1-16)
initrd="$kdir/initrd-$key.cpio.gz"
if [ ! -e "$initrd" ]; then
  log "building initramfs $initrd"
  work=$(mktemp -d "$cache/initrd.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,dev,proc,sys,lib/modules}
  cp /bin/busybox "$work/bin/busybox"
  printf '%s\n' "$INIT_SCRIPT" > "$work/init"
  chmod 755 "$work/init"
  # shellcheck disable=SC2086
  modprobe -d "$modroot" -S "$kver" -a --show-depends $BOOT_MODULES |
    awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' > "$work/list"
  : > "$work/modules.order"
  while read -r ko; do
    cp "$ko" "$work/lib/modules/"
    echo "/lib/modules/$(basename "$ko")" >> "$work/modules.order"
  done < "$work/list"
  rm "$work/list"
  ( cd "$work" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 ) > "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$work"
  trap - EXIT
  find "$kdir" -maxdepth 1 -name 'initrd-*.cpio.gz' ! -name "initrd-$key.cpio.gz" -delete
fi
exec 9>&-
t_prepared=$(date +%s.%N)

# --- per-run control share ----------------------------------------------------------------
ctl=$(mktemp -d /tmp/berth-vm.XXXXXX)
qemu_pid=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -TERM "$qemu_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$qemu_pid" 2>/dev/null || true
  fi
  rm -rf "$ctl"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '%s\n' "$STAGE2_SCRIPT" > "$ctl/stage2.sh"
{
  echo "BERTH_VM_CWD=$(printf '%q' "$PWD")"
  echo "export HOME=/root"
  for name in $(compgen -e); do
    case "$name" in
      BERTH_*|GTEST_*|PATH|TERM|LANG|LC_ALL) ;;
      *) [[ " ${BERTH_VM_ENV:-} " == *" $name "* ]] || continue ;;
    esac
    echo "export $name=$(printf '%q' "${!name}")"
  done
  echo "export BERTH_IN_VM=1"
  printf 'set --'; printf ' %q' "$@"; echo
} > "$ctl/env.sh"
echo "export BERTH_VM_DIAGNOSE=$(printf '%q' "$(cd "$(dirname "$0")" && pwd)/diagnose.sh")" \
  >> "$ctl/env.sh"
# The guest's own deadline leaves the host's last minute (at most) for the diagnostics.
guest_limit=$(( timeout_s > 120 ? timeout_s - 60 : timeout_s / 2 ))
echo "$guest_limit" > "$ctl/guest_limit"
echo "$modroot" > "$ctl/kmod_root"
echo "$EXTRA_MODULES" > "$ctl/extra_modules"

out_args=()
if [ -n "${BERTH_VM_OUT:-}" ]; then
  mkdir -p "$BERTH_VM_OUT"
  out_dir=$(cd "$BERTH_VM_OUT" && pwd -P)
  echo "$out_dir" > "$ctl/out_path"
  out_args=(-fsdev "local,path=$out_dir,security_model=passthrough,id=out"
            -device "virtio-9p-pci,fsdev=out,mount_tag=out")
fi

# psi=1: the tests read pressure (PSI) files, which a kernel built with PSI off by default
# only has when asked.
cmdline="console=ttyS0 panic=-1 psi=1 berth.root=$root_mode"
if [ "${BERTH_VM_VERBOSE:-0}" = 1 ]; then cmdline+=" loglevel=7"; else cmdline+=" quiet loglevel=1"; fi

# qboot starts the kernel faster than SeaBIOS and prints nothing on the serial console.
bios_args=()
[ -f /usr/share/qemu/qboot.rom ] && bios_args=(-bios /usr/share/qemu/qboot.rom)

# --- run ----------------------------------------------------------------------------------
log "booting $kver (TCG, ${smp} cpus, ${mem_mb} MB, timeout ${timeout_s}s)"
qemu-system-x86_64 \
  -accel tcg,thread=multi -cpu max -smp "$smp" -m "$mem_mb" \
  -nographic -no-reboot -nic none -monitor none -serial stdio \
  "${bios_args[@]}" -kernel "$kdir/vmlinuz" -initrd "$initrd" -append "$cmdline" \
  -fsdev "local,path=/,readonly=on,security_model=passthrough,multidevs=remap,id=root" \
  -device "virtio-9p-pci,fsdev=root,mount_tag=root" \
  -fsdev "local,path=$ctl,security_model=passthrough,id=ctl" \
  -device "virtio-9p-pci,fsdev=ctl,mount_tag=ctl" \
  "${out_args[@]}" < /dev/null > >(tee "$ctl/console.log") &
qemu_pid=$!

deadline=$(( $(date +%s) + timeout_s ))
timed_out=0
t_started=""
while kill -0 "$qemu_pid" 2>/dev/null; do
  [ -z "$t_started" ] && [ -f "$ctl/started" ] && t_started=$(date +%s.%N)
  if [ "$(date +%s)" -ge "$deadline" ]; then
    timed_out=1
    log "timeout after ${timeout_s}s; killing qemu (pid $qemu_pid)"
    kill -TERM "$qemu_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
    break
  fi
  sleep 0.2
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
t_end=$(date +%s.%N)

status=125
# tee may still be writing the last console lines when qemu is gone.
for _ in 1 2 3 4 5; do grep -aq 'BERTH-VM-EXIT:' "$ctl/console.log" 2>/dev/null && break; sleep 0.1; done
if [ "$timed_out" = 1 ]; then
  status=124
elif [ -f "$ctl/status" ]; then
  status=$(cat "$ctl/status")
elif marker=$(grep -ao 'BERTH-VM-EXIT:[0-9]*' "$ctl/console.log" | tail -1) && [ -n "$marker" ]; then
  status=${marker#BERTH-VM-EXIT:}  # the control share failed; the console still says it
else
  log "the guest reported no exit status (see the console output above)"
fi
if [ -n "${out_dir:-}" ]; then cp "$ctl/console.log" "$out_dir/console.log" 2>/dev/null || true; fi
[ -n "$t_started" ] || t_started=$t_end
log "$(awk -v a="$t_start" -v b="$t_prepared" -v c="$t_started" -v d="$t_end" -v s="$status" \
  'BEGIN { printf "prepare %.1fs, boot to command %.1fs, command %.1fs, exit %s", b-a, c-b, d-c, s }')"
exit "$status"
