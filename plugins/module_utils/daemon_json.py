# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic behind dockhand.docker.docker_daemon_config.

Standard library only: this runs on the managed hosts, which have nothing but their system
python3, and the unit tests import it without Ansible.

What is modelled here comes from the Docker engine 20.10 .. 27 sources and reference docs:
which keys daemon.json accepts (dockerd rejects a file with any key that is not one of its
flags), which of them a SIGHUP reload applies, and which command-line flags set the same
option (dockerd refuses to start when an option is given both ways).
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import os
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


@dataclass(frozen=True)
class Option:
    type: str
    reload: bool = False
    # None means the flag is spelled like the key.
    flags: tuple[str, ...] | None = None


OPTIONS: dict[str, Option] = {
    "allow-nondistributable-artifacts": Option(STR_LIST, reload=True),
    "api-cors-header": Option(STR),
    "authorization-plugins": Option(STR_LIST, reload=True, flags=("--authorization-plugin",)),
    "bip": Option(STR),
    "bridge": Option(STR, flags=("-b", "--bridge")),
    "builder": Option(OBJECT),
    "cdi-spec-dirs": Option(STR_LIST, flags=("--cdi-spec-dir",)),
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
    "default-network-opts": Option(MAP_OF_STR_MAP, flags=("--default-network-opt",)),
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
    "host-gateway-ip": Option(STR),
    "hosts": Option(STR_LIST, flags=("-H", "--host")),
    "icc": Option(BOOL),
    "init": Option(BOOL),
    "init-path": Option(STR),
    "insecure-registries": Option(STR_LIST, reload=True, flags=("--insecure-registry",)),
    "ip": Option(STR),
    "ip-forward": Option(BOOL),
    "ip-masq": Option(BOOL),
    "ip6tables": Option(BOOL),
    "iptables": Option(BOOL),
    "ipv6": Option(BOOL),
    "labels": Option(STR_LIST, reload=True, flags=("--label",)),
    "live-restore": Option(BOOL, reload=True),
    "log-driver": Option(STR),
    "log-format": Option(STR),
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
    "oom-score-adjust": Option(INT),
    "pidfile": Option(STR, flags=("-p", "--pidfile")),
    # Not a flag itself: dockerd flattens it and matches the members against their own flags.
    "proxies": Option(PROXIES, flags=()),
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
    {"--validate", "-v", "--version", "-h", "--help", "--ip-forward-no-drop",
     "--allow-direct-routing"}
)
_EXTRA_VALUE_FLAGS = frozenset({"--config-file"})


def _is_bool_flag(flag: str) -> bool:
    key = FLAG_TO_KEY.get(flag)
    if key is not None and key in OPTIONS:
        return OPTIONS[key].type == BOOL
    return flag in _EXTRA_BOOL_FLAGS


def _is_known_flag(flag: str) -> bool:
    return flag in FLAG_TO_KEY or flag in _EXTRA_BOOL_FLAGS or flag in _EXTRA_VALUE_FLAGS


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

_BUILTIN_TYPES = (bool, int, float, str, list, dict)


def _type_name(value) -> str:
    if value is None:
        return "null"
    # On the controller Ansible hands over subclasses of the builtins (tagged values);
    # the operator wrote an int, not an _AnsibleTaggedInt.
    return next((t.__name__ for t in _BUILTIN_TYPES if isinstance(value, t)),
                type(value).__name__)


def _is_int(value) -> bool:
    # bool is a subclass of int, but dockerd's JSON decoder will not put true into an int.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bool(key, value):
    if isinstance(value, bool):
        return []
    return [f"'{key}' must be a boolean (true or false), not the {_type_name(value)} {value!r}"]


def _check_int(key, value):
    if _is_int(value):
        return []
    return [f"'{key}' must be an integer, not the {_type_name(value)} {value!r}"]


def _check_str(key, value):
    if isinstance(value, str):
        return []
    return [f"'{key}' must be a string, not the {_type_name(value)} {value!r}"]


