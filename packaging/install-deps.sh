#!/bin/sh
# Installs the Debian packages berth's build, tests, demo and benchmarks need.
# Idempotent: when every package is present it returns without touching apt.
# g++ brings the sanitizer runtimes `make test` uses (libasan8, libubsan1, libtsan2).
set -eu
PACKAGES="
  g++ make pkg-config
  libmicrohttpd-dev rapidjson-dev libcurl4-openssl-dev libsystemd-dev libssl-dev
  libarchive-dev libseccomp-dev libcap-dev libmnl-dev libnftables-dev
  libgtest-dev libgmock-dev
  busybox-static iproute2 util-linux procps curl ca-certificates
  crun runc conmon docker-registry skopeo umoci hyperfine apache2-utils openssl jq linux-perf python3
  qemu-system-x86 cpio kmod
"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages:$missing (run as root to install them)" >&2
  exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
