#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_stack
short_description: Deploy a compose-format stack to a swarm and wait until it runs
version_added: 0.1.0
description:
  - Deploys a stack with C(docker stack deploy) on a swarm manager (the CLI turns compose
    documents into services), passing the registry credentials to the nodes
    (O(with_registry_auth)), and waits until every service has all its replicas running.
  - Every service is labelled with the digest of the documents it was deployed from. A re-run
    with the same documents deploys nothing and reports no change; a deploy reports a change
    only when a service's spec changed, or services were added or removed.
  - Reads the services, tasks and nodes through the Docker Engine API on the local unix
    socket with the target's system python3; the deploy itself needs the C(docker) CLI.
  - Not a drop-in for M(community.docker.docker_stack), hence its own name.
    O(with_registry_auth) defaults to V(true) (V(false) there), it labels services with the
    documents' digest and waits for the replicas, and its options differ. It needs no
    Docker SDK or C(requests) on the target.
options:
  name:
    description: Name of the stack (the prefix of its services' names).
    type: str
    required: true
  state:
    description:
      - V(absent) removes the stack (C(docker stack rm)) and waits until its services are gone
        and this node runs none of its containers (a task's container keeps its published host
        ports until it has stopped).
      - A removal the manager refuses in part (a network a stopping task still uses, a service
        while the manager is busy) is repeated until it succeeds or O(wait_timeout) has passed.
    type: str
    choices: [present, absent]
    default: present
  compose:
    description:
      - The compose documents, as mappings (a file's content through C(from_yaml), or YAML
        written in the task), merged in order like several C(-c) files.
    type: list
    elements: raw
  publish_mode:
    description:
      - Publishing mode given to every published port that does not set its own.
        V(ingress) (the routing mesh, Docker's default) needs IPVS in the kernel; V(host)
        publishes on the nodes that run a task.
      - Short port entries (C(8080:80)) are rewritten to the long syntax for this.
    type: str
    choices: [ingress, host]
  endpoint_mode:
    description:
      - Endpoint mode given to every service that does not set its own. V(vip) needs IPVS;
        V(dnsrr) answers the service name with its tasks' addresses.
    type: str
    choices: [vip, dnsrr]
  with_registry_auth:
    description: Send the registry credentials to the nodes, so that they can pull private images.
    type: bool
    default: true
  registry_auth:
    description:
      - Credentials for private registries, used for this deploy only (a temporary Docker
        client configuration), never written to the manager's own one.
      - Without them, the credentials of the manager's C(docker login) are used.
    type: list
    elements: dict
    default: []
    suboptions:
      registry:
        description: The registry, C(HOST[:PORT]).
        type: str
        required: true
      username:
        description: User name.
        type: str
        required: true
      password:
        description: Password.
        type: str
        required: true
  resolve_image:
    description: Whether the manager pins each image to its digest in the registry.
    type: str
    choices: [always, changed, never]
    default: always
  prune:
    description: Remove the stack's services that the documents no longer define.
    type: bool
    default: false
  always_deploy:
    description:
      - Deploy even when the documents are the ones the stack was deployed from, for example
        to pick up an image tag that now points to another digest. The result reports a
        change only if a spec changed.
    type: bool
    default: false
  wait:
    description: Wait until every service of the stack has all its replicas running.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait; then the module fails with the failing tasks' errors.
    type: int
    default: 300
  docker_cli:
    description: The docker command line client.
    type: path
    default: docker
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - dockhand.docker.engine
attributes:
  diff_mode:
    support: full
notes:
  - Runs on a swarm manager.
  - Check mode reports which services would be created, updated or removed, from the
    digest of the documents, without deploying.
requirements:
  - The C(docker) CLI on the manager (C(docker stack deploy)).
seealso:
  - module: dockhand.docker.docker_swarm_node
  - module: dockhand.docker.engine_network
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Deploy the web stack from the private registry, publishing on the nodes themselves
  dockhand.docker.swarm_stack:
    name: web
    compose:
      - services:
          app:
            image: registry.example.com:5000/web/app:1.4
            ports: ["8080:8080"]
            deploy:
              mode: global
    publish_mode: host
    endpoint_mode: dnsrr
    registry_auth:
      - registry: registry.example.com:5000
        username: deploy
        password: "{{ vault_registry_password }}"
    wait_timeout: 120
  run_once: true
  delegate_to: "{{ groups.swarm_managers[0] }}"
"""

RETURN = r"""
plan:
  description: The services that were (in check mode, would be) created, updated and removed.
  returned: success
  type: dict
  sample: {create: [web_app], update: [], remove: []}
changed_services:
  description: Services whose spec the deploy changed, added or removed.
  returned: success
  type: list
  elements: str
services:
  description: The stack's services and their replicas, C(running/desired).
  returned: success
  type: dict
  sample: {web_app: 4/4}
digest:
  description: Digest of the documents as deployed (the C(dockhand.stack.spec) label).
  returned: when state is present
  type: str
"""

import base64
import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import ModuleRun
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
    EngineError,
)
from ansible_collections.dockhand.docker.plugins.module_utils.stack import (
    NAMESPACE_LABEL,
    partly_removed,
    plan,
    prepare,
    progress,
    spec_changes,
    task_errors,
)

POLL = 1.0


class Stack(ModuleRun):
    def __init__(self, module, client):
        super().__init__(module, prefix=f"stack {module.params['name']}: ")
        self.client = client
        self.name = module.params["name"]

    def services(self, status=False):
        filters = {"label": [f"{NAMESPACE_LABEL}={self.name}"]}
        params = {"filters": filters, "status": True} if status else {"filters": filters}
        return self.call("list the stack's services", self.client.get, "/services", params) or []

    # -- the docker CLI --------------------------------------------------------------------

    def cli(self, args, config_dir=None, may_fail=False):
        """Runs the docker CLI; fails the module on an error unless the caller handles it."""
        env = {"DOCKER_HOST": f"unix://{self.params['socket']}"}
        if config_dir:
            env["DOCKER_CONFIG"] = config_dir
        docker = self.params["docker_cli"]
        if os.sep not in docker:
            docker = self.module.get_bin_path(docker, required=True)
        command = [docker, *args]
        rc, out, err = self.module.run_command(command, environ_update=env)
        if rc != 0 and not may_fail:
            self.fail(f"{' '.join(command[:3])} failed (rc={rc}): {(err or out).strip()}",
                      stdout=out, stderr=err)
        return rc, out, err

    def deploy(self, documents):
        workdir = tempfile.mkdtemp(prefix="dockhand-stack-")
        try:
            os.chmod(workdir, 0o700)
            files = []
            for number, document in enumerate(documents, start=1):
                path = os.path.join(workdir, f"compose-{number}.json")
                with open(path, "w", encoding="utf-8") as handle:
                    json.dump(document, handle)
                files += ["-c", path]
            config_dir = self.client_config(workdir)
            args = ["stack", "deploy", *files, "--resolve-image", self.params["resolve_image"]]
            if self.params["with_registry_auth"]:
                args.append("--with-registry-auth")
            if self.params["prune"]:
                args.append("--prune")
            self.cli([*args, self.name], config_dir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def client_config(self, workdir):
        """A throwaway client configuration holding only the given credentials."""
        if not self.params["registry_auth"]:
            return None
        auths = {}
        for entry in self.params["registry_auth"]:
            token = f"{entry['username']}:{entry['password']}".encode()
            auths[entry["registry"]] = {"auth": base64.b64encode(token).decode("ascii")}
        config_dir = os.path.join(workdir, "client")
        os.mkdir(config_dir, 0o700)
        descriptor = os.open(os.path.join(config_dir, "config.json"),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"auths": auths}, handle)
        return config_dir

    # -- waiting ---------------------------------------------------------------------------

    def wait(self):
        deadline = time.monotonic() + self.params["wait_timeout"]
        while True:
            services = self.services(status=True)
            tasks = self.tasks(services)
            state = {s["Spec"]["Name"]: progress(s, [t for t in tasks
                                                     if t.get("ServiceID") == s.get("ID")])
                     for s in services}
            failed = {name: p[1] for name, p in state.items() if p[1]}
            pending = sorted(name for name, p in state.items() if not p[0])
            counts = {name: p[2] for name, p in state.items()}
            if failed:
                self.fail("; ".join(f"service {n}: {why}" for n, why in sorted(failed.items()))
                          + self.errors(services), services=counts)
            if not pending:
                return counts
            if time.monotonic() > deadline:
                waiting = ", ".join(f"{name} {counts[name]}" for name in pending)
                self.fail(f"replicas not running after {self.params['wait_timeout']} s "
                          f"({waiting} running/desired){self.errors(services)}",
                          services=counts)
            time.sleep(POLL)

    def tasks(self, services):
        if not services:
            return []
        return self.call("list the stack's tasks", self.client.get, "/tasks", {"filters": {
            "service": [s["Spec"]["Name"] for s in services]}}) or []

    def errors(self, services):
        """'; task errors: ...' from the stack's tasks, the newest error per service and node."""
        if not services:
            return ""
        try:
            tasks = self.client.get("/tasks", {"filters": {
                "service": [s["Spec"]["Name"] for s in services]}}) or []
            nodes = self.client.get("/nodes") or []
        except EngineError as exc:
            return f"; the tasks cannot be read: {exc.message}"
        hosts = {n.get("ID"): (n.get("Description") or {}).get("Hostname") or n.get("ID")
                 for n in nodes}
        names = {s.get("ID"): s["Spec"]["Name"] for s in services}
        found = task_errors(tasks, hosts, names)
        return "; task errors: " + "; ".join(found) if found else ""

    def running_here(self):
        """The stack's containers that still run on this node: a removed service's tasks
        stop after the service is gone, and keep their published host ports until then."""
        return self.call("list the stack's containers on this node", self.client.get,
                         "/containers/json",
                         {"filters": {"label": [f"{NAMESPACE_LABEL}={self.name}"]}}) or []

    def remove(self):
        """docker stack rm, repeated while the manager refuses some resources for the moment
        (each run removes only what is left)."""
        deadline = time.monotonic() + self.params["wait_timeout"]
        while True:
            rc, out, err = self.cli(["stack", "rm", self.name], may_fail=True)
            if rc == 0:
                return
            partly = partly_removed(err)
            if not partly or time.monotonic() > deadline:
                if partly:
                    self.actions.append("removed in part")
                self.fail(f"docker stack rm failed (rc={rc}): {err.strip()}",
                          stdout=out, stderr=err)
            time.sleep(POLL)

    def wait_removed(self):
        deadline = time.monotonic() + self.params["wait_timeout"]
        while self.services() or self.running_here():
            if time.monotonic() > deadline:
                self.fail(f"services or this node's containers of the stack still present "
                          f"{self.params['wait_timeout']} s after the removal")
            time.sleep(POLL)

    # -- the whole run ---------------------------------------------------------------------

    def present(self):
        try:
            documents, digest = prepare(self.params["compose"] or [],
                                        self.params["publish_mode"],
                                        self.params["endpoint_mode"])
        except ValueError as exc:
            self.fail(str(exc))
        before = self.services()
        todo = plan(self.name, documents, digest, before, self.params["prune"])
        deploy = any(todo.values()) or self.params["always_deploy"]
        result = {"plan": todo, "digest": digest, "changed_services": [], "services": {}}
        if self.check:
            result["changed"] = any(todo.values())
            result["changed_services"] = sorted(name for names in todo.values() for name in names)
            return result, before
        if deploy:
            self.deploy(documents)
            self.actions.append("deployed")
        after = self.services()
        result["changed_services"] = spec_changes(before, after)
        result["changed"] = bool(result["changed_services"])
        if self.params["wait"]:
            result["services"] = self.wait()
        return result, before

    def absent(self):
        before = self.services()
        names = sorted(s["Spec"]["Name"] for s in before)
        result = {"plan": {"create": [], "update": [], "remove": names},
                  "changed_services": names, "services": {}, "changed": bool(names)}
        if names and not self.check:
            self.remove()
            self.actions.append("removed")
            if self.params["wait"]:
                self.wait_removed()
        return result, before


def summary(services):
    return {s["Spec"]["Name"]: {
        "image": ((s["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image"),
        "mode": sorted((s["Spec"].get("Mode") or {}).keys()),
    } for s in services}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            compose=dict(type="list", elements="raw"),
            publish_mode=dict(type="str", choices=["ingress", "host"]),
            endpoint_mode=dict(type="str", choices=["vip", "dnsrr"]),
            with_registry_auth=dict(type="bool", default=True),
            registry_auth=dict(type="list", elements="dict", default=[], options=dict(
                registry=dict(type="str", required=True),
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
            )),
            resolve_image=dict(type="str", choices=["always", "changed", "never"],
                               default="always"),
            prune=dict(type="bool", default=False),
            always_deploy=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
            docker_cli=dict(type="path", default="docker"),
            socket=dict(type="path", default="/var/run/docker.sock"),
        ),
        required_if=[("state", "present", ["compose"])],
        supports_check_mode=True,
    )
    stack = Stack(module, EngineClient(module.params["socket"]))
    if module.params["state"] == "present":
        result, before = stack.present()
    else:
        result, before = stack.absent()
    if module._diff:
        planned = result["plan"]
        after = {name: value for name, value in summary(before).items()
                 if name not in planned["remove"]}
        for name in planned["create"] + planned["update"]:
            after[name] = "deployed from the compose documents"
        result["diff"] = {"before": summary(before), "after": after,
                          "before_header": f"stack {module.params['name']} (before)",
                          "after_header": f"stack {module.params['name']} (after)"}
    stack.exit(**result)


if __name__ == "__main__":
    main()
