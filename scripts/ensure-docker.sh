#!/usr/bin/env bash
# Make sure a Docker engine answers on this controller, because the lab hosts are
# containers. On a fresh Debian/Ubuntu machine run as root we install Debian's docker.io
# and start dockerd ourselves (systemd is not PID 1 on every build machine); anywhere else
# we stop and say what the operator has to do.
set -euo pipefail

log=${DOCKHAND_DOCKERD_LOG:-/var/log/dockhand-dockerd.log}

answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; then
  echo "dockhand: no Docker engine answers here. Install and start Docker (or run 'make lab'" >&2
  echo "as root on Debian/Ubuntu, which installs docker.io itself), then try again." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockhand: installing Debian's docker.io on this controller"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q docker.io debootstrap >/dev/null
fi

if [ -d /run/systemd/system ]; then
  systemctl start docker
else
  echo "dockhand: starting dockerd (log: $log)"
  nohup dockerd >>"$log" 2>&1 &
fi

for _ in $(seq 1 60); do
  answers && exit 0
  sleep 1
done
echo "dockhand: dockerd did not answer within 60 s; see $log" >&2
exit 1
