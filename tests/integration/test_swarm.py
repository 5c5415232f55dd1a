"""The docker_swarm role on the 4-node lab: 3 managers and a worker, stacks from the private
registry, and the faults a swarm must survive (a manager down, a worker rebuilt)."""

from __future__ import annotations

import itertools
import json
import shutil
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from labtools import (
    INVENTORY,
    PKI,
    ROOT,
    ansible_env,
    converge,
    lab,
    lab_group_vars,
    lab_hosts,
    on_host,
    role_default,
    run_playbook,
)
from registrytools import REGISTRY, USER, RequestLoops, login, password

pytestmark = pytest.mark.lab

SWARM_PLAY = ROOT / "tests" / "integration" / "playbooks" / "swarm.yml"
PROBE_PORT = 8080


def nodes(manager: str = "node1", check: bool = True) -> list[dict]:
    """The swarm's nodes as `manager` lists them; none when it cannot (check=False)."""
    listed = on_host(manager, "docker", "node", "ls", "--format", "{{json .}}", check=check)
    if listed.returncode != 0:
        return []
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def node_labels(manager: str, ids: list[str]) -> dict[str, dict[str, str]]:
    out = on_host(manager, "docker", "node", "inspect", *ids, "--format",
                  "{{json .Description.Hostname}} {{json .Spec.Labels}}").stdout
    return {json.loads(h): json.loads(labels) for h, labels in
            (line.split(" ", 1) for line in out.splitlines())}


def service_tasks(service: str, manager: str = "node1", history: bool = False) -> list[dict]:
    """The service's current tasks; with `history`, the ones the swarm replaced too (a task
    refused on a node is replaced within seconds, so only the history keeps its error)."""
    current = [] if history else ["--filter", "desired-state=running",
                                  "--filter", "desired-state=ready"]
    out = on_host(manager, "docker", "service", "ps", "--no-trunc", "--format", "{{json .}}",
                  *current, service).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def inventory_labels(hosts: list[str]) -> dict[str, dict[str, str]]:
    """docker_swarm_labels as the inventory templates them for each host, under the registry
    label the role derives from the `registry` group."""
    proc = subprocess.run(
        ["ansible", "-i", str(INVENTORY), "swarm_managers:swarm_workers", "-o",
         "-m", "ansible.builtin.debug", "-a", "var=docker_swarm_labels"],
        cwd=ROOT, capture_output=True, text=True, check=True, env=ansible_env())
    labels = {}
    for line in proc.stdout.splitlines():
        host, _, payload = line.partition(" | SUCCESS => ")
        value = json.loads(payload)["docker_swarm_labels"]
        value = {"registry": host.strip() in lab_hosts("registry"), **value}
        labels[host.strip()] = {k: (str(v).lower() if isinstance(v, bool) else str(v))
                                for k, v in value.items()}
    assert set(labels) == set(hosts)
    return labels


def stack_vars(name: str, image: str, port: int, timeout: int = 120, **extra) -> str:
    service = {"image": image, "ports": [f"{port}:{PROBE_PORT}"], "deploy": {"mode": "global"},
               **extra}
    document = {"version": "3.8", "services": {"probe": service}}
    if "networks" in extra:
        document["networks"] = {net: {"external": True} for net in extra["networks"]}
    return json.dumps({"docker_swarm_stacks": [
        {"name": name, "wait_timeout": timeout, "compose": [document]}]})


def http_get(host: str, path: str, ip: str, port: int = PROBE_PORT) -> tuple[int, str]:
    proc = on_host(host, "curl", "-s", "-m", "5", "-w", "\n%{http_code}",
                   f"http://{ip}:{port}{path}", check=False)
    body, _, code = proc.stdout.rpartition("\n")
    return int(code or 0), body


def ip_of(host: str) -> str:
    return f"172.29.77.{10 + int(host.removeprefix('node'))}"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(2)


def full_strength() -> list[dict] | None:
    """The node list once every node is Ready and the 3 managers are Leader or Reachable."""
    listed = nodes()
    if all(n["Status"] == "Ready" for n in listed) and sorted(
            n["ManagerStatus"] for n in listed) == ["", "Leader", "Reachable", "Reachable"]:
        return listed
    return None


