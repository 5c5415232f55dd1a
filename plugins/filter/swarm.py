# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the docker_swarm role decides with on the controller, so that a run with nothing
to change makes no call it does not need."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# module_utils are imported by the filters that use them (pyproject.toml says why).

DOCUMENTATION = """
name: swarm
short_description: What a swarm node still needs, from a manager's view of the nodes
description:
  - C(swarm_node_pending) compares one node, as the C(nodes) list of
    M(dockhand.docker.swarm_info) shows it, with the labels and availability it should
    have, and looks for the stale entries a rebuilt host left under its hostname. It returns
    the names of what differs (C(labels), C(availability), C(stale entries)); an empty list
    means the node update would change nothing.
  - C(swarm_restart_batches) orders the swarm nodes whose engines restart (a list of
    C(host), C(manager) and C(managers), as docker_daemon learns them) into batches of at most
    the given size, workers first, then managers, no more of them at once than leaves a
    majority of the swarm's C(managers) up (one at a time with three).
  - C(swarm_whole_services) takes C(docker service ls --format '{{.Name}} {{.Replicas}}')
    lines and returns the names of the services that run all the tasks they want.
"""


def _api_node(summary):
    """A node summary back in the shape the swarm logic reads."""
    return {"ID": summary.get("id"), "Description": {"Hostname": summary.get("hostname")},
            "Status": {"State": summary.get("state")},
            "Spec": {"Labels": dict(summary.get("labels") or {}),
                     "Availability": summary.get("availability")}}


def swarm_node_pending(nodes, node_id, labels=None, labels_state="merge", availability=None):
    from ansible_collections.dockhand.docker.plugins.module_utils import swarm
    nodes = [_api_node(summary) for summary in nodes or []]
    own = [node for node in nodes if node["ID"] == node_id]
    if not own:
        return ["node entry"]
    try:
        _dummy, changed = swarm.spec_changes(own[0]["Spec"], labels=labels,
                                             labels_state=labels_state, availability=availability)
    except ValueError as exc:
        raise AnsibleFilterError(f"docker_swarm_labels: {exc}") from exc
    hostname = own[0]["Description"]["Hostname"]
    if swarm.stale_nodes(nodes, hostname, keep_ids={node_id}):
        changed.append("stale entries")
    return changed


def swarm_restart_batches(rollers, size):
    size = int(size)
    if size < 1:
        raise AnsibleFilterError(f"docker_daemon_restart_batch: {size} is no batch size (0 does "
                                 "not roll)")
    managers = [r["host"] for r in rollers if r.get("manager")]
    workers = [r["host"] for r in rollers if not r.get("manager")]
    count = max([int(r.get("managers") or 0) for r in rollers] + [len(managers), 1])
    # Down at once, at most the managers a majority can spare: (n - 1) // 2, but one at least
    # (a swarm of one or two managers loses its quorum while one restarts, whatever we do).
    per_batch = max(1, min(size, (count - 1) // 2))
    return _chunks(workers, size) + _chunks(managers, per_batch)


def _chunks(items, size):
    return [items[start:start + size] for start in range(0, len(items), size)]


_REPLICAS = re.compile(r"^(\S+) (\d+)/(\d+)")


def swarm_whole_services(lines):
    whole = []
    for line in lines or []:
        match = _REPLICAS.match(str(line))
        if match and match.group(2) == match.group(3):
            whole.append(match.group(1))
    return whole


class FilterModule:
    def filters(self):
        return {"swarm_node_pending": swarm_node_pending,
                "swarm_restart_batches": swarm_restart_batches,
                "swarm_whole_services": swarm_whole_services}
