#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: engine_container
short_description: Run one Docker container from an image already on the host, idempotently
version_added: 0.1.0
description:
  - Creates, starts, stops, recreates or removes a container through the Docker Engine API on
    the local unix socket, with nothing but the target's system python3.
  - Compares the wanted configuration with the existing container (image ID, command,
    entrypoint, environment, labels, ports, mounts, tmpfs, restart policy, healthcheck, user,
    network mode and networks, hostname, read-only root, capabilities, security options,
    memory, CPU and PIDs limits, stop timeout) and recreates the
    container on any difference. A second run with the same arguments changes nothing.
  - Images are never pulled. Put them on the host first with
    M(dockhand.docker.engine_image_load) or from a registry.
  - Not a drop-in for M(community.docker.docker_container), hence its own name. It
    takes O(mounts) and O(networks) as lists of strings (dicts there), defaults
    O(restart_policy) to V(unless-stopped) (Docker's V(no) there) and covers a small part of
    its options. It exists because it needs no Docker SDK or C(requests) on the target.
options:
  name:
    description: Name of the container.
    type: str
    required: true
  image:
    description:
      - Image to run, by name (C(app:1.2)) or ID. It must already be on the host.
      - The container is recreated when the name resolves to another image ID than the one the
        container runs, for example after a new image was loaded under the same tag.
      - Required unless O(state=absent).
    type: str
  command:
    description:
      - Command (arguments to the entrypoint). A list is used as is; a string is split like a
        shell would split it.
      - Unset or empty means the image's C(CMD), unless O(entrypoint) is set, which drops the
        image's C(CMD) as C(docker run --entrypoint) does.
    type: raw
  entrypoint:
    description:
      - Entrypoint, as a list or a shell-split string. Unset means the image's; V([]) means none.
    type: raw
  env:
    description:
      - Environment variables. Values are stringified; booleans become C(true) and C(false).
      - The image's own variables are kept unless overridden here; a variable removed from
        this option is removed from the container (by recreating it).
      - A C(no_log) option, since it often carries secrets. The module never shows the values;
        the invocation, RV(container) and the diff show only the names.
    type: dict
  labels:
    description: Labels, added to the image's. Values are stringified.
    type: dict
  ports:
    description:
      - Published ports, each C(HOSTPORT:CONTAINERPORT), C(IP:HOSTPORT:CONTAINERPORT) or
        C([IPV6]:HOSTPORT:CONTAINERPORT), optionally followed by C(/tcp), C(/udp) or C(/sctp).
        An empty host port lets Docker pick one.
      - Quote each entry in YAML; unquoted, C(22:22) is read as a base-60 number.
    type: list
    elements: str
  mounts:
    description:
      - Each C(SRC:DST) or C(SRC:DST:ro) (or C(:rw)). An absolute C(SRC) is bind-mounted and
        must exist; any other C(SRC) is a named volume, created when missing.
    type: list
    elements: str
  restart_policy:
    description: Docker restart policy.
    type: str
    choices: ['no', always, unless-stopped, on-failure]
    default: unless-stopped
  healthcheck:
    description:
      - Healthcheck. Fields left out are inherited from the image's healthcheck, as
        C(docker run) does. O(healthcheck.test=[NONE]) turns the image's healthcheck off.
    type: dict
    suboptions:
      test:
        description:
          - Command. A string runs in a shell (C(CMD-SHELL)); a list that does not start with
            C(CMD), C(CMD-SHELL) or C(NONE) is run directly (C(CMD) is prepended).
        type: raw
      interval:
        description:
          - Time between checks, such as C(30s), C(1m30s) or C(500ms); a bare number is seconds.
        type: str
      timeout:
        description: Time a check may take, in the same form as O(healthcheck.interval).
        type: str
      retries:
        description: Consecutive failures that make the container unhealthy.
        type: int
      start_period:
        description: Grace period after start, in the same form as O(healthcheck.interval).
        type: str
  user:
    description:
      - User (and group) the command runs as, C(name), C(uid) or C(uid:gid).
      - Unset means the image's.
    type: str
  network_mode:
    description:
      - C(bridge), C(host), C(none), C(container:NAME) or a network name. Unset means the
        first of O(networks), else Docker's default bridge.
    type: str
  networks:
    description:
      - Networks to attach the container to, by name; they must exist. The container is
        recreated when it is attached to a different set.
      - Cannot be combined with O(network_mode) C(host), C(none) or C(container:NAME).
    type: list
    elements: str
  hostname:
    description: Hostname inside the container. Only compared when set.
    type: str
  read_only:
    description: Mount the container's root filesystem read-only.
    type: bool
    default: false
  tmpfs:
    description: Tmpfs mounts, each C(/path) or C(/path:OPTIONS) such as C(/run:size=64m,mode=1777).
    type: list
    elements: str
  cap_drop:
    description:
      - Capabilities to drop, such as C(ALL) or C(NET_RAW); the C(CAP_) prefix is optional.
    type: list
    elements: str
  cap_add:
    description:
      - Capabilities to add back, for example C(NET_BIND_SERVICE) after O(cap_drop=[ALL]).
    type: list
    elements: str
  security_opts:
    description:
      - Security options, as C(docker run --security-opt) takes them, such as
        C(no-new-privileges) or C(apparmor=PROFILE).
    type: list
    elements: str
  memory:
    description:
      - Memory limit, a number of bytes or a number with C(k), C(m) or C(g) (C(512m)).
        Unset or C(0) means no limit.
    type: str
  cpus:
    description: CPUs the container may use (C(0.5) is half of one). Unset or C(0) means no limit.
    type: float
  pids_limit:
    description: Most processes and threads the container may have. Unset or C(0) means no limit.
    type: int
  stop_timeout:
    description:
      - Seconds to wait for the container to stop before it is killed, when the module stops
        it and as the container's own stop timeout. Only compared when set.
    type: int
  state:
    description:
      - V(started) creates the container when needed and makes sure it runs.
      - V(stopped) creates the container when needed and makes sure it does not run.
      - V(absent) stops and removes it.
    type: str
    choices: [started, stopped, absent]
    default: started
  restart:
    description:
      - Restart the container even when nothing changed, for example because a file it mounts
        (a certificate) was replaced. Only with O(state=started); a container that was just
        created or started is not restarted again.
    type: bool
    default: false
  recreate:
    description: Recreate the container even when nothing changed.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - dockhand.docker.engine
attributes:
  diff_mode:
    support: full
notes:
  - Recreating means stop (with O(stop_timeout)), remove, create and start. Anonymous volumes
    of the old container (from the image's C(VOLUME)) are left behind, not removed and not
    reused; keep data in O(mounts).
  - Only the options above are managed. A container created with other settings (by hand, for
    example) is recreated with exactly these options.
  - Only the target's system python3 is needed.
seealso:
  - module: dockhand.docker.engine_image_load
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Run the registry with its certificate
  dockhand.docker.engine_container:
    name: registry
    image: registry:2
    ports:
      - "443:5000"
    mounts:
      - /etc/dockhand/registry/certs:/certs:ro
      - registry-data:/var/lib/registry
    env:
      REGISTRY_HTTP_TLS_CERTIFICATE: /certs/registry.crt
      REGISTRY_HTTP_TLS_KEY: /certs/registry.key
    healthcheck:
      test: ["wget", "-q", "--spider", "--no-check-certificate", "https://localhost:5000/v2/"]
      interval: 30s
      timeout: 5s
      retries: 3
    restart: "{{ registry_cert.changed }}"

- name: Stop it without removing it
  dockhand.docker.engine_container:
    name: registry
    image: registry:2
    state: stopped

- name: Remove it
  dockhand.docker.engine_container:
    name: registry
    state: absent
"""

RETURN = r"""
container:
  description:
    - The container's inspect data after the task (before it, in check mode); empty when
      there is no container.
    - Environment values are replaced by C(********).
  returned: success
  type: dict
  sample: {"Id": "5c1d...", "Name": "/registry", "State": {"Running": true, "Status": "running"}}
actions:
  description: What was done (would be done, in check mode), in order.
  returned: success
  type: list
  elements: str
  sample: ["stopped", "removed", "created", "started"]
differences:
  description: The compared fields that differed and made the module recreate the container.
  returned: success
  type: list
  elements: str
  sample: ["env", "image"]
"""

import copy
import ipaddress
import os
import re
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import (
    ModuleRun,
    differences,
    hidden_values,
)
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
    EngineError,
    NotFound,
    name_in_path,
)

REDACTED = "********"
MISSING_IMAGE = ("image {} is not on this host: load it first "
                 "(engine_image_load / docker_registry_preload)")

# ---------------------------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9,
                   "m": 60 * 10**9, "h": 3600 * 10**9}
_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
_PROTOCOLS = ("tcp", "udp", "sctp")


def parse_duration(value):
    """Nanoseconds of '30s', '1m30s', '500ms', '1h' or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = value
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            total, position = 0, 0
            for match in _DURATION_PART.finditer(text):
                if match.start() != position:
                    break
                total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                position = match.end()
            if not text or position != len(text):
                raise ValueError(f"{value!r} is not a duration such as 30s, 1m30s or 500ms"
                                 ) from None
            return round(total)
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return round(seconds * 10**9)


_SIZE = re.compile(r"^(\d+)([bkmg]?)b?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_size(value, option):
    """Bytes of '512m', '1g', '65536' (unset and '0' are 0, no limit)."""
    if value in (None, ""):
        return 0
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"{option}: {value!r} is not a size such as 512m, 1g or a number of bytes")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def capability(name):
    """A capability as the daemon stores it: upper case with CAP_, except ALL."""
    text = str(name).strip().upper()
    if text == "ALL":
        return text
    return text if text.startswith("CAP_") else f"CAP_{text}"


def capabilities(values):
    return sorted({capability(value) for value in values or []})


def _port_number(text, allow_empty):
    if text == "" and allow_empty:
        return ""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port number")
    return str(int(text))


def parse_port(spec):
    """(container port 'N/proto', host IP, host port) of one ports entry."""
    text = str(spec).strip()
    usage = (f"ports: {spec!r} is not HOSTPORT:CONTAINERPORT[/PROTO] or "
             "IP:HOSTPORT:CONTAINERPORT[/PROTO]")
    if text.isdigit():
        usage += " (YAML reads an unquoted 22:22 as the base-60 number 1342; quote it)"
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.rsplit("/", 1)
        if protocol not in _PROTOCOLS:
            raise ValueError(f"{usage}: protocol must be one of {', '.join(_PROTOCOLS)}")
    if text.startswith("["):
        address, bracket, rest = text[1:].partition("]:")
        parts = [address, *rest.split(":")] if bracket else []
    else:
        parts = text.split(":")
        if len(parts) == 2:
            parts.insert(0, "")
    if len(parts) != 3:
        raise ValueError(usage)
    host_ip, host_port, container_port = parts
    try:
        if host_ip:
            host_ip = str(ipaddress.ip_address(host_ip))
        host_port = _port_number(host_port, allow_empty=True)
        container_port = _port_number(container_port, allow_empty=False)
    except ValueError as exc:
        raise ValueError(f"{usage}: {exc}") from None
    return f"{container_port}/{protocol}", host_ip, host_port


def port_text(container_port, host_ip, host_port):
    """The canonical 'IP:HOSTPORT:CONTAINERPORT/PROTO' form of one binding."""
    if ":" in host_ip:
        host_ip = f"[{host_ip}]"
    return f"{host_ip}:{host_port}:{container_port}" if host_ip else f"{host_port}:{container_port}"


def port_bindings(parsed):
    bindings = {}
    for container_port, host_ip, host_port in parsed:
        entry = {"HostIp": host_ip, "HostPort": host_port}
        if entry not in bindings.setdefault(container_port, []):
            bindings[container_port].append(entry)
    return bindings


def parse_mount(spec):
    """The HostConfig.Mounts entry of 'SRC:DST[:ro|rw]'."""
    parts = str(spec).split(":")
    usage = f"mounts: {spec!r} is not SRC:DST[:ro]"
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise ValueError(usage)
    source, target = parts[0], parts[1]
    if not target.startswith("/"):
        raise ValueError(f"{usage}: DST must be an absolute path in the container")
    if source.startswith("/"):
        kind, source = "bind", os.path.normpath(source)
    elif _VOLUME_NAME.fullmatch(source):
        kind = "volume"
    else:
        raise ValueError(f"{usage}: SRC must be an absolute host path (a bind mount) or a "
                         "volume name ([A-Za-z0-9][A-Za-z0-9_.-]+)")
    return {"Type": kind, "Source": source, "Target": os.path.normpath(target),
            "ReadOnly": len(parts) == 3 and parts[2] == "ro"}


def mount_text(kind, source, target, read_only):
    text = f"{source}:{os.path.normpath(target)}:{'ro' if read_only else 'rw'}"
    return text if kind in ("bind", "volume") else f"{kind}:{text}"


def parse_tmpfs(spec):
    path, _dummy, options = str(spec).partition(":")
    if not path.startswith("/"):
        raise ValueError(f"tmpfs: {spec!r} is not /PATH[:OPTIONS]")
    return os.path.normpath(path), options


def command_list(value, option):
    """A command option as a list: a list as is, a string split like a shell would."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{option}: cannot split {value!r}: {exc}") from None
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    raise ValueError(f"{option} must be a list or a string")


def stringify(value, option, key):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        raise ValueError(f"{option}.{key} must be a string, number or boolean")
    return str(value)


def string_map(values, option):
    result = {}
    for raw_key, value in (values or {}).items():
        key = str(raw_key)
        if not key or (option == "env" and "=" in key):
            raise ValueError(f"{option}: {key!r} is not a valid name")
        result[key] = stringify(value, option, key)
    return result


def healthcheck_config(spec):
    """The API Healthcheck of the healthcheck option, or None when it is unset."""
    if spec is None:
        return None
    test = spec.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    elif test:
        test = [str(item) for item in test]
        if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            test = ["CMD", *test]
    result = {"Test": test or []}
    for option, key in (("interval", "Interval"), ("timeout", "Timeout"),
                        ("start_period", "StartPeriod")):
        if spec.get(option) not in (None, ""):
            try:
                result[key] = parse_duration(spec[option])
            except ValueError as exc:
                raise ValueError(f"healthcheck.{option}: {exc}") from None
    if spec.get("retries") is not None:
        result["Retries"] = spec["retries"]
    return result


# ---------------------------------------------------------------------------------------------
# Comparison (pure)
# ---------------------------------------------------------------------------------------------

_HEALTH_KEYS = ("Interval", "Timeout", "StartPeriod", "Retries")


def normalize_healthcheck(config):
    if not config:
        return None
    result = {"Test": list(config.get("Test") or [])}
    result.update((key, config.get(key) or 0) for key in _HEALTH_KEYS)
    return result if result["Test"] or any(result[k] for k in _HEALTH_KEYS) else None


def merged_healthcheck(image_config, ours):
    """What the daemon keeps: our fields, the image's where ours are unset or zero."""
    image_hc = normalize_healthcheck(image_config)
    if ours is None:
        return image_hc
    merged = normalize_healthcheck(ours) or {"Test": [], **dict.fromkeys(_HEALTH_KEYS, 0)}
    for key in ("Test", *_HEALTH_KEYS):
        if not merged[key] and image_hc:
            merged[key] = image_hc[key]
    return normalize_healthcheck(merged)


def env_map(entries):
    result = {}
    for entry in entries or []:
        key, _dummy, value = entry.partition("=")
        result[key] = value
    return result


def network_mode_name(mode):
    return "bridge" if mode in (None, "", "default") else mode


def primary_network(spec):
    """The container's NetworkMode: network_mode, else the first of networks, else unset."""
    return spec["network_mode"] or (spec["networks"][0] if spec["networks"] else None)


def wanted_state(spec, image):
    """The compared fields the container must have. ``spec`` is the output of
    ``container_spec``, ``image`` the image's inspect data."""
    image_config = image.get("Config") or {}
    if spec["command"]:
        command = spec["command"]
    elif spec["entrypoint"]:
        command = []  # a new entrypoint drops the image's CMD, as in the daemon
    else:
        command = image_config.get("Cmd") or []
    if spec["entrypoint"] is None:
        entrypoint = image_config.get("Entrypoint") or []
    else:
        entrypoint = spec["entrypoint"]
    wanted = {
        "image": image["Id"],
        "command": command,
        "entrypoint": entrypoint,
        "env": {**env_map(image_config.get("Env")), **spec["env"]},
        "labels": {**(image_config.get("Labels") or {}), **spec["labels"]},
        "ports": sorted(port_text(*p) for p in spec["ports"]),
        "mounts": sorted(mount_text(m["Type"], m["Source"], m["Target"], m["ReadOnly"])
                         for m in spec["mounts"]),
        "tmpfs": dict(spec["tmpfs"]),
        "restart_policy": spec["restart_policy"],
        "healthcheck": merged_healthcheck(image_config.get("Healthcheck"), spec["healthcheck"]),
        "user": spec["user"] or image_config.get("User") or "",
        "network_mode": network_mode_name(primary_network(spec)),
        "read_only": spec["read_only"],
        "cap_drop": spec["cap_drop"],
        "cap_add": spec["cap_add"],
        "security_opts": spec["security_opts"],
        "memory": spec["memory"],
        "nano_cpus": spec["nano_cpus"],
        "pids_limit": spec["pids_limit"],
    }
    if spec["networks"]:
        wanted["networks"] = sorted({network_mode_name(n) for n in spec["networks"]})
    if spec["hostname"] is not None:
        wanted["hostname"] = spec["hostname"]
    if spec["stop_timeout"] is not None:
        wanted["stop_timeout"] = spec["stop_timeout"]
    return wanted


def current_state(container):
    """The compared fields of a container's inspect data."""
    config = container.get("Config") or {}
    host = container.get("HostConfig") or {}
    ports = [port_text(container_port, b.get("HostIp") or "", b.get("HostPort") or "")
             for container_port, bindings in (host.get("PortBindings") or {}).items()
             for b in bindings or []]
    mounts = [mount_text(m.get("Type"), m.get("Source", ""), m.get("Target", ""),
                         bool(m.get("ReadOnly"))) for m in host.get("Mounts") or []]
    for bind in host.get("Binds") or []:
        parts = bind.split(":")
        options = parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if parts[0].startswith("/") else "volume"
        source = os.path.normpath(parts[0]) if kind == "bind" else parts[0]
        mounts.append(mount_text(kind, source, parts[1] if len(parts) > 1 else "",
                                 "ro" in options))
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    return {
        "image": container.get("Image"),
        "command": config.get("Cmd") or [],
        "entrypoint": config.get("Entrypoint") or [],
        "env": env_map(config.get("Env")),
        "labels": config.get("Labels") or {},
        "ports": sorted(ports),
        "mounts": sorted(mounts),
        "tmpfs": host.get("Tmpfs") or {},
        "restart_policy": (host.get("RestartPolicy") or {}).get("Name") or "no",
        "healthcheck": normalize_healthcheck(config.get("Healthcheck")),
        "user": config.get("User") or "",
        "network_mode": network_mode_name(host.get("NetworkMode")),
        "read_only": bool(host.get("ReadonlyRootfs")),
        "cap_drop": capabilities(host.get("CapDrop")),
        "cap_add": capabilities(host.get("CapAdd")),
        "security_opts": sorted(host.get("SecurityOpt") or []),
        "memory": host.get("Memory") or 0,
        "nano_cpus": host.get("NanoCpus") or 0,
        # Unlimited reads back as null, 0 or -1 depending on the engine's version.
        "pids_limit": max(host.get("PidsLimit") or 0, 0),
        "networks": sorted({network_mode_name(n) for n in networks}),
        "hostname": config.get("Hostname"),
        "stop_timeout": config.get("StopTimeout"),
    }


def redact_env_pair(before, after):
    """Env maps for the diff with the values hidden, marking which ones change."""
    shown_before = dict.fromkeys(before, REDACTED)
    shown_after = {key: REDACTED if before.get(key) == value else f"{REDACTED} (changed)"
                   for key, value in after.items()}
    return shown_before, shown_after


def redact_container(container):
    """Inspect data with every environment value replaced."""
    if not container:
        return {}
    redacted = copy.deepcopy(container)
    config = redacted.get("Config") or {}
    if config.get("Env"):
        config["Env"] = [f"{entry.partition('=')[0]}={REDACTED}" for entry in config["Env"]]
    return redacted


def container_spec(params):
    """Validated, normalized options; ValueError lists every problem."""
    errors = []

    def attempt(function, *args, default=None):
        try:
            return function(*args)
        except ValueError as exc:
            errors.append(str(exc))
            return default

    spec = {
        "image": params.get("image"),
        "command": attempt(command_list, params.get("command"), "command"),
        "entrypoint": attempt(command_list, params.get("entrypoint"), "entrypoint"),
        "env": attempt(string_map, params.get("env"), "env", default={}),
        "labels": attempt(string_map, params.get("labels"), "labels", default={}),
        "ports": [p for p in (attempt(parse_port, s) for s in params.get("ports") or []) if p],
        "mounts": [m for m in (attempt(parse_mount, s) for s in params.get("mounts") or []) if m],
        "tmpfs": dict(t for t in (attempt(parse_tmpfs, s) for s in params.get("tmpfs") or [])
                      if t),
        "restart_policy": params.get("restart_policy") or "unless-stopped",
        "healthcheck": attempt(healthcheck_config, params.get("healthcheck")),
        "user": params.get("user"),
        "network_mode": params.get("network_mode"),
        "networks": list(dict.fromkeys(params.get("networks") or [])),
        "hostname": params.get("hostname"),
        "read_only": bool(params.get("read_only")),
        "cap_drop": capabilities(params.get("cap_drop")),
        "cap_add": capabilities(params.get("cap_add")),
        "security_opts": sorted(set(params.get("security_opts") or [])),
        "memory": attempt(parse_size, params.get("memory"), "memory", default=0),
        "nano_cpus": round((params.get("cpus") or 0) * 10**9),
        "pids_limit": params.get("pids_limit") or 0,
        "stop_timeout": params.get("stop_timeout"),
    }
    if spec["nano_cpus"] < 0 or spec["pids_limit"] < 0:
        errors.append("cpus and pids_limit cannot be negative")
    targets = [m["Target"] for m in spec["mounts"]] + list(spec["tmpfs"])
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        errors.append(f"mounts/tmpfs: {target} is mounted more than once")
    mode = spec["network_mode"] or ""
    if spec["networks"] and (mode in ("host", "none") or mode.startswith("container:")):
        errors.append(f"networks cannot be combined with network_mode {mode}")
    if mode and spec["networks"] and network_mode_name(mode) not in spec["networks"]:
        spec["networks"].insert(0, mode)
    if errors:
        raise ValueError("; ".join(errors))
    return spec


def create_body(spec):
    """The POST /containers/create body; the first network is the primary one."""
    host_config = {
        "PortBindings": port_bindings(spec["ports"]),
        "Mounts": spec["mounts"],
        "RestartPolicy": {"Name": spec["restart_policy"], "MaximumRetryCount": 0},
        "ReadonlyRootfs": spec["read_only"],
        "CapDrop": spec["cap_drop"] or None,
        "CapAdd": spec["cap_add"] or None,
        "SecurityOpt": spec["security_opts"] or None,
        "Memory": spec["memory"],
        "NanoCpus": spec["nano_cpus"],
    }
    if spec["pids_limit"]:
        host_config["PidsLimit"] = spec["pids_limit"]
    if spec["tmpfs"]:
        host_config["Tmpfs"] = spec["tmpfs"]
    mode = primary_network(spec)
    if mode:
        host_config["NetworkMode"] = mode
    body = {
        "Image": spec["image"],
        "Env": [f"{key}={value}" for key, value in spec["env"].items()],
        "Labels": spec["labels"],
        "ExposedPorts": {p[0]: {} for p in spec["ports"]},
        "HostConfig": host_config,
    }
    optional = (("Cmd", spec["command"] or None), ("Entrypoint", spec["entrypoint"]),
                ("User", spec["user"]), ("Hostname", spec["hostname"]),
                ("Healthcheck", spec["healthcheck"]), ("StopTimeout", spec["stop_timeout"]))
    body.update((key, value) for key, value in optional if value is not None)
    if spec["networks"]:
        body["NetworkingConfig"] = {"EndpointsConfig": {mode: {}}}
    return body


# ---------------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------------

def run_state(container):
    if not container:
        return "absent"
    return "started" if (container.get("State") or {}).get("Running") else "stopped"


_VERBS = {"stopped": "stop", "removed": "remove", "created": "create", "started": "start",
          "restarted": "restart"}


class ContainerManager(ModuleRun):
    # Env values are hidden by the module itself (see main).
    hidden = (("env", "*"),)

    def __init__(self, module, client):
        super().__init__(module)
        self.client = client
        self.differences = []
        self.diff = {"before": {}, "after": {}}

    def do(self, action, function, *args):
        """Record ``action`` and, unless in check mode, run it."""
        self.actions.append(action)
        if self.check:
            return None
        return self.call(f"{_VERBS[action]} container {self.params['name']}", function, *args)

    def _stop(self, container):
        cid = container["Id"]
        if (container.get("State") or {}).get("Paused"):
            self.client.post(f"/containers/{cid}/unpause")
        timeout = self.params["stop_timeout"]
        wait = timeout if timeout is not None else (
            (container.get("Config") or {}).get("StopTimeout") or 10)
        self.client.post(f"/containers/{cid}/stop", {"t": timeout},
                         timeout=self.client.timeout + wait)

    def _remove(self, container):
        self.client.delete(f"/containers/{container['Id']}")

    def _create(self, spec):
        created = self.client.post("/containers/create", {"name": self.params["name"]},
                                   create_body(spec))
        for warning in created.get("Warnings") or []:
            self.module.warn(f"Docker: {warning}")
        for network in spec["networks"][1:]:
            self.client.post(f"/networks/{name_in_path(network)}/connect",
                             body={"Container": created["Id"]})
        return created["Id"]

    def _start(self, cid):
        self.client.post(f"/containers/{cid}/start")

    def _restart(self, container):
        timeout = self.params["stop_timeout"]
        self.client.post(f"/containers/{container['Id']}/restart", {"t": timeout},
                         timeout=self.client.timeout + (timeout or 10))

    def _record_diff(self, wanted, current, before_state, state):
        before = {key: current.get(key) for key in wanted} if current else {}
        after = dict(wanted)
        if "env" in after:
            shown_before, after["env"] = redact_env_pair(before.get("env") or {}, after["env"])
            if current:
                before["env"] = shown_before
            else:
                after["env"] = dict.fromkeys(after["env"], REDACTED)
        before["state"], after["state"] = before_state, state
        self.diff = {"before": before, "after": after}

    def run(self):
        """Converge; the inspect data to return."""
        name, state = self.params["name"], self.params["state"]
        spec = None
        if state != "absent":
            try:
                spec = container_spec(self.params)
            except ValueError as exc:
                self.fail(str(exc))
        container = self.call(f"inspect container {name}", self.client.container, name)
        before_state = run_state(container)
        running = before_state == "started"

        if state == "absent":
            if running:
                self.do("stopped", self._stop, container)
            if container:
                self.do("removed", self._remove, container)
            self._record_diff({}, {}, before_state, state)
            return container if self.check else None

        image = self.call(f"inspect image {spec['image']}", self.client.image, spec["image"])
        if image is None:
            self.fail(MISSING_IMAGE.format(spec["image"]))
        # dockerd 20.10 creates a container on a network that does not exist and only fails
        # to start it; check first, so a typo leaves nothing behind.
        for network in spec["networks"]:
            if network_mode_name(network) not in ("bridge", "host", "none"):
                try:
                    self.client.get(f"/networks/{name_in_path(network)}")
                except NotFound:
                    self.fail(f"network {network} does not exist")
                except EngineError as exc:
                    self.fail(f"cannot inspect network {network}: {exc.message}",
                              status=exc.status)
        wanted = wanted_state(spec, image)
        current = current_state(container) if container else {}
        if container:
            self.differences = differences(current, wanted)
        self._record_diff(wanted, current, before_state, state)

        cid = container["Id"] if container else None
        if container and (self.differences or self.params["recreate"]):
            if running:
                self.do("stopped", self._stop, container)
            self.do("removed", self._remove, container)
            cid, running = None, False
        if cid is None:
            cid = self.do("created", self._create, spec)
            if state == "started":
                self.do("started", self._start, cid)
        elif state == "started" and not running:
            self.do("started", self._start, cid)
        elif state == "started" and self.params["restart"]:
            self.do("restarted", self._restart, container)
        elif state == "stopped" and running:
            self.do("stopped", self._stop, container)

        if self.check:
            return container
        return self.call(f"inspect container {name}", self.client.container, cid)

    def results(self, container):
        result = {
            "changed": bool(self.actions),
            "actions": self.actions,
            "differences": self.differences,
            "container": redact_container(container),
        }
        if self.module._diff:
            result["diff"] = self.diff
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            image=dict(type="str"),
            command=dict(type="raw"),
            entrypoint=dict(type="raw"),
            env=dict(type="dict", no_log=True),
            labels=dict(type="dict"),
            ports=dict(type="list", elements="str"),
            mounts=dict(type="list", elements="str"),
            restart_policy=dict(type="str", default="unless-stopped",
                                choices=["no", "always", "unless-stopped", "on-failure"]),
            healthcheck=dict(type="dict", options=dict(
                test=dict(type="raw"),
                interval=dict(type="str"),
                timeout=dict(type="str"),
                retries=dict(type="int"),
                start_period=dict(type="str"),
            )),
            user=dict(type="str"),
            network_mode=dict(type="str"),
            networks=dict(type="list", elements="str"),
            hostname=dict(type="str"),
            read_only=dict(type="bool", default=False),
            tmpfs=dict(type="list", elements="str"),
            cap_drop=dict(type="list", elements="str"),
            cap_add=dict(type="list", elements="str"),
            security_opts=dict(type="list", elements="str"),
            memory=dict(type="str"),
            cpus=dict(type="float"),
            pids_limit=dict(type="int"),
            stop_timeout=dict(type="int"),
            state=dict(type="str", default="started", choices=["started", "stopped", "absent"]),
            restart=dict(type="bool", default=False),
            recreate=dict(type="bool", default=False),
            socket=dict(type="path", default="/var/run/docker.sock"),
        ),
        required_if=[("state", "started", ["image"]), ("state", "stopped", ["image"])],
        supports_check_mode=True,
    )
    # Ansible masks every no_log value wherever it appears in the result, even inside other
    # strings: an env value such as "1" would turn every 1 of the container ID into ********.
    # The module hides env values itself (container, diff, invocation), so they are taken out
    # of the generic masking.
    for value in hidden_values(module.params, ContainerManager.hidden):
        module.no_log_values.discard(value)
    manager = ContainerManager(module, EngineClient(module.params["socket"]))
    container = manager.run()
    manager.exit(**manager.results(container))


if __name__ == "__main__":
    main()
