"""docker_swarm_node against the isolated dockerd of conftest.py: one engine, so one manager.

The tests share the engine and each starts by putting it in the state it needs (in a swarm or
not); the swarm is left at the end so the daemon stops cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils import swarm as swarmlib
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineError,
    NotFound,
)
from enginetools import cannot_run

ROOT = Path(__file__).resolve().parents[2]
MODULE = "docker_swarm_node"
# The isolated dockerd's own bridge (TEST_BRIDGE_CIDR in conftest.py).
ADDRESS = "172.29.78.1"
# Listen on the test bridge only: nothing on the host's own addresses.
INIT = {"init": True, "advertise_addr": ADDRESS, "listen_addr": f"{ADDRESS}:2377",
        "default_addr_pool": ["10.215.0.0/16"], "subnet_size": 26}
GATEWAY_BRIDGE = "dh-test-gw0"
GATEWAY_CIDR = "172.29.79.0/24"
OTHER_CLUSTER = "qa1b2c3d4e5f6g7h8i9j0klmn"
FAKE_TOKEN = "SWMTKN-1-0000000000000000000000000000000000000000000000000-notarealsecret000"


def local_state(client):
    return client.get("/info")["Swarm"]["LocalNodeState"]


def leave(client):
    with contextlib.suppress(EngineError):
        client.post("/swarm/leave", {"force": True})


def remove_gateway_bridge(client):
    for _ in range(20):
        try:
            client.delete("/networks/docker_gwbridge")
            break
        except NotFound:
            break
        except EngineError:  # its ingress endpoint goes away shortly after the leave
            time.sleep(0.5)
    subprocess.run(["ip", "link", "del", GATEWAY_BRIDGE], capture_output=True, check=False)


@pytest.fixture(scope="module")
def engine(client):
    """The isolated engine, out of any swarm afterwards.

    A swarm connects its ingress sandbox to a bridge network named docker_gwbridge, which the
    daemon creates as an interface of that name in the host's namespace, next to the host's
    Docker. It is created here first, under an interface name and subnet of the tests' own,
    and removed at the end.
    """
    if local_state(client) != "inactive":
        cannot_run("the daemon is in a swarm already, which these tests would leave")
    created = False
    try:
        client.post("/networks/create", body={
            "Name": "docker_gwbridge", "Driver": "bridge", "CheckDuplicate": True,
            "IPAM": {"Config": [{"Subnet": GATEWAY_CIDR}]},
            "Options": {"com.docker.network.bridge.name": GATEWAY_BRIDGE,
                        "com.docker.network.bridge.enable_icc": "false",
                        "com.docker.network.bridge.enable_ip_masquerade": "false"}})
        created = True
    except EngineError as exc:
        if exc.status != 409:  # a daemon given by DOCKHAND_TEST_DOCKER_SOCK may have one
            raise
    try:
        yield client
    finally:
        leave(client)
        if created:
            remove_gateway_bridge(client)
    assert local_state(client) == "inactive"


@pytest.fixture
def no_swarm(engine):
    leave(engine)
    assert local_state(engine) == "inactive"
    return engine


@pytest.fixture
def in_swarm(engine):
    """A single-node swarm, its node back to no labels and active."""
    if local_state(engine) != "active":
        engine.post("/swarm/init", body={"ListenAddr": INIT["listen_addr"],
                                         "AdvertiseAddr": ADDRESS,
                                         "DefaultAddrPool": INIT["default_addr_pool"],
                                         "SubnetSize": INIT["subnet_size"]})
    node_id = engine.get("/info")["Swarm"]["NodeID"]
    node = engine.get(f"/nodes/{node_id}")
    spec = {**node["Spec"], "Labels": {}, "Availability": "active"}
    if spec != node["Spec"]:
        engine.post(f"/nodes/{node_id}/update", {"version": node["Version"]["Index"]}, body=spec)
    return engine


def own_node(client):
    return client.get(f"/nodes/{client.get('/info')['Swarm']['NodeID']}")


def run_printed(socket_path, workdir, **args):
    """Run the module as Ansible's module runner does; (result, everything it printed)."""
    args_file = Path(workdir) / "args-printed.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"socket": socket_path, **args}}))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "plugins" / "modules" / f"{MODULE}.py"), str(args_file)],
        capture_output=True, text=True, cwd=workdir, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "collections")},
    )
    return json.loads(proc.stdout), proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# Creating the swarm
