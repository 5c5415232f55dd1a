#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: podman_container_unit
short_description: Run a Podman container as a systemd unit that survives restarts and reboots
version_added: 0.1.0
description:
  - Describes a container (image, ports, volumes, environment, network, command) and runs it
    as a systemd service that creates it afresh at every start, so that C(systemctl restart)
    and a reboot bring it back from its image.
  - With Podman 4.4 or later the unit is a quadlet (C(<name>.container), turned into
    C(<name>.service) by Podman's systemd generator), its network and named volumes quadlets
    of their own (C(<network>.network), C(<volume>.volume)) that it requires; before 4.4 it
    is the unit C(podman generate systemd --new) writes for the container
    (C(container-<name>.service)).
  - The unit's first line records a digest of the description; a re-run with the same one
    changes nothing. A new description replaces the unit and restarts it; if it does not
    become active, the previous unit is put back and started, and the module fails with the
    unit's journal and says whether the previous unit runs again.
  - A started rootful container counts as up once it answers on every TCP port it publishes,
    where a client would connect (the host's address for a fixed host port, the container's
    otherwise), while systemd never restarts it; it may take O(start_timeout) for that, and a
    container still silent then but running counts as up with a warning. A rootless container,
    or one that publishes no TCP port, counts as up once it has stayed up for 3 seconds.
  - Run as root for a system unit, or as another user (C(become_user)) for a rootless
    container under that user's systemd (C(systemctl --user); the user needs lingering to
    keep it after logout and across reboots).
  - A rootless quadlet on a host still on cgroup v1, where a user's systemd cannot create the
    cgroup Podman's generator asks for (C(--cgroups=split)), runs with C(--cgroups=no-conmon)
    as C(podman generate systemd) units do.
  - On a host still on cgroup v1, where Podman 5 cannot have systemd create a pod's cgroup,
    a O(kube) quadlet runs Podman with C(--cgroup-manager=cgroupfs).
options:
  name:
    description: The container's name; with O(kube), the name of the unit and its files.
    type: str
    required: true
  state:
    description: V(absent) stops and removes the unit and the container.
    type: str
    choices: [present, absent]
    default: present
  image:
    description: The image. With O(state=present), this or O(kube) is required.
    type: str
  kube:
    description:
      - Kubernetes YAML (Pods, Deployments, ConfigMaps, PersistentVolumeClaims, as C(podman
        kube play) takes it) to run instead of one container, the way the unit runs one.
      - With Podman 4.4 or later it is C(<name>.yaml) beside a quadlet C(<name>.kube), turned
        into C(<name>.service); before, it is C(<name>.yaml) under C(/etc/containers/kube)
        (C(~/.config/containers/kube) rootless) run by Podman's own template unit,
        C(podman-kube@<escaped path>.service), enabled.
      - The options that describe one container do not apply; O(restart_on) does.
    type: str
  command:
    description: Arguments given to the image's entrypoint.
    type: list
    elements: str
    default: []
  publish:
    description: Published ports, as C(podman run --publish) takes them (C(8080:80)).
    type: list
    elements: str
    default: []
  volumes:
    description: Mounts, as C(podman run --volume) takes them (C(/srv/data:/data:Z)).
    type: list
    elements: str
    default: []
  env:
    description: Environment variables. They end up in the unit, which is written C(0600).
    type: dict
    default: {}
  podman_args:
    description:
      - Further C(podman run) options, each one argument such as C(--user=65532:65532),
        C(--read-only) or C(--cap-drop=ALL); a quadlet gets them as C(PodmanArgs).
    type: list
    elements: str
    default: []
  network:
    description: A Podman network to join (it must exist); empty uses Podman's default.
    type: str
    default: ""
  restart_on:
    description:
      - Any text that, when it changes, restarts the container, for example the checksums of
        the files it reads at start. Part of the digest, not of the container.
    type: str
    default: ""
  method:
    description:
      - V(auto) writes a quadlet with Podman 4.4 or later and a C(podman generate systemd
        --new) unit before.
    type: str
    choices: [auto, quadlet, generate]
    default: auto
  start_timeout:
    description: Seconds the unit may take to become active.
    type: int
    default: 60
  podman:
    description: The podman command.
    type: path
    default: podman
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Only the target's system python3 and Podman are needed.
seealso:
  - module: dockhand.docker.engine_container
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Run the registry under Podman
  dockhand.docker.podman_container_unit:
    name: registry
    image: registry.example.com:5000/library/registry:2
    publish: ["5000:5000"]
    volumes:
      - /etc/dockhand/registry/conf/config.yml:/etc/docker/registry/config.yml:ro
      - /var/lib/dockhand/registry:/var/lib/registry

