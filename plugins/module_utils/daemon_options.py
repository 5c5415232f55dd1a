# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd's options as daemon.json and its command line know them.

Modelled on the Docker engine 20.10 .. 28 sources and reference docs: which keys daemon.json
accepts (dockerd rejects a file with any key that is not one of its flags), from which
engine version and until which one, their types, which of them a SIGHUP reload applies, and
which command-line flags set the same option (dockerd refuses to start when an option is
given both ways). Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BOOL = "bool"
INT = "int"
STR = "str"
SIZE = "size"  # "64M" or a plain number of bytes
STR_LIST = "list of str"
STR_MAP = "map of str"
MAP_OF_STR_MAP = "map of map of str"
BOOL_MAP = "map of bool"
OBJECT = "object"
RUNTIMES = "runtimes"
ULIMITS = "ulimits"
POOLS = "pools"
PROXIES = "proxies"


# Engine versions as (major, minor): 20.10, then 23.0 onwards (there was no 21 or 22).
Version = tuple[int, int]


@dataclass(frozen=True)
class Option:
    type: str
    reload: bool = False
    # None means the flag is spelled like the key.
    flags: tuple[str, ...] | None = None
    # The first engine version that accepts the key, and the first that refuses it again;
    # None where the key is older than 20.10 or is still accepted.
    since: Version | None = None
    until: Version | None = None


OPTIONS: dict[str, Option] = {
    "allow-direct-routing": Option(BOOL, since=(28, 2)),
    # Deprecated in 28.0: accepted, and ignored from 28.1 on.
    "allow-nondistributable-artifacts": Option(STR_LIST, reload=True),
    # Does nothing from 27.0 on (unless DOCKERD_DEPRECATED_CORS_HEADER is set); refused from 28.0.
    "api-cors-header": Option(STR, until=(28, 0)),
    "authorization-plugins": Option(STR_LIST, reload=True, flags=("--authorization-plugin",)),
    "bip": Option(STR),
    "bip6": Option(STR, since=(28, 0)),
    "bridge": Option(STR, flags=("-b", "--bridge")),
    "builder": Option(OBJECT),
    "cdi-spec-dirs": Option(STR_LIST, flags=("--cdi-spec-dir",), since=(25, 0)),
    "cgroup-parent": Option(STR),
    "containerd": Option(STR),
    "containerd-namespace": Option(STR),
    # dockerd's flag (and so the accepted key) is plural, even though its struct tag is not.
    "containerd-plugins-namespace": Option(STR),
    "cpu-rt-period": Option(INT),
    "cpu-rt-runtime": Option(INT),
    "cri-containerd": Option(BOOL),
    "data-root": Option(STR, flags=("--data-root", "-g", "--graph")),
    "debug": Option(BOOL, reload=True, flags=("-D", "--debug")),
    "default-address-pools": Option(POOLS, flags=("--default-address-pool",)),
    "default-cgroupns-mode": Option(STR),
    "default-gateway": Option(STR),
    "default-gateway-v6": Option(STR),
    "default-ipc-mode": Option(STR),
    "default-network-opts": Option(MAP_OF_STR_MAP, flags=("--default-network-opt",),
                                   since=(24, 0)),
    "default-runtime": Option(STR, reload=True),
    "default-shm-size": Option(SIZE),
    "default-ulimits": Option(ULIMITS, flags=("--default-ulimit",)),
    "dns": Option(STR_LIST),
    "dns-opts": Option(STR_LIST, flags=("--dns-opt",)),
    "dns-search": Option(STR_LIST),
    "exec-opts": Option(STR_LIST, flags=("--exec-opt",)),
    "exec-root": Option(STR),
    "experimental": Option(BOOL),
    "features": Option(BOOL_MAP, reload=True, flags=("--feature",)),
    "fixed-cidr": Option(STR),
    "fixed-cidr-v6": Option(STR),
    "group": Option(STR, flags=("-G", "--group")),
    # Deprecated in 28.0 for host-gateway-ips, which it is copied to (never both). From 28.0
    # the one flag, --host-gateway-ip, sets the list; conflicts are tracked under this key.
    "host-gateway-ip": Option(STR),
    "host-gateway-ips": Option(STR_LIST, flags=(), since=(28, 0)),
    "hosts": Option(STR_LIST, flags=("-H", "--host")),
    "icc": Option(BOOL),
    "init": Option(BOOL),
    "init-path": Option(STR),
    "insecure-registries": Option(STR_LIST, reload=True, flags=("--insecure-registry",)),
    "ip": Option(STR),
    "ip-forward": Option(BOOL),
    "ip-forward-no-drop": Option(BOOL, since=(28, 0)),
    "ip-masq": Option(BOOL),
    "ip6tables": Option(BOOL),
    "iptables": Option(BOOL),
    "ipv6": Option(BOOL),
    "labels": Option(STR_LIST, reload=True, flags=("--label",)),
    "live-restore": Option(BOOL, reload=True),
    "log-driver": Option(STR),
    "log-format": Option(STR, since=(25, 0)),
    "log-level": Option(STR, flags=("-l", "--log-level")),
    "log-opts": Option(STR_MAP, flags=("--log-opt",)),
    "max-concurrent-downloads": Option(INT, reload=True),
    "max-concurrent-uploads": Option(INT, reload=True),
    "max-download-attempts": Option(INT, reload=True),
    "metrics-addr": Option(STR),
    "mtu": Option(INT),
    "network-control-plane-mtu": Option(INT),
    "no-new-privileges": Option(BOOL),
    "node-generic-resources": Option(STR_LIST, flags=("--node-generic-resource",)),
    # Deprecated in 24.0, refused from 25.0 (a non-zero value), unknown from 26.0.
    "oom-score-adjust": Option(INT, until=(25, 0)),
    "pidfile": Option(STR, flags=("-p", "--pidfile")),
    # Not a flag itself: dockerd flattens it and matches the members against their own flags.
    "proxies": Option(PROXIES, flags=(), since=(23, 0)),
    "raw-logs": Option(BOOL),
    "registry-mirrors": Option(STR_LIST, reload=True, flags=("--registry-mirror",)),
    "rootless": Option(BOOL),
    "runtimes": Option(RUNTIMES, reload=True, flags=("--add-runtime",)),
    "seccomp-profile": Option(STR),
    "selinux-enabled": Option(BOOL),
    "shutdown-timeout": Option(INT, reload=True),
    "storage-driver": Option(STR, flags=("-s", "--storage-driver")),
    "storage-opts": Option(STR_LIST, flags=("--storage-opt",)),
    "swarm-default-advertise-addr": Option(STR),
    "tls": Option(BOOL),
    "tlscacert": Option(STR),
    "tlscert": Option(STR),
    "tlskey": Option(STR),
    "tlsverify": Option(BOOL),
    "userland-proxy": Option(BOOL),
    "userland-proxy-path": Option(STR),
    "userns-remap": Option(STR),
}