# ---------------------------------------------------------------------------------------------


def test_check_mode_on_a_fresh_engine_changes_nothing(modules, no_swarm):
    result = modules.run(MODULE, check_mode=True, diff=True, labels={"zone": "a"}, **INIT)
    assert result["changed"] is True
    assert result["actions"] == ["initialised", "labels"]
    assert result["node"] == {}
    assert result["diff"]["before"] == {"swarm": "inactive", "cluster_id": None}
    assert result["diff"]["after"]["swarm"] == "active"
    assert local_state(no_swarm) == "inactive"


def test_init_then_nothing_to_do(modules, no_swarm):
    first = modules.run(MODULE, **INIT)
    assert first["changed"] is True
    assert first["actions"] == ["initialised"]
    info = no_swarm.get("/info")
    assert info["Swarm"]["LocalNodeState"] == "active"
    cluster = no_swarm.get("/swarm")
    assert first["swarm"] == {"cluster_id": cluster["ID"], "managers": 1,
                              "reachable_managers": 1, "nodes": 1}
    node = first["node"]
    assert node["id"] == info["Swarm"]["NodeID"]
    assert (node["role"], node["availability"], node["leader"], node["reachability"]) == (
        "manager", "active", True, "reachable")
    assert node["addr"] == ADDRESS
    assert cluster["DefaultAddrPool"] == ["10.215.0.0/16"]
    assert cluster["SubnetSize"] == 26
    assert "join_tokens" not in first

    second = modules.run(MODULE, diff=True, **INIT)
    assert second["changed"] is False
    assert second["actions"] == []
    assert second["swarm"]["cluster_id"] == cluster["ID"]
    assert second["diff"]["before"] == second["diff"]["after"]
    # With the right cluster_id as well.
    third = modules.run(MODULE, cluster_id=cluster["ID"], **INIT)
    assert third["changed"] is False


def test_node_certificate_names_the_cluster(in_swarm):
    """Workers learn their cluster ID from this certificate; check the premise on a real one."""
    info = in_swarm.get("/info")
    pem = Path(info["DockerRootDir"], swarmlib.NODE_CERT).read_text()
    assert swarmlib.cluster_id_from_node_cert(pem) == info["Swarm"]["Cluster"]["ID"]


def test_in_no_swarm_without_init_or_join_fails(modules, no_swarm):
    result = modules.run(MODULE)
    assert result["failed"] is True
    assert "in no swarm: set init" in result["msg"]
    assert local_state(no_swarm) == "inactive"


def test_init_is_refused_when_cluster_id_names_another_swarm(modules, no_swarm):
    result = modules.run(MODULE, cluster_id=OTHER_CLUSTER, **INIT)
    assert result["failed"] is True
    assert OTHER_CLUSTER in result["msg"]
    assert "init would create a new swarm" in result["msg"]
    assert local_state(no_swarm) == "inactive"


def test_init_as_a_worker_is_refused(modules, no_swarm):
    result = modules.run(MODULE, role="worker", **INIT)
    assert result["failed"] is True
    assert "cannot be demoted" in result["msg"]
    assert local_state(no_swarm) == "inactive"


def test_init_and_join_are_exclusive(modules, no_swarm):
    result = modules.run(MODULE, join={"remote_addrs": ["192.0.2.1:2377"], "token": FAKE_TOKEN},
                         **INIT)
    assert result["failed"] is True
    assert result["msg"] == "parameters are mutually exclusive: init|join"


# ---------------------------------------------------------------------------------------------
# The right cluster
# ---------------------------------------------------------------------------------------------


