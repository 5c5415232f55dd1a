#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_swarm_node
short_description: Put a Docker engine into the right swarm, with its role, labels and availability
version_added: 0.1.0
description:
  - Initialises a swarm or joins one when the engine is in none, makes sure the engine is in
    the swarm it should be in (O(cluster_id)), and on a manager sets a node's role, labels and
    availability, refusing demotions and removals that would cost the swarm its raft quorum.
  - Talks to the Docker Engine API on the local unix socket with nothing but the target's
    system python3. A second run with the same arguments changes nothing.
  - Runs on the node itself, or on a manager for another node (O(node)).
options:
  state:
    description:
      - V(present) puts the engine into a swarm (O(init) or O(join)) when it is in none, and
        manages the node.
      - V(absent) makes the engine leave its swarm. A manager leaves only with O(force), and
        not when that would cost a swarm with other nodes its quorum (a manager that leaves
        stays a raft member, unreachable, until it is removed) unless O(allow_quorum_loss).
      - V(absent) with O(node), on a manager, removes that node's entry from the swarm once
        the node has left (its state is C(down); the module waits up to O(timeout) for it).
        A manager's entry is demoted first, under the same quorum check as a demotion.
    type: str
    choices: [present, absent]
    default: present
  init:
    description:
      - When the engine is in no swarm, initialise a new one with this engine as its first
        manager. Ignored when the engine is in a swarm.
      - Cannot be combined with O(join), nor with O(cluster_id) when the engine is in no swarm
        (a new swarm gets a new ID; the check protects the swarm that O(cluster_id) names).
      - Not set means V(false).
    type: bool
  advertise_addr:
    description:
      - Address (C(IP), C(IP:PORT) or interface name) other nodes reach this one on, for
        O(init) and O(join). Docker picks one when unset and the host has only one.
    type: str
  listen_addr:
    description: Address the swarm's control plane listens on, for O(init) and O(join).
    type: str
    default: 0.0.0.0:2377
  data_path_addr:
    description: Address (or interface) of the data path (overlay traffic), for O(init) and O(join).
    type: str
  default_addr_pool:
    description: Address pools (CIDRs) overlay networks get their subnets from, for O(init).
    type: list
    elements: str
  subnet_size:
    description: Prefix length of the subnets taken from O(default_addr_pool), for O(init).
    type: int
  join:
    description:
      - Join a swarm when the engine is in none. The node's role comes from the token (the
        swarm's worker or manager join token).
    type: dict
    suboptions:
      remote_addrs:
        description: Addresses (C(HOST:PORT)) of managers of the swarm.
        type: list
        elements: str
        required: true
      token:
        description: The join token. Never shown.
        type: str
        required: true
  cluster_id:
    description:
      - ID of the swarm this engine must be in. When it is in another, the module fails
        naming both IDs, unless O(rejoin).
      - On a manager the ID comes from the API; a worker cannot ask the API, so it is read
        from the node's swarm certificate (its subject's O) under the daemon's root directory.
      - Checked again after a join.
    type: str
  rejoin:
    description:
      - When the engine is in another swarm than O(cluster_id) (or its swarm state is
        C(pending) or C(error)), leave it with force and join again with O(join).
    type: bool
    default: false
  role:
    description:
      - The node's intended role, set on a manager through the node update (promotion or
        demotion).
      - A promotion returns once the node is a reachable manager (within O(timeout)), so
        that the next one, whose raft commit needs its vote, does not time out.
      - A demotion is refused when the reachable managers left would be fewer than the
        quorum (floor(m/2)+1) of the m managers left, unless O(allow_quorum_loss). The last
        manager of a swarm is never demoted.
      - On a worker, for itself, a role other than C(worker) fails; promotion must run on a
        manager (delegate the task to one, with O(node)).
    type: str
    choices: [manager, worker]
  node:
    description:
      - The node to manage (O(role), O(labels), O(availability)), by ID, name or hostname.
        Only a manager can manage another node.
      - Defaults to this engine's own node.
    type: str
  labels:
    description:
      - Node labels, applied through the node update on a manager. Values are stringified;
        booleans become C(true) and C(false).
      - With O(labels_state=merge) a label set to V(null) is removed.
    type: dict
  labels_state:
    description:
      - V(merge) adds and changes the O(labels) given and keeps the node's others.
      - V(exact) makes the node's labels exactly O(labels).
    type: str
    choices: [merge, exact]
    default: merge
  availability:
    description: The node's availability, applied through the node update on a manager.
    type: str
    choices: [active, pause, drain]
  prune_down_nodes_named:
    description:
      - On a manager, remove the node entries with this hostname that are C(down) and are not
        the managed node (O(node)) nor this engine, the old IDs of a host that was rebuilt
        and joined again.
      - Nothing is removed unless an entry of that hostname is up, so a host that is merely
        down, or not joined again yet, keeps its entry. Draining first is the caller's job.
      - A stale manager entry is demoted first (after the same quorum check as a demotion),
        then removed once the swarm has taken it out of the raft (within O(timeout)).
      - Entries are removed without force, so an entry whose host came back under that ID is
        refused by Docker rather than removed.
    type: str
  force:
    description:
      - With O(state=absent), let a manager leave the swarm (Docker's C(--force)).
    type: bool
    default: false
  allow_quorum_loss:
    description:
      - Demote, remove or leave even when the swarm would lose its raft quorum. Docker may
        still refuse.
    type: bool
    default: false
  return_join_tokens:
    description:
      - Return the swarm's join tokens (RV(join_tokens)); on a manager only.
      - They are returned in clear so that later tasks can use them; register the result in a
        task with C(no_log=true), which keeps the tokens out of every callback's output while
        the registered variable holds them.
    type: bool
    default: false
  autolock:
    description:
      - On a manager, lock the managers' raft keys at rest (the swarm's autolock) or stop
        locking them. A locked manager whose engine restarts takes part in the swarm again
        only once unlocked with the key (O(unlock_key)). Left as it is when not set.
    type: bool
  rotate_unlock_key:
    description:
      - On a manager of a swarm with autolock on, replace the unlock key with a new one (as
        C(docker swarm unlock-key --rotate) does; CIS Docker Benchmark 7.6). Always a change.
        Keep the new key with O(return_unlock_key) in the same task. A manager that was down
        during the rotation may still need the previous key to be unlocked.
    type: bool
    default: false
  return_unlock_key:
    description:
      - Return the swarm's unlock key (RV(unlock_key)); on a manager only. Register the
        result in a task with C(no_log=true).
    type: bool
    default: false
  unlock_key:
    description:
      - The key that unlocks this node when autolock left it locked after its engine
        restarted. Not used on a node that is not locked. Never shown.
    type: str
  timeout:
    description: Seconds to wait for each answer of the daemon (joining can take a while).
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - dockhand.docker.engine
attributes:
  diff_mode:
    support: full
