# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the swarm_stack module, standard library only: preparing compose
documents (publish and endpoint modes, the spec label), deciding whether a stack is up to
date, whether its services have converged, and what its failing tasks say.

Nothing here talks to a daemon, so all of it is unit-tested without one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re

NAMESPACE_LABEL = "com.docker.stack.namespace"
# Every service of a stack deployed by the module carries the digest of the documents it was
# deployed from: comparing it is how a re-run knows, without deploying, that nothing changed.
SPEC_LABEL = "dockhand.stack.spec"
PUBLISH_MODES = ("ingress", "host")
ENDPOINT_MODES = ("vip", "dnsrr")
# Update states that mean a rolling update has not finished (or has failed).
UPDATING = ("updating", "rollback_started")
FAILED_UPDATES = ("paused", "rollback_paused", "rollback_completed")
_SHORT_PORT = re.compile(
    r"^(?:(?P<ip>\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:]+\]):)?(?:(?P<published>\d+(?:-\d+)?):)?"
    r"(?P<target>\d+(?:-\d+)?)(?:/(?P<protocol>tcp|udp|sctp))?$")


def long_port(entry, mode):
    """One entry of a service's ``ports`` in the long syntax, with ``mode`` when not set."""
    if isinstance(entry, dict):
        port = dict(entry)
        port.setdefault("mode", mode)
        return [port]
    text = str(entry)
    match = _SHORT_PORT.match(text)
    if not match:
        raise ValueError(f"cannot read port {text!r} (use TARGET, PUBLISHED:TARGET or the "
                         "long syntax)")
    if match.group("ip"):
        raise ValueError(f"port {text!r}: a swarm service cannot publish on one host address")
    protocol = match.group("protocol") or "tcp"
    targets = _range(match.group("target"))
    published = _range(match.group("published")) if match.group("published") else None
    if published and len(published) != len(targets):
        raise ValueError(f"port {text!r}: the published and target ranges differ in size")
    ports = []
    for index, target in enumerate(targets):
        port = {"target": target, "protocol": protocol, "mode": mode}
        if published:
            port["published"] = published[index]
        ports.append(port)
    return ports


def _range(text):
    first, _dummy, last = text.partition("-")
    first, last = int(first), int(last or first)
    if last < first:
        raise ValueError(f"port range {text!r} runs backwards")
    return list(range(first, last + 1))


def prepare(documents, publish_mode=None, endpoint_mode=None):
    """The compose documents as they are deployed, and the digest that identifies them.

    ``publish_mode`` goes onto every published port that does not set its own mode,
    ``endpoint_mode`` onto every service that does not set its own; each service's deploy
    labels then get SPEC_LABEL with the digest of everything else.
    """
    if not documents:
        raise ValueError("compose is empty: give at least one compose document")
    prepared = []
    for number, original in enumerate(documents, start=1):
        if not isinstance(original, dict):
            raise ValueError(f"compose document {number} is not a mapping")
        document = copy.deepcopy(original)
        services = document.get("services") or {}
        if not isinstance(services, dict):
            raise ValueError(f"compose document {number}: services is not a mapping")
        for name, service in services.items():
            if not isinstance(service, dict):
                raise ValueError(f"compose document {number}: service {name} is not a mapping")
            if publish_mode and service.get("ports"):
                try:
                    service["ports"] = [port for entry in service["ports"]
                                        for port in long_port(entry, publish_mode)]
                except ValueError as exc:
                    raise ValueError(f"service {name}: {exc}") from None
            if endpoint_mode:
                # `deploy:` with nothing under it is null in YAML, and valid compose.
                service["deploy"] = service.get("deploy") or {}
                service["deploy"].setdefault("endpoint_mode", endpoint_mode)
        prepared.append(document)
    digest = spec_digest(prepared)
    for document in prepared:
        for service in (document.get("services") or {}).values():
            deploy = service["deploy"] = service.get("deploy") or {}
            labels = deploy.get("labels")
            if isinstance(labels, list):
                labels = dict(item.split("=", 1) if "=" in item else (item, "")
                              for item in labels)
            deploy["labels"] = {**(labels or {}), SPEC_LABEL: digest}
    return prepared, digest


