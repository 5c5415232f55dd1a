#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: engine_network
short_description: Create or remove a Docker network, overlay networks of a swarm included
version_added: 0.1.0
description:
  - Makes sure a network exists with the given driver, flags, subnets and labels, or does not
    exist. Overlay networks are created on a swarm manager and reach every node.
  - Docker cannot change a network in place. When the network differs from what is asked,
    it is removed and created again only with O(recreate) and only when no container on
    this engine and no swarm service uses it; otherwise the module fails naming the
    differences and the users.
  - Talks to the Docker Engine API on the local unix socket with nothing but the target's
    system python3.
  - Not a drop-in for M(community.docker.docker_network), hence its own name. Its
    O(driver) defaults to V(overlay) (V(bridge) there), since the collection's networks are
    a swarm's, and its options are a small subset. It exists because it needs no Docker SDK
    or C(requests) on the target.
options:
  name:
    description: Name of the network.
    type: str
    required: true
  state:
    description: Whether the network exists.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description: Network driver.
    type: str
    default: overlay
  attachable:
    description: Standalone containers may attach to the (overlay) network.
    type: bool
    default: false
  encrypted:
    description:
      - Encrypt the overlay's data plane (IPsec between nodes; the kernel needs the xfrm and
        ESP support for traffic to flow).
    type: bool
    default: false
  internal:
    description: No route out of the network.
    type: bool
    default: false
  subnets:
    description: IPAM pools of the network; Docker picks one from its address pools when unset.
    type: list
    elements: dict
    suboptions:
      subnet:
        description: Subnet in CIDR form.
        type: str
        required: true
      gateway:
        description: Gateway address in the subnet.
        type: str
  driver_options:
    description: Further driver options; only the ones given are compared.
    type: dict
    default: {}
  labels:
    description: Labels of the network, compared exactly.
    type: dict
    default: {}
  recreate:
    description: Remove and create the network again when it differs and nothing uses it.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - dockhand.docker.engine
attributes:
  diff_mode:
    support: full
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: An encrypted overlay network services and containers can attach to
  dockhand.docker.engine_network:
    name: backend
    attachable: true
    encrypted: true
    subnets:
      - subnet: 10.230.0.0/24
  run_once: true
  delegate_to: "{{ groups.swarm_managers[0] }}"
"""

RETURN = r"""
network:
  description: The network as the daemon shows it (none once it is absent).
  returned: success
  type: dict
  sample: {Id: 0f3b..., Name: backend, Driver: overlay, Scope: swarm, Attachable: true}
differences:
  description: The properties that differ from what is asked, before the task.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import ModuleRun, differences
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
    EngineError,
    NotFound,
    name_in_path,
)

ENCRYPTED = "encrypted"


def wanted_network(params):
    """The network's properties as they are compared, from the module's parameters."""
    options = {str(k): str(v) for k, v in (params["driver_options"] or {}).items()}
    if params["encrypted"]:
        options[ENCRYPTED] = ""
    return {
        "driver": params["driver"],
        "attachable": params["attachable"],
        "internal": params["internal"],
        "encrypted": params["encrypted"],
        "options": options,
        "subnets": [{"subnet": pool["subnet"], "gateway": pool.get("gateway") or None}
                    for pool in params["subnets"] or []],
        "labels": {str(k): str(v) for k, v in (params["labels"] or {}).items()},
    }


def current_network(found, wanted):
    """The same view of an existing network; options and subnets only as far as asked for."""
    options = found.get("Options") or {}
    pools = ((found.get("IPAM") or {}).get("Config")) or []
    # A gateway is compared only where one was asked for; Docker picks one otherwise.
    asked = [bool(pool["gateway"]) for pool in wanted["subnets"]] + [False] * len(pools)
    subnets = [{"subnet": pool.get("Subnet"),
                "gateway": (pool.get("Gateway") or None) if asked[index] else None}
               for index, pool in enumerate(pools)]
    return {
        "driver": found.get("Driver"),
        "attachable": bool(found.get("Attachable")),
        "internal": bool(found.get("Internal")),
        "encrypted": ENCRYPTED in options,
        "options": {key: options.get(key) for key in wanted["options"]},
        "subnets": subnets if wanted["subnets"] else [],
        "labels": dict(found.get("Labels") or {}),
    }


