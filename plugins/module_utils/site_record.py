# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record a successful site.yml (or engine.yml) run leaves on each host, and the live
check of it.

A run that changed nothing has nothing to do next time either, as long as neither its
inputs nor the hosts have moved since. The controller answers the first question (the
digest of the project, the inventory and the PKI directory: see site_digest); this answers
the second, on the host: the record keeps what the run left (the files under dockhand's
paths, the units, the engine's containers, the swarm, the GlusterFS mounts, the host's
system and default address) and an executable local fact, which the next run executes
before gathering facts (and fact gathering runs too), compares it with the host as it is
now. Anything that differs, or a record older than its maximum age, makes
the next run a full one.

Standard library only: the fact runs on the host's python3, without the collection.
"""

from __future__ import annotations

import json

# The paths dockhand writes on a host (`*` matches a name; directories are walked). A path the
# run does not manage but that lies under one of these only costs a full run when it
# changes; a path outside them that the roles manage would be missed, so every role's
# paths are here.
WATCHED_FILES = (
    "/etc/docker", "/etc/containers", "/etc/dockhand", "/etc/nginx", "/etc/traefik",
    "/etc/gitlab", "/etc/gitlab-runner", "/etc/systemd/system", "/etc/fstab", "/etc/hosts",
    "/etc/patroni", "/etc/haproxy", "/etc/postgresql-common",
    "/srv/gitlab/config", "/srv/gitlab/runner",
    "/etc/subuid", "/etc/subgid", "/etc/apt/sources.list.d", "/etc/apt/keyrings",
    "/etc/yum.repos.d", "/etc/pki/ca-trust/source/anchors",
    "/usr/local/share/ca-certificates", "/usr/local/sbin/dockhand-*",
    "/usr/local/bin/traefik", "/srv/dockhand/pki", "/var/lib/systemd/linger",
    "/var/lib/glusterd/vols/*/info", "/var/lib/glusterd/peers",
    "/home/*/.config/containers", "/home/*/.config/systemd",
    # Users and groups (the docker group's members, a rootless Podman user), the packages
    # (a removed or held engine; large, so by size and time), Podman's image store and the
    # release (the distribution facts the roles read).
    "/etc/os-release", "/usr/lib/os-release", "/etc/passwd", "/etc/group",
    "/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite",
    "/var/lib/containers/storage/overlay-images/images.json",
)

# The records' file in the module's state_dir.
STATE_FILE = "site-record.json"

# Units watched besides those whose unit files live in /etc/systemd/system.
WATCHED_UNITS = ("docker.service", "containerd.service", "nginx.service", "glusterd.service",
                 "etcd.service", "patroni.service", "haproxy.service", "redis-server.service",
                 "redis-sentinel.service")

# The fact's program (and the module's: it takes the baseline with the same code). Reads
# only.
PROBE_SOURCE = r'''
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import time

# Larger files (a binary) are compared by size and modification time, not read.
HASHED_SIZE = 1 << 20
DOCKER_SOCKET = "/var/run/docker.sock"
GLUSTER_TYPES = ("fuse.glusterfs", "glusterfs")
# Beside the records' file, a file whose time outdates every record written before it
# (playbooks/tasks/site_record_forget.yml touches it).
OUTDATED_MARK = ".outdated"


def _path(path):
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return ["unreadable: %s" % exc.strerror]
    meta = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid]
    if stat.S_ISLNK(st.st_mode):
        meta.append(os.readlink(path))
    elif stat.S_ISREG(st.st_mode):
        if st.st_size <= HASHED_SIZE:
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as handle:
                    digest.update(handle.read())
            except OSError as exc:
                return meta + ["unreadable: %s" % exc.strerror]
            meta.append(digest.hexdigest())
        else:
            meta += [st.st_size, st.st_mtime_ns]
    return meta


def _matches(name, part):
    """Whether a path component matches a pattern component whose only wildcard is `*`,
    hidden names excepted unless the pattern names them, as glob's rules go."""
    pieces = part.split("*")
    if name.startswith(".") and not part.startswith("."):
        return False
    if len(pieces) == 1:
        return name == part
    if not (name.startswith(pieces[0]) and name.endswith(pieces[-1])
            and len(name) >= len(pieces[0]) + len(pieces[-1])):
        return False
    at, end = len(pieces[0]), len(name) - len(pieces[-1])
    for piece in pieces[1:-1]:
        at = name.find(piece, at, end)
        if at < 0:
            return False
        at += len(piece)
    return True