def spec_digest(documents):
    text = json.dumps(documents, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def service_names(stack, documents):
    """Full names (``<stack>_<service>``) of the services the documents define."""
    names = set()
    for document in documents:
        names.update(f"{stack}_{name}" for name in document.get("services") or {})
    return sorted(names)


def plan(stack, documents, digest, services, prune=False):
    """What a deploy would do to the stack's current services (the /services entries):
    {'create': [...], 'update': [...], 'remove': [...]}, empty lists when up to date."""
    current = {service["Spec"]["Name"]: service for service in services}
    wanted = service_names(stack, documents)
    create = [name for name in wanted if name not in current]
    update = [name for name in wanted if name in current
              and ((current[name]["Spec"].get("Labels") or {}).get(SPEC_LABEL) != digest)]
    remove = sorted(name for name in current if name not in wanted) if prune else []
    return {"create": create, "update": update, "remove": remove}


def comparable_spec(service):
    """A service's spec without what changes on every deploy (nothing else)."""
    return service.get("Spec") or {}


def spec_changes(before, after):
    """Names of services added, removed or whose spec differs between two /services lists."""
    old = {s["Spec"]["Name"]: comparable_spec(s) for s in before}
    new = {s["Spec"]["Name"]: comparable_spec(s) for s in after}
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


def progress(service, tasks=()):
    """(converged, failed reason or None, 'running/desired') of a /services?status=1 entry,
    given the service's tasks.

    A replicated service wants its replica count. For a global service the daemon's own
    count cannot be used (a rejected task stops counting as desired), so each node's latest
    task is looked at: every node whose latest task should run must run it.
    """
    status = service.get("ServiceStatus") or {}
    mode = (service.get("Spec") or {}).get("Mode") or {}
    update = (service.get("UpdateStatus") or {}).get("State")
    if "Global" in mode:
        latest = {}
        for task in tasks:
            node = task.get("NodeID")
            if node and (node not in latest or _created(task) > _created(latest[node])):
                latest[node] = task
        wanted = [task for task in latest.values()
                  if task.get("DesiredState") in ("running", "ready", "new", "pending",
                                                  "assigned", "accepted", "preparing",
                                                  "starting")]
        running = sum(1 for task in wanted if (task.get("Status") or {}).get("State") == "running"
                      and task.get("DesiredState") == "running")
        desired = len(wanted)
    else:
        running, desired = status.get("RunningTasks", 0), status.get("DesiredTasks", 0)
        replicas = (mode.get("Replicated") or {}).get("Replicas")
        if replicas is not None:
            desired = replicas
    counts = f"{running}/{desired}"
    if update in FAILED_UPDATES:
        message = (service.get("UpdateStatus") or {}).get("Message") or update
        return False, f"update {update}: {message}", counts
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        return True, None, counts
    if "Global" in mode and not desired:
        return False, None, counts  # no task placed yet
    return running >= desired and update not in UPDATING, None, counts


def _created(task):
    return timestamp_key(task.get("CreatedAt"))


def timestamp_key(text):
    """An RFC 3339 time of the API as a sortable string: Docker trims the fraction's trailing
    zeros (10:00:00Z, 10:00:00.5Z), so it is padded to nanoseconds before comparing."""
    text = text or ""
    match = re.match(r"^([^.Z+]*)(?:\.(\d+))?(.*)$", text)
    if not match:
        return text
    return f"{match.group(1)}.{(match.group(2) or '').ljust(9, '0')}{match.group(3)}"


def task_errors(tasks, nodes_by_id, services_by_id, limit=10):
    """The most recent error of each (service, node) among the tasks, newest first."""
    latest = {}
    for task in sorted(tasks, key=lambda t: timestamp_key((t.get("Status") or {}).get("Timestamp")),
                       reverse=True):
        status = task.get("Status") or {}
        error = status.get("Err")
        if not error:
            continue
        key = (task.get("ServiceID"), task.get("NodeID"))
        if key in latest:
            continue
        service = services_by_id.get(task.get("ServiceID"), task.get("ServiceID"))
        node = nodes_by_id.get(task.get("NodeID"), task.get("NodeID") or "no node")
        latest[key] = f"{service} on {node}: {status.get('State')}: {error}"
    return list(latest.values())[:limit]


def partly_removed(stderr):
    """Whether a failed C(docker stack rm) went through the stack and only some resources
    refused: the manager refuses a network while a removed service's task still stops on it,
    and a service or secret for the moment while it is busy. Not an error before it started
    (no engine, not a manager), which no retry mends."""
    return "Failed to remove some resources from stack" in stderr