def _check_size(key, value):
    if isinstance(value, str) or _is_int(value):
        return []
    return [f"'{key}' must be a size such as \"64M\" or a number of bytes, "
            f"not the {_type_name(value)} {value!r}"]


def _check_str_list(key, value):
    if not isinstance(value, list):
        return [f"'{key}' must be a list of strings, not the {_type_name(value)} {value!r}"]
    return [f"'{key}' must be a list of strings: item {i} is {_type_name(item)} {item!r}"
            for i, item in enumerate(value) if not isinstance(item, str)]


def _check_str_map(key, value, what="a mapping of strings (Docker rejects numbers there)"):
    if not isinstance(value, dict):
        return [f"'{key}' must be {what}, not the {_type_name(value)} {value!r}"]
    return [f"'{key}' must be {what}: '{name}' is {_type_name(item)}"
            for name, item in value.items() if not isinstance(item, str)]


def _check_map_of_str_map(key, value):
    if not isinstance(value, dict):
        return [f"'{key}' must be a mapping of driver name to a mapping of strings, "
                f"not the {_type_name(value)} {value!r}"]
    errors = []
    for driver, opts in value.items():
        errors += _check_str_map(f"{key}.{driver}", opts)
    return errors


def _check_bool_map(key, value):
    if not isinstance(value, dict):
        return [f"'{key}' must be a mapping of name to true/false, "
                f"not the {_type_name(value)} {value!r}"]
    return [f"'{key}' must be a mapping of name to true/false: '{name}' is "
            f"{_type_name(item)} {item!r}"
            for name, item in value.items() if not isinstance(item, bool)]


def _check_object(key, value):
    if isinstance(value, dict):
        return []
    return [f"'{key}' must be a mapping, not the {_type_name(value)} {value!r}"]


def _check_runtimes(key, value):
    what = 'a mapping of runtime name to an object with "path" (or "runtimeType")'
    if not isinstance(value, dict):
        return [f"'{key}' must be {what}, not the {_type_name(value)} {value!r}"]
    errors = []
    for name, runtime in value.items():
        if not isinstance(runtime, dict):
            errors.append(f"'{key}' must be {what}: '{name}' is {_type_name(runtime)}")
        elif not isinstance(runtime.get("path", runtime.get("runtimeType")), str):
            errors.append(f"'{key}' must be {what}: '{name}' has no string \"path\" "
                          "or \"runtimeType\"")
    return errors


def _check_ulimits(key, value):
    what = 'a mapping of ulimit name to {"Name": ..., "Soft": int, "Hard": int}'
    if not isinstance(value, dict):
        return [f"'{key}' must be {what}, not the {_type_name(value)} {value!r}"]
    errors = []
    for name, limit in value.items():
        if not isinstance(limit, dict):
            errors.append(f"'{key}' must be {what}: '{name}' is {_type_name(limit)}")
            continue
        # Go's JSON decoder matches struct fields case-insensitively.
        fields = {str(k).lower(): v for k, v in limit.items()}
        for field in ("soft", "hard"):
            if not _is_int(fields.get(field)):
                errors.append(f"'{key}' must be {what}: '{name}' needs an integer "
                              f"\"{field.capitalize()}\", got {fields.get(field)!r}")
    return errors


def _check_pools(key, value):
    what = 'a list of {"base": "<CIDR>", "size": <prefix length>} objects'
    if not isinstance(value, list):
        return [f"'{key}' must be {what}, not the {_type_name(value)} {value!r}"]
    errors = []
    for i, pool in enumerate(value):
        if not isinstance(pool, dict):
            errors.append(f"'{key}' must be {what}: item {i} is {_type_name(pool)}")
            continue
        base, size = pool.get("base"), pool.get("size")
        try:
            network = ipaddress.ip_network(base, strict=False)
        except (TypeError, ValueError):
            errors.append(f"'{key}' item {i}: base {base!r} is not a network in CIDR "
                          "notation such as 172.30.0.0/16")
            continue
        if not _is_int(size):
            errors.append(f"'{key}' item {i}: size must be an integer prefix length, "
                          f"got {size!r}")
        elif not network.prefixlen <= size <= network.max_prefixlen:
            errors.append(f"'{key}' item {i}: size {size} must lie between the base's prefix "
                          f"length {network.prefixlen} and {network.max_prefixlen}")
    return errors


