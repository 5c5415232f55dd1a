"""The pure swarm logic of module_utils/swarm.py: quorum arithmetic, labels, node summaries,
versions and the cluster ID of a node certificate. No Docker daemon."""

from __future__ import annotations

import datetime as dt

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils import swarm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# ---------------------------------------------------------------------------------------------
# Realistic /nodes answers (Docker 20.10, trimmed of Platform/Resources/Engine/TLSInfo)
# ---------------------------------------------------------------------------------------------


def api_node(node_id, hostname, role="worker", state="ready", availability="active",
             labels=None, reachability=None, leader=False, addr="172.29.77.11", index=10):
    node = {
        "ID": node_id,
        "Version": {"Index": index},
        "CreatedAt": "2024-05-01T10:00:00.000000000Z",
        "UpdatedAt": "2024-05-01T10:05:00.000000000Z",
        "Spec": {"Labels": labels or {}, "Role": role, "Availability": availability},
        "Description": {
            "Hostname": hostname,
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Engine": {"EngineVersion": "20.10.24+dfsg1"},
        },
        "Status": {"State": state, "Addr": addr},
    }
    if reachability:
        node["ManagerStatus"] = {"Reachability": reachability, "Addr": f"{addr}:2377"}
        if leader:
            node["ManagerStatus"]["Leader"] = True
    return node


NODES = [
    api_node("m1aaaaaaaaaaaaaaaaaaaaaaa", "node1", "manager", reachability="reachable",
             leader=True, labels={"zone": "a"}, addr="172.29.77.11", index=21),
    api_node("m2bbbbbbbbbbbbbbbbbbbbbbb", "node2", "manager", reachability="reachable",
             addr="172.29.77.12"),
    api_node("m3ccccccccccccccccccccccc", "node3", "manager", state="down",
             reachability="unreachable", addr="172.29.77.13"),
    api_node("w4ddddddddddddddddddddddd", "node4", addr="172.29.77.14"),
    # node5 was rebuilt: its old entry is down, the new one is up.
    api_node("w5oldoldoldoldoldoldoldol", "node5", state="down", addr="172.29.77.15"),
    api_node("w5newnewnewnewnewnewnewne", "node5", addr="172.29.77.15"),
]

# ---------------------------------------------------------------------------------------------
# Quorum
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("managers", "expected"), [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3),
                                                    (5, 3), (6, 4), (7, 4)])
def test_quorum(managers, expected):
    assert swarm.quorum(managers) == expected


# (managers, reachable now, is the target reachable) -> may it be demoted or removed?
@pytest.mark.parametrize(
    ("managers", "reachable", "target_reachable", "ok"),
    [
        (1, 1, True, False),    # the last manager, never
        (2, 2, True, True),     # 1 left, 1 reachable: quorum of 1 is 1
        (2, 2, False, True),    # impossible mix, but the arithmetic holds
        (2, 1, True, False),    # the swarm has no quorum now (1 of 2)
        (2, 1, False, False),   # no quorum now: nothing commits
        (3, 3, True, True),     # 2 left, both reachable, quorum 2
        (3, 2, True, False),    # 2 left, 1 reachable, quorum 2
        (3, 2, False, True),    # removing the unreachable one: 2 left, 2 reachable
        (3, 1, False, False),   # no quorum now
        (4, 4, True, True),     # 3 left, 3 reachable, quorum 2
        (4, 3, True, True),     # 3 left, 2 reachable, quorum 2
        (4, 3, False, True),
        (4, 2, False, False),   # no quorum now (2 of 4)
        (5, 5, True, True),
        (5, 4, True, True),     # 4 left, 3 reachable, quorum 3
        (5, 3, True, False),    # 4 left, 2 reachable, quorum 3
        (5, 3, False, True),    # 4 left, 3 reachable
        (5, 2, False, False),
    ],
)
def test_demote_or_remove_one(managers, reachable, target_reachable, ok):
    check = swarm.quorum_check(managers, reachable, target_reachable)
    assert check.ok is ok
    assert check.remaining == managers - 1
    assert check.needed == swarm.quorum(managers - 1)


# A manager that leaves with force stays a raft member (unreachable) until it is removed.
@pytest.mark.parametrize(
    ("managers", "reachable", "ok"),
    [(1, 1, False), (2, 2, False), (3, 3, True), (3, 2, False), (4, 4, True), (4, 3, False),
     (5, 5, True), (5, 4, True), (5, 3, False)],
)
def test_leave_one(managers, reachable, ok):
    check = swarm.quorum_check(managers, reachable, True, stays_member=True)
    assert check.ok is ok
    assert check.remaining == managers