def test_cluster_id_mismatch_fails_naming_both(modules, in_swarm):
    current = in_swarm.get("/swarm")["ID"]
    result = modules.run(MODULE, cluster_id=OTHER_CLUSTER, **INIT)
    assert result["failed"] is True
    assert current in result["msg"]
    assert OTHER_CLUSTER in result["msg"]
    assert "rejoin" in result["msg"]
    assert result["cluster_id"] == current
    assert result["actions"] == []

    # rejoin cannot do anything without a swarm to join.
    result = modules.run(MODULE, cluster_id=OTHER_CLUSTER, rejoin=True)
    assert result["failed"] is True
    assert "rejoin needs join" in result["msg"]
    assert in_swarm.get("/swarm")["ID"] == current


# ---------------------------------------------------------------------------------------------
# The node
# ---------------------------------------------------------------------------------------------


def test_labels_merge_then_exact(modules, in_swarm):
    first = modules.run(MODULE, diff=True, labels={"zone": "a", "ssd": True})
    assert first["changed"] is True
    assert first["actions"] == ["labels"]
    assert first["node"]["labels"] == {"zone": "a", "ssd": "true"}
    assert first["diff"]["before"]["labels"] == {}
    assert first["diff"]["after"]["labels"] == {"zone": "a", "ssd": "true"}
    assert own_node(in_swarm)["Spec"]["Labels"] == {"zone": "a", "ssd": "true"}

    merged = modules.run(MODULE, labels={"rack": 7})
    assert merged["actions"] == ["labels"]
    assert own_node(in_swarm)["Spec"]["Labels"] == {"zone": "a", "ssd": "true", "rack": "7"}
    assert modules.run(MODULE, labels={"rack": "7", "zone": "a"})["changed"] is False

    removed = modules.run(MODULE, labels={"ssd": None})
    assert removed["actions"] == ["labels"]
    assert own_node(in_swarm)["Spec"]["Labels"] == {"zone": "a", "rack": "7"}

    checked = modules.run(MODULE, check_mode=True, labels={"zone": "b"}, labels_state="exact")
    assert checked["changed"] is True
    assert checked["actions"] == ["labels"]
    assert own_node(in_swarm)["Spec"]["Labels"] == {"zone": "a", "rack": "7"}

    exact = modules.run(MODULE, labels={"zone": "b"}, labels_state="exact")
    assert exact["actions"] == ["labels"]
    assert exact["node"]["labels"] == {"zone": "b"}
    assert own_node(in_swarm)["Spec"]["Labels"] == {"zone": "b"}
    again = modules.run(MODULE, labels={"zone": "b"}, labels_state="exact")
    assert again["changed"] is False
    assert modules.run(MODULE, labels={}, labels_state="exact")["actions"] == ["labels"]
    assert own_node(in_swarm)["Spec"]["Labels"] == {}


def test_availability_drain_then_active(modules, in_swarm):
    checked = modules.run(MODULE, check_mode=True, availability="drain")
    assert checked["actions"] == ["availability"]
    assert own_node(in_swarm)["Spec"]["Availability"] == "active"

    drained = modules.run(MODULE, diff=True, availability="drain", labels={"zone": "a"})
    assert drained["changed"] is True
    assert drained["actions"] == ["labels", "availability"]
    assert drained["node"]["availability"] == "drain"
    assert drained["diff"]["before"]["availability"] == "active"
    assert drained["diff"]["after"]["availability"] == "drain"
    assert own_node(in_swarm)["Spec"]["Availability"] == "drain"
    assert modules.run(MODULE, availability="drain")["changed"] is False

    active = modules.run(MODULE, availability="active", node=own_node(in_swarm)["ID"])
    assert active["actions"] == ["availability"]
    assert own_node(in_swarm)["Spec"] == {"Labels": {"zone": "a"}, "Role": "manager",
                                          "Availability": "active"}
    # By hostname, too.
    hostname = in_swarm.get("/info")["Name"]
    assert modules.run(MODULE, availability="active", node=hostname)["changed"] is False


def test_role_manager_is_kept_and_the_last_manager_is_not_demoted(modules, in_swarm):
    assert modules.run(MODULE, role="manager")["changed"] is False
    for check_mode in (True, False):
        result = modules.run(MODULE, check_mode=check_mode, role="worker",
                             allow_quorum_loss=True)
        assert result["failed"] is True
        assert "without a manager" in result["msg"]
    assert own_node(in_swarm)["Spec"]["Role"] == "manager"


