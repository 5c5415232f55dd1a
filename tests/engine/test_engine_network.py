"""engine_network against a real, isolated dockerd (see conftest.py). The daemon is not in a
swarm: the networks here are bridges, on /28s of 172.29.90.0/24."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import NotFound


@pytest.fixture
def network(client):
    """A unique network name; the network (and anything attached) is removed after the test."""
    network = f"dh-test-net-{uuid.uuid4().hex[:8]}"
    yield network
    with contextlib.suppress(NotFound):
        found = client.get(f"/networks/{network}")
        for container in found.get("Containers") or {}:
            client.post(f"/networks/{found['Id']}/disconnect",
                        body={"Container": container, "Force": True})
        client.delete(f"/networks/{found['Id']}")


def args_for(network, subnet, gateway=None, **extra):
    return {
        "name": network,
        "driver": "bridge",
        # A bridge interface named after the test, should one ever be left over.
        "driver_options": {"com.docker.network.bridge.name": f"dht-{network[-8:]}",
                           "com.docker.network.driver.mtu": 1400},
        "labels": {"com.example.team": "core", "tier": 2},
        "internal": True,
        "attachable": True,
        "subnets": [{"subnet": subnet, **({"gateway": gateway} if gateway else {})}],
        **extra,
    }


def live(client, network):
    """The network as the daemon has it, or None."""
    try:
        found = client.get(f"/networks/{network}")
    except NotFound:
        return None
    return found if found["Name"] == network else None


def test_create_then_nothing_to_do(modules, client, network):
    args = args_for(network, "172.29.90.0/28", "172.29.90.1")
    first = modules.run("engine_network", **args)
    assert first["changed"] is True
    assert first["differences"] == []
    found = live(client, network)
    assert first["network"]["Id"] == found["Id"]
    assert found["Driver"] == "bridge"
    assert found["Scope"] == "local"
    assert found["Internal"] is True
    assert found["Attachable"] is True
    assert found["Labels"] == {"com.example.team": "core", "tier": "2"}
    assert found["Options"] == {"com.docker.network.bridge.name": f"dht-{network[-8:]}",
                                "com.docker.network.driver.mtu": "1400"}
    assert found["IPAM"]["Config"] == [{"Subnet": "172.29.90.0/28", "Gateway": "172.29.90.1"}]

    second = modules.run("engine_network", **args)
    assert second["changed"] is False
    assert second["differences"] == []
    assert second["network"]["Id"] == found["Id"]
    assert live(client, network)["Id"] == found["Id"]


def test_defaults_and_a_gateway_left_to_docker(modules, client, network):
    args = {"name": network, "driver": "bridge", "subnets": [{"subnet": "172.29.90.16/28"}],
            "driver_options": {"com.docker.network.bridge.name": f"dht-{network[-8:]}"}}
    first = modules.run("engine_network", **args)
    assert first["changed"] is True
    found = live(client, network)
    assert found["Internal"] is False
    assert found["Attachable"] is False
    assert found["Labels"] == {}
    # Docker picks the gateway (and does not record it in the IPAM config): it is not
    # compared since none was asked for.
    assert [pool["Subnet"] for pool in found["IPAM"]["Config"]] == ["172.29.90.16/28"]
    assert "Gateway" not in found["IPAM"]["Config"][0]
    assert modules.run("engine_network", **args)["changed"] is False

    # Options Docker has and the task does not mention are not compared either.
    without_options = {key: value for key, value in args.items() if key != "driver_options"}
    again = modules.run("engine_network", **without_options)
    assert again["changed"] is False
    assert again["differences"] == []


def test_check_mode_creates_nothing(modules, client, network):
    planned = modules.run("engine_network", check_mode=True, **args_for(network,
                                                                        "172.29.90.32/28"))
    assert planned["changed"] is True
    assert planned["network"] == {}
    assert planned["differences"] == []
    assert live(client, network) is None


def test_diff_mode(modules, client, network):
    args = args_for(network, "172.29.90.48/28")
    expected = {
        "driver": "bridge",
        "attachable": True,
        "internal": True,
        "encrypted": False,
        "options": {"com.docker.network.bridge.name": f"dht-{network[-8:]}",
                    "com.docker.network.driver.mtu": "1400"},
        "subnets": [{"subnet": "172.29.90.48/28", "gateway": None}],
        "labels": {"com.example.team": "core", "tier": "2"},
    }
    created = modules.run("engine_network", diff=True, **args)
    assert created["changed"] is True
    assert created["diff"]["before"] == {}
    assert created["diff"]["after"] == expected
    assert created["diff"]["before_header"] == f"network {network} (before)"
    assert created["diff"]["after_header"] == f"network {network} (after)"

    unchanged = modules.run("engine_network", diff=True, **args)
    assert unchanged["changed"] is False
    assert unchanged["diff"]["before"] == unchanged["diff"]["after"] == expected

    relabelled = {**args, "labels": {"tier": "3"}, "recreate": True}
    planned = modules.run("engine_network", check_mode=True, diff=True, **relabelled)
    assert planned["changed"] is True
    assert planned["differences"] == ["labels"]
    assert planned["diff"]["before"] == expected
    assert planned["diff"]["after"] == {**expected, "labels": {"tier": "3"}}
    assert live(client, network)["Id"] == created["network"]["Id"]
    assert live(client, network)["Labels"] == {"com.example.team": "core", "tier": "2"}

    removed = modules.run("engine_network", diff=True, name=network, state="absent")
    assert removed["diff"]["before"]["labels"] == {"com.example.team": "core", "tier": "2"}
    assert removed["diff"]["after"] == {}


@pytest.mark.parametrize(("change", "differences"), [
    ({"labels": {"com.example.team": "edge", "tier": 2}}, ["labels"]),
    ({"labels": {}}, ["labels"]),
    ({"internal": False}, ["internal"]),
    ({"attachable": False}, ["attachable"]),
    ({"driver_options": {"com.docker.network.driver.mtu": "1500"}}, ["options"]),
    ({"subnets": [{"subnet": "172.29.90.80/28"}]}, ["subnets"]),
    ({"internal": False, "labels": {"tier": "2"}}, ["internal", "labels"]),
])
def test_a_difference_without_recreate_fails(modules, client, network, change, differences):
    args = args_for(network, "172.29.90.64/28")
    created = modules.run("engine_network", **args)
    before = live(client, network)

    for check_mode in (True, False):
        result = modules.run("engine_network", check_mode=check_mode, **{**args, **change})
        assert result["failed"] is True
        assert result["changed"] is False
        assert result["differences"] == differences
        assert result["msg"] == (
            f"network {network} differs in {', '.join(differences)} and Docker cannot change "
            "a network in place: set recreate: true to remove and create it (when nothing "
            "uses it), or change the parameters")
    after = live(client, network)
    assert after["Id"] == before["Id"] == created["network"]["Id"]
    assert after["Labels"] == before["Labels"]
    assert after["Internal"] is True
    assert after["Attachable"] is True
    assert after["IPAM"]["Config"] == before["IPAM"]["Config"]


def test_recreate_replaces_a_network_that_differs(modules, client, network):
    args = args_for(network, "172.29.90.96/28")
    created = modules.run("engine_network", **args)
    changed = {**args, "labels": {"tier": "3"}, "internal": False,
               "subnets": [{"subnet": "172.29.90.112/28", "gateway": "172.29.90.126"}],
               "recreate": True}

    planned = modules.run("engine_network", check_mode=True, **changed)
    assert planned["changed"] is True
    assert planned["differences"] == ["internal", "labels", "subnets"]
    assert live(client, network)["Id"] == created["network"]["Id"]

    recreated = modules.run("engine_network", **changed)
    assert recreated["changed"] is True
    assert recreated["differences"] == ["internal", "labels", "subnets"]
    found = live(client, network)
    assert found["Id"] == recreated["network"]["Id"] != created["network"]["Id"]
    assert found["Labels"] == {"tier": "3"}
    assert found["Internal"] is False
    assert found["Attachable"] is True
    assert found["IPAM"]["Config"] == [{"Subnet": "172.29.90.112/28",
                                        "Gateway": "172.29.90.126"}]

    # recreate only acts on a difference.
    again = modules.run("engine_network", **changed)
    assert again["changed"] is False
    assert again["differences"] == []
    assert live(client, network)["Id"] == found["Id"]


def test_a_network_in_use_is_neither_recreated_nor_removed(modules, client, network, name,
                                                           images):
    args = args_for(network, "172.29.90.128/28")
    created = modules.run("engine_network", **args)
    container = modules.run("engine_container", name=name, image="dh-test:1", stop_timeout=5,
                            networks=[network])
    assert container["actions"] == ["created", "started"], container
    attached = live(client, network)["Containers"]
    assert [entry["Name"] for entry in attached.values()] == [name]

    for check_mode in (True, False):
        refused = modules.run("engine_network", check_mode=check_mode,
                              **{**args, "labels": {"tier": "3"}, "recreate": True})
        assert refused["failed"] is True
        assert refused["changed"] is False
        assert refused["differences"] == ["labels"]
        assert refused["msg"] == (f"network {network} differs in labels, but it is in use by "
                                  f"container {name}: remove those first")

        kept = modules.run("engine_network", check_mode=check_mode, name=network,
                           state="absent")
        assert kept["failed"] is True
        assert kept["changed"] is False
        assert kept["msg"] == (f"network {network} is to be removed, but it is in use by "
                               f"container {name}: remove those first")
    found = live(client, network)
    assert found["Id"] == created["network"]["Id"]
    assert found["Labels"] == {"com.example.team": "core", "tier": "2"}
    assert client.container(name)["State"]["Running"] is True
    assert list(client.container(name)["NetworkSettings"]["Networks"]) == [network]

    # Once the container is gone, the same task goes through.
    client.delete(f"/containers/{name}", {"force": True})
    recreated = modules.run("engine_network", **{**args, "labels": {"tier": "3"},
                                                  "recreate": True})
    assert recreated["changed"] is True
    assert live(client, network)["Id"] not in (None, created["network"]["Id"])


def test_absent(modules, client, network):
    created = modules.run("engine_network", **args_for(network, "172.29.90.144/28"))

    planned = modules.run("engine_network", check_mode=True, name=network, state="absent")
    assert planned["changed"] is True
    assert planned["network"] == {}
    assert live(client, network)["Id"] == created["network"]["Id"]

    removed = modules.run("engine_network", name=network, state="absent")
    assert removed["changed"] is True
    assert removed["network"] == {}
    assert live(client, network) is None

    again = modules.run("engine_network", name=network, state="absent")
    assert again["changed"] is False
    assert again["network"] == {}
    checked = modules.run("engine_network", check_mode=True, name=network, state="absent")
    assert checked["changed"] is False


def test_an_id_prefix_is_not_the_network(modules, client, network):
    # GET /networks/<x> also answers for a prefix of a network's ID: a network named like the
    # prefix of another one's ID is missing all the same, and gets created.
    made = modules.run("engine_network", **args_for(network, "172.29.90.160/28"))
    prefix = made["network"]["Id"][:12]
    assert client.get(f"/networks/{prefix}")["Id"] == made["network"]["Id"]
    try:
        result = modules.run("engine_network", name=prefix, driver="bridge", internal=True,
                             subnets=[{"subnet": "172.29.90.176/28"}],
                             driver_options={"com.docker.network.bridge.name": "dht-prefix"})
        assert result["changed"] is True
        assert result["network"]["Name"] == prefix
        assert result["network"]["Id"] != made["network"]["Id"]
        assert live(client, network)["Id"] == made["network"]["Id"]
    finally:
        # Not named dh-test-*: the session's clean-up would leave it.
        with contextlib.suppress(NotFound):
            named = live(client, prefix)
            if named:
                client.delete(f"/networks/{named['Id']}")




def test_a_stopped_container_keeps_its_network(modules, client, network, name, images):
    # A container that is not running has no endpoint on the network, so the network's
    # Containers does not list it; it still uses the network, and cannot start without it.
    args = args_for(network, "172.29.90.192/28")
    created = modules.run("engine_network", **args)
    container = modules.run("engine_container", name=name, image="dh-test:1", stop_timeout=5,
                            networks=[network], state="stopped")
    assert container["actions"] == ["created"], container

    kept = modules.run("engine_network", name=network, state="absent")
    assert kept.get("failed") is True, kept
    assert kept["msg"] == (f"network {network} is to be removed, but it is in use by "
                           f"container {name}: remove those first")
    assert live(client, network)["Id"] == created["network"]["Id"]
    client.post(f"/containers/{name}/start")
    assert client.container(name)["State"]["Running"] is True
