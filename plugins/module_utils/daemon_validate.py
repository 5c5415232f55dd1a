# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of daemon.json options against dockerd's option table, before anything is
written: types first, then the values dockerd refuses to start with. Standard library only.
"""

from __future__ import annotations

import difflib
import ipaddress

from ansible_collections.dockhand.docker.plugins.module_utils.daemon_options import (
    BOOL,
    BOOL_MAP,
    CGROUPNS_MODES,
    FLAG_TO_KEY,
    HOST_SCHEMES,
    INT,
    IPC_MODES,
    LOG_FORMATS,
    LOG_LEVELS,
    MAP_OF_STR_MAP,
    OBJECT,
    OPTIONS,
    POOLS,
    PROXIES,
    PROXY_KEYS,
    REMOVED_STORAGE_DRIVERS,
    RUNTIMES,
    SIZE,
    STR,
    STR_LIST,
    STR_MAP,
    ULIMITS,
    parse_version,
    unsupported_reason,
    version_text,
)

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


def _objects(key, value, what, container=dict):
    """Errors for a value that is not a ``container`` (dict or list) of objects, and the
    (name or index, object) pairs that are objects, for the caller's own checks."""
    if not isinstance(value, container):
        return [f"'{key}' must be {what}, not the {_type_name(value)} {value!r}"], []
    pairs = value.items() if container is dict else enumerate(value)
    errors, objects = [], []
    for name, item in pairs:
        if isinstance(item, dict):
            objects.append((name, item))
        else:
            where = f"'{name}'" if container is dict else f"item {name}"
            errors.append(f"'{key}' must be {what}: {where} is {_type_name(item)}")
    return errors, objects


def _check_runtimes(key, value):
    what = 'a mapping of runtime name to an object with "path" (or "runtimeType")'
    errors, runtimes = _objects(key, value, what)
    for name, runtime in runtimes:
        if not isinstance(runtime.get("path", runtime.get("runtimeType")), str):
            errors.append(f"'{key}' must be {what}: '{name}' has no string \"path\" "
                          "or \"runtimeType\"")
    return errors


def _check_ulimits(key, value):
    what = 'a mapping of ulimit name to {"Name": ..., "Soft": int, "Hard": int}'
    errors, limits = _objects(key, value, what)
    for name, limit in limits:
        # Go's JSON decoder matches struct fields case-insensitively.
        fields = {str(k).lower(): v for k, v in limit.items()}
        for field in ("soft", "hard"):
            if not _is_int(fields.get(field)):
                errors.append(f"'{key}' must be {what}: '{name}' needs an integer "
                              f"\"{field.capitalize()}\", got {fields.get(field)!r}")
    return errors


def _check_pools(key, value):
    what = 'a list of {"base": "<CIDR>", "size": <prefix length>} objects'
    errors, pools = _objects(key, value, what, container=list)
    for i, pool in pools:
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


def _parsed(parse, text):
    """parse(text), or None when it is not valid."""
    try:
        return parse(text)
    except ValueError:
        return None


def _ip(key, value, version=None, example="192.0.2.1"):
    # dockerd treats "" as "not set", as the reference daemon.json shows.
    if value == "":
        return []
    address = _parsed(ipaddress.ip_address, value)
    if address is None or (version and address.version != version):
        kind = f"an IPv{version} address" if version else "an IP address"
        return [f"'{key}' must be {kind} such as {example}; got {value!r}"]
    return []


def _cidr(key, value, version, example):
    if value == "":
        return []
    network = _parsed(lambda text: ipaddress.ip_network(text, strict=False), value)
    if network is None or network.version != version or "/" not in value:
        return [f"'{key}' must be an IPv{version} subnet in CIDR notation such as {example}; "
                f"got {value!r}"]
    return []


def _check_bip(key, value):
    if value == "":
        return []
    interface = _parsed(ipaddress.ip_interface, value)
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


def validate(options, allow_unknown: bool = False, engine_version: str = "") -> list[str]:
    """Return every problem in ``options`` that would make dockerd refuse the file; with
    ``engine_version`` (as a package or dockerd --version prints it), also every key that
    engine does not know yet or any more."""
    if not isinstance(options, dict):
        return [f"daemon.json options must be a mapping, not the {_type_name(options)}"]
    version = parse_version(engine_version) if engine_version else None
    errors = []
    if engine_version and version is None:
        errors.append(f"engine_version {engine_version!r} is not an engine version (such as "
                      "20.10.24 or 26.1.5+dfsg1-9); give one, 'auto' to ask the host's dockerd, "
                      "or an empty string to check no version")
    for key, value in options.items():
        spec = OPTIONS.get(key)
        if spec is None:
            if not allow_unknown:
                errors.append(_unknown_key_error(key))
            continue
        reason = unsupported_reason(key, version[0]) if version else None
        if reason:
            errors.append(f"'{key}' is not known to this host's engine, Docker Engine "
                          f"{version[1]} ({reason}): leave it out for this host, or give the "
                          f"host an engine that knows it")
            continue
        if value is None:
            errors.append(f"'{key}' is null; leave it out, or list it in remove_keys to drop it")
            continue
        type_errors = _TYPE_CHECKS[spec.type](key, value)
        errors += type_errors
        if not type_errors and key in _VALUE_CHECKS:
            errors += _VALUE_CHECKS[key](key, value)
        removed = (REMOVED_STORAGE_DRIVERS.get(value)
                   if key == "storage-driver" and isinstance(value, str) else None)
        if version and removed and version[0] >= removed:
            errors.append(f"'storage-driver': {value} is not in this host's engine, Docker Engine "
                          f"{version[1]} (removed in Docker Engine {version_text(removed)}): "
                          "use overlay2")
    return errors


def request_errors(options, remove_keys=(), state: str = "merged",
                   allow_unknown: bool = False, engine_version: str = "") -> list[str]:
    """What is wrong with a request on its own, before any host's file is read.

    The controller checks this before it contacts a host, and the module again on the host.
    """
    errors = validate(options, allow_unknown, engine_version)
    if state == "merged":
        errors += [f"'{k}' is both in options and in remove_keys; keep one"
                   for k in remove_keys if k in options]
    return errors


def failure_message(options_name: str, errors: list[str]) -> str:
    return f"{options_name}: invalid daemon.json options: " + "; ".join(errors)


def request_failure(options, remove_keys=(), state: str = "merged", allow_unknown: bool = False,
                    engine_version: str = "auto",
                    options_name: str = "options") -> tuple[str | None, list[str]]:
    """The controller's check of a request: (the failure message or None, the errors).

    The action plugin and the preflight filter both ask this; an engine_version of "auto"
    (or none) is checked without a version, which only the host can tell.
    """
    if not isinstance(options, dict):
        return (f"{options_name} must be a mapping of daemon.json keys to values, "
                f"not {type(options).__name__}", [])
    version = str(engine_version or "").strip()
    errors = request_errors(options, list(remove_keys or []), state or "merged", allow_unknown,
                            "" if version == "auto" else version)
    return (failure_message(options_name, errors) if errors else None), errors


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
