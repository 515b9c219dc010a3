# Sourced by the bench scripts: make_busybox_rootfs DIR builds a busybox-static root file
# system in DIR (an applet symlink each, /etc/passwd and /etc/group with root), shared
# read-only by every runtime a benchmark compares.
make_busybox_rootfs() {
  local r=$1 a
  mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,mnt,root}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
  printf 'root:x:0:\n' >"$r/etc/group"
}
