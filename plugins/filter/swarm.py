# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the docker_swarm role decides with on the controller, so that a run with nothing
to change makes no call it does not need."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.module_utils import swarm

DOCUMENTATION = """
name: swarm
short_description: What a swarm node still needs, from a manager's view of the nodes
description:
  - C(swarm_node_pending) compares one node, as the C(nodes) list of
    M(dockhand.docker.swarm_info) shows it, with the labels and availability it should
    have, and looks for the stale entries a rebuilt host left under its hostname. It returns
    the names of what differs (C(labels), C(availability), C(stale entries)); an empty list
    means the node update would change nothing.
"""


def _api_node(summary):
    """A node summary back in the shape the swarm logic reads."""
    return {"ID": summary.get("id"), "Description": {"Hostname": summary.get("hostname")},
            "Status": {"State": summary.get("state")},
            "Spec": {"Labels": dict(summary.get("labels") or {}),
                     "Availability": summary.get("availability")}}


def swarm_node_pending(nodes, node_id, labels=None, labels_state="merge", availability=None):
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


class FilterModule:
    def filters(self):
        return {"swarm_node_pending": swarm_node_pending}
