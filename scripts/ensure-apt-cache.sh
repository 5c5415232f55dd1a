#!/usr/bin/env bash
# ensure-apt-cache.sh MIRROR SUITE ADDRESS...: an apt cache on this controller for the lab
# hosts and molecule instances, Debian's apt-cacher-ng on port 3142 of the ADDRESSes (the
# lab's and Docker's bridges; not an open proxy on every interface), fetching from MIRROR
# (the Debian mirror the lab's image is built from, SUITE its release). Every fresh host installs the same packages (docker.io
# alone is some 80 MB); through the cache each is fetched from the mirror once and then
# served over the lab's bridge. The hosts find it on their default gateway at each apt run
# (lab/image/apt-proxy) and fetch from the mirror directly when it does not answer, so this
# is an optimisation and never a requirement: where it cannot be set up, or does not serve
# the mirror, it says so, and the lab works without it.
set -euo pipefail

usage="usage: ensure-apt-cache.sh MIRROR SUITE ADDRESS..."
mirror=${1:?$usage}
suite=${2:?$usage}
shift 2
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
mirror=${mirror%/}/
# Loopback too: the check below and an operator's look at the cache's report page.
addresses="127.0.0.1 $*"
port=3142
conf=/etc/apt-cacher-ng/zz_dockhand.conf

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

# Whether the cache serves the mirror's index: a cache that answers but cannot reach the
# mirror would make every host's apt fail.
serves() {
  python3 - "$mirror" "$suite" "$port" <<'PY'
import sys
import urllib.request
mirror, suite, port = sys.argv[1:4]
proxy = urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"})
try:
    urllib.request.build_opener(proxy).open(f"{mirror}dists/{suite}/InRelease", timeout=30)
except OSError as exc:
    sys.exit(f"dockhand: the apt cache cannot fetch from {mirror}: {exc}")
PY
}

give_up() {
  echo "dockhand: $1; lab hosts fetch packages from the mirror directly" >&2
  exit 0
}

if [ "$(id -u)" != 0 ] || ! grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; then
  listening || give_up "no apt cache on port $port (installing one needs root on Debian)"
  exit 0
fi

if ! command -v apt-cacher-ng >/dev/null 2>&1; then
  echo "dockhand: installing Debian's apt-cacher-ng on this controller (the lab's apt cache)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q apt-cacher-ng >/dev/null 2>&1; then
    apt-get update -q >/dev/null && apt-get install -y -q apt-cacher-ng >/dev/null \
      || give_up "apt-cacher-ng cannot be installed"
  fi
fi

# Debian's archive from the lab's own mirror: the package's default backends name mirrors
# that may be unreachable from here.
wanted="# Written by dockhand's scripts/ensure-apt-cache.sh: the lab's mirror and bridges.
Remap-debrep: file:deb_mirror*.gz /debian ; $mirror
BindAddress: $addresses"
restart=false
if [ "$(cat "$conf" 2>/dev/null)" != "$wanted" ]; then
  printf '%s\n' "$wanted" > "$conf"
  restart=true
fi

# systemd is not PID 1 on every build machine: the package's init script starts it as its
# own user either way.
if ! listening || $restart; then
  if [ -d /run/systemd/system ]; then
    systemctl restart apt-cacher-ng || give_up "apt-cacher-ng does not start"
  else
    /etc/init.d/apt-cacher-ng restart >/dev/null || give_up "apt-cacher-ng does not start"
  fi
  for _ in $(seq 1 20); do
    listening && break
    sleep 0.5
  done
fi
listening || give_up "apt-cacher-ng does not answer on port $port"
if ! serves; then
  /etc/init.d/apt-cacher-ng stop >/dev/null 2>&1 || systemctl stop apt-cacher-ng || true
  give_up "the apt cache was stopped"
fi