notes:
  - Addresses and pools are only used to create or join a swarm; a node already in the swarm
    is not compared against them.
  - A node that autolock keeps locked is unlocked with O(unlock_key) before anything else.
  - Only the target's system python3 is needed.
seealso:
  - module: dockhand.docker.engine_container
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: First manager (on its first run, no cluster ID is known yet)
  dockhand.docker.docker_swarm_node:
    init: true
    advertise_addr: "{{ ansible_host }}"
    default_addr_pool: [10.220.0.0/16]
    subnet_size: 24
    cluster_id: "{{ swarm_cluster_id | default(omit) }}"
    return_join_tokens: true
  register: first_manager
  no_log: true  # the result holds the join tokens

- name: Join the others, then check they are in the right swarm
  dockhand.docker.docker_swarm_node:
    join:
      remote_addrs: ["{{ hostvars[groups.managers[0]].ansible_host }}:2377"]
      token: "{{ first_manager.join_tokens.worker }}"
    cluster_id: "{{ first_manager.swarm.cluster_id }}"
    advertise_addr: "{{ ansible_host }}"

- name: Promote and label a node (from the first manager)
  dockhand.docker.docker_swarm_node:
    node: "{{ inventory_hostname }}"
    role: manager
    labels:
      zone: a
  delegate_to: "{{ groups.managers[0] }}"

