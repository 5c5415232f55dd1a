#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_info
short_description: Which swarm a Docker engine is in, with which role, and (on a manager) its nodes
version_added: 0.1.0
description:
  - Reads an engine's swarm state without changing anything; what the C(docker_swarm) role
    decides from (which manager leads the run, who must join, whose role must change).
  - The cluster ID is read on workers too, from the node's swarm certificate, since a
    worker cannot ask the API.
  - Talks to the Docker Engine API on the local unix socket with nothing but the target's
    system python3.
  - Not M(community.docker.docker_swarm_info), hence its own name. It returns the
    engine's swarm membership, role, cluster ID (read on workers from the node certificate)
    and, on a manager, the nodes, in its own shape. It needs no Docker SDK or C(requests)
    on the target.
options: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - dockhand.docker.engine
attributes:
  diff_mode:
    support: none
    details: It changes nothing.
seealso:
  - module: dockhand.docker.docker_swarm_node
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Read every node's swarm state
  dockhand.docker.swarm_info:
  register: swarm_info

- name: Show the managers' view of the nodes
  ansible.builtin.debug:
    msg: "{{ swarm_info.nodes | map(attribute='hostname') }}"
  when: swarm_info.manager
"""

RETURN = r"""
state:
  description: The engine's local swarm state.
  returned: always
  type: str
  sample: active
  choices: [inactive, pending, active, error, locked]
manager:
  description: Whether the engine is a manager that can answer for the swarm.
  returned: always
  type: bool
node_id:
  description: The engine's node ID; empty when it is in no swarm.
  returned: always
  type: str
hostname:
  description: The engine's host name, the one its node entry carries.
  returned: always
  type: str
node_addr:
  description: The address the node is known by in the swarm.
  returned: always
  type: str
cluster_id:
  description: ID of the swarm the engine is in; null when it is in none or it cannot be read.
  returned: always
  type: str
cluster_id_error:
  description: Why the cluster ID could not be read, when it could not.
  returned: when the engine is in a swarm and its cluster ID cannot be read
  type: str
remote_managers:
  description: Addresses (C(HOST:PORT)) of the swarm's managers as this engine knows them.
  returned: always
  type: list
  elements: str
error:
  description: The swarm error the engine reports (state C(error) or C(pending)).
  returned: always
  type: str
nodes:
  description:
    - The swarm's nodes, each as in the RV(dockhand.docker.docker_swarm_node#module:node) result.
  returned: when the engine is a manager
  type: list
  elements: dict
swarm:
  description: "{cluster_id, managers, reachable_managers, nodes} as the manager sees it."
  returned: when the engine is a manager
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import ModuleRun
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
    EngineError,
)
from ansible_collections.dockhand.docker.plugins.module_utils.swarm import (
    cluster_id_of,
    node_summary,
    swarm_summary,
)

# How often the state is read again while the engine answers 503 (changing roles).
ATTEMPTS = 15


def describe(client):
    info = client.get("/info") or {}
    swarm = info.get("Swarm") or {}
    state = swarm.get("LocalNodeState") or "inactive"
    result = {
        "state": state,
        "manager": bool(swarm.get("ControlAvailable")),
        "node_id": swarm.get("NodeID") or "",
        "hostname": info.get("Name") or "",
        "node_addr": swarm.get("NodeAddr") or "",
        "cluster_id": None,
        "remote_managers": [manager.get("Addr") for manager in swarm.get("RemoteManagers") or []
                            if manager.get("Addr")],
        "error": swarm.get("Error") or "",
    }
    if state == "active":
        result["cluster_id"], why = cluster_id_of(info)
        if why:
            result["cluster_id_error"] = why
    if result["manager"]:
        nodes = client.get("/nodes") or []
        result["nodes"] = [node_summary(node) for node in nodes]
        result["swarm"] = swarm_summary(result["cluster_id"], nodes)
    return result


def describe_settled(client, attempts=ATTEMPTS, pause=1.0):
    """describe(), asked again while the engine is between roles: a manager that has just
    been demoted still says it has control for a moment after its control socket is gone."""
    for attempt in range(attempts):
        try:
            return describe(client)
        except EngineError as exc:
            if exc.status != 503 or attempt == attempts - 1:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def main():
    module = AnsibleModule(
        argument_spec=dict(socket=dict(type="path", default="/var/run/docker.sock")),
        supports_check_mode=True,
    )
    result = ModuleRun(module).call("read the engine's swarm state", describe_settled,
                                    EngineClient(module.params["socket"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