def test_quorum_messages_say_how_many():
    text = swarm.quorum_check(3, 2, True).explain("demoting manager node2")
    assert text.startswith("demoting manager node2 would lose the swarm's quorum")
    assert "1 reachable manager(s) would remain of 2, 2 are needed" in text
    assert "2 of 3 managers are reachable now" in text
    assert swarm.quorum_check(1, 1, True).explain("demoting node1") == (
        "demoting node1 would leave the swarm without a manager")
    assert "has lost its quorum: 1 of 3" in swarm.quorum_check(3, 1, False).explain("x")
    assert swarm.quorum_check(1, 1, True).last_manager


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "labels", "state", "expected"),
    [
        ({}, {"zone": "a"}, "merge", {"zone": "a"}),
        ({"zone": "a", "disk": "ssd"}, {"zone": "b"}, "merge", {"zone": "b", "disk": "ssd"}),
        ({"zone": "a", "disk": "ssd"}, {"zone": "b"}, "exact", {"zone": "b"}),
        ({"zone": "a", "disk": "ssd"}, {"disk": None}, "merge", {"zone": "a"}),
        ({"zone": "a"}, {"gone": None}, "merge", {"zone": "a"}),
        ({"zone": "a"}, {"zone": None, "x": "1"}, "exact", {"x": "1"}),
        ({"zone": "a"}, {}, "merge", {"zone": "a"}),
        ({"zone": "a"}, {}, "exact", {}),
        (None, None, "exact", {}),
        ({}, {"gpu": True, "slots": 4, "ratio": 0.5}, "merge",
         {"gpu": "true", "slots": "4", "ratio": "0.5"}),
        ({"n": "1"}, {"n": 1}, "merge", {"n": "1"}),
    ],
)
def test_wanted_labels(current, labels, state, expected):
    assert swarm.wanted_labels(current, labels, state) == expected


@pytest.mark.parametrize("labels", [{"a": {"b": 1}}, {"a": [1]}, {"": "x"}])
def test_bad_labels(labels):
    with pytest.raises(ValueError):
        swarm.wanted_labels({}, labels, "merge")


@pytest.mark.parametrize(
    ("kwargs", "changed", "spec"),
    [
        ({}, [], {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "active"}),
        ({"role": "manager", "labels": {"zone": "a"}, "availability": "active"}, [],
         {"Labels": {"zone": "a"}, "Role": "manager", "Availability": "active"}),
        ({"role": "worker"}, ["role"],
         {"Labels": {"zone": "a"}, "Role": "worker", "Availability": "active"}),
        ({"labels": {"disk": "ssd"}}, ["labels"],
         {"Labels": {"zone": "a", "disk": "ssd"}, "Role": "manager", "Availability": "active"}),
        ({"labels": {"disk": "ssd"}, "labels_state": "exact", "availability": "drain"},
         ["labels", "availability"],
         {"Labels": {"disk": "ssd"}, "Role": "manager", "Availability": "drain"}),
    ],
)
def test_spec_changes(kwargs, changed, spec):
    before = NODES[0]["Spec"]
    new, fields = swarm.spec_changes(before, **kwargs)
    assert fields == changed
    assert new == spec
    assert NODES[0]["Spec"] == {"Labels": {"zone": "a"}, "Role": "manager",
                                "Availability": "active"}


# ---------------------------------------------------------------------------------------------
# Nodes and the swarm
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "summary"),
    [
        (NODES[0], {"id": "m1aaaaaaaaaaaaaaaaaaaaaaa", "hostname": "node1", "role": "manager",
                    "availability": "active", "state": "ready", "labels": {"zone": "a"},
                    "leader": True, "reachability": "reachable", "addr": "172.29.77.11"}),
        (NODES[2], {"id": "m3ccccccccccccccccccccccc", "hostname": "node3", "role": "manager",
                    "availability": "active", "state": "down", "labels": {},
                    "leader": False, "reachability": "unreachable", "addr": "172.29.77.13"}),
        (NODES[3], {"id": "w4ddddddddddddddddddddddd", "hostname": "node4", "role": "worker",
                    "availability": "active", "state": "ready", "labels": {},
                    "leader": False, "reachability": None, "addr": "172.29.77.14"}),
        # A manager's address is the one it advertises (its raft address), not the one the
        # leader saw its connection come from (0.0.0.0, or another of the host's addresses).
        (api_node("m9", "node9", "manager", reachability="reachable", addr="0.0.0.0")
         | {"ManagerStatus": {"Reachability": "reachable", "Addr": "10.1.2.3:2377"}},
         {"id": "m9", "hostname": "node9", "role": "manager", "availability": "active",
          "state": "ready", "labels": {}, "leader": False, "reachability": "reachable",
          "addr": "10.1.2.3"}),
        (api_node("m8", "node8", "manager", reachability="reachable", addr="192.0.2.8")
         | {"ManagerStatus": {"Reachability": "reachable", "Addr": "[fd00::8]:2377"}},
         {"id": "m8", "hostname": "node8", "role": "manager", "availability": "active",
          "state": "ready", "labels": {}, "leader": False, "reachability": "reachable",
          "addr": "fd00::8"}),
        ({"ID": "bare"}, {"id": "bare", "hostname": None, "role": None, "availability": None,
                          "state": None, "labels": {}, "leader": False, "reachability": None,
                          "addr": None}),
    ],
)
def test_node_summary(node, summary):
    assert swarm.node_summary(node) == summary