def expand(pattern):
    """The existing paths an absolute pattern names, sorted; `*` is its only wildcard.
    glob's own module would cost every probe the import of re and fnmatch, a good part of
    the time a run that skips waits for on each host."""
    found = ["/"]
    for part in pattern.strip("/").split("/"):
        if "*" not in part:
            found = [os.path.join(base, part) for base in found
                     if os.path.lexists(os.path.join(base, part))]
            continue
        matched = []
        for base in found:
            try:
                names = os.listdir(base)
            except OSError:
                continue
            matched.extend(os.path.join(base, name) for name in names if _matches(name, part))
        found = matched
    return sorted(found)


def probe_files(patterns):
    out = {}
    for pattern in patterns:
        for root in expand(pattern):
            out[root] = _path(root)
            if os.path.isdir(root) and not os.path.islink(root):
                for base, dirs, names in os.walk(root):
                    dirs.sort()
                    for name in sorted(dirs + names):
                        path = os.path.join(base, name)
                        out[path] = _path(path)
    return out


def unit_names(extra):
    names = set(extra)
    try:
        listed = os.listdir("/etc/systemd/system")
    except FileNotFoundError:
        listed = []
    for name in listed:
        full = os.path.join("/etc/systemd/system", name)
        # Not a template (foo@.service): systemctl show refuses it.
        if (name.endswith((".service", ".timer", ".mount", ".socket")) and "@" not in name
                and os.path.isfile(full)):
            names.add(name)
    return sorted(names)


def probe_units(names):
    if not names:
        return {}
    try:
        proc = subprocess.run(
            ["systemctl", "show", "--property=Id,LoadState,ActiveState,UnitFileState", "--",
             *names], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"": "systemctl: %s" % exc}
    blocks, block = [], {}
    for line in proc.stdout.splitlines() + [""]:
        if not line.strip():
            if block:
                blocks.append(block)
            block = {}
            continue
        key, _sep, value = line.partition("=")
        block[key] = value
    if len(blocks) != len(names):
        return {"": "systemctl show answered %d unit(s) for %d" % (len(blocks), len(names))}
    out = {}
    for name, block in zip(names, blocks):
        if block.get("LoadState") == "loaded":
            out[name] = [block.get("ActiveState", ""), block.get("UnitFileState", "")]
    return out


def _get(path):
    """GET from the engine's API, in HTTP/1.0: the engine then sends the body whole (no
    chunks) and closes. http.client's import alone took 40 % of the probe's time, which
    every run of site.yml and engine.yml waits for on every host."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    try:
        sock.connect(DOCKER_SOCKET)
        sock.sendall(("GET %s HTTP/1.0\r\nHost: docker\r\n\r\n" % path).encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _sep, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise OSError("GET %s: %s" % (path, head[:80].decode("latin-1")))
    return json.loads(body)


def probe_engine():
    """The engine's containers (not a swarm's tasks: the swarm moves those), its swarm
    state and, on a manager, the swarm's services, nodes and networks as their specs stand."""
    if not os.path.exists(DOCKER_SOCKET):
        return None
    try:
        containers = {
            c["Names"][0].lstrip("/"): c["ImageID"] for c in _get("/containers/json")
            if "com.docker.swarm.task.id" not in (c.get("Labels") or {})}
        info = _get("/info").get("Swarm") or {}
        out = {"containers": containers,
               # Every image the host has (the preloaded ones among them) by ID.
               "images": sorted(i["Id"] for i in _get("/images/json")),
               "swarm": [info.get("LocalNodeState", ""), info.get("NodeID", ""),
                         bool(info.get("ControlAvailable"))]}
        if info.get("ControlAvailable"):
            out["services"] = {s["Spec"]["Name"]: s["Version"]["Index"]
                               for s in _get("/services")}
            out["nodes"] = {n["ID"]: [n["Description"].get("Hostname", ""),
                                      n["Spec"].get("Role", ""),
                                      n["Spec"].get("Availability", ""),
                                      n["Spec"].get("Labels") or {}]
                            for n in _get("/nodes")}
            out["networks"] = {n["Name"]: n["Id"] for n in _get(
                "/networks?filters=%7B%22scope%22%3A%5B%22swarm%22%5D%7D")}
        return out
    except (OSError, ValueError, KeyError) as exc:
        return {"error": str(exc)}


