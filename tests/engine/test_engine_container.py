"""engine_container against a real, isolated dockerd (see conftest.py)."""

from __future__ import annotations

import json
import uuid

import pytest
from enginetools import SLEEPER

BASE = {
    "image": "dh-test:1",
    "network_mode": "none",
    "stop_timeout": 5,
    # "1" is in nearly every container ID: Ansible's own no_log masking would garble them.
    "env": {"GREETING": "hello", "WORKERS": 1, "API_TOKEN": "t0ps3cret-value"},
}
RECREATED = ["stopped", "removed", "created", "started"]


def env_of(container):
    return dict(entry.split("=", 1) for entry in container["Config"]["Env"])


def test_create_then_nothing_to_do(modules, client, name, images):
    first = modules.run("engine_container", name=name, **BASE)
    assert first["changed"] is True
    assert first["actions"] == ["created", "started"]
    live = client.container(name)
    assert first["container"]["Id"] == live["Id"]
    assert first["container"]["State"]["Running"] is True
    assert live["Image"] == images["1"]
    assert env_of(live) == {"PATH": "/usr/bin:/bin", "FROM_IMAGE": "yes", "GREETING": "hello",
                            "WORKERS": "1", "API_TOKEN": "t0ps3cret-value"}
    assert set(env_of(first["container"]).values()) == {"********"}
    assert "t0ps3cret-value" not in json.dumps(first)
    assert first["invocation"]["module_args"]["env"]["API_TOKEN"] == (
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
    assert live["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"

    second = modules.run("engine_container", name=name, **BASE)
    assert second["changed"] is False
    assert second["actions"] == []
    assert second["differences"] == []
    assert client.container(name)["Id"] == live["Id"]


def test_env_change_recreates(modules, client, name, images):
    created = modules.run("engine_container", name=name, **BASE)
    changed = modules.run("engine_container", name=name, **{**BASE, "env": {
        **BASE["env"], "GREETING": "bonjour"}})
    assert changed["changed"] is True
    assert changed["actions"] == RECREATED
    assert changed["differences"] == ["env"]
    live = client.container(name)
    assert live["Id"] != created["container"]["Id"]
    assert env_of(live)["GREETING"] == "bonjour"
    assert live["State"]["Running"] is True

    dropped = modules.run("engine_container", name=name, **{**BASE, "env": {"WORKERS": 1}})
    assert dropped["actions"] == RECREATED
    assert env_of(client.container(name)) == {"PATH": "/usr/bin:/bin", "FROM_IMAGE": "yes",
                                              "WORKERS": "1"}
    again = modules.run("engine_container", name=name, **{**BASE, "env": {"WORKERS": "1"}})
    assert again["changed"] is False


def test_restart_restarts_even_without_changes(modules, client, name, images):
    modules.run("engine_container", name=name, **BASE)
    before = client.container(name)
    restarted = modules.run("engine_container", name=name, restart=True, **BASE)
    assert restarted["changed"] is True
    assert restarted["actions"] == ["restarted"]
    after = client.container(name)
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] > before["State"]["StartedAt"]
    assert after["State"]["Running"] is True

    # A container that has to be started is not restarted on top of that.
    modules.run("engine_container", name=name, state="stopped", **BASE)
    started = modules.run("engine_container", name=name, restart=True, **BASE)
    assert started["actions"] == ["started"]


def test_stopped_and_started(modules, client, name, images):
    created = modules.run("engine_container", name=name, state="stopped", **BASE)
    assert created["actions"] == ["created"]
    assert client.container(name)["State"]["Status"] == "created"
    assert modules.run("engine_container", name=name, state="stopped", **BASE)["changed"] is False

    started = modules.run("engine_container", name=name, **BASE)
    assert started["actions"] == ["started"]
    stopped = modules.run("engine_container", name=name, state="stopped", **BASE)
    assert stopped["actions"] == ["stopped"]
    assert client.container(name)["State"]["Status"] == "exited"
    assert modules.run("engine_container", name=name, state="stopped", **BASE)["changed"] is False


def test_absent(modules, client, name, images):
    modules.run("engine_container", name=name, **BASE)
    removed = modules.run("engine_container", name=name, state="absent")
    assert removed["changed"] is True
    assert removed["actions"] == ["stopped", "removed"]
    assert removed["container"] == {}
    assert client.container(name) is None
    again = modules.run("engine_container", name=name, state="absent")
    assert again["changed"] is False
    assert again["actions"] == []


def test_check_mode_changes_nothing(modules, client, name, images):
    planned = modules.run("engine_container", check_mode=True, name=name, **BASE)
    assert planned["changed"] is True
    assert planned["actions"] == ["created", "started"]
    assert planned["container"] == {}
    assert client.container(name) is None

    modules.run("engine_container", name=name, **BASE)
    before = client.container(name)
    other_env = {**BASE, "env": {"GREETING": "bonjour"}}
    for args, actions in (
        (other_env, RECREATED),
        ({**BASE, "state": "stopped"}, ["stopped"]),
        ({**BASE, "restart": True}, ["restarted"]),
        ({**BASE, "recreate": True}, RECREATED),
        ({"state": "absent"}, ["stopped", "removed"]),
    ):
        result = modules.run("engine_container", check_mode=True, name=name, **args)
        assert result["changed"] is True
        assert result["actions"] == actions
        assert result["container"]["Id"] == before["Id"]
    after = client.container(name)
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert env_of(after)["GREETING"] == "hello"


def test_diff_mode_names_env_keys_but_not_values(modules, name, images):
    modules.run("engine_container", name=name, **BASE)
    secret = "n3w-s3cret-" + uuid.uuid4().hex
    result = modules.run("engine_container", diff=True, name=name,
                         **{**BASE, "env": {**BASE["env"], "API_TOKEN": secret}})
    assert secret not in json.dumps(result)
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert before["env"]["API_TOKEN"] == "********"
    assert after["env"]["API_TOKEN"] == "******** (changed)"
    assert after["env"]["GREETING"] == "********"
    assert before["state"] == after["state"] == "started"
    assert before["image"] == after["image"]


def test_a_new_image_under_the_same_tag_recreates(modules, client, name, images):
    client.post("/images/dh-test:1/tag", {"repo": "dh-test", "tag": "current"})
    args = {**BASE, "image": "dh-test:current"}
    first = modules.run("engine_container", name=name, **args)
    assert first["container"]["Image"] == images["1"]
    assert modules.run("engine_container", name=name, **args)["changed"] is False

    client.post("/images/dh-test:2/tag", {"repo": "dh-test", "tag": "current"})
    moved = modules.run("engine_container", name=name, **args)
    assert moved["actions"] == RECREATED
    assert moved["differences"] == ["image", "labels"]  # the labels come with the image
    assert client.container(name)["Image"] == images["2"]


def test_recreate_forces_a_new_container(modules, client, name, images):
    first = modules.run("engine_container", name=name, **BASE)
    forced = modules.run("engine_container", name=name, recreate=True, **BASE)
    assert forced["actions"] == RECREATED
    assert forced["differences"] == []
    assert client.container(name)["Id"] != first["container"]["Id"]


def test_missing_image_fails_with_advice(modules, client, name, images):
    result = modules.run("engine_container", name=name, **{**BASE, "image": "dh-test:nope"})
    assert result["failed"] is True
    assert result["msg"] == ("image dh-test:nope is not on this host: load it first "
                             "(engine_image_load / docker_registry_preload)")
    assert client.container(name) is None


@pytest.fixture
def networks(client):
    names = [f"dh-test-net-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for network in names:
        # Internal, and a bridge interface named after the test should one ever be left over.
        client.post("/networks/create", body={
            "Name": network, "Internal": True, "CheckDuplicate": True,
            "Options": {"com.docker.network.bridge.name": f"dht-{network[-8:]}"}})
    yield names
    for network in names:
        client.delete(f"/networks/{network}")


def test_every_option_survives_the_round_trip(modules, client, name, images, networks,
                                               tmp_path):
    volume = f"dh-test-vol-{uuid.uuid4().hex[:8]}"
    args = {
        "image": "dh-test:1",
        "command": ["-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
        "entrypoint": ["/bin/sh"],
        "env": {"A": "1", "B": True},
        "labels": {"com.example.role": "test", "n": 3},
        "ports": ["127.0.0.1:18080:80", "18081:81/udp", "[::1]:18082:82"],
        "mounts": [f"{tmp_path}:/data:ro", f"{volume}:/var/lib/x"],
        "tmpfs": ["/run:size=1m,mode=1777", "/scratch"],
        "restart_policy": "on-failure",
        "healthcheck": {"test": ["/bin/true"], "interval": "1m30s", "timeout": "5s",
                        "retries": 2, "start_period": "10s"},
        "user": "1000:1000",
        "networks": networks,
        "hostname": "box",
        "read_only": True,
        "cap_drop": ["ALL"],
        "cap_add": ["net_bind_service", "CAP_CHOWN"],
        "security_opts": ["no-new-privileges"],
        "memory": "64m",
        "cpus": 0.5,
        "pids_limit": 64,
        "stop_timeout": 3,
    }
    first = modules.run("engine_container", name=name, **args)
    assert first["actions"] == ["created", "started"], first
    live = client.container(name)
    host = live["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (64 * 2**20, 5 * 10**8, 64)
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert sorted(host["CapAdd"]) == ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
    assert host["CapDrop"] == ["ALL"]
    assert live["State"]["Running"] is True
    assert sorted(live["NetworkSettings"]["Networks"]) == sorted(networks)
    assert live["HostConfig"]["NetworkMode"] == networks[0]
    assert live["Config"]["Healthcheck"] == {"Test": ["CMD", "/bin/true"],
                                             "Interval": 90 * 10**9, "Timeout": 5 * 10**9,
                                             "StartPeriod": 10 * 10**9, "Retries": 2}
    assert live["Config"]["Labels"] == {"from": "image", "version": "1",
                                        "com.example.role": "test", "n": "3"}

    second = modules.run("engine_container", name=name, diff=True, **args)
    assert second["changed"] is False, second["differences"]
    assert second["diff"]["before"] == second["diff"]["after"]

    # A limit changed is a new container; the same limits spelled otherwise are not.
    respelled = {**args, "memory": "65536k", "cap_add": ["CHOWN", "NET_BIND_SERVICE"]}
    assert modules.run("engine_container", name=name, **respelled)["changed"] is False
    looser = modules.run("engine_container", name=name, **{**args, "pids_limit": 128})
    assert looser["differences"] == ["pids_limit"]
    assert client.container(name)["HostConfig"]["PidsLimit"] == 128

    one_network = modules.run("engine_container", name=name,
                              **{**args, "pids_limit": 128, "networks": networks[1:]})
    assert one_network["differences"] == ["network_mode", "networks"]
    assert list(client.container(name)["NetworkSettings"]["Networks"]) == networks[1:]

    # The image's own command and entrypoint, back from the explicit ones.
    plain = modules.run("engine_container", name=name, **{**BASE, "command": None})
    assert "command" in plain["differences"] and "entrypoint" in plain["differences"]
    assert client.container(name)["Config"]["Cmd"] == SLEEPER
    client.delete(f"/containers/{name}", {"force": True})
    client.delete(f"/volumes/{volume}")


def test_unknown_network_fails_before_anything_is_created(modules, client, name, images):
    # dockerd 20.10 would create the container and fail only to start it.
    for check_mode in (True, False):
        result = modules.run("engine_container", check_mode=check_mode, name=name,
                             **{**BASE, "network_mode": None,
                                "networks": ["dh-test-no-such-net"]})
        assert result["failed"] is True
        assert result["msg"] == "network dh-test-no-such-net does not exist"
    assert client.container(name) is None


def test_a_daemon_refusal_carries_the_daemons_message(modules, client, name, images):
    result = modules.run("engine_container", name=name,
                         **{**BASE, "mounts": ["/dh-test/does/not/exist:/x"]})
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot create container {name}: ")
    assert "/dh-test/does/not/exist" in result["msg"]
    assert result["actions"] == ["created"]
    assert client.container(name) is None