- name: Drop the stale entries of a rebuilt worker
  dockhand.docker.docker_swarm_node:
    node: "{{ inventory_hostname }}"
    prune_down_nodes_named: "{{ inventory_hostname }}"
  delegate_to: "{{ groups.managers[0] }}"

- name: Leave the swarm
  dockhand.docker.docker_swarm_node:
    state: absent
    force: true

- name: Then remove its entry (from a manager)
  dockhand.docker.docker_swarm_node:
    state: absent
    node: "{{ inventory_hostname }}"
  delegate_to: "{{ groups.managers[0] }}"
"""

RETURN = r"""
actions:
  description:
    - What was done (would be done, in check mode), in order, from C(unlocked),
      C(initialised), C(joined), C(left), C(promoted), C(demoted), C(labels),
      C(availability), C(autolock) and C(removed <node ID>).
  returned: always
  type: list
  elements: str
  sample: ["joined"]
node:
  description:
    - The managed node after the task (before it, in check mode); empty when the engine is
      in no swarm.
    - On a worker, which cannot read node objects, C(availability) and C(labels) are null
      and C(state) is the engine's local swarm state.
  returned: success
  type: dict
  sample:
    id: 4vz1tj0bqn6m2w0s6yq4q2v1d
    hostname: node1
    role: manager
    availability: active
    state: ready
    labels: {zone: a}
    leader: true
    reachability: reachable
    addr: 172.29.77.11
swarm:
  description: The swarm, as its manager sees it (after the task; before it, in check mode).
  returned: when the engine is a manager
  type: dict
  sample: {cluster_id: ixv6zv5q3t8b1b0kdzkqf7n4x, managers: 3, reachable_managers: 3, nodes: 5}
unlock_key:
  description:
    - The swarm's unlock key; empty when autolock is off. Register the result in a task with
      C(no_log=true).
  returned: when O(return_unlock_key) and the engine is a manager
  type: str
join_tokens:
  description: The swarm's join tokens. Register the result in a task with C(no_log=true).
  returned: when O(return_join_tokens) and the engine is a manager
  type: dict
  sample: {worker: SWMTKN-1-..., manager: SWMTKN-1-...}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import ModuleRun, hidden_values
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
    EngineError,
    NotFound,
)
from ansible_collections.dockhand.docker.plugins.module_utils.swarm import (
    cluster_id_of,
    find_node,
    is_manager,
    is_reachable_manager,
    manager_counts,
    node_state,
    node_summary,
    quorum_check,
    spec_changes,
    stale_nodes,
    swarm_summary,
    version_index,
)

# How often a node update is retried when another writer bumped the node's version.
UPDATE_ATTEMPTS = 3
QUORUM_HINT = "; set allow_quorum_loss: true to do it anyway"


