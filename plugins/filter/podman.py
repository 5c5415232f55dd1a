# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose projects as the units the podman role runs them with."""

from __future__ import annotations

import json
import shlex

from ansible.errors import AnsibleFilterError

DOCUMENTATION = """
name: podman
short_description: Compose projects as one podman_container_unit description per service
description:
  - C(podman_compose_units) turns C([{name, compose}]) (compose documents with C(services))
    into the arguments of M(dockhand.docker.podman_container_unit), one per service, named
    C(<project>-<service>) (or C(container_name)). Services of a project with more than one
    share a network named after the project, where they find each other by name.
  - Service keys understood are C(image), C(container_name), C(ports), C(volumes),
    C(environment), C(command) and C(x-restart-on) (text whose change restarts the service).
  - What confines the container is understood too, C(user), C(read_only), C(tmpfs),
    C(cap_drop), C(cap_add), C(security_opt), C(mem_limit), C(cpus) and C(pids_limit), and
    C(healthcheck) with C(test), C(interval), C(timeout), C(retries) and C(start_period).
  - Any other key fails, naming it, rather than being dropped silently.
"""

# Compose keys that confine a container, and the `podman run` flag of each (a list value gives
# the flag once per entry, true gives it bare).
CONFINING = {"user": "--user", "read_only": "--read-only", "tmpfs": "--tmpfs",
             "cap_drop": "--cap-drop", "cap_add": "--cap-add", "security_opt": "--security-opt",
             "mem_limit": "--memory", "cpus": "--cpus", "pids_limit": "--pids-limit"}
HEALTH = {"interval": "--health-interval", "timeout": "--health-timeout",
          "retries": "--health-retries", "start_period": "--health-start-period"}
KNOWN = {"image", "container_name", "ports", "volumes", "environment", "command",
         "x-restart-on", "healthcheck", *CONFINING}
WHERE = "podman_compose_projects"


def _fail(where, msg):
    raise AnsibleFilterError(f"{WHERE}: {where}: {msg}")


def _port(where, port):
    if isinstance(port, (str, int)):
        return str(port)
    if isinstance(port, dict) and "target" in port:
        published = port.get("published")
        proto = port.get("protocol", "tcp")
        text = f"{published}:{port['target']}" if published else str(port["target"])
        return text if proto == "tcp" else f"{text}/{proto}"
    return _fail(where, f"a port must be 'HOST:CONTAINER' or {{target, published}}, not {port!r}")


def _volume(where, volume):
    if isinstance(volume, str):
        return volume
    if isinstance(volume, dict) and volume.get("source") and volume.get("target"):
        suffix = ":ro" if volume.get("read_only") else ""
        return f"{volume['source']}:{volume['target']}{suffix}"
    return _fail(where, f"a volume must be 'SOURCE:TARGET[:OPTIONS]' or {{source, target}}, "
                        f"not {volume!r}")


def _env(where, env):
    if env is None:
        return {}
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    if isinstance(env, list):
        out = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            if not sep:
                _fail(where, f"an environment entry must be KEY=VALUE, not {item!r}")
            out[key] = value
        return out
    return _fail(where, "environment must be a mapping or a list of KEY=VALUE")


def _command(where, command):
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    if isinstance(command, list):
        return [str(c) for c in command]
    return _fail(where, "command must be a string or a list")


def _podman_args(where, spec):
    args = []
    for key, flag in CONFINING.items():
        value = spec.get(key)
        if value is None or value is False or value == "":
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            args += [f"{flag}={entry}" for entry in value]
        elif isinstance(value, (str, int, float)):
            args.append(f"{flag}={value}")
        else:
            _fail(where, f"{key} must be a string, a number, true or a list, not {value!r}")
    return args + _health_args(where, spec.get("healthcheck"))


def _health_args(where, health):
    """A compose healthcheck as podman's --health-* options: a list test (CMD form) goes as
    the JSON array podman takes, a CMD-SHELL or string test as the shell command."""
    if not health:
        return []
    if not isinstance(health, dict) or not health.get("test"):
        _fail(where, "healthcheck needs a test")
    test = health["test"]
    if isinstance(test, list) and test and test[0] == "CMD-SHELL":
        command = " ".join(str(t) for t in test[1:])
    elif isinstance(test, list):
        command = json.dumps([str(t) for t in (test[1:] if test[0] == "CMD" else test)])
    else:
        command = str(test)
    args = [f"--health-cmd={command}"]
    args += [f"{flag}={health[key]}" for key, flag in HEALTH.items() if health.get(key) is not None]
    return args


def podman_compose_units(projects):
    if not isinstance(projects, list):
        _fail("the value", "must be a list of {name, compose}")
    units, names = [], set()
    for index, project in enumerate(projects):
        if not isinstance(project, dict) or not project.get("name"):
            _fail(f"item {index}", "needs a name")
        services = (project.get("compose") or {}).get("services")
        if not isinstance(services, dict) or not services:
            _fail(project["name"], "compose needs a services mapping with at least one service")
        network = project["name"] if len(services) > 1 else ""
        for service, given in services.items():
            where = f"{project['name']}.{service}"
            spec = given or {}
            unknown = sorted(set(spec) - KNOWN)
            if unknown:
                _fail(where, f"unsupported keys {unknown} (supported: {sorted(KNOWN)})")
            if not spec.get("image"):
                _fail(where, "needs an image")
            name = spec.get("container_name") or f"{project['name']}-{service}"
            if name in names:
                _fail(where, f"the container name {name} is used twice")
            names.add(name)
            units.append({
                "name": name,
                "project": project["name"],
                "image": spec["image"],
                "publish": [_port(where, p) for p in spec.get("ports") or []],
                "volumes": [_volume(where, v) for v in spec.get("volumes") or []],
                "env": _env(where, spec.get("environment")),
                "command": _command(where, spec.get("command")),
                "network": network,
                "restart_on": str(spec.get("x-restart-on") or ""),
                "podman_args": _podman_args(where, spec),
            })
    return units


class FilterModule:
    def filters(self):
        return {"podman_compose_units": podman_compose_units}