@pytest.fixture(scope="module")
def swarm(hosts):
    """The converged lab: site.yml again if an earlier test left the lab changed."""
    if len(hosts) < 4:
        pytest.fail("the swarm tests need 4 Docker lab nodes (LAB_NODES=6, the default, has them)")
    converge()


@pytest.fixture(scope="module")
def e2e_image(swarm, hosts) -> str:
    """An image built on the worker, pushed to the private registry."""
    builder = hosts[-1]
    tag = uuid.uuid4().hex[:8]
    image = f"{REGISTRY}/e2e/probe:{tag}"
    login(builder)
    on_host(builder, "sh", "-c",
            f"printf 'FROM dockhand-lab/probe:1\\nRUN echo e2e-{tag} > /srv/probe/build-id\\n'"
            f" | docker build -q -t {image} -")
    on_host(builder, "docker", "push", "-q", image)
    # Only the builder has it: every other node must pull it from the registry.
    for host in hosts:
        if host != builder:
            assert on_host(host, "docker", "image", "inspect", image, check=False).returncode
    return image


def test_three_managers_one_leader_one_worker_all_ready_with_labels(swarm, hosts):
    listed = nodes()
    assert sorted(n["Hostname"] for n in listed) == hosts
    assert all(n["Status"] == "Ready" for n in listed), listed
    status = sorted(n["ManagerStatus"] for n in listed)
    assert status == ["", "Leader", "Reachable", "Reachable"], listed
    workers = [n["Hostname"] for n in listed if not n["ManagerStatus"]]
    assert workers == ["node4"]
    assert node_labels("node1", [n["ID"] for n in listed]) == inventory_labels(hosts)


def test_a_pushed_image_runs_a_replica_on_every_node(swarm, hosts, e2e_image):
    extra = stack_vars("e2e", e2e_image, PROBE_PORT, networks=["dockhand-apps"])
    run = run_playbook("-e", extra, playbook=SWARM_PLAY)
    assert run.rc == 0, run.output[-4000:]
    tasks = service_tasks("e2e_probe")
    assert sorted(t["Node"] for t in tasks) == hosts, tasks
    assert all(t["CurrentState"].startswith("Running") for t in tasks), tasks
    assert all(t["Image"].startswith(REGISTRY) for t in tasks), tasks
    tag = e2e_image.rpartition(":")[2]
    for host in hosts:
        code, body = http_get("node1", "/build-id", ip_of(host))
        assert (code, body.strip()) == (200, f"e2e-{tag}"), host
    again = run_playbook("-e", extra, playbook=SWARM_PLAY)
    assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
    check = run_playbook("--check", "-e", extra, playbook=SWARM_PLAY)
    assert check.rc == 0 and check.total("changed") == 0, check.output[-3000:]


def test_an_image_only_on_the_manager_leaves_workers_with_no_such_image(swarm, hosts):
    manager, image = hosts[0], "dockhand-e2e/local-only:1"
    on_host(manager, "sh", "-c",
            "printf 'FROM dockhand-lab/probe:1\\nRUN echo local > /srv/probe/build-id\\n'"
            f" | docker build -q -t {image} -")
    try:
        run = run_playbook("-e", stack_vars("e2elocal", image, PROBE_PORT + 1, timeout=25),
                           playbook=SWARM_PLAY)
        assert run.rc != 0, run.output[-3000:]
        assert "No such image: dockhand-e2e/local-only:1" in run.output
        assert "1/4 running/desired" in " ".join(run.output.split())
        tasks = service_tasks("e2elocal_probe")
        running = {t["Node"] for t in tasks if t["CurrentState"].startswith("Running")}
        assert running == {manager}, tasks
        refused = service_tasks("e2elocal_probe", history=True)
        for host in hosts[1:]:
            assert any(t["Node"] == host and "No such image" in t["Error"] for t in refused), \
                (host, refused)
    finally:
        gone = run_playbook("-e", json.dumps({"docker_swarm_stacks": [
            {"name": "e2elocal", "state": "absent"}]}), playbook=SWARM_PLAY)
    assert gone.rc == 0, gone.output[-3000:]
    assert not on_host(manager, "docker", "service", "ls", "-q", "--filter",
                       "name=e2elocal_").stdout.strip()