class SwarmNode(ModuleRun):
    # The join token is hidden by the module itself (see main).
    hidden = (("join", "token"), ("unlock_key",))

    def __init__(self, module, client):
        super().__init__(module)
        self.client = client
        self.node = {}
        self.swarm = None
        self.join_tokens = None
        self.unlock_key = None
        self.diff = {"before": {}, "after": {}}

    # -- plumbing --------------------------------------------------------------------------

    def info(self):
        info = self.call("read the daemon's info", self.client.get, "/info") or {}
        return info, info.get("Swarm") or {}

    # -- joining and leaving ---------------------------------------------------------------

    def _addresses(self):
        body = {"ListenAddr": self.params["listen_addr"]}
        if self.params["advertise_addr"]:
            body["AdvertiseAddr"] = self.params["advertise_addr"]
        if self.params["data_path_addr"]:
            body["DataPathAddr"] = self.params["data_path_addr"]
        return body

    def init(self):
        self.actions.append("initialised")
        if self.check:
            return
        body = {**self._addresses(), "ForceNewCluster": False, "Spec": {}}
        if self.params["default_addr_pool"]:
            body["DefaultAddrPool"] = list(self.params["default_addr_pool"])
        if self.params["subnet_size"]:
            body["SubnetSize"] = self.params["subnet_size"]
        self.call("initialise a swarm", self.client.post, "/swarm/init", body=body)

    def join(self):
        self.actions.append("joined")
        if self.check:
            return
        join = self.params["join"]
        body = {**self._addresses(), "RemoteAddrs": list(join["remote_addrs"]),
                "JoinToken": join["token"]}
        self.call(f"join the swarm at {', '.join(join['remote_addrs'])}", self.client.post,
                  "/swarm/join", body=body)

    def leave(self, force):
        self.actions.append("left")
        if self.check:
            return
        self.call("leave the swarm", self.client.post, "/swarm/leave", {"force": force})

    # -- state: absent ---------------------------------------------------------------------

    def absent(self, info, swarm):
        local = swarm.get("LocalNodeState") or "inactive"
        if local == "inactive":
            return
        force = self.params["force"]
        if local == "active" and swarm.get("ControlAvailable"):
            if not force:
                self.fail("this node is a swarm manager: leaving the swarm needs force: true "
                          "(demote it first to leave as a worker)")
            self.check_leave_quorum()
        self.leave(force)

    def remove_entry(self, swarm):
        """On a manager: remove another node's entry once that node has left (is down)."""
        ref = self.params["node"]
        if not swarm.get("ControlAvailable"):
            self.fail(f"removing node {ref} from the swarm must run on a manager; this engine "
                      "is not one: delegate the task to a manager")
        nodes = self.call("list the swarm's nodes", self.client.get, "/nodes")
        try:
            target = find_node(nodes, ref)
        except LookupError:
            return  # no such entry: already removed
        if target.get("ID") == swarm.get("NodeID"):
            self.fail("a manager cannot remove its own entry: make it leave (state: absent "
                      "without node) on the node itself")
        if node_state(target) != "down" and not self.check:
            target = self.wait_down(target)
        managers, reachable = manager_counts(nodes)
        if is_manager(target):
            self.guard_quorum(managers, reachable, target, "removing")
        self.diff = {"before": {"node": node_summary(target)}, "after": {"node": None}}
        self.actions.append(f"removed {target['ID']}")
        if not self.check:
            self.remove(target)

    def wait_down(self, target):
        """A node that has just left turns down within seconds; one that has not is refused."""
        deadline = time.monotonic() + self.params["timeout"]
        while node_state(target) != "down":
            if time.monotonic() > deadline:
                self.fail(f"node {node_label(target)} is {node_state(target)}, not down: make "
                          "it leave the swarm first (state: absent on that node), then remove "
                          "its entry")
            time.sleep(1)
            target = self.call(f"inspect node {target['ID']}", self.client.get,
                               f"/nodes/{target['ID']}")
        return target

    def wait_reachable(self, target):
        """A promoted node votes once it has caught up with the raft log: until then the
        next promotion's commit needs a vote it cannot give and times out (DeadlineExceeded
        under load). Return once the node is a reachable manager."""
        deadline = time.monotonic() + self.params["timeout"]
        while not is_reachable_manager(target):
            if time.monotonic() > deadline:
                self.fail(f"node {node_label(target)} was promoted but is not a reachable "
                          f"manager after {self.params['timeout']} s")
            time.sleep(0.5)
            target = self.call(f"inspect node {target['ID']}", self.client.get,
                               f"/nodes/{target['ID']}")
        return target

    def check_leave_quorum(self):
        if self.params["allow_quorum_loss"]:
            return
        try:
            nodes = self.client.get("/nodes")
        except EngineError as exc:
            self.fail(f"cannot list the swarm's nodes to check its quorum: {exc.message}"
                      f"{QUORUM_HINT}", status=exc.status)
        if len(nodes) <= 1:
            return  # a swarm of one: leaving ends it, and nothing else depends on it
        managers, reachable = manager_counts(nodes)
        check = quorum_check(managers, reachable, True, stays_member=True)
        if not check.ok:
            self.fail(check.explain(f"this manager leaving ({len(nodes)} nodes in the swarm)")
                      + QUORUM_HINT)

    # -- state: present --------------------------------------------------------------------

    def enter(self, info, swarm):
        """Make sure the engine is in the right swarm; whether that is only predicted."""
        local = swarm.get("LocalNodeState") or "inactive"
        join, init, wanted = self.params["join"], self.params["init"], self.params["cluster_id"]
        if local == "locked":
            self.fail("this node's swarm is locked (autolock): give its unlock key "
                      "(unlock_key), or unlock it with docker swarm unlock")
        if local in ("pending", "error"):
            if not (self.params["rejoin"] and join):
                detail = f": {swarm['Error']}" if swarm.get("Error") else ""
                self.fail(f"this node's swarm state is {local}{detail}; set rejoin: true with "
                          "join to leave and join again")
            self.leave(True)
            self.join()
            return True
        if local == "inactive":
            if join:
                self.join()
                return True
            if init:
                if wanted:
                    self.fail(f"this engine is in no swarm, and cluster_id is {wanted}: init "
                              "would create a new swarm with another ID; join swarm "
                              f"{wanted} instead (join), or leave cluster_id out to create one")
                if self.params["role"] == "worker":
                    self.fail("init makes this engine the only manager of a new swarm, which "
                              "cannot be demoted (role: worker)")
                self.init()
                return True
            self.fail("this engine is in no swarm: set init (to create one) or join")
        if wanted:
            current, why = cluster_id_of(info)
            if current is None:
                self.fail(f"cannot tell whether this engine is in swarm {wanted}: {why}")
            if current != wanted:
                if not self.params["rejoin"]:
                    self.fail(f"this engine is in swarm {current}, not in swarm {wanted} "
                              "(cluster_id); set rejoin: true (with join) to leave swarm "
                              f"{current} and join swarm {wanted}",
                              cluster_id=current)
                if not join:
                    self.fail(f"this engine is in swarm {current}, not in swarm {wanted}; "
                              "rejoin needs join (remote_addrs and token)", cluster_id=current)
                if swarm.get("ControlAvailable"):
                    self.check_leave_quorum()
                self.leave(True)
                self.join()
                return True
        return False

    def verify_cluster(self, info):
        wanted = self.params["cluster_id"]
        if not wanted:
            return
        current, why = cluster_id_of(info)
        if current != wanted:
            found = f"swarm {current}" if current else f"a swarm that cannot be told ({why})"
            self.fail(f"joined {found}, not swarm {wanted} (cluster_id): check join's "
                      "remote_addrs and token", cluster_id=current)

    def predict(self):
        """Check mode, the engine not in the swarm yet: what the node settings would do."""
        role = "manager" if self.params["init"] else self.params["role"]
        if role is None:
            return
        node = {"Spec": {"Role": role, "Labels": {}, "Availability": "active"}}
        _dummy, changed = spec_changes(node["Spec"], self.params["role"], self.params["labels"],
                                       self.params["labels_state"], self.params["availability"])
        self.actions.extend(change_actions(node, changed))

    # -- on a manager ----------------------------------------------------------------------

    def manage(self, info, swarm):
        params = self.params
        nodes = self.call("list the swarm's nodes", self.client.get, "/nodes")
        own_id = swarm.get("NodeID")
        try:
            target = find_node(nodes, params["node"] or own_id)
        except LookupError as exc:
            self.fail(str(exc))
        managers, reachable = manager_counts(nodes)
        spec, changed = self.wanted_spec(target)
        if "role" in changed and params["role"] == "worker" and is_manager(target):
            self.guard_quorum(managers, reachable, target, "demoting")
        self.before_after(target, spec)
        if changed:
            self.actions.extend(change_actions(target, changed))
            if not self.check:
                self.update(target)
                if "role" in changed and params["role"] == "manager":
                    self.wait_reachable(target)

        if params["prune_down_nodes_named"]:
            for stale in stale_nodes(nodes, params["prune_down_nodes_named"],
                                     keep_ids={target.get("ID"), own_id}):
                if is_manager(stale):
                    self.guard_quorum(managers, reachable, stale, "removing")
                self.actions.append(f"removed {stale['ID']}")
                if not self.check:
                    self.remove(stale)
                if is_manager(stale):
                    managers -= 1

        if not self.check and self.actions:
            try:
                nodes = self.client.get("/nodes")
                target = find_node(nodes, target["ID"])
            except (EngineError, LookupError):
                # This engine may have just been demoted: show what was asked for.
                target = {**target, "Spec": spec}
                nodes = None
        self.node = node_summary(target)
        if nodes is not None:
            cluster_id, _dummy = cluster_id_of(info)
            self.swarm = swarm_summary(cluster_id, nodes)
        if params["autolock"] is not None:
            self.lock(params["autolock"])
        if params["rotate_unlock_key"]:
            self.rotate_unlock_key()
        if params["return_unlock_key"]:
            key = self.call("read the unlock key", self.client.get, "/swarm/unlockkey")
            self.unlock_key = (key or {}).get("UnlockKey") or ""
        if params["return_join_tokens"]:
            tokens = self.call("read the join tokens", self.client.get, "/swarm")
            tokens = (tokens or {}).get("JoinTokens") or {}
            self.join_tokens = {"worker": tokens.get("Worker"), "manager": tokens.get("Manager")}

    def rotate_unlock_key(self):
        """A new unlock key; the swarm's spec is sent back as it is."""
        current = self.call("inspect the swarm", self.client.get, "/swarm") or {}
        spec = current.get("Spec") or {}
        if not (spec.get("EncryptionConfig") or {}).get("AutoLockManagers"):
            self.fail("rotate_unlock_key: the swarm has no unlock key to rotate, autolock is "
                      "off; turn it on (autolock: true) first")
        self.actions.append("unlock key rotated")
        if not self.check:
            self.call("rotate the unlock key", self.client.post, "/swarm/update",
                      {"version": version_index(current), "rotateManagerUnlockKey": "true"},
                      body=spec)

    def lock(self, wanted):
        """Turn the swarm's autolock on or off; a version race with another writer is
        retried on the swarm as it is then."""
        for attempt in range(UPDATE_ATTEMPTS):
            current = self.call("inspect the swarm", self.client.get, "/swarm") or {}
            spec = current.get("Spec") or {}
            now = bool((spec.get("EncryptionConfig") or {}).get("AutoLockManagers"))
            self.diff["before"]["autolock"] = now
            self.diff["after"]["autolock"] = wanted
            if now == wanted:
                return
            if attempt == 0:
                self.actions.append("autolock")
            if self.check:
                return
            spec["EncryptionConfig"] = {**(spec.get("EncryptionConfig") or {}),
                                        "AutoLockManagers": wanted}
            try:
                self.client.post("/swarm/update", {"version": version_index(current)}, body=spec)
                return
            except EngineError as exc:
                if "out of sequence" not in exc.message or attempt == UPDATE_ATTEMPTS - 1:
                    self.fail(f"cannot turn the swarm's autolock {'on' if wanted else 'off'}: "
                              f"{exc.message}", status=exc.status)

    def unlock(self):
        self.actions.append("unlocked")
        if self.check:
            return
        self.call("unlock this node's swarm with unlock_key", self.client.post, "/swarm/unlock",
                  body={"UnlockKey": self.params["unlock_key"]})

    def wanted_spec(self, target):
        try:
            return spec_changes(target.get("Spec"), self.params["role"], self.params["labels"],
                                self.params["labels_state"], self.params["availability"])
        except ValueError as exc:
            self.fail(str(exc))

    def guard_quorum(self, managers, reachable, target, verb):
        check = quorum_check(managers, reachable, is_reachable_manager(target))
        if check.ok:
            return
        what = f"{verb} manager {node_label(target)}"
        if check.last_manager:
            self.fail(check.explain(what))
        if self.params["allow_quorum_loss"]:
            self.module.warn(check.explain(what) + " (allow_quorum_loss: true)")
            return
        self.fail(check.explain(what) + QUORUM_HINT,
                  swarm={"managers": managers, "reachable_managers": reachable})

    def update(self, target, wanted=None):
        """POST the node update at the node's current version; re-read and retry when another
        writer got there first, or when the raft commit timed out (on a loaded swarm a
        promotion's commit can outlast the API's deadline and still land: the re-read then
        finds nothing left to do). ``wanted(node)`` is (spec, changed fields)."""
        wanted = wanted or self.wanted_spec
        node = target
        for attempt in range(UPDATE_ATTEMPTS):
            spec, changed = wanted(node)
            if not changed:
                return
            try:
                self.client.post(f"/nodes/{node['ID']}/update",
                                 {"version": version_index(node)}, body=spec)
                return
            except EngineError as exc:
                timed_out = "DeadlineExceeded" in exc.message
                retry = timed_out or "out of sequence" in exc.message
                if not retry or attempt == UPDATE_ATTEMPTS - 1:
                    self.fail(f"cannot update node {node_label(node)}: {exc.message}",
                              status=exc.status)
                if timed_out:
                    time.sleep(2)
            node = self.call(f"inspect node {node['ID']}", self.client.get,
                             f"/nodes/{node['ID']}")

    def remove(self, stale):
        """Remove a down node's entry. A manager's entry is demoted first: swarmkit removes
        no raft member, and takes a down one out of the raft shortly after its demotion."""
        if (stale.get("Spec") or {}).get("Role") == "manager" or is_manager(stale):
            self.update(stale, lambda node: spec_changes(node.get("Spec"), role="worker"))
        deadline = time.monotonic() + self.params["timeout"]
        while True:
            try:
                # Without force: should the host come back under this ID meanwhile, the
                # daemon refuses to remove a node that is not down.
                self.client.delete(f"/nodes/{stale['ID']}")
                return
            except NotFound:
                return
            except EngineError as exc:
                if "raft" not in exc.message or time.monotonic() > deadline:
                    self.fail(f"cannot remove node {node_label(stale)}: {exc.message}",
                              status=exc.status)
            time.sleep(1)

    def before_after(self, target, spec):
        before = target.get("Spec") or {}
        self.diff = {
            "before": {"role": before.get("Role"), "availability": before.get("Availability"),
                       "labels": dict(before.get("Labels") or {})},
            "after": {"role": spec.get("Role"), "availability": spec.get("Availability"),
                      "labels": dict(spec.get("Labels") or {})},
        }

    # -- on a worker -----------------------------------------------------------------------

    def worker(self, info, swarm):
        params = self.params
        own_id = swarm.get("NodeID") or ""
        ref = params["node"]
        if ref and ref != info.get("Name") and not own_id.startswith(ref):
            self.fail(f"node {params['node']} can only be managed from a manager; this engine "
                      "is a worker: delegate the task to a manager")
        if params["role"] not in (None, "worker"):
            self.fail(f"this node ({own_id}) is a worker: promotion to {params['role']} must "
                      f"run on a manager (delegate the task to a manager, with node: {own_id})")
        if params["labels"] is not None or params["availability"]:
            self.fail("labels and availability are set through a manager, and this node "
                      f"({own_id}) is a worker: delegate the task to a manager, with "
                      f"node: {own_id}")
        if params["prune_down_nodes_named"]:
            self.fail("prune_down_nodes_named must run on a manager; this node is a worker")
        if params["return_join_tokens"]:
            self.fail("join tokens can only be read on a manager; this node is a worker")
        if params["autolock"] is not None or params["return_unlock_key"] or \
                params["rotate_unlock_key"]:
            self.fail("autolock and the unlock key are a manager's; this node is a worker: "
                      "delegate the task to a manager")
        self.node = worker_summary(info, swarm)
        self.diff = {"before": {"role": "worker"}, "after": {"role": "worker"}}

    # -- the whole run ---------------------------------------------------------------------

    def run(self):
        info, swarm = self.info()
        before_state = swarm.get("LocalNodeState") or "inactive"
        before_cluster = cluster_id_of(info)[0] if before_state == "active" else None
        if self.params["state"] == "absent" and self.params["node"]:
            self.remove_entry(swarm)
            return
        if self.params["state"] == "absent":
            if self.check:
                self.describe(info, swarm)
            self.absent(info, swarm)
            self.diff = {"before": {"swarm": before_state, "cluster_id": before_cluster},
                         "after": {"swarm": before_state if not self.actions else "inactive",
                                   "cluster_id": None if self.actions else before_cluster}}
            return

        if swarm.get("LocalNodeState") == "locked" and self.params["unlock_key"]:
            self.unlock()
            if self.check:
                return
            info, swarm = self.info()
        entered = self.enter(info, swarm)
        if entered and self.check:
            self.predict()
            self.describe(info, swarm)
            self.diff = {"before": {"swarm": before_state, "cluster_id": before_cluster},
                         "after": {"swarm": "active",
                                   "cluster_id": self.params["cluster_id"] or None}}
            return
        if entered:
            info, swarm = self.info()
            self.verify_cluster(info)
        if swarm.get("ControlAvailable"):
            self.manage(info, swarm)
        else:
            self.worker(info, swarm)
        after_cluster = cluster_id_of(info)[0]
        self.diff["before"].update(swarm=before_state, cluster_id=before_cluster)
        self.diff["after"].update(swarm="active", cluster_id=after_cluster)

    def describe(self, info, swarm):
        """The node as it is now, for check mode (best effort, never failing)."""
        if (swarm.get("LocalNodeState") or "inactive") != "active":
            return
        if not swarm.get("ControlAvailable"):
            self.node = worker_summary(info, swarm)
            return
        try:
            nodes = self.client.get("/nodes")
            self.node = node_summary(find_node(nodes, swarm.get("NodeID")))
            self.swarm = swarm_summary(cluster_id_of(info)[0], nodes)
        except (EngineError, LookupError):
            pass

    def results(self):
        result = {"changed": bool(self.actions), "actions": self.actions, "node": self.node}
        if self.swarm is not None:
            result["swarm"] = self.swarm
        if self.join_tokens is not None:
            result["join_tokens"] = self.join_tokens
        if self.unlock_key is not None:
            result["unlock_key"] = self.unlock_key
        if self.module._diff:
            result["diff"] = self.diff
        return result