def create_body(name, wanted):
    body = {
        "Name": name,
        "CheckDuplicate": True,
        "Driver": wanted["driver"],
        "Attachable": wanted["attachable"],
        "Internal": wanted["internal"],
        "Options": wanted["options"],
        "Labels": wanted["labels"],
    }
    if wanted["subnets"]:
        body["IPAM"] = {"Driver": "default", "Config": [
            {"Subnet": pool["subnet"], **({"Gateway": pool["gateway"]} if pool["gateway"] else {})}
            for pool in wanted["subnets"]]}
    return body


class Network(ModuleRun):
    def __init__(self, module, client):
        super().__init__(module)
        self.client = client
        self.differences = []

    def inspect(self):
        name = self.params["name"]
        try:
            found = self.client.get(f"/networks/{name_in_path(name)}", {"verbose": False})
        except NotFound:
            return None
        except EngineError as exc:
            self.fail(f"cannot inspect network {name}: {exc.message}", status=exc.status)
        # The API also answers for an ID prefix; only the network of that name counts.
        return found if found.get("Name") == name else None

    def users(self, found):
        """Containers on this engine and swarm services attached to the network."""
        # The network's Containers lists running ones only; a stopped container on it would
        # be left unable to start.
        try:
            attached = self.client.get("/containers/json", {
                "all": True, "filters": {"network": [found["Id"], found.get("Name")]}}) or []
        except EngineError as exc:
            self.fail(f"cannot list the containers on network {found.get('Name')}: "
                      f"{exc.message}", status=exc.status)
        users = [f"container {(c.get('Names') or [c.get('Id', '')[:12]])[0].lstrip('/')}"
                 for c in attached]
        if found.get("Scope") == "swarm":
            try:
                services = self.client.get("/services") or []
            except EngineError:
                services = []  # not a manager: its containers are all it can tell
            for service in services:
                spec = service.get("Spec") or {}
                attached = (spec.get("TaskTemplate") or {}).get("Networks") or spec.get(
                    "Networks") or []
                if any(net.get("Target") in (found.get("Id"), found.get("Name"))
                       for net in attached):
                    users.append(f"service {spec.get('Name')}")
        return users

    def remove(self, found, why):
        users = self.users(found)
        if users:
            self.fail(f"network {self.params['name']} {why}, but it is in use by "
                      f"{', '.join(sorted(users))}: remove those first",
                      differences=self.differences)
        self.actions.append("removed")
        if not self.check:
            self.call(f"remove network {self.params['name']}", self.client.delete,
                      f"/networks/{found['Id']}")

    def run(self):
        name = self.params["name"]
        found = self.inspect()
        wanted = wanted_network(self.params)
        before = current_network(found, wanted) if found else None
        if self.params["state"] == "absent":
            if found:
                self.remove(found, "is to be removed")
            return before, None, None
        if found:
            self.differences = differences(before, wanted)
            if not self.differences:
                return before, wanted, found
            if not self.params["recreate"]:
                self.fail(f"network {name} differs in {', '.join(self.differences)} and Docker "
                          "cannot change a network in place: set recreate: true to remove and "
                          "create it (when nothing uses it), or change the parameters",
                          differences=self.differences, before=before, after=wanted)
            self.remove(found, f"differs in {', '.join(self.differences)}")
        self.actions.append("created")
        if self.check:
            return before, wanted, None
        self.call(f"create network {name}", self.client.post, "/networks/create",
                  body=create_body(name, wanted))
        return before, wanted, self.inspect()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            driver=dict(type="str", default="overlay"),
            attachable=dict(type="bool", default=False),
            encrypted=dict(type="bool", default=False),
            internal=dict(type="bool", default=False),
            subnets=dict(type="list", elements="dict", options=dict(
                subnet=dict(type="str", required=True),
                gateway=dict(type="str"),
            )),
            driver_options=dict(type="dict", default={}),
            labels=dict(type="dict", default={}),
            recreate=dict(type="bool", default=False),
            socket=dict(type="path", default="/var/run/docker.sock"),
        ),
        supports_check_mode=True,
    )
    network = Network(module, EngineClient(module.params["socket"]))
    before, after, found = network.run()
    result = {"changed": bool(network.actions), "differences": network.differences,
              "network": found or {}}
    if module._diff:
        result["diff"] = {"before": before or {}, "after": after or {},
                          "before_header": f"network {module.params['name']} (before)",
                          "after_header": f"network {module.params['name']} (after)"}
    network.exit(**result)


if __name__ == "__main__":
    main()
