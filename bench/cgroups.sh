# Sourced by the bench scripts. On a hybrid host berthd nests its root in every v1 hierarchy
# too (/sys/fs/cgroup/<controller>/<root below the cgroup2 mount>), and runc makes its
# cgroupsPath in each; a script that removed only the cgroup2 side left those behind.
#
# remove_bench_cgroups REL...  removes, in every mounted cgroup hierarchy (cgroup2 and each v1
#   one), the directory tree <mount>/REL (each REL relative to a mount, e.g.
#   /berth/bench-Ab12Cd; a trailing * globs), deepest first, then <mount>/berth when nothing
#   else uses it. Only empty cgroups can be removed: anything still running stays, loudly.
remove_bench_cgroups() {
  local mnt rel d
  for mnt in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts); do
    for rel in "$@"; do
      for d in "$mnt"$rel; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null ||
          echo "bench: WARNING: could not remove all of $d" >&2
      done
    done
    rmdir "$mnt/berth" 2>/dev/null || true  # only when no other agent uses it
  done
}

# bench_cgroups_left REL...  prints what remove_bench_cgroups would have removed (nothing, after it).
bench_cgroups_left() {
  local mnt rel d
  for mnt in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts); do
    for rel in "$@"; do
      for d in "$mnt"$rel; do [ -d "$d" ] && echo "$d"; done
    done
  done
  return 0
}