def _check_proxies(key, value):
    errors = _check_str_map(key, value, "a mapping of strings")
    if isinstance(value, dict):
        errors += [f"'{key}' has unknown member '{name}' (use {', '.join(PROXY_KEYS)})"
                   for name in value if name not in PROXY_KEYS]
    return errors


_TYPE_CHECKS = {
    BOOL: _check_bool,
    INT: _check_int,
    STR: _check_str,
    SIZE: _check_size,
    STR_LIST: _check_str_list,
    STR_MAP: _check_str_map,
    MAP_OF_STR_MAP: _check_map_of_str_map,
    BOOL_MAP: _check_bool_map,
    OBJECT: _check_object,
    RUNTIMES: _check_runtimes,
    ULIMITS: _check_ulimits,
    POOLS: _check_pools,
    PROXIES: _check_proxies,
}


def _one_of(key, value, allowed):
    if value in allowed:
        return []
    return [f"'{key}' must be one of {', '.join(allowed)}; got {value!r}"]


def _ip(key, value, version=None, example="192.0.2.1"):
    # dockerd treats "" as "not set", as the reference daemon.json shows.
    if value == "":
        return []
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or (version and address.version != version):
        kind = f"an IPv{version} address" if version else "an IP address"
        return [f"'{key}' must be {kind} such as {example}; got {value!r}"]
    return []


def _cidr(key, value, version, example):
    if value == "":
        return []
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        network = None
    if network is None or network.version != version or "/" not in value:
        return [f"'{key}' must be an IPv{version} subnet in CIDR notation such as {example}; "
                f"got {value!r}"]
    return []


def _check_bip(key, value):
    if value == "":
        return []
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        interface = None
    if interface is None or interface.version != 4 or "/" not in value:
        return [f"'{key}' must be the bridge's own IPv4 address with a prefix length, such as "
                f"172.18.0.1/16; got {value!r}"]
    return []


def _check_hosts(key, value):
    errors = []
    for host in value:
        scheme, sep, _dummy = host.partition("://")
        if not sep or scheme not in HOST_SCHEMES:
            schemes = ", ".join(f"{s}://" for s in HOST_SCHEMES)
            errors.append(f"'{key}' entry {host!r} must start with one of {schemes} "
                          "(e.g. unix:///var/run/docker.sock or tcp://0.0.0.0:2376)")
    return errors


def _check_key_value_items(key, value):
    return [f"'{key}' entry {item!r} must be formatted key=value"
            for item in value if "=" not in item or item.startswith("=")]


def _check_mirrors(key, value):
    return [f"'{key}' entry {item!r} must be an http:// or https:// URL"
            for item in value if not item.startswith(("http://", "https://"))]


def _check_insecure(key, value):
    return [f"'{key}' entry {item!r} must not contain a scheme (drop the '://' part)"
            for item in value if "://" in item]


def _check_non_negative(key, value):
    return [] if value >= 0 else [f"'{key}' must not be negative; got {value}"]