def test_swarm_summary():
    assert swarm.swarm_summary("cid", NODES) == {"cluster_id": "cid", "managers": 3,
                                                 "reachable_managers": 2, "nodes": 6}
    assert swarm.manager_counts(NODES) == (3, 2)
    assert swarm.swarm_summary(None, []) == {"cluster_id": None, "managers": 0,
                                             "reachable_managers": 0, "nodes": 0}


@pytest.mark.parametrize(
    ("ref", "found"),
    [
        ("m1aaaaaaaaaaaaaaaaaaaaaaa", "m1aaaaaaaaaaaaaaaaaaaaaaa"),
        ("node2", "m2bbbbbbbbbbbbbbbbbbbbbbb"),
        ("w4dd", "w4ddddddddddddddddddddddd"),
        ("node5", "w5newnewnewnewnewnewnewne"),   # the one of two that is up
        ("w5oldoldoldoldoldoldoldol", "w5oldoldoldoldoldoldoldol"),
    ],
)
def test_find_node(ref, found):
    assert swarm.find_node(NODES, ref)["ID"] == found


@pytest.mark.parametrize(("ref", "message"), [("nodeX", "no node"), ("w", "several nodes")])
def test_find_node_fails(ref, message):
    with pytest.raises(LookupError, match=message):
        swarm.find_node(NODES, ref)


@pytest.mark.parametrize(
    ("hostname", "keep", "stale"),
    [
        ("node5", {"w5newnewnewnewnewnewnewne"}, ["w5oldoldoldoldoldoldoldol"]),
        ("node5", set(), ["w5oldoldoldoldoldoldoldol"]),
        ("node5", {"w5oldoldoldoldoldoldoldol"}, []),
        ("node3", set(), []),   # down, but nothing of that name is up: kept
        ("node4", set(), []),   # up
        ("nodeX", set(), []),
    ],
)
def test_stale_nodes(hostname, keep, stale):
    assert [node["ID"] for node in swarm.stale_nodes(NODES, hostname, keep)] == stale


def test_version_index():
    assert swarm.version_index(NODES[0]) == 21
    for bad in ({}, {"Version": {}}, {"Version": {"Index": "x"}}, None):
        with pytest.raises(ValueError):
            swarm.version_index(bad)


# ---------------------------------------------------------------------------------------------
# The node certificate
# ---------------------------------------------------------------------------------------------


def make_cert(subject, version=x509.Version.v3):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name(subject))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-ca")]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + dt.timedelta(days=90)))
    cert = builder.sign(key, hashes.SHA256())
    assert cert.version == version
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_cluster_id_of_a_swarm_node_certificate():
    pem = make_cert([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ixv6zv5q3t8b1b0kdzkqf7n4x"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-worker"),
        x509.NameAttribute(NameOID.COMMON_NAME, "w4ddddddddddddddddddddddd"),
    ])
    # The node certificate file holds the node's certificate, then the CA's.
    chain = pem + make_cert([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "other")])
    assert swarm.cluster_id_from_node_cert(chain) == "ixv6zv5q3t8b1b0kdzkqf7n4x"
    assert swarm.cluster_id_from_node_cert(chain.encode()) == "ixv6zv5q3t8b1b0kdzkqf7n4x"


def test_certificate_without_organisation():
    pem = make_cert([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    assert swarm.cluster_id_from_node_cert(pem) is None


@pytest.mark.parametrize(
    "text",
    ["", "not a certificate",
     "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
     "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
     "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n"],
)
def test_unreadable_certificates(text):
    with pytest.raises(ValueError):
        swarm.cluster_id_from_node_cert(text)
