"""The swarm_node_pending filter: what a node update would change, decided on the controller
from a manager's node list (as swarm_info returns it)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.swarm import (
    swarm_node_pending,
    swarm_restart_batches,
    swarm_whole_services,
)


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


def roller(host, manager=False, managers=3):
    return {"host": host, "rolls": True, "manager": manager, "managers": managers, "node": host}


LAB = [roller("node1", True), roller("node2", True), roller("node3", True), roller("node4")]


@pytest.mark.parametrize(("rollers", "size", "expected"), [
    # Workers first, then managers one at a time: three managers spare only one.
    (LAB, 1, [["node4"], ["node1"], ["node2"], ["node3"]]),
    (LAB, 3, [["node4"], ["node1"], ["node2"], ["node3"]]),
    # Five managers spare two; the workers go three at a time.
    ([roller(f"m{i}", True, 5) for i in range(5)] + [roller(f"w{i}") for i in range(4)], 3,
     [["w0", "w1", "w2"], ["w3"], ["m0", "m1"], ["m2", "m3"], ["m4"]]),
    # A swarm of one manager: it restarts alone, its quorum lost meanwhile whatever we do.
    ([roller("solo", True, 1)], 2, [["solo"]]),
    # Only some managers restart: the quorum still counts all of the swarm's managers.
    ([roller("m1", True, 7), roller("m2", True, 7), roller("m3", True, 7)], 5,
     [["m1", "m2", "m3"]]),
    ([], 1, []),
])
def test_restart_batches_keep_the_managers_quorum(rollers, size, expected):
    assert swarm_restart_batches(rollers, size) == expected


def test_a_batch_of_nothing_is_refused():
    with pytest.raises(AnsibleFilterError, match="docker_daemon_restart_batch"):
        swarm_restart_batches(LAB, 0)


def test_whole_services_are_those_running_every_task_they_want():
    lines = ["web 2/2", "probe_probe 3/4", "gitlab_gitlab 0/1", "idle 0/0",
             "backup 0/1 (1/1 completed)", "global_agent 4/4", "garbage"]
    assert swarm_whole_services(lines) == ["web", "idle", "global_agent"]