def worker_summary(info, swarm):
    """What a worker knows of itself: no node objects, only /info."""
    return {"id": swarm.get("NodeID"), "hostname": info.get("Name"), "role": "worker",
            "availability": None, "state": swarm.get("LocalNodeState"), "labels": None,
            "leader": False, "reachability": None, "addr": swarm.get("NodeAddr")}


def node_label(node):
    hostname = (node.get("Description") or {}).get("Hostname")
    return f"{hostname} ({node.get('ID')})" if hostname else str(node.get("ID"))


def change_actions(node, changed):
    actions = []
    if "role" in changed:
        role = (node.get("Spec") or {}).get("Role")
        actions.append("demoted" if role == "manager" else "promoted")
    actions.extend(field for field in ("labels", "availability") if field in changed)
    return actions


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            # No default, so that mutually_exclusive sees only an init the task sets.
            init=dict(type="bool"),
            advertise_addr=dict(type="str"),
            listen_addr=dict(type="str", default="0.0.0.0:2377"),
            data_path_addr=dict(type="str"),
            default_addr_pool=dict(type="list", elements="str"),
            subnet_size=dict(type="int"),
            join=dict(type="dict", options=dict(
                remote_addrs=dict(type="list", elements="str", required=True),
                token=dict(type="str", required=True, no_log=True),
            )),
            cluster_id=dict(type="str"),
            rejoin=dict(type="bool", default=False),
            role=dict(type="str", choices=["manager", "worker"]),
            node=dict(type="str"),
            labels=dict(type="dict"),
            labels_state=dict(type="str", choices=["merge", "exact"], default="merge"),
            availability=dict(type="str", choices=["active", "pause", "drain"]),
            prune_down_nodes_named=dict(type="str"),
            force=dict(type="bool", default=False),
            allow_quorum_loss=dict(type="bool", default=False),
            return_join_tokens=dict(type="bool", default=False),
            autolock=dict(type="bool"),
            return_unlock_key=dict(type="bool", default=False),
            rotate_unlock_key=dict(type="bool", default=False),
            unlock_key=dict(type="str", no_log=True),
            socket=dict(type="path", default="/var/run/docker.sock"),
            timeout=dict(type="int", default=60),
        ),
        mutually_exclusive=[("init", "join")],
        supports_check_mode=True,
    )
    # The join token may be the very manager token this run returns (a manager that joined
    # with it); Ansible would mask it there too. The module keeps the token out of everything
    # but join_tokens itself, and hides it in the invocation.
    if module.params["return_join_tokens"] and module.params["join"]:
        for value in hidden_values(module.params, SwarmNode.hidden):
            module.no_log_values.discard(value)
    manager = SwarmNode(module, EngineClient(module.params["socket"],
                                             timeout=module.params["timeout"]))
    manager.run()
    manager.exit(**manager.results())


if __name__ == "__main__":
    main()