def test_two_managers_are_refused_before_any_change(swarm, hosts):
    inventory = _inventory_with(Path("test-two-managers"), hosts[:2], hosts[2:])
    pki = ROOT / "inventory" / "test-two-managers-pki"
    shutil.rmtree(pki, ignore_errors=True)  # an earlier, failed run's
    try:
        before = nodes()
        run = run_playbook(inventory=inventory)
        assert run.rc != 0
        assert "swarm_managers has 2 managers" in run.output
        assert "quorum" in run.output
        # Refused in site.yml's first play, on the controller: no host changed, none went on.
        assert set(run.recap) == set(lab_hosts("lab")), run.recap
        assert run.total("changed") == 0, run.output[-3000:]
        assert "PLAY [Docker and Podman hosts" not in run.output
        assert not pki.exists()
        assert [(n["ID"], n["ManagerStatus"]) for n in nodes()] == [
            (n["ID"], n["ManagerStatus"]) for n in before]
    finally:
        shutil.rmtree(inventory, ignore_errors=True)


# What the swarm role asks each node's kernel; the lab's hosts share this machine's kernel.
ESP_PROBE = ["unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst",
             "192.0.2.2", "proto", "esp", "spi", "0x100", "reqid", "1", "mode", "transport",
             "aead", "rfc4106(gcm(aes))", "0x0102030405060708090a0b0c0d0e0f1011121314", "128"]