def probe_mounts():
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                dash = fields.index("-")
                if fields[dash + 1] in GLUSTER_TYPES:
                    out.append(fields[4])
    except (OSError, ValueError, IndexError):
        return None
    return sorted(set(out))


def boot_id():
    """What a reboot changes: state the run set up and a reboot loses (firewall rules,
    runtime files) is looked at again after one."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def default_address():
    """The address the host sends from on its default route, as the roles' facts name it
    (default_ipv4): a datagram socket learns it from the routing table, sending nothing.
    Probed here rather than gathered as a fact, which costs each host a run of `ip`."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))
            return sock.getsockname()[0]
    except OSError:
        return None


def system():
    """What the roles' facts say of the host's system besides its files: the kernel, the
    architecture, the init and the Python that runs the modules."""
    try:
        with open("/proc/1/comm", encoding="utf-8") as handle:
            init = handle.read().strip()
    except OSError:
        init = None
    uname = os.uname()
    return {"kernel": uname.release, "machine": uname.machine, "init": init,
            "python": [sys.executable, list(sys.version_info[:3])]}


def probe(watch, units=None):
    """The host as it is now. units: the unit names to ask systemd about; by default the
    watched ones and every unit file in /etc/systemd/system."""
    return {"boot": boot_id(),
            "system": system(),
            "address": default_address(),
            "files": probe_files(watch["files"]),
            "units": probe_units(unit_names(watch["units"]) if units is None else units),
            "engine": probe_engine(),
            "mounts": probe_mounts()}


def _json(value):
    return json.dumps(value, sort_keys=True)


def drift(baseline, now):
    """What differs between the host as the run left it and as it is: every file as it
    was, every unit that was active still active and enabled as it was, every container
    still running its image, the swarm state and specs as they were, every mount still
    there. Added containers, services and mounts are not drift: a full run would leave
    them too."""
    out = []
    if baseline.get("boot") != now.get("boot"):
        out.append("the host rebooted")
    if baseline.get("system") != now.get("system"):
        out.append("its kernel, architecture, init or Python")
    if baseline.get("address") != now.get("address"):
        out.append("its default address")
    files = now["files"]
    for path in sorted(set(baseline["files"]) | set(files)):
        if baseline["files"].get(path) != files.get(path):
            out.append("file " + path)
    for name, state in sorted(baseline["units"].items()):
        current = now["units"].get(name)
        if not isinstance(state, list):
            # systemctl could not be read when the run recorded (its message is kept).
            if current != state:
                out.append("units")
            continue
        active, enabled = state
        if current is None or current[1] != enabled or (
                active == "active" and current[0] != "active"):
            out.append("unit " + name)
    before, after = baseline.get("engine"), now.get("engine")
    if before is not None:
        if after is None or "error" in after or "error" in before:
            out.append("engine")
        else:
            for name, image in sorted(before["containers"].items()):
                if after["containers"].get(name) != image:
                    out.append("container " + name)
            gone = set(before.get("images", [])) - set(after.get("images", []))
            out.extend("image " + image for image in sorted(gone))
            if before["swarm"] != after["swarm"]:
                out.append("swarm membership")
            for kind in ("services", "nodes", "networks"):
                for name, value in sorted(before.get(kind, {}).items()):
                    if _json(after.get(kind, {}).get(name)) != _json(value):
                        out.append("swarm %s %s" % (kind[:-1], name))
    if baseline["mounts"] is not None:
        missing = set(baseline["mounts"]) - set(now["mounts"] or [])
        out.extend("mount " + path for path in sorted(missing))
    return out