PROXY_KEYS = ("http-proxy", "https-proxy", "no-proxy")

# The reload code swaps the feature map in, but the snapshotter is chosen once at start-up.
RESTART_ONLY_FEATURES = frozenset({"containerd-snapshotter"})

# A reload only applies most keys when the file sets them, so dropping one keeps the running
# value until a restart; these few are reset to their defaults instead.
RELOAD_RESETS_WHEN_ABSENT = frozenset(
    {"max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts", "features"}
)

# dockerd merges --add-runtime with the file's runtimes instead of calling it a conflict.
MERGED_WITH_FLAGS = frozenset({"runtimes"})

# Storage drivers (values of storage-driver) and the engine version that removed each.
REMOVED_STORAGE_DRIVERS: dict[str, Version] = {
    "aufs": (24, 0), "overlay": (24, 0), "devicemapper": (25, 0),
}

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal", "panic", "trace")
LOG_FORMATS = ("text", "json")
HOST_SCHEMES = ("unix", "tcp", "fd", "npipe", "ssh")
CGROUPNS_MODES = ("host", "private")
IPC_MODES = ("private", "shareable")


def option_flags(key: str) -> tuple[str, ...]:
    spec = OPTIONS[key]
    return (f"--{key}",) if spec.flags is None else spec.flags


def _build_flag_index() -> dict[str, str]:
    index = {}
    for key in OPTIONS:
        for flag in option_flags(key):
            index[flag] = key
    for sub in PROXY_KEYS:
        index[f"--{sub}"] = f"proxies.{sub}"
    return index


FLAG_TO_KEY = _build_flag_index()

# Flags outside daemon.json whose arity matters when walking a unit's command line.
_EXTRA_BOOL_FLAGS = frozenset(
    {"--validate", "-v", "--version", "-h", "--help"}
)
_EXTRA_VALUE_FLAGS = frozenset({"--config-file"})


def is_bool_flag(flag: str) -> bool:
    key = FLAG_TO_KEY.get(flag)
    if key is not None and key in OPTIONS:
        return OPTIONS[key].type == BOOL
    return flag in _EXTRA_BOOL_FLAGS


def is_known_flag(flag: str) -> bool:
    return flag in FLAG_TO_KEY or flag in _EXTRA_BOOL_FLAGS or flag in _EXTRA_VALUE_FLAGS


def parse_version(text: str) -> tuple[Version, str] | None:
    """(major, minor) of an engine version as packages and dockerd print it, and the version
    to name in a message: "20.10.24", "20.10.24+dfsg1-1+b3" (Debian's docker.io),
    "5:26.1.4-1~debian.12~bookworm" (docker-ce, with its epoch), "Docker version 26.1.5+dfsg1,
    build a72d7cd" (dockerd --version). None when the text holds no version."""
    match = re.search(r"(?:^|version |:)((\d+)\.(\d+)(?:\.\d+)?)(?:[.+~-]|,|$)", text.strip())
    if not match:
        return None
    return (int(match.group(2)), int(match.group(3))), match.group(1)


def version_text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def unsupported_reason(key: str, version: Version) -> str | None:
    """Why an engine of ``version`` refuses ``key`` (a known key), or None if it takes it."""
    spec = OPTIONS[key]
    if spec.since is not None and version < spec.since:
        return f"added in Docker Engine {version_text(spec.since)}"
    if spec.until is not None and version >= spec.until:
        return f"removed in Docker Engine {version_text(spec.until)}"
    return None