# Checks of values dockerd refuses to start with; they run only once the type is right.
_VALUE_CHECKS = {
    "bip": _check_bip,
    "fixed-cidr": lambda k, v: _cidr(k, v, 4, "172.18.0.0/24"),
    "fixed-cidr-v6": lambda k, v: _cidr(k, v, 6, "2001:db8:1::/64"),
    "ip": _ip,
    "host-gateway-ip": _ip,
    "default-gateway": lambda k, v: _ip(k, v, 4),
    "default-gateway-v6": lambda k, v: _ip(k, v, 6, "2001:db8::1"),
    "dns": lambda k, v: [e for item in v for e in _ip(k, item)],
    # dockerd lower-cases the level before checking it.
    "log-level": lambda k, v: [] if v.lower() in LOG_LEVELS else _one_of(k, v, LOG_LEVELS),
    "log-format": lambda k, v: _one_of(k, v, LOG_FORMATS),
    "default-cgroupns-mode": lambda k, v: _one_of(k, v, CGROUPNS_MODES),
    "default-ipc-mode": lambda k, v: _one_of(k, v, IPC_MODES),
    "hosts": _check_hosts,
    "labels": _check_key_value_items,
    "exec-opts": _check_key_value_items,
    "registry-mirrors": _check_mirrors,
    "insecure-registries": _check_insecure,
    "mtu": _check_non_negative,
    "max-concurrent-downloads": _check_non_negative,
    "max-concurrent-uploads": _check_non_negative,
    "max-download-attempts": _check_non_negative,
}


def _flag_spellings() -> dict[str, str]:
    """Map 'label', 'insecure-registry', ... to their daemon.json key for suggestions."""
    spellings = {}
    for flag, key in FLAG_TO_KEY.items():
        name = flag.lstrip("-")
        if flag.startswith("--") and name != key and "." not in key:
            spellings[name] = key
    return spellings


_FLAG_SPELLINGS = _flag_spellings()


def _unknown_key_error(key: str) -> str:
    if key in _FLAG_SPELLINGS:
        return (f"unknown daemon.json option '{key}' ('--{key}' is the command-line flag; "
                f"in daemon.json it is '{_FLAG_SPELLINGS[key]}')")
    if key in PROXY_KEYS:
        return (f"unknown daemon.json option '{key}' (put it inside 'proxies': "
                f"{{\"{key}\": ...}})")
    close = difflib.get_close_matches(key, list(OPTIONS), n=1, cutoff=0.75)
    if close:
        return (f"unknown daemon.json option '{key}' (not a dockerd option; "
                f"did you mean '{close[0]}'?)")
    return (f"unknown daemon.json option '{key}' (not a dockerd option; check the spelling, "
            "see dockerd --help)")


def validate(options, allow_unknown: bool = False) -> list[str]:
    """Return every problem in ``options`` that would make dockerd refuse the file."""
    if not isinstance(options, dict):
        return [f"daemon.json options must be a mapping, not the {_type_name(options)}"]
    errors = []
    for key, value in options.items():
        spec = OPTIONS.get(key)
        if spec is None:
            if not allow_unknown:
                errors.append(_unknown_key_error(key))
            continue
        if value is None:
            errors.append(f"'{key}' is null; leave it out, or list it in remove_keys to drop it")
            continue
        type_errors = _TYPE_CHECKS[spec.type](key, value)
        errors += type_errors
        if not type_errors and key in _VALUE_CHECKS:
            errors += _VALUE_CHECKS[key](key, value)
    return errors


def request_errors(options, remove_keys=(), state: str = "merged",
                   allow_unknown: bool = False) -> list[str]:
    """What is wrong with a request on its own, before any host's file is read.

    The controller checks this before it contacts a host, and the module again on the host.
    """
    errors = validate(options, allow_unknown)
    if state == "merged":
        errors += [f"'{k}' is both in options and in remove_keys; keep one"
                   for k in remove_keys if k in options]
    return errors


def failure_message(options_name: str, errors: list[str]) -> str:
    return f"{options_name}: invalid daemon.json options: " + "; ".join(errors)


