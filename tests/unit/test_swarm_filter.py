"""The swarm_node_pending filter: what a node update would change, decided on the controller
from a manager's node list (as swarm_info returns it)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.swarm import swarm_node_pending


def summary(node_id, hostname, state="ready", labels=None, availability="active"):
    return {"id": node_id, "hostname": hostname, "role": "worker", "state": state,
            "availability": availability, "labels": labels or {}, "leader": False,
            "reachability": None, "addr": "172.29.77.14"}


NODES = [summary("n1", "node1", labels={"zone": "a"}),
         summary("n4", "node4", labels={"zone": "b", "kept": "x"})]


@pytest.mark.parametrize(("labels", "state", "availability", "expected"), [
    ({"zone": "b"}, "merge", "active", []),
    ({"zone": "b", "kept": "x"}, "exact", "active", []),
    ({"zone": "b"}, "exact", "active", ["labels"]),
    ({"zone": "c"}, "merge", "active", ["labels"]),
    ({"kept": None}, "merge", "active", ["labels"]),
    ({"missing": None}, "merge", "active", []),
    ({}, "merge", "drain", ["availability"]),
    ({"gpu": True}, "merge", None, ["labels"]),
])
def test_labels_and_availability(labels, state, availability, expected):
    assert swarm_node_pending(NODES, "n4", labels, state, availability) == expected


def test_booleans_compare_as_the_api_stores_them():
    nodes = [summary("n4", "node4", labels={"registry": "true"})]
    assert swarm_node_pending(nodes, "n4", {"registry": True}) == []


def test_a_down_entry_of_the_same_hostname_is_pending_removal():
    nodes = [*NODES, summary("old4", "node4", state="down")]
    assert swarm_node_pending(nodes, "n4", {"zone": "b"}) == ["stale entries"]


def test_a_down_entry_of_another_hostname_is_not_ours():
    nodes = [*NODES, summary("old3", "node3", state="down")]
    assert swarm_node_pending(nodes, "n4", {"zone": "b"}) == []


def test_a_node_the_manager_does_not_list_needs_the_update():
    assert swarm_node_pending(NODES, "new", {}) == ["node entry"]
    assert swarm_node_pending(None, "n4", {}) == ["node entry"]


def test_a_label_value_that_is_a_mapping_names_the_variable():
    with pytest.raises(AnsibleFilterError, match="docker_swarm_labels"):
        swarm_node_pending(NODES, "n4", {"zone": {"nested": 1}})