def test_an_encrypted_network_the_kernel_cannot_carry_is_refused_before_any_change(swarm, hosts):
    probe = subprocess.run(ESP_PROBE, capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        pytest.skip("this kernel does IPsec ESP with AES-GCM: there is no refusal to show")
    networks = json.dumps({"docker_swarm_networks": [{"name": "dockhand-sealed",
                                                      "encrypted": True}]})
    run = run_playbook("-e", networks)
    assert run.rc != 0
    assert "docker_swarm_networks: dockhand-sealed is encrypted" in run.output
    assert probe.stderr.strip() in run.output, probe.stderr
    assert run.total("changed") == 0, run.output[-3000:]
    assert "PLAY [Docker and Podman hosts" not in run.output
    for host in hosts:
        listed = on_host(host, "docker", "network", "ls", "--format", "{{.Name}}").stdout.split()
        assert "dockhand-sealed" not in listed, host


def _inventory_with(tmp: Path, managers: list[str], workers: list[str]) -> Path:
    """The lab inventory with other swarm groups; group_vars shared, beside the lab's."""
    inventory = ROOT / "inventory" / tmp.name
    inventory.mkdir(exist_ok=True)
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    children = hosts["all"]["children"]
    children["swarm_managers"] = {"hosts": {name: None for name in managers}}
    children["swarm_workers"] = {"hosts": {name: None for name in workers}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inventory / "group_vars").symlink_to(INVENTORY / "group_vars")
    return inventory


def test_managers_moved_to_workers_are_demoted_one_at_a_time_and_promoted_back(swarm, hosts):
    inventory = _inventory_with(Path("test-one-manager"), hosts[:1], hosts[1:])
    try:
        run = run_playbook(inventory=inventory, playbook=SWARM_PLAY)
        assert run.rc == 0, run.output[-4000:]
        status = {n["Hostname"]: n["ManagerStatus"] for n in nodes()}
        assert status == {hosts[0]: "Leader", **{h: "" for h in hosts[1:]}}, status
        again = run_playbook(inventory=inventory, playbook=SWARM_PLAY)
        assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
    finally:
        shutil.rmtree(inventory, ignore_errors=True)
    back = run_playbook(playbook=SWARM_PLAY)
    assert back.rc == 0, back.output[-4000:]
    wait_for(full_strength, 90, "3 reachable managers again")


def test_a_node_set_absent_is_drained_leaves_and_its_entry_is_removed(swarm, hosts):
    leaving = hosts[-1]
    host_vars = INVENTORY / "host_vars"
    host_vars.mkdir(exist_ok=True)
    try:
        (host_vars / f"{leaving}.yml").write_text("docker_swarm_node_state: absent\n")
        run = run_playbook(playbook=SWARM_PLAY)
        assert run.rc == 0, run.output[-4000:]
        assert leaving not in {n["Hostname"] for n in nodes()}
        state = on_host(leaving, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}")
        assert state.stdout.strip() == "inactive"
        again = run_playbook(playbook=SWARM_PLAY)
        assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
    finally:
        shutil.rmtree(host_vars, ignore_errors=True)
    back = run_playbook(playbook=SWARM_PLAY)
    assert back.rc == 0, back.output[-4000:]
    assert sorted(n["Hostname"] for n in wait_for(full_strength, 90, "the node back")) == hosts


def test_a_stopped_manager_keeps_quorum_and_services_then_rejoins(swarm, hosts, e2e_image):
    down = "node2"
    subprocess.run(["docker", "stop", f"dockhand-lab-{down}"], check=True, capture_output=True)
    try:
        # Were it the leader (earlier tests restart managers), the other two elect one first:
        # until then no manager answers.
        wait_for(lambda: any(n["Hostname"] == down and n["Status"] == "Down"
                             for n in nodes(check=False)), 90, f"{down} to be seen down")
        listed = nodes()  # answers only while the managers left have quorum
        assert sorted(n["ManagerStatus"] for n in listed) == [
            "", "Leader", "Reachable", "Unreachable"], listed
        for host in hosts:
            if host != down:
                code, _ = http_get("node1", "/build-id", ip_of(host))
                assert code == 200, host
        # The swarm still takes changes: a raft commit needs the quorum.
        on_host("node1", "docker", "node", "update", "--label-add", "fault=drill", "node4")
        on_host("node1", "docker", "node", "update", "--label-rm", "fault", "node4")
    finally:
        lab("up", limit=down)
    # As an operator does after a server's return: site.yml on that host (every role runs on
    # a limited run).
    run = run_playbook("--limit", down)
    assert run.rc == 0, run.output[-4000:]
    listed = wait_for(full_strength, 90, "3 reachable managers and 4 ready nodes")
    assert len(listed) == len(hosts)
    wait_for(lambda: len([t for t in service_tasks("e2e_probe")
                          if t["CurrentState"].startswith("Running")]) == len(hosts),
             90, "a running e2e replica on every node")


def trust_root(host: str, node: str | None = None) -> str:
    """The swarm's root CA as the swarm sees it, or as ``node`` (inspected on ``host``) holds it."""
    if node is None:
        out = on_host(host, "docker", "info", "--format", "{{json .Swarm.Cluster.TLSInfo}}")
    else:
        out = on_host(host, "docker", "node", "inspect", "--format",
                      "{{json .Description.TLSInfo}}", node)
    return json.loads(out.stdout)["TrustRoot"]


def test_the_swarm_ca_rotates_through_the_rotation_playbook_with_services_answering(
        swarm, hosts, e2e_image):
    before = trust_root("node1")
    answers, failures, stop = [], [], threading.Event()

    def poll():
        # The global e2e service on every node, from a manager, one node after the other.
        while not stop.is_set():
            for host in hosts:
                code, _ = http_get("node1", "/build-id", ip_of(host))
                (answers if code == 200 else failures).append((time.strftime("%T"), host, code))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        run = run_playbook("-e", "rotate_registry_certs_swarm_ca=true",
                           playbook=ROOT / "playbooks" / "rotate_registry_certs.yml")
    finally:
        stop.set()
        poller.join(30)
    assert run.rc == 0, run.output[-4000:]
    after = trust_root("node1")
    assert after != before
    # Every node holds a certificate of the new root, is Ready, and the managers have quorum.
    listed = wait_for(full_strength, 60, "every node ready after the rotation")
    assert {n["Hostname"]: trust_root("node1", n["Hostname"]) == after for n in listed} == {
        host: True for host in hosts}
    assert len(answers) > 4 * len(hosts) and failures == [], (len(answers), failures[:5])


def local_state(host: str) -> str:
    return on_host(host, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def test_autolock_keeps_its_key_and_the_next_run_unlocks_a_restarted_manager(
        swarm, hosts, e2e_image):
    key, restarted = PKI / "swarm-unlock.key", "node2"
    key.unlink(missing_ok=True)
    locked = json.dumps({"docker_swarm_autolock": True})
    try:
        run = run_playbook("-e", locked, playbook=SWARM_PLAY)
        assert run.rc == 0, run.output[-4000:]
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        kept = key.read_text().strip()
        assert kept.startswith("SWMKEY-1-")
        assert kept not in run.output
        assert on_host("node1", "docker", "swarm", "unlock-key", "-q").stdout.strip() == kept
        again = run_playbook("-e", locked, playbook=SWARM_PLAY)
        assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
        # CIS 7.6: a new key, kept; the one it replaced kept as the previous one.
        rotated = run_playbook("-e", locked, "-e", "docker_swarm_rotate_unlock_key=true",
                               playbook=SWARM_PLAY)
        assert rotated.rc == 0, rotated.output[-4000:]
        new = key.read_text().strip()
        assert new.startswith("SWMKEY-1-") and new != kept
        assert (PKI / "swarm-unlock-previous.key").read_text().strip() == kept
        assert new not in rotated.output and kept not in rotated.output
        assert on_host("node1", "docker", "swarm", "unlock-key", "-q").stdout.strip() == new
        kept = new

        on_host(restarted, "systemctl", "restart", "docker")
        wait_for(lambda: local_state(restarted) == "locked", 60, f"{restarted} to be locked")
        # The other two managers keep the quorum, and the service answers on their nodes.
        for host in hosts:
            if host != restarted:
                assert http_get("node1", "/build-id", ip_of(host))[0] == 200, host

        unlock = run_playbook("-e", locked, playbook=SWARM_PLAY)
        assert unlock.rc == 0, unlock.output[-4000:]
        assert kept not in unlock.output
        assert local_state(restarted) == "active"
        wait_for(full_strength, 90, "3 reachable managers and 4 ready nodes")
    finally:
        off = run_playbook("-e", json.dumps({"docker_swarm_autolock": False}), playbook=SWARM_PLAY)
        assert off.rc == 0, off.output[-4000:]
        key.unlink(missing_ok=True)
        (PKI / "swarm-unlock-previous.key").unlink(missing_ok=True)
    autolock = "{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}"
    assert on_host("node1", "docker", "info", "--format", autolock).stdout.strip() == "false"
    wait_for(lambda: len([t for t in service_tasks("e2e_probe")
                          if t["CurrentState"].startswith("Running")]) == len(hosts),
             90, "a running e2e replica on every node")


def _pull_everywhere_but(builder: str, hosts: list[str], image: str) -> None:
    for host in hosts:
        if host == builder:
            continue
        on_host(host, "docker", "image", "rm", "-f", image, check=False)
        login(host)
        on_host(host, "docker", "pull", "-q", image)


def engine_restarts(host: str, since: float) -> list[tuple[float, float]]:
    """(stopping, started) times of each restart of the host's engine since ``since``, from
    systemd's own lines in the journal."""
    lines = on_host(host, "journalctl", "--unit", "docker.service", "--output", "short-unix",
                    "--no-pager", f"--since=@{since:.0f}").stdout.splitlines()
    stops = [float(line.split()[0]) for line in lines if "Stopping docker.service" in line]
    starts = [float(line.split()[0]) for line in lines if "Started docker.service" in line]
    return list(zip(stops, starts, strict=True))


UPGRADE_REPO = "/srv/dockhand-engine-upgrade"
UPGRADE_SOURCE = "/etc/apt/sources.list.d/dockhand-engine-upgrade.list"


def _offer_engine_upgrade(host: str) -> str:
    """A newer docker.io for the host, in an apt repository of its own that its sources list
    (not read yet: the role must refresh apt's lists for a new pin): Debian's package under
    a higher version, as a site's mirror offers the next release; higher than one an
    earlier run of the test left installed too. Returns that version."""
    script = f"""set -e
rm -rf {UPGRADE_REPO}; mkdir -p {UPGRADE_REPO}; cd {UPGRADE_REPO}
debian=$(apt-cache madison docker.io | awk -F' [|] ' 'NR == 1 {{ print $2 }}')
apt-get download -q "docker.io=$debian" > /dev/null 2>&1
deb=$(echo docker.io_*.deb)
version="$debian+dockhand$(date +%s)"
dpkg-deb --raw-extract "$deb" unpacked
sed -i "s/^Version: .*/Version: $version/" unpacked/DEBIAN/control
dpkg-deb -Znone --build unpacked next.deb > /dev/null
rm -rf unpacked "$deb"
{{ dpkg-deb --field next.deb; echo "Filename: ./next.deb"; echo "Size: $(stat -c %s next.deb)"
   echo "SHA256: $(sha256sum next.deb | cut -d' ' -f1)"; echo; }} > Packages
echo "deb [trusted=yes] file:{UPGRADE_REPO} ./" > {UPGRADE_SOURCE}
echo "$version"
"""
    return on_host(host, "sh", "-c", script).stdout.strip()


def _withdraw_engine_upgrade(host: str) -> None:
    on_host(host, "sh", "-c", f"rm -rf {UPGRADE_REPO} {UPGRADE_SOURCE}; "
            "apt-mark unhold docker.io > /dev/null", check=False)


def test_a_restart_change_rolls_one_node_at_a_time_with_no_failed_request(swarm, hosts):
    """Two changes that need engines restarted, while every host asks the registry on shared
    storage through the front door and a replicated service at its nodes: an engine upgrade
    (a new docker_engine_version) on the Debian 12 managers, and the hardening profile with a
    changed key (log-opts) on every rolled node but the first of those, so that one manager
    restarts for the upgrade alone. Each node is drained, restarted and back before the
    next, and no request fails. An upgraded engine restarts once, in its turn (Debian's
    docker.io restarts nothing itself, and Docker's packages must not restart every host at
    once), and then runs the new files. The front door (nginx) is a host service; it skips an
    upstream whose engine is down, and the service's callers move to a node that runs a
    task, as the front door would.

    Rolled on the worker, the leader and one other manager: each kind of node once (a third
    manager would only repeat the second); the engine left out restarts not at all."""
    port = PROBE_PORT + 7
    # A manager that does not lead is spared: the leader is among those that roll.
    listed = {n["Hostname"]: n["ManagerStatus"] for n in nodes()}
    spared = next(h for h in hosts if listed.get(h) == "Reachable")
    rolling = [h for h in hosts if h != spared]
    release = "sh", "-c", ". /etc/os-release; echo $VERSION_CODENAME"
    upgraded = [h for h in rolling if h in lab_hosts("swarm_managers")
                and on_host(h, *release).stdout.strip() == "bookworm"]
    reconfigured = [h for h in rolling if h != upgraded[0]] if upgraded else []
    assert upgraded and reconfigured, (upgraded, reconfigured)
    versions = {host: _offer_engine_upgrade(host) for host in upgraded}
    # Straight from the CLI: the stack deploy is proven elsewhere, and is not what rolls.
    on_host(hosts[0], "docker", "service", "create", "--quiet", "--name", "roll-probe",
            "--replicas", "2", "--publish", f"mode=host,target={PROBE_PORT},published={port}",
            "dockhand-lab/probe:1")
    ha_name = lab_group_vars()["registry_ha_name"]
    targets = [
        {"name": "registry", "urls": [f"https://{ha_name}/v2/_catalog"], "user": USER,
         "password": password(), "cafile": f"/etc/docker/certs.d/{ha_name}/ca.crt"},
        {"name": "service", "urls": [f"http://{ip_of(h)}:{port}/" for h in hosts]},
    ]
    default = dict(role_default("docker_engine", "docker_engine_hardening_options"))
    profile = {**default, "log-opts": {**default["log-opts"], "max-size": "30m"}}
    # One -e for every host of the run, each host's value picked by its name.
    by_host = {"docker_engine_version": (versions, ""),
               "docker_engine_hardening_options": (dict.fromkeys(reconfigured, profile), default)}
    extra = {name: "{{ " + json.dumps(values) + "[inventory_hostname] | default("
             + json.dumps(otherwise) + ") }}" for name, (values, otherwise) in by_host.items()}
    since = float(on_host(hosts[0], "date", "+%s").stdout) - 1
    try:
        with RequestLoops(hosts, targets) as loops:
            rolled = run_playbook("--tags", "docker_pki,docker_engine", "--limit",
                                  ",".join(rolling), "-e", json.dumps(extra))
        assert rolled.rc == 0, rolled.output[-4000:]
        counts = loops.counts()
        # Shown with -s: the figures a change to the roll is compared by.
        print(f"requests during the roll (ok, failed) per host and target: "
              f"{ {key: (ok, len(fails)) for key, (ok, fails) in counts.items()} }")
        assert all(ok > 10 for ok, _ in counts.values()), counts
        assert not {key: fails for key, (_, fails) in counts.items() if fails}, counts
        # One restart per engine, none while another was down: workers first, then managers.
        restarts = {host: engine_restarts(host, since) for host in hosts}
        assert restarts.pop(spared) == [], spared
        assert all(len(times) == 1 for times in restarts.values()), restarts
        order = sorted(rolling, key=lambda host: restarts[host][0][0])
        assert order[0] in lab_hosts("swarm_workers"), order
        for earlier, later in itertools.pairwise(order):
            assert restarts[earlier][0][1] < restarts[later][0][0], (earlier, later, restarts)
        assert full_strength()
        # The upgraded engines run the new files (a process whose file dpkg replaced shows
        # it deleted), as does containerd, restarted in the same turn.
        for host, version in versions.items():
            assert on_host(host, "dpkg-query", "-W", "-f", "${Version}",
                           "docker.io").stdout == version, host
            for daemon in ("dockerd", "containerd"):
                exe = on_host(host, "sh", "-c", f"readlink /proc/$(pidof -s {daemon})/exe").stdout
                assert exe.strip() == f"/usr/{'s' if daemon == 'dockerd' else ''}bin/{daemon}", \
                    (host, daemon, exe)
    finally:
        for host in upgraded:
            _withdraw_engine_upgrade(host)
        # Back to the inventory's profile all at once: the roll is what was proven. The
        # upgraded package stays (the same files; no pin asks for another).
        back = run_playbook("--tags", "docker_pki,docker_engine", "--limit", ",".join(rolling),
                            "-e", "docker_engine_restart_batch=0")
        on_host(hosts[0], "docker", "service", "rm", "roll-probe", check=False)
    assert back.rc == 0, back.output[-4000:]
    wait_for(full_strength, 60, "every node Ready and every manager reachable")


def test_the_registry_runs_as_a_swarm_service_on_its_labelled_node(swarm, hosts, e2e_image):
    registry_host = hosts[0]
    # For the registry's host only: the registry on shared storage refuses service mode.
    host_vars = INVENTORY / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / f"{registry_host}.yml").write_text("docker_registry_mode: service\n")
    # Only the registry role reads the mode: its runs on its host are the whole change.
    scoped = ("--tags", "docker_registry", "--limit", registry_host)
    try:
        run = run_playbook(*scoped)
        assert run.rc == 0, run.output[-4000:]
        tasks = service_tasks("registry_registry")
        # Placed by the node label the swarm role gives the registry group's host only.
        assert [(t["Node"], t["CurrentState"].split()[0]) for t in tasks] == [
            (registry_host, "Running")], tasks
        containers = on_host(registry_host, "docker", "ps", "-a", "--format", "{{.Names}}").stdout
        assert "registry-blue" not in containers and "registry-green" not in containers
        # Its task confined as its container was (no-new-privileges is the daemon's).
        spec = json.loads(on_host(registry_host, "docker", "service", "inspect",
                                  "registry_registry").stdout)[0]["Spec"]["TaskTemplate"]
        assert (spec["ContainerSpec"]["User"], spec["ContainerSpec"]["ReadOnly"],
                spec["ContainerSpec"]["CapabilityDrop"]) == ("65532:65532", True, ["ALL"])
        assert spec["Resources"]["Limits"] == {"NanoCPUs": 10**9, "MemoryBytes": 2**30,
                                               "Pids": 512}
        rules = on_host(registry_host, "iptables", "-t", "nat", "-S").stdout
        assert "dockhand-registry" not in rules
        _pull_everywhere_but(hosts[-1], hosts, e2e_image)
        again = run_playbook(*scoped)
        assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
    finally:
        shutil.rmtree(host_vars, ignore_errors=True)
        back = run_playbook(*scoped)
    assert back.rc == 0, back.output[-4000:]
    assert not on_host(registry_host, "docker", "service", "ls", "-q", "--filter",
                       "name=registry_").stdout.strip()
    _pull_everywhere_but(hosts[-1], hosts, e2e_image)