def test_unknown_node_fails(modules, in_swarm):
    result = modules.run(MODULE, node="no-such-node", labels={"a": "b"})
    assert result["failed"] is True
    assert "no-such-node" in result["msg"]


def test_prune_keeps_the_only_entry_of_a_host(modules, in_swarm):
    hostname = in_swarm.get("/info")["Name"]
    result = modules.run(MODULE, prune_down_nodes_named=hostname)
    assert result["changed"] is False
    assert len(in_swarm.get("/nodes")) == 1


# ---------------------------------------------------------------------------------------------
# Join tokens
# ---------------------------------------------------------------------------------------------


def test_join_tokens_only_when_asked(in_swarm, docker_socket, tmp_path):
    tokens = in_swarm.get("/swarm")["JoinTokens"]
    secrets = (tokens["Worker"], tokens["Manager"])

    result, printed = run_printed(docker_socket, tmp_path)
    assert "join_tokens" not in result
    assert not any(secret in printed for secret in secrets)
    # Not in any piece of a token either (the secret part after the CA digest).
    assert not any(secret.rsplit("-", 1)[1] in printed for secret in secrets)

    result, printed = run_printed(docker_socket, tmp_path, return_join_tokens=True)
    assert result["changed"] is False
    assert result["join_tokens"] == {"worker": tokens["Worker"], "manager": tokens["Manager"]}
    # Only there: not in the invocation, a message or anywhere else.
    for secret in secrets:
        assert printed.count(secret) == 1