def config_warnings(config: dict) -> list[str]:
    """Advice about a valid configuration that still bites in practice."""
    hosts = config.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        return []
    found = []
    # fd:// is systemd's docker.socket, which is the unix socket too.
    if not any(isinstance(h, str) and h.startswith(("unix://", "fd://")) for h in hosts):
        found.append(
            "'hosts' has no unix:// (or fd://) entry: the local docker CLI and dockhand's "
            "modules talk to the daemon over /var/run/docker.sock, add "
            "unix:///var/run/docker.sock to keep them working"
        )
    if any(isinstance(h, str) and h.startswith("tcp://") for h in hosts) and \
            config.get("tlsverify") is not True:
        found.append(
            "'hosts' has a tcp:// entry without 'tlsverify': true, which gives anyone who can "
            "reach that port root on this host"
        )
    return found


# ---------------------------------------------------------------------------------------------
# Merging and change classification
# ---------------------------------------------------------------------------------------------

def merge(existing: dict, options: dict, state: str = "merged",
          remove_keys: list | None = None) -> dict:
    if state == "exact":
        return copy.deepcopy(options)
    if state != "merged":
        raise ValueError(f"state must be 'merged' or 'exact', not {state!r}")
    drop = set(remove_keys or ())
    result = {k: v for k, v in existing.items() if k not in drop}
    result.update({k: v for k, v in options.items() if k not in drop})
    # Nested values are shared with the inputs otherwise.
    return copy.deepcopy(result)


_MISSING = object()


def changed_keys(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after)
                  if before.get(k, _MISSING) != after.get(k, _MISSING))


def _reloadable(key: str, before: dict, after: dict) -> bool:
    spec = OPTIONS.get(key)
    if spec is None or not spec.reload:
        return False
    if key not in after and key not in RELOAD_RESETS_WHEN_ABSENT:
        return False
    if key == "features":
        old, new = before.get(key) or {}, after.get(key) or {}
        return not any(old.get(f) != new.get(f) for f in RESTART_ONLY_FEATURES)
    return True


def apply_action(before: dict, after: dict, dropin_changed: bool) -> str:
    """'none', 'reload' (SIGHUP is enough) or 'restart' for going from before to after."""
    keys = changed_keys(before, after)
    if dropin_changed:
        return "restart"
    if not keys:
        return "none"
    if all(_reloadable(k, before, after) for k in keys):
        return "reload"
    return "restart"


def render(config: dict) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def parse(text: str | bytes) -> dict:
    """Parse daemon.json as dockerd does; raises ValueError when dockerd would not accept it."""
    if isinstance(text, bytes):
        # dockerd tolerates a UTF-8 byte order mark (Windows editors write one).
        text = text.decode("utf-8-sig")
    if not text.strip():
        return {}
    config = json.loads(text)
    if not isinstance(config, dict):
        raise ValueError(f"the top level is a JSON {type(config).__name__}, not an object")
    return config


# ---------------------------------------------------------------------------------------------
# systemd unit handling
# ---------------------------------------------------------------------------------------------

UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "lib/systemd/system",
             "usr/lib/systemd/system")


def find_unit_files(unit: str, roots) -> list[str]:
    """The unit's fragment followed by its drop-ins in the order systemd applies them.

    Empty when no fragment exists. A drop-in file name seen in an earlier directory hides the
    same name in later ones, as systemd does.
    """
    dirs = [os.path.join(root, d) for root in roots for d in UNIT_DIRS]
    fragment = next((os.path.join(d, unit) for d in dirs
                     if os.path.lexists(os.path.join(d, unit))
                     and not os.path.isdir(os.path.join(d, unit))), None)
    if fragment is None:
        return []
    dropins: dict[str, str] = {}
    for d in dirs:
        dropin_dir = os.path.join(d, unit + ".d")
        try:
            names = os.listdir(dropin_dir)
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf") and name not in dropins:
                dropins[name] = os.path.join(dropin_dir, name)
    return [fragment] + [dropins[name] for name in sorted(dropins)]