def report(state_path):
    """Per record: its digest, age and whether the host is still as the run left it."""
    try:
        with open(state_path, encoding="utf-8") as handle:
            records = json.load(handle)["records"]
    except (OSError, ValueError, KeyError):
        return {}
    try:
        # Every playbook touches this mark before it changes a host (one shell command on
        # its critical path, not a module): it outdates every record written before it.
        outdated_at = os.stat(state_path + OUTDATED_MARK).st_mtime
    except OSError:
        outdated_at = 0.0
    out = {}
    probes = {}
    for name, record in sorted(records.items()):
        try:
            out[name] = _report_one(record, probes, outdated_at)
        except Exception as exc:  # a damaged record vouches for nothing
            out[name] = {"digest": None, "age": None, "live": False,
                         "drift": ["the record cannot be read: %r" % exc]}
    return out


def _report_one(record, probes, outdated_at):
    age = int(time.time() - record["recorded_at"])
    if record.get("outdated") or record["recorded_at"] <= outdated_at:
        found = ["another playbook's run since, or one that did not finish"]
    elif age < 0 or age > record["max_age"]:
        found = ["age %d s (at most %d)" % (age, record["max_age"])]
    else:
        # Only the units the run left loaded, the only ones drift() compares: systemd looks
        # for a unit it does not know in every unit directory, which a light host paid on
        # every run for each role it does not run.
        units = record["baseline"].get("units")
        names = sorted(units) if isinstance(units, dict) and "" not in units else None
        key = _json([record["watch"], names])
        if key not in probes:
            probes[key] = probe(record["watch"], names)
        found = drift(record["baseline"], probes[key])
    return {"digest": record["digest"], "age": age, "live": not found, "drift": found[:10]}
'''


def probe_namespace() -> dict:
    """The probe's functions, for the module and the tests: the same code the fact runs."""
    namespace: dict = {"__name__": "dockhand_site_record"}
    # The same text the fact runs, so the baseline and the live check cannot disagree.
    exec(compile(PROBE_SOURCE, "site_record_probe", "exec"), namespace)
    return namespace


def fact_script(python: str, state_path: str) -> str:
    """The executable local fact reporting the records in state_path."""
    # -I -S: the standard library only, none of the host's site-packages nor its PYTHON*
    # variables, and no time spent on site's start.
    return (f"#!{python} -IS\n# Written by dockhand.docker.site_record: whether each host is still "
            f"as the last successful run left it.\n{PROBE_SOURCE}\n\nprint(json.dumps(report("
            f"{json.dumps(state_path)})))\n")


def record(digest: str, max_age: int, watch: dict, baseline: dict, now: float) -> dict:
    return {"digest": digest, "max_age": max_age, "watch": watch, "baseline": baseline,
            "recorded_at": now}


def same_record(old: dict | None, new: dict) -> bool:
    """Whether ``new`` records what ``old`` does. Its time aside: renewing that is the
    record's own bookkeeping, not a change to the host."""
    if not old:
        return False
    keys = ("digest", "max_age", "watch", "baseline")
    return json.dumps({k: old.get(k) for k in keys}, sort_keys=True) == json.dumps(
        {k: new[k] for k in keys}, sort_keys=True)


def outdate(records: dict, name: str | None) -> list[str]:
    """Mark the record ``name`` outdated, or every record when ``name`` is None (a playbook
    that may change anything a record vouches for). Returns the names newly marked."""
    names = [name] if name is not None else sorted(records)
    marked = [n for n in names if n in records and not records[n].get("outdated")]
    for n in marked:
        records[n] = {**records[n], "outdated": True}
    return marked