def test_join_token_option_is_never_shown(modules, in_swarm):
    result = modules.run(MODULE, join={"remote_addrs": ["192.0.2.1:2377"], "token": FAKE_TOKEN},
                         return_join_tokens=True)
    assert result["changed"] is False
    assert FAKE_TOKEN not in json.dumps(result)
    assert result["invocation"]["module_args"]["join"]["token"] == (
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the join tokens
      dockhand.docker.docker_swarm_node:
        socket: "{{ sock }}"
        return_join_tokens: true
      register: swarm_node
      no_log: true

    - name: Hand the worker token to the test
      ansible.builtin.copy:
        content: "{{ swarm_node.join_tokens.worker }}"
        dest: "{{ out }}"
        mode: "0600"
      no_log: true
"""


def test_tokens_registered_but_not_displayed_by_ansible(in_swarm, docker_socket, tmp_path):
    """How the role gets them: a no_log task registers them, and nothing shows them."""
    playbook, out = tmp_path / "tokens.yml", tmp_path / "worker-token"
    playbook.write_text(PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
           "ANSIBLE_HOME": str(tmp_path / "home"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
           "ANSIBLE_REMOTE_TEMP": str(tmp_path / "rtmp"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "default"}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-vvv", "-i", "localhost,",
         "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"sock={docker_socket}", "-e", f"out={out}", str(playbook)],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False, timeout=300,
    )
    printed = proc.stdout + proc.stderr
    assert proc.returncode == 0, printed
    tokens = in_swarm.get("/swarm")["JoinTokens"]
    assert out.read_text() == tokens["Worker"]
    for secret in (tokens["Worker"], tokens["Manager"]):
        assert secret not in printed
        assert secret.rsplit("-", 1)[1] not in printed
    assert "censored" in printed or "no_log" in printed


# ---------------------------------------------------------------------------------------------
# Leaving
# ---------------------------------------------------------------------------------------------


def autolocked(client):
    return client.get("/swarm")["Spec"]["EncryptionConfig"]["AutoLockManagers"]


def test_autolock_on_and_off_and_its_key_only_when_asked(in_swarm, docker_socket, tmp_path):
    checked = run_printed(docker_socket, tmp_path, autolock=True, _ansible_check_mode=True,
                          _ansible_diff=True)[0]
    assert checked["actions"] == ["autolock"] and not autolocked(in_swarm)
    assert checked["diff"]["before"]["autolock"] is False
    assert checked["diff"]["after"]["autolock"] is True
    try:
        on, printed = run_printed(docker_socket, tmp_path, autolock=True, return_unlock_key=True)
        assert on["changed"] is True and on["actions"] == ["autolock"] and autolocked(in_swarm)
        key = in_swarm.get("/swarm/unlockkey")["UnlockKey"]
        assert key.startswith("SWMKEY-1-") and on["unlock_key"] == key
        assert printed.count(key) == 1
        # Given to a node that is not locked, the key does nothing, and is never shown.
        again, printed = run_printed(docker_socket, tmp_path, autolock=True, unlock_key=key)
        assert again["changed"] is False and again["actions"] == []
        assert key not in printed
        # CIS 7.6: a new key, returned in the same call, and the old one no longer the swarm's.
        assert run_printed(docker_socket, tmp_path, rotate_unlock_key=True,
                           _ansible_check_mode=True)[0]["actions"] == ["unlock key rotated"]
        assert in_swarm.get("/swarm/unlockkey")["UnlockKey"] == key
        rotated, printed = run_printed(docker_socket, tmp_path, rotate_unlock_key=True,
                                       return_unlock_key=True)
        new = in_swarm.get("/swarm/unlockkey")["UnlockKey"]
        assert rotated["changed"] is True and rotated["unlock_key"] == new != key
        assert key not in printed and printed.count(new) == 1
        assert autolocked(in_swarm)
    finally:
        off = run_printed(docker_socket, tmp_path, autolock=False)[0]
    assert off["actions"] == ["autolock"] and not autolocked(in_swarm)
    assert run_printed(docker_socket, tmp_path, autolock=False)[0]["changed"] is False
    refused = run_printed(docker_socket, tmp_path, rotate_unlock_key=True)[0]
    assert refused["failed"] is True and "autolock is off" in refused["msg"]


def test_leave(modules, in_swarm):
    refused = modules.run(MODULE, state="absent")
    assert refused["failed"] is True
    assert "force: true" in refused["msg"]
    assert local_state(in_swarm) == "active"

    checked = modules.run(MODULE, check_mode=True, diff=True, state="absent", force=True)
    assert checked["changed"] is True
    assert checked["actions"] == ["left"]
    assert checked["node"]["role"] == "manager"
    assert checked["diff"]["after"] == {"swarm": "inactive", "cluster_id": None}
    assert local_state(in_swarm) == "active"

    left = modules.run(MODULE, state="absent", force=True)
    assert left["changed"] is True
    assert left["actions"] == ["left"]
    assert left["node"] == {}
    assert local_state(in_swarm) == "inactive"

    again = modules.run(MODULE, state="absent", force=True)
    assert again["changed"] is False
    assert again["actions"] == []
    assert modules.run(MODULE, state="absent")["changed"] is False


# ---------------------------------------------------------------------------------------------
# swarm_stack's removal on the same single-node swarm
# ---------------------------------------------------------------------------------------------

def test_a_removed_stack_is_waited_for_until_its_containers_have_stopped(modules, in_swarm,
                                                                          images):
    """A task's container outlives its service's removal until it has stopped, and keeps its
    published host ports until then: what takes the ports next (nginx, when the front door
    moves back from Traefik as a swarm service) must find them free when the module returns."""
    name = "dh-test-slowstop"
    # Takes 3 s to stop after SIGTERM, as a proxy draining its connections does.
    slow = ["/bin/sh", "-c", "trap 'sleep 3; exit 0' TERM; sleep 3600 & wait"]
    deployed = modules.run("swarm_stack", name=name, with_registry_auth=False, compose=[
        {"services": {"app": {"image": "dh-test:1", "command": slow,
                              "stop_grace_period": "20s"}}}], wait_timeout=60)
    assert deployed["changed"] is True, deployed
    label = {"filters": {"label": [f"com.docker.stack.namespace={name}"]}}
    assert len(in_swarm.get("/containers/json", label)) == 1
    removed = modules.run("swarm_stack", name=name, state="absent", wait_timeout=60)
    assert removed["changed"] is True, removed.get("msg", removed)
    assert in_swarm.get("/containers/json", label) == []
    assert modules.run("swarm_stack", name=name, state="absent")["changed"] is False
