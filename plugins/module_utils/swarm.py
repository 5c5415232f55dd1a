# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the swarm modules, standard library only: raft quorum arithmetic, node
labels, summaries of the Engine API's node and swarm objects, object versions, and the
cluster ID a node's swarm certificate carries.

Nothing here talks to a daemon, so all of it is unit-tested without one.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

ROLES = ("manager", "worker")
AVAILABILITIES = ("active", "pause", "drain")
LABELS_STATES = ("merge", "exact")
# Relative to the daemon's DockerRootDir. The node certificate's subject is
# O=<cluster ID>, OU=swarm-manager|swarm-worker, CN=<node ID>.
NODE_CERT = "swarm/certificates/swarm-node.crt"


# ---------------------------------------------------------------------------------------------
# Quorum
# ---------------------------------------------------------------------------------------------

def quorum(managers):
    """Raft quorum of ``managers`` voting members: a strict majority, floor(n/2)+1."""
    return managers // 2 + 1 if managers > 0 else 0


@dataclass(frozen=True)
class QuorumCheck:
    """Whether taking one manager out keeps the swarm's raft quorum.

    ``managers`` and ``reachable`` are counted before the change, the target included;
    ``remaining`` is how many managers are left in the raft configuration afterwards,
    ``remaining_reachable`` how many of them are reachable, and ``needed`` their quorum.
    """

    managers: int
    reachable: int
    remaining: int
    remaining_reachable: int
    needed: int

    @property
    def ok(self):
        # The change itself is a raft commit: the swarm needs its quorum now, and afterwards.
        return (self.remaining > 0 and self.reachable >= quorum(self.managers)
                and self.remaining_reachable >= self.needed)

    @property
    def last_manager(self):
        return self.remaining == 0

    def explain(self, what):
        if self.last_manager:
            return f"{what} would leave the swarm without a manager"
        if self.reachable < quorum(self.managers):
            return (f"the swarm has lost its quorum: {self.reachable} of {self.managers} "
                    f"managers are reachable, {quorum(self.managers)} are needed")
        return (f"{what} would lose the swarm's quorum: {self.remaining_reachable} reachable "
                f"manager(s) would remain of {self.remaining}, {self.needed} are needed "
                f"(a majority, floor({self.remaining}/2)+1); {self.reachable} of "
                f"{self.managers} managers are reachable now")


def quorum_check(managers, reachable, target_reachable, stays_member=False):
    """Can one manager (reachable or not) stop voting without losing quorum?

    Demoting or removing a manager takes it out of the raft configuration (``remaining`` is
    one less); a manager that leaves the swarm with force stays in it as an unreachable
    member until it is removed (``stays_member``), which is why leaving is the riskier one.
    """
    remaining = managers if stays_member else managers - 1
    remaining_reachable = reachable - (1 if target_reachable else 0)
    return QuorumCheck(managers=managers, reachable=reachable, remaining=remaining,
                       remaining_reachable=remaining_reachable, needed=quorum(remaining))


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------

def label_value(value):
    """A label value as the API stores it: booleans as true/false, numbers as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        raise ValueError(f"label value {value!r} is not a string, number or boolean")
    return str(value)


def wanted_labels(current, labels, labels_state="merge"):
    """The labels a node should end up with.

    ``merge`` keeps labels that ``labels`` does not name and removes those it sets to None;
    ``exact`` makes the node's labels exactly ``labels`` (None values left out).
    """
    if labels_state not in LABELS_STATES:
        raise ValueError(f"labels_state must be one of {', '.join(LABELS_STATES)}")
    result = dict(current or {}) if labels_state == "merge" else {}
    for raw_key, value in (labels or {}).items():
        key = str(raw_key)
        if not key:
            raise ValueError("a label name cannot be empty")
        if value is None:
            result.pop(key, None)
        else:
            result[key] = label_value(value)
    return result


def version_index(obj):
    """The ``Version.Index`` an update of a swarm object must quote (optimistic locking)."""
    try:
        return int((obj.get("Version") or {})["Index"])
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ValueError("the object has no Version.Index") from None


def node_hostname(node):
    return (node.get("Description") or {}).get("Hostname")


def node_state(node):
    return (node.get("Status") or {}).get("State")


def is_manager(node):
    """A raft member: the node has ManagerStatus (its role may be changing)."""
    return bool(node.get("ManagerStatus"))


def is_reachable_manager(node):
    return (node.get("ManagerStatus") or {}).get("Reachability") == "reachable"


def node_summary(node):
    """The module's short view of one /nodes entry."""
    spec = node.get("Spec") or {}
    manager = node.get("ManagerStatus") or {}
    status = node.get("Status") or {}
    # A manager's raft address is the one it advertises; Status.Addr is where the leader
    # saw its connection come from.
    addr = manager.get("Addr", "").rpartition(":")[0].strip("[]") or status.get("Addr")
    return {
        "id": node.get("ID"),
        "hostname": node_hostname(node),
        "role": spec.get("Role"),
        "availability": spec.get("Availability"),
        "state": status.get("State"),
        "labels": dict(spec.get("Labels") or {}),
        "leader": bool(manager.get("Leader")),
        "reachability": manager.get("Reachability"),
        "addr": addr,
    }


def swarm_summary(cluster_id, nodes):
    """{cluster_id, managers, reachable_managers, nodes} from the /nodes list."""
    return {
        "cluster_id": cluster_id,
        "managers": sum(1 for node in nodes if is_manager(node)),
        "reachable_managers": sum(1 for node in nodes if is_reachable_manager(node)),
        "nodes": len(nodes),
    }


def manager_counts(nodes):
    """(managers, reachable managers) of the /nodes list."""
    summary = swarm_summary(None, nodes)
    return summary["managers"], summary["reachable_managers"]