- name: Run a pod described in Kubernetes YAML
  dockhand.docker.podman_container_unit:
    name: web
    kube: "{{ lookup('ansible.builtin.file', 'kube/web.yaml') }}"
"""

RETURN = r"""
unit:
  description: The systemd service that runs the container.
  returned: always
  type: str
  sample: container-registry.service
unit_file:
  description: The file the module owns (the quadlet, the unit, or for O(kube) before Podman
    4.4 the YAML the template unit runs).
  returned: always
  type: str
method:
  description: V(quadlet) or V(generate).
  returned: always
  type: str
podman_version:
  description: Podman's version.
  returned: always
  type: str
actions:
  description: What was done (or would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import os
import pwd
import re
import shlex
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import ModuleRun, version_tuple
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, read_text

QUADLET_MIN = (4, 4)
SPEC_MARK = "# dockhand-spec: "
# How long a started container must stay up when nothing else says it is ready, and how often
# the unit and the container are looked at meanwhile.
SETTLE = 3.0
POLL = 0.25


def _port_range(text):
    first, _sep, last = text.partition("-")
    if first.isdigit() and (not last or last.isdigit()):
        return list(range(int(first), int(last or first) + 1))
    return []


def _tcp_pairs(spec):
    """(address, port) pairs of one `podman run --publish` argument
    ([[ip:][host_port]:]container_port[/protocol], ranges as a-b) if it publishes TCP;
    address None: the container's own address and port."""
    body, _sep, protocols = spec.partition("/")
    if protocols and "tcp" not in protocols.lower().split(","):
        return []
    bind = ""
    if body.startswith("["):  # [IPv6]:host_port:container_port
        bind, _sep, body = body[1:].partition("]:")
    parts = body.split(":")
    container = _port_range(parts[-1])
    if len(parts) == 3:
        bind = parts[0]
    host = _port_range(parts[-2]) if len(parts) >= 2 else []
    # A client on the host reaches a fixed IPv4 host port through Podman's forwarding, which
    # is what a start must prove; a random host port or an IPv6 binding is checked on the
    # container's own address instead.
    if len(host) == len(container) and ":" not in bind:
        address = bind if bind not in ("", "0.0.0.0") else "127.0.0.1"
        return [(address, port) for port in host]
    return [(None, port) for port in container]


def published_endpoints(publish):
    """Where a client on the host reaches each published TCP port: (address, port) pairs."""
    return [pair for spec in publish for pair in _tcp_pairs(spec)]


def answers(endpoints, addresses, timeout=0.5):
    """Whether every endpoint accepts a connection; an endpoint without an address counts when
    one of the container's addresses accepts it (the same address for all of them)."""
    def accepts(address, port):
        try:
            socket.create_connection((address, port), timeout=timeout).close()
        except OSError:
            return False
        return True

    if not all(accepts(address, port) for address, port in endpoints if address):
        return False
    inside = [port for address, port in endpoints if not address]
    return not inside or any(all(accepts(a, port) for port in inside) for a in addresses)


# A volume source that names a Podman volume rather than a host path.
NAMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Present at the root of a cgroup v2 (unified) hierarchy only.
CGROUP_V2_MARK = "/sys/fs/cgroup/cgroup.controllers"


def spec_of(params):
    """The description the digest covers, in a stable order."""
    if params.get("kube"):
        return {"kube": params["kube"], "restart_on": params["restart_on"]}
    spec = {
        "image": params["image"],
        "command": list(params["command"]),
        "publish": list(params["publish"]),
        "volumes": list(params["volumes"]),
        "env": {k: str(v) for k, v in sorted(params["env"].items())},
        "network": params["network"],
        "restart_on": params["restart_on"],
    }
    # Only when given: units written before the option existed keep their digest.
    if params.get("podman_args"):
        spec["podman_args"] = list(params["podman_args"])
    return spec


def digest_of(spec, method):
    text = json.dumps({"spec": spec, "method": method}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_args(name, spec):
    """podman run/create arguments, without the verb."""
    args = ["--name", name]
    for port in spec["publish"]:
        args += ["--publish", port]
    for volume in spec["volumes"]:
        args += ["--volume", volume]
    for key, value in spec["env"].items():
        args += ["--env", f"{key}={value}"]
    if spec["network"]:
        args += ["--network", spec["network"]]
    args += spec.get("podman_args", [])
    return [*args, spec["image"], *spec["command"]]


def named_volume(volume):
    """The named volume a `SOURCE:TARGET[:OPTIONS]` mounts, or None for a host path."""
    source = volume.split(":", 1)[0]
    return source if NAMED.match(source) and ":" in volume else None


def quadlet_units(spec):
    """The .network and .volume quadlets a container's quadlet refers to, by file name: its
    network and named volumes, so that systemd makes them before it starts the container."""
    units = [f"{spec['network']}.network"] if spec["network"] else []
    names = (named_volume(volume) for volume in spec["volumes"])
    return units + sorted({f"{name}.volume" for name in names if name})


def quadlet_unit_text(unit):
    """A .network or .volume quadlet: Podman's object under its plain name, made by
    <name>-network.service or <name>-volume.service before a container that refers to it."""
    name, kind = unit.rsplit(".", 1)
    section, key = {"network": ("Network", "NetworkName"), "volume": ("Volume", "VolumeName")}[kind]
    return (f"# Written by dockhand.docker.podman_container_unit; changes are overwritten.\n"
            f"[{section}]\n{key}={name}\n")


def quadlet_text(name, spec):
    units = set(spec.get("quadlet_units", []))

    def volume_line(volume):
        named = named_volume(volume)
        if named and f"{named}.volume" in units:
            return f"Volume={named}.volume:{volume.split(':', 1)[1]}"
        return f"Volume={volume}"

    lines = ["[Unit]", f"Description=Podman container {name} (dockhand)",
             "Wants=network-online.target", "After=network-online.target", "",
             "[Container]", f"Image={spec['image']}", f"ContainerName={name}"]
    lines += [f"PublishPort={port}" for port in spec["publish"]]
    lines += [volume_line(volume) for volume in spec["volumes"]]
    lines += [f"Environment={shlex.quote(f'{k}={v}')}" for k, v in spec["env"].items()]
    if spec["network"]:
        network = spec["network"]
        lines.append(f"Network={network}.network" if f"{network}.network" in units
                     else f"Network={network}")
    if spec.get("cgroups"):
        lines.append(f"PodmanArgs=--cgroups={spec['cgroups']}")
    if spec.get("podman_args"):
        lines.append(f"PodmanArgs={shlex.join(spec['podman_args'])}")
    if spec["command"]:
        lines.append(f"Exec={shlex.join(spec['command'])}")
    lines += ["", "[Service]", "Restart=always", "TimeoutStartSec=900", "",
              "[Install]", "WantedBy=multi-user.target default.target", ""]
    return "\n".join(lines)


def kube_quadlet_text(name, spec):
    lines = ["[Unit]", f"Description=Podman Kubernetes YAML {name} (dockhand)",
             "Wants=network-online.target", "After=network-online.target", "",
             "[Kube]", f"Yaml={name}.yaml"]
    if spec.get("cgroup_manager"):
        lines.append(f"GlobalArgs=--cgroup-manager={spec['cgroup_manager']}")
    lines += ["", "[Service]", "Restart=always", "TimeoutStartSec=900", "",
              "[Install]", "WantedBy=multi-user.target default.target", ""]
    return "\n".join(lines)


def with_mark(digest, text):
    return (f"{SPEC_MARK}{digest}\n# Written by dockhand.docker.podman_container_unit; "
            f"changes are overwritten.\n{text.rstrip()}\n")


def mark_of(text):
    first = (text or "").split("\n", 1)[0]
    return first[len(SPEC_MARK):].strip() if first.startswith(SPEC_MARK) else None


class Unit(ModuleRun):
    def __init__(self, module):
        super().__init__(module)
        self.name = self.params["name"]
        self.uid = os.geteuid()
        self.env = dict(os.environ)
        if self.uid != 0:
            runtime = self.env.setdefault("XDG_RUNTIME_DIR", f"/run/user/{self.uid}")
            self.env.setdefault("DBUS_SESSION_BUS_ADDRESS", f"unix:path={runtime}/bus")
        self.home = pwd.getpwuid(self.uid).pw_dir

    # -- commands ------------------------------------------------------------------------

    def run(self, *args, check=True):
        rc, out, err = self.module.run_command(list(args), environ_update=self.env)
        if check and rc != 0:
            self.fail(f"`{shlex.join(args)}` failed (exit {rc}): {(err or out).strip()}")
        return rc, out, err

    def podman(self, *args, check=True):
        return self.run(self.params["podman"], *args, check=check)

    def systemctl(self, *args, check=True):
        user = ["--user"] if self.uid != 0 else []
        return self.run("systemctl", *user, *args, check=check)

    # -- where things are ----------------------------------------------------------------

    def method(self, version):
        wanted = self.params["method"]
        if wanted != "auto":
            return wanted
        return "quadlet" if version_tuple(version)[:2] >= QUADLET_MIN else "generate"

    def paths(self, method):
        """The file the module owns (its first line carries the digest), the unit, and the
        Kubernetes YAML the unit runs (None for one container)."""
        kube = bool(self.params["kube"])
        if method == "quadlet":
            base = (os.path.join(self.home, ".config/containers/systemd") if self.uid
                    else "/etc/containers/systemd")
            if kube:
                return (os.path.join(base, f"{self.name}.kube"), f"{self.name}.service",
                        os.path.join(base, f"{self.name}.yaml"))
            return os.path.join(base, f"{self.name}.container"), f"{self.name}.service", None
        if kube:
            base = (os.path.join(self.home, ".config/containers/kube") if self.uid
                    else "/etc/containers/kube")
            path = os.path.join(base, f"{self.name}.yaml")
            escaped = self.run("systemd-escape", path)[1].strip()
            return path, f"podman-kube@{escaped}.service", path
        base = (os.path.join(self.home, ".config/systemd/user") if self.uid
                else "/etc/systemd/system")
        unit = f"container-{self.name}.service"
        return os.path.join(base, unit), unit, None

    def texts(self, method, spec, digest, path, yaml_path):
        """What to write, by path, the YAML before the unit that names it."""
        if spec.get("kube"):
            if method == "quadlet":
                return {yaml_path: spec["kube"].rstrip() + "\n",
                        path: with_mark(digest, kube_quadlet_text(self.name, spec))}
            return {path: with_mark(digest, spec["kube"])}
        if method == "quadlet":
            base = os.path.dirname(path)
            units = {os.path.join(base, unit): quadlet_unit_text(unit)
                     for unit in spec.get("quadlet_units", [])}
            return {**units, path: with_mark(digest, quadlet_text(self.name, spec))}
        return {path: with_mark(digest, self.generated(spec))}

    # -- the unit text -------------------------------------------------------------------

    def generated(self, spec):
        """What `podman generate systemd --new` writes for a container with this spec. A
        container is created under a stand-in name only to be described, then removed (the
        unit creates its own); the one serving keeps its name and runs on meanwhile."""
        stand_in = f"{self.name}-dockhand-describe"
        self.podman("rm", "--force", "--ignore", stand_in)
        self.podman("create", *run_args(stand_in, spec))
        try:
            _rc, out, _err = self.podman("generate", "systemd", "--new", "--no-header", "--name",
                                         stand_in)
        finally:
            self.podman("rm", "--force", "--ignore", stand_in, check=False)
        return out.replace(stand_in, self.name)

    # -- systemd -------------------------------------------------------------------------

    def active(self, unit):
        return self.systemctl("is-active", "--quiet", unit, check=False)[0] == 0

    def steady(self, unit):
        """Active, and not restarted by systemd since this start (which reset NRestarts)."""
        _rc, out, _err = self.systemctl("show", "--property=ActiveState", "--property=NRestarts",
                                        unit, check=False)
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return props.get("ActiveState") == "active" and props.get("NRestarts", "0") == "0"

    def settled(self, unit, deadline):
        """A container that exits at once (a bad configuration) leaves the unit active for a
        moment, and systemd may restart it into another such moment by the time we look
        again. So the unit must stay steady (active, never restarted since this start) until
        the container answers where clients reach it, which is as soon as the service is up,
        or until the deadline; a container without such a port (or a rootless one, whose
        address the host cannot reach) can show no more than SETTLE seconds of it."""
        endpoints = published_endpoints(self.params["publish"]) if self.uid == 0 else []
        until = max(deadline, time.monotonic() + SETTLE) if endpoints else \
            time.monotonic() + SETTLE
        addresses = []
        while True:
            if not self.steady(unit):
                return False
            if endpoints:
                if not addresses and any(address is None for address, _port in endpoints):
                    addresses = self.addresses()
                if answers(endpoints, addresses):
                    # Listening is not yet staying up: one more look after a pause.
                    time.sleep(POLL)
                    return self.steady(unit)
            if time.monotonic() >= until:
                if endpoints:
                    self.module.warn(f"{unit} is running but did not answer on its published "
                                     f"TCP ports within start_timeout "
                                     f"({self.params['start_timeout']} s)")
                return True
            time.sleep(POLL)

    def addresses(self):
        """The container's IPv4 addresses on its networks (none with the host's network)."""
        rc, out, _err = self.podman("container", "inspect", "--format",
                                    "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                                    self.name, check=False)
        return out.split() if rc == 0 else []

    def enabled(self, unit):
        return self.systemctl("is-enabled", "--quiet", unit, check=False)[0] == 0

    def start(self, unit, method, restart):
        self.systemctl("daemon-reload")
        if method == "generate" and not self.enabled(unit):
            self.systemctl("enable", unit)
        # A start proves itself by systemd not restarting the unit, and systemd keeps counting
        # the restarts of a unit that failed before (the change a rollback undoes) across a
        # manual restart: the count starts from zero here.
        self.systemctl("reset-failed", unit, check=False)
        rc, out, err = self.systemctl("restart" if restart else "start", unit, check=False)
        deadline = time.monotonic() + self.params["start_timeout"]
        while rc == 0 and not self.active(unit) and time.monotonic() < deadline:
            time.sleep(POLL)
        if rc == 0 and self.active(unit) and self.settled(unit, deadline):
            return None
        journal = self.run("journalctl", *(["--user"] if self.uid else []), "-u", unit, "-n",
                           "20", "--no-pager", check=False)[1]
        return f"{unit} did not become active: {(err or out).strip()} {journal.strip()}".strip()

    def write(self, path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # 0600: the unit holds the container's environment, which may carry secrets.
        atomic_write(path, text, 0o600, module=self.module)

    # -- states --------------------------------------------------------------------------

    def present(self, version):
        method = self.method(version)
        path, unit, yaml_path = self.paths(method)
        spec = spec_of(self.params)
        # A quadlet's container gets its own cgroup under the unit's (--cgroups=split), which
        # a user's systemd can create only on cgroup v2: on a v1 host a rootless one runs as
        # `podman generate systemd` has it, without a cgroup for conmon.
        if method == "quadlet" and self.uid != 0 and not os.path.exists(CGROUP_V2_MARK) \
                and not spec.get("kube"):
            spec["cgroups"] = "no-conmon"
        # Podman 5 cannot have systemd make a pod's cgroup on a cgroup v1 host ("slice was
        # already loaded"); with its own cgroupfs manager it makes it.
        if method == "quadlet" and spec.get("kube") and not os.path.exists(CGROUP_V2_MARK) \
                and version_tuple(version)[:1] >= (5,):
            spec["cgroup_manager"] = "cgroupfs"
        if method == "quadlet" and not spec.get("kube") and quadlet_units(spec):
            spec["quadlet_units"] = quadlet_units(spec)
        digest = digest_of(spec, method)
        before = read_text(path)
        changed = False
        diff = {"before_header": path, "after_header": path, "before": "", "after": ""}
        if mark_of(before) != digest:
            changed = True
            self.actions.append(f"write {path} and restart {unit}")
            diff["before"] = (before or "")
            if self.check:
                diff["after"] = spec.get("kube") or json.dumps(spec, indent=2, sort_keys=True)
                diff["after"] = diff["after"].rstrip() + "\n"
                return changed, method, path, unit, diff
            texts = self.texts(method, spec, digest, path, yaml_path)
            befores = {file: read_text(file) for file in texts}
            diff["after"] = texts[path]
            # The files the unit reads (Kubernetes YAML, .network and .volume quadlets) first.
            diff = [*({"before_header": file, "after_header": file, "before": befores[file] or "",
                       "after": text} for file, text in texts.items()
                      if file != path and befores[file] != text), diff]
            # The unit runs `podman run --replace` (or `podman kube play --replace`): the new
            # containers take the old ones' names and ports once the old ones are stopped.
            self.systemctl("stop", unit, check=False)
            for file, text in texts.items():
                if befores[file] != text:
                    self.write(file, text)
            why = self.start(unit, method, restart=True)
            if why:
                undone = self.roll_back(path, befores, unit, method)
                if before is None:
                    self.fail(why)
                if undone:
                    self.fail(f"{why}; the previous unit was put back but did not start "
                              f"either: {undone}")
                self.fail(f"{why}; the previous unit was put back and runs again")
            return changed, method, path, unit, diff
        if not self.active(unit) or (method == "generate" and not self.enabled(unit)):
            changed = True
            self.actions.append(f"start {unit}")
            if not self.check:
                why = self.start(unit, method, restart=False)
                if why:
                    self.fail(why)
        return changed, method, path, unit, diff

    def roll_back(self, path, befores, unit, method):
        """Put the previous files back (or none); why the previous unit did not start, if so."""
        self.systemctl("stop", unit, check=False)
        for file, text in befores.items():
            if text is not None:
                self.write(file, text)
            elif os.path.exists(file):
                os.unlink(file)
        if befores[path] is None:
            self.systemctl("daemon-reload", check=False)
            self.systemctl("reset-failed", unit, check=False)
            return None
        return self.start(unit, method, restart=True)

    def absent(self, version):
        method = self.method(version)
        path, unit, yaml_path = self.paths(method)
        before = read_text(path)
        diff = {"before_header": path, "after_header": path, "before": before or "", "after": ""}
        if before is None:
            return False, method, path, unit, diff
        self.actions.append(f"stop {unit} and remove {path}")
        if not self.check:
            self.systemctl("disable", "--now", unit, check=False)
            for file in {path, yaml_path} - {None}:
                if os.path.exists(file):
                    os.unlink(file)
            self.systemctl("daemon-reload")
            # A container stopped by its unit exits non-zero: the unit, gone from disk, would
            # stay loaded as failed and leave the host "degraded".
            self.systemctl("reset-failed", unit, check=False)
            if not self.params["kube"]:
                self.podman("rm", "--force", "--ignore", self.name)
        return True, method, path, unit, diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            image=dict(type="str"),
            kube=dict(type="str"),
            command=dict(type="list", elements="str", default=[]),
            publish=dict(type="list", elements="str", default=[]),
            volumes=dict(type="list", elements="str", default=[]),
            env=dict(type="dict", default={}, no_log=True),
            network=dict(type="str", default=""),
            podman_args=dict(type="list", elements="str", default=[]),
            restart_on=dict(type="str", default=""),
            method=dict(type="str", choices=["auto", "quadlet", "generate"], default="auto"),
            start_timeout=dict(type="int", default=60),
            podman=dict(type="path", default="podman"),
        ),
        required_if=[("state", "present", ["image", "kube"], True)],
        mutually_exclusive=[("image", "kube")],
        supports_check_mode=True,
    )
    if module.get_bin_path(module.params["podman"]) is None:
        module.fail_json(msg=f"podman does not answer: {module.params['podman']} is not an "
                             "executable on the host (the podman role installs it)")
    unit = Unit(module)
    rc, out, err = unit.podman("version", "--format", "{{.Client.Version}}", check=False)
    if rc != 0:
        module.fail_json(msg=f"podman does not answer (is it installed?): {(err or out).strip()}")
    version = out.strip()
    state = module.params["state"]
    act = unit.present if state == "present" else unit.absent
    changed, method, path, name, diff = act(version)
    module.exit_json(changed=changed, unit=name, unit_file=path, method=method,
                     podman_version=version, actions=unit.actions, diff=diff)


if __name__ == "__main__":
    main()