def _unit_assignments(text: str):
    """Yield (section, key, value) from unit file text, joining backslash continuations."""
    section = None
    pending = None

    def assignment(line):
        nonlocal section
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            return None
        key, sep, value = line.partition("=")
        return (section, key.strip(), value.strip()) if sep else None

    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped[:1] in ("#", ";") or (pending is None and not stripped):
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            pending = (pending or "") + line[:-1] + " "
            continue
        if pending is not None:
            line, pending = pending + line, None
        item = assignment(line)
        if item:
            yield item
    if pending is not None:
        item = assignment(pending)
        if item:
            yield item


def _execstart(text: str, current: str | None) -> str | None:
    for section, key, value in _unit_assignments(text):
        if section == "Service" and key == "ExecStart":
            # An empty assignment clears the list; otherwise the last one is what runs for
            # dockerd's Type=notify (systemd refuses several there anyway).
            current = value or None
    return current


def split_command(value: str) -> list[str]:
    """Split an ExecStart value into words, keeping each word exactly as written."""
    words, current, quote, in_word = [], [], None, False
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            in_word = True
            i += 2
            continue
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
            if char in "\"'":
                quote = char
        i += 1
    if in_word:
        words.append("".join(current))
    return words


def _unquote(word: str) -> str:
    out, quote, i = [], None, 0
    while i < len(word):
        char = word[i]
        if char == "\\" and i + 1 < len(word):
            nxt = word[i + 1]
            out.append(nxt if nxt in "\\\"' " else word[i:i + 2])
            i += 2
            continue
        if quote and char == quote:
            quote = None
        elif not quote and char in "\"'":
            quote = char
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _quote(text: str) -> str:
    if text and not any(c.isspace() or c in "\"'\\;" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def effective_execstart(unit_texts, ignore_paths=()) -> list[str]:
    """The dockerd command line systemd would run, as words spelled as in the unit file.

    ``unit_texts`` is [(path, text)] in application order (fragment, then drop-ins). Files in
    ``ignore_paths`` are skipped so that dockhand's own drop-in does not hide the vendor line.
    Words keep their quoting and ``$VAR``/``${VAR}`` references, so they can be written back
    unchanged; environment variables are not expanded.
    """
    ignored = {os.path.realpath(p) for p in ignore_paths}
    command = None
    for path, text in unit_texts:
        if os.path.realpath(path) not in ignored:
            command = _execstart(text, command)
    return split_command(command) if command else []


def overriding_dropins(unit_texts, own_path: str) -> list[str]:
    """Drop-ins that sort after ``own_path`` and set ExecStart, so they would win over it."""
    own_name, own_real = os.path.basename(own_path), os.path.realpath(own_path)
    return [path for path, text in unit_texts[1:]
            if os.path.basename(path) > own_name and os.path.realpath(path) != own_real
            and any(s == "Service" and k == "ExecStart" for s, k, _v in _unit_assignments(text))]


@dataclass
class _Arg:
    words: list[str]
    # (flag as spelled, value or None, raw word the value came from when it was separate)
    flags: list[tuple[str, str | None, str | None]]
    combined: bool = False


def _skip_exec_prefix(words: list[str]) -> int:
    """Index of the first real argument, past systemd's '@-:+!' executable prefixes."""
    if not words:
        return 0
    prefix = words[0][: len(words[0]) - len(words[0].lstrip("@-:+!"))]
    # With '@' the next word is argv[0] rather than an argument.
    return 2 if "@" in prefix else 1


def _takes_next(flag: str, following: str | None) -> bool:
    if following is None:
        return False
    if _is_known_flag(flag):
        return True
    # Unknown flag: guess from the next word, so a bool flag we do not know cannot swallow
    # the next flag and hide a conflict.
    return not _unquote(following).startswith("-")


def _parse_argv(argv: list[str]) -> list[_Arg]:
    args, i = [], _skip_exec_prefix(argv)
    while i < len(argv):
        raw = argv[i]
        word = _unquote(raw)
        following = argv[i + 1] if i + 1 < len(argv) else None
        if word == "--":
            args.extend(_Arg([w], []) for w in argv[i:])
            break
        if word.startswith("--") and len(word) > 2:
            name, sep, value = word.partition("=")
            if sep or _is_bool_flag(name) or not _takes_next(name, following):
                args.append(_Arg([raw], [(name, value if sep else None, None)]))
                i += 1
            else:
                args.append(_Arg([raw, following], [(name, _unquote(following), following)]))
                i += 2
            continue
        if word.startswith("-") and len(word) > 1:
            arg = _parse_shorthands(raw, word, following)
            args.append(arg)
            i += len(arg.words)
            continue
        args.append(_Arg([raw], []))
        i += 1
    return args


def _parse_shorthands(raw: str, word: str, following: str | None) -> _Arg:
    """pflag shorthands: -D, -Hvalue, -H=value, -H value, and stacked ones such as -DH x."""
    flags, words, j = [], [raw], 1
    while j < len(word):
        flag = "-" + word[j]
        rest = word[j + 1:]
        if _is_bool_flag(flag):
            if rest.startswith("="):
                flags.append((flag, rest[1:], None))
                break
            flags.append((flag, None, None))
            j += 1
            continue
        rest = rest[1:] if rest.startswith("=") else rest
        if rest:
            flags.append((flag, rest, None))
        elif _takes_next(flag, following):
            flags.append((flag, _unquote(following), following))
            words.append(following)
        else:
            flags.append((flag, None, None))
        break
    return _Arg(words, flags, combined=len(flags) > 1)


def _config_keys(config: dict) -> set[str]:
    keys = set(config)
    if isinstance(config.get("proxies"), dict):
        keys |= {f"proxies.{k}" for k in config["proxies"]}
    return keys


def conflicts(argv: list[str], config: dict) -> list[tuple[str, str]]:
    """(flag, key) for each flag on the command line that daemon.json also sets."""
    keys = _config_keys(config)
    found = []
    for arg in _parse_argv(argv):
        for flag, _value, _attached in arg.flags:
            key = FLAG_TO_KEY.get(flag)
            if key in keys and key not in MERGED_WITH_FLAGS and (flag, key) not in found:
                found.append((flag, key))
    return found


def config_file_flag(argv: list[str]) -> str | None:
    """The --config-file the command line passes, if any (dockerd then ignores daemon.json)."""
    value = None
    for arg in _parse_argv(argv):
        for flag, flag_value, _dummy in arg.flags:
            if flag == "--config-file":
                value = flag_value
    return value


def _kept_words(arg: _Arg, dropped: set[str]) -> list[str]:
    kept = [f for f in arg.flags if f[0] not in dropped]
    if len(kept) == len(arg.flags):
        return arg.words
    if not arg.combined:
        return []
    words = []
    for flag, value, value_word in kept:
        if value is None:
            words.append(flag)
        elif value_word is not None:
            words += [flag, value_word]
        else:
            words.append(flag + _quote(value))
    return words


def dropin_content(argv: list[str], conflicting) -> str | None:
    """A drop-in that reruns ``argv`` without the conflicting flags; None when none conflict."""
    if not conflicting:
        return None
    dropped = {flag for flag, _dummy in conflicting}
    start = _skip_exec_prefix(argv)
    words = list(argv[:start])
    for arg in _parse_argv(argv):
        words += _kept_words(arg, dropped)
    reasons = ", ".join(f"{flag} ({key})" for flag, key in conflicting)
    return (
        "# Managed by dockhand (dockhand.docker.docker_daemon_config); edits are overwritten.\n"
        "# dockerd refuses to start when an option is set both as a flag and in daemon.json,\n"
        f"# so this repeats the unit's command line without the flags daemon.json now sets:\n"
        f"# {reasons}\n"
        "[Service]\n"
        "ExecStart=\n"
        f"ExecStart={' '.join(words)}\n"
    )