def find_node(nodes, ref):
    """The node whose ID, ID prefix, name or hostname is ``ref``; LookupError if none is,
    or if several are and none of them is the only one that is not down."""
    exact = [node for node in nodes if node.get("ID") == ref]
    if exact:
        return exact[0]
    named = [node for node in nodes
             if ref in (node_hostname(node), (node.get("Spec") or {}).get("Name"))]
    if not named:
        named = [node for node in nodes if str(node.get("ID", "")).startswith(ref)]
    if len(named) > 1:
        alive = [node for node in named if node_state(node) != "down"]
        if len(alive) == 1:
            return alive[0]
        ids = ", ".join(sorted(node.get("ID", "?") for node in named))
        raise LookupError(f"{ref!r} names several nodes ({ids}): give the node ID")
    if not named:
        raise LookupError(f"no node of the swarm is {ref!r}")
    return named[0]


def stale_nodes(nodes, hostname, keep_ids=()):
    """Entries of ``hostname`` that are down and not in ``keep_ids``: left behind when the
    host was rebuilt and joined again under a new ID.

    Only when another entry of that hostname is up (not down), so a host that is merely
    down, or rebuilt but not yet joined again, keeps its entry.
    """
    same = [node for node in nodes if node_hostname(node) == hostname]
    if not any(node_state(node) != "down" for node in same):
        return []
    return sorted((node for node in same
                   if node_state(node) == "down" and node.get("ID") not in keep_ids),
                  key=lambda node: node.get("ID", ""))


def spec_changes(spec, role=None, labels=None, labels_state="merge", availability=None):
    """(the updated NodeSpec, the changed fields among 'role', 'labels', 'availability')."""
    new = dict(spec or {})
    changed = []
    if role is not None and new.get("Role") != role:
        new["Role"] = role
        changed.append("role")
    if labels is not None:
        current = dict(new.get("Labels") or {})
        after = wanted_labels(current, labels, labels_state)
        if after != current:
            changed.append("labels")
        new["Labels"] = after
    if availability is not None and new.get("Availability") != availability:
        new["Availability"] = availability
        changed.append("availability")
    return new, changed


# ---------------------------------------------------------------------------------------------
# The node certificate (workers cannot ask the API which cluster they are in)
# ---------------------------------------------------------------------------------------------

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_OID_ORGANIZATION = bytes((0x55, 0x04, 0x0A))  # 2.5.4.10, id-at-organizationName
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x14: "latin-1", 0x16: "ascii", 0x1E: "utf-16-be"}


def _der_items(data, start, end):
    """(tag, content start, content end) of each DER element in data[start:end]."""
    position = start
    while position < end:
        if position + 2 > end:
            raise ValueError("truncated DER")
        tag, length = data[position], data[position + 1]
        position += 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4 or position + size > end:
                raise ValueError("bad DER length")
            length = int.from_bytes(data[position:position + size], "big")
            position += size
        if position + length > end:
            raise ValueError("truncated DER")
        yield tag, position, position + length
        position += length


def _single(data, start, end, tag):
    items = list(_der_items(data, start, end))
    if len(items) != 1 or items[0][0] != tag:
        raise ValueError("unexpected DER structure")
    return items[0]


def certificate_organization(pem):
    """The subject's O (organisation) of the first certificate in ``pem``, or None.

    ValueError when it holds no readable certificate.
    """
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    match = _PEM_CERT.search(pem or "")
    if not match:
        raise ValueError("no PEM certificate")
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except ValueError as exc:
        raise ValueError(f"bad base64 in the certificate: {exc}") from None
    _dummy, start, end = _single(der, 0, len(der), 0x30)                 # Certificate
    tbs = next(_der_items(der, start, end))                          # TBSCertificate
    if tbs[0] != 0x30:
        raise ValueError("unexpected DER structure")
    fields = list(_der_items(der, tbs[1], tbs[2]))
    if fields and fields[0][0] == 0xA0:                              # [0] version
        fields = fields[1:]
    if len(fields) < 5:
        raise ValueError("unexpected DER structure")
    _dummy, subject_start, subject_end = fields[4]            # serial, signature, issuer, validity
    for set_tag, set_start, set_end in _der_items(der, subject_start, subject_end):
        if set_tag != 0x31:
            continue
        for _dummy, pair_start, pair_end in _der_items(der, set_start, set_end):
            parts = list(_der_items(der, pair_start, pair_end))
            if (len(parts) == 2 and parts[0][0] == 0x06
                    and der[parts[0][1]:parts[0][2]] == _OID_ORGANIZATION):
                tag, value_start, value_end = parts[1]
                encoding = _STRING_TAGS.get(tag)
                if encoding:
                    return der[value_start:value_end].decode(encoding, "replace")
    return None


def cluster_id_from_node_cert(pem):
    """The cluster ID in a swarm node certificate (its subject's O), or None."""
    return certificate_organization(pem)


def cluster_id_of(info):
    """The ID of the swarm an engine is in, from its /info: (ID, None) or (None, why not).

    A manager's /info names the cluster; a worker's does not, so it is read from the node
    certificate under the daemon's root directory.
    """
    swarm = info.get("Swarm") or {}
    cluster = (swarm.get("Cluster") or {}).get("ID")
    if cluster:
        return cluster, None
    path = os.path.join(info.get("DockerRootDir") or "/var/lib/docker", NODE_CERT)
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            found = cluster_id_from_node_cert(handle.read())
    except (OSError, ValueError) as exc:
        return None, f"a worker cannot ask the API and {path} is unreadable: {exc}"
    if not found:
        return None, f"{path} names no cluster (no O in its subject)"
    return found, None
