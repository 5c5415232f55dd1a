"""The docker_engine and docker_daemon roles against the real lab hosts, over SSH."""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import re
import subprocess
import threading

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils.audit_rules import parse
from labtools import (
    FULL_RUN,
    ROOT,
    SITE,
    age_package_lists,
    changed_by_hand,
    file_digest,
    lab_group_vars,
    lab_hosts,
    on_host,
    run_playbook,
    run_secrets,
)

pytestmark = pytest.mark.lab

DAEMON_JSON = "/etc/docker/daemon.json"
LAB_GATEWAY = "172.29.77.1"
DROPIN = "/etc/systemd/system/docker.service.d/dockhand-daemon-json.conf"


def engine_info(host: str) -> dict:
    return json.loads(on_host(host, "docker", "info", "--format", "{{json .}}").stdout)


def assert_engine_active(hosts: list[str]) -> None:
    for host in hosts:
        state = on_host(host, "systemctl", "is-active", "docker", check=False).stdout.strip()
        assert state == "active", f"{host}: docker is {state}"


# The engine's share of site.yml (its trust and the engine): what a daemon.json change
# touches, so what a test that makes one runs afterwards or on the one host it changes.
ENGINE_SHARE = ("--tags", "docker_pki,docker_engine")


# The example's hardening profile as every lab host (each a swarm node) gets it: CIS Docker
# Benchmark 2.2, 2.13, 2.14 and 2.16; 2.15's live-restore is left out on swarm nodes.
HARDENED = {"icc": False, "no-new-privileges": True, "userland-proxy": False,
            "log-driver": "local", "log-opts": {"max-size": "20m", "max-file": "5"}}


def test_every_host_runs_the_daemon_json_the_inventory_asks_for(converged, hosts):
    wanted = lab_group_vars()["docker_daemon_options"]
    for host in hosts:
        written = json.loads(on_host(host, "cat", DAEMON_JSON).stdout)
        assert {k: written[k] for k in wanted} == wanted, host
        assert {k: written.get(k) for k in HARDENED} == HARDENED, host
        assert "live-restore" not in written, host
        info = engine_info(host)
        assert info["LoggingDriver"] == "local", host
        assert info["Swarm"]["LocalNodeState"] == "active", host
        assert set(wanted["labels"]) <= set(info["Labels"]), host
        # What dockerd made of them: the default bridge without inter-container traffic, and
        # no docker-proxy process for any published port.
        bridge = json.loads(on_host(host, "docker", "network", "inspect", "bridge").stdout)[0]
        assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false", host
        assert on_host(host, "pgrep", "-x", "docker-proxy", check=False).returncode == 1, host
    assert_engine_active(hosts)


# CIS Docker Benchmark 1.1.3 to 1.1.18 on Debian's docker.io: where each check's path is on
# these hosts (1.1.13's /etc/sysconfig/docker is RHEL's).
AUDITED = ["/usr/sbin/dockerd", "/run/containerd", "/var/lib/docker", "/etc/docker",
           "/usr/lib/systemd/system/docker.service", "/run/containerd/containerd.sock",
           "/usr/lib/systemd/system/docker.socket", "/etc/default/docker",
           "/etc/docker/daemon.json", "/etc/containerd/config.toml", "/usr/bin/containerd",
           "/usr/bin/containerd-shim", "/usr/bin/containerd-shim-runc-v1",
           "/usr/bin/containerd-shim-runc-v2", "/usr/sbin/runc"]


def test_every_engine_path_of_the_benchmark_has_a_well_formed_audit_watch(converged, hosts):
    """Written and checked, not loaded: the lab's hosts share this machine's kernel."""
    for host in hosts:
        rules = "/etc/audit/rules.d/dockhand-docker.rules"
        assert on_host(host, "stat", "-c", "%a %U:%G", rules).stdout.split() == ["640", "root:root"]
        watches = parse(on_host(host, "cat", rules).stdout)
        assert {w["key"] for w in watches} == {"docker"}, host
        watched = [w["path"] for w in watches]
        assert set(AUDITED) <= set(watched), (host, sorted(set(AUDITED) - set(watched)))
        assert len(watched) == len(set(watched)), host
        present = on_host(host, "ls", "-d", *watched).stdout.split()
        assert sorted(present) == sorted(watched), host


SKIPPED = "no host moved since the last run that asked the same of it"


def test_a_run_with_nothing_moved_skips_every_role_and_a_change_by_hand_runs_them(converged,
                                                                                hosts):
    """site.yml after a converged run, with the same inputs and every host as that run left
    it, skips every role; changes by hand on two hosts (their records, read live at fact
    gathering, show them) make the next run a full one that puts both back: a trusted CA
    removed on one, the engine stopped and disabled on another.

    That full run is also the suite's -vvv run, on a lab converged long ago (package lists
    two hours old): it prints no secret, and the hosts not changed by hand report no change
    (refreshing old package lists is none)."""
    # After a converged run (the session's, or the last test's that put the lab back) the
    # first run finds nothing moved, or finds what an earlier module left and puts it back.
    first = run_playbook()
    assert first.rc == 0 and first.total("changed") == 0, first.output[-4000:]
    again = run_playbook()
    assert again.rc == 0 and again.total("changed") == 0, again.output[-4000:]
    assert SKIPPED in " ".join(again.output.split()), again.output[-4000:]
    assert "TASK [docker_engine" not in again.output and "TASK [proxy" not in again.output
    host, stopped = hosts[-1], hosts[1]
    trusted = on_host(host, "sh", "-c", "ls -d /etc/docker/certs.d/*/ca.crt").stdout.split()[0]
    wanted = on_host(host, "cat", trusted).stdout
    on_host(host, "rm", trusted)
    on_host(stopped, "systemctl", "disable", "--now", "docker.service", "docker.socket")
    age_package_lists(lab_hosts("lab"))
    changed_by_hand(SITE)
    run = run_playbook("-vvv")
    assert run.rc == 0, run.output[-4000:]
    said = " ".join(run.output.split())
    assert f"{host}: not as the last converged run left it: file {trusted}" in said, said[-4000:]
    # Its enablement link under /etc/systemd/system is named first, then the unit.
    assert re.search(f"{stopped}: not as the last converged run left it: [^;]*"
                     "unit docker.service", said), said[-4000:]
    assert set(run.recap) == set(lab_hosts("lab"))
    assert run.recap[host]["changed"] >= 1, run.output[-4000:]
    assert on_host(host, "cat", trusted).stdout == wanted
    # Starting and enabling the engine is the one change on that host, and there is none on
    # the others.
    assert run.recap[stopped]["changed"] == 1, run.output[-4000:]
    assert not [h for h, r in run.recap.items() if h not in (host, stopped) and r["changed"]], \
        _changes(run.output)
    assert on_host(stopped, "systemctl", "is-enabled", "docker.service").stdout.strip() == "enabled"
    assert_engine_active([stopped])
    secrets = run_secrets()
    assert len([n for n in secrets if n.startswith("vault/")]) >= 4
    assert any(n.startswith("pki/registry-dockhand") for n in secrets)
    leaked = sorted(name for name, value in secrets.items() if value in run.output)
    assert not leaked, f"printed at -vvv: {leaked}"


def _changes(output: str) -> str:
    """Each task that reported changed, with the line that said so (for a failed assert)."""
    lines = [line for line in output.splitlines() if line.startswith(("TASK [", "changed:"))]
    return "\n".join(f"{task}  {line}" for task, line in itertools.pairwise(lines)
                     if line.startswith("changed:"))[:3000]


def test_check_diff_on_converged_lab_changes_nothing_at_any_age(converged, hosts):
    # A drift check from cron must not report the package lists' age as a change (the run
    # at -vvv above, after changes by hand, shows the same for real).
    age_package_lists(lab_hosts("lab"))
    run = run_playbook("--check", "--diff", *FULL_RUN)
    assert run.rc == 0, run.output[-4000:]
    assert run.total("changed") == 0, run.output[-6000:]
    assert run.total("failed") == 0


def test_unknown_key_fails_before_any_change(converged, hosts):
    """A key no engine knows, and keys the lab's engines (Debian 12's 20.10, Debian 13's
    26.1) do not know yet: all named in one failure, each host's with its engine version,
    read from the role's local fact at fact gathering."""
    before = {h: file_digest(h, DAEMON_JSON) for h in hosts}
    run = run_playbook("-e", json.dumps({"docker_daemon_options": {
        "no-such-option": True, "cdi-spec-dirs": ["/etc/cdi"],
        "host-gateway-ips": ["172.29.77.1"]}}))
    assert run.rc != 0
    said = " ".join(run.output.split())
    assert "no-such-option" in said
    assert "docker_daemon_options" in said
    assert re.search(r"'cdi-spec-dirs' is not known to this host's engine, Docker Engine "
                     r"20\.10\.\d+ \(added in Docker Engine 25\.0\)", said), said[-3000:]
    # The Debian 13 worker knows cdi-spec-dirs, not what 28.0 added.
    assert re.search(r"'host-gateway-ips' is not known to this host's engine, Docker Engine "
                     r"26\.1\.\d+\S* \(added in Docker Engine 28\.0\)", said), said[-3000:]
    assert run.total("changed") == 0, run.output[-4000:]
    assert {h: file_digest(h, DAEMON_JSON) for h in hosts} == before


def test_invalid_bip_fails_naming_it_and_leaves_the_engine_running(converged, hosts):
    before = {h: file_digest(h, DAEMON_JSON) for h in hosts}
    run = run_playbook("-e", '{"docker_daemon_options": {"bip": "300.1.1.1/24"}}')
    assert run.rc != 0
    assert "bip" in run.output and "300.1.1.1/24" in run.output
    assert {h: file_digest(h, DAEMON_JSON) for h in hosts} == before
    assert_engine_active(hosts)


def test_option_that_stops_dockerd_from_starting_is_rolled_back(converged, hosts):
    """Valid by type, refused by dockerd at start: the role restores and restarts.

    On one host: the restore is each host's own rescue, and a run across the fleet would only
    repeat it (at the cost of every host's engine share)."""
    host = hosts[-1]
    before = {h: file_digest(h, DAEMON_JSON) for h in hosts}
    run = run_playbook("--limit", host, *ENGINE_SHARE,
                       "-e", '{"docker_daemon_options": {"storage-driver": "no-such-driver"}}')
    assert run.rc != 0
    # dockerd's own reason, read from the journal, is in the failure message.
    assert "could not be applied" in run.output
    assert "no-such-driver" in run.output or "graphdriver" in run.output, run.output[-4000:]
    assert run.total("failed") == 1
    assert {h: file_digest(h, DAEMON_JSON) for h in hosts} == before
    assert_engine_active(hosts)
    # The failed run had these tags and this limit, so this run covers all it could have
    # left changed: it must find nothing to do.
    again = run_playbook("--limit", host, *ENGINE_SHARE)
    assert again.rc == 0 and again.total("changed") == 0, again.output[-4000:]


API_KEYS = ["hosts", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey"]


def _api_version(ip: str, port: int) -> subprocess.CompletedProcess[str]:
    pki = ROOT / "inventory" / "lab-pki"
    return subprocess.run(
        ["docker", "--tlsverify", f"--tlscacert={pki / 'docker-api-ca.crt'}",
         f"--tlscert={pki / 'docker-api-client.crt'}", f"--tlskey={pki / 'docker-api-client.key'}",
         "-H", f"tcp://{ip}:{port}", "version", "--format", "{{.Server.Version}}"],
        capture_output=True, text=True, timeout=60, check=False)


def test_hosts_and_data_root_keys_apply_together_and_go_back(converged, hosts):
    """Two keys that need more than a restart, in one change on one host (a run of the
    engine's share costs the same for one key as for two):
    - `hosts`, which the lab's remote API puts into daemon.json against the unit's -H fd://:
      the drop-in resolves it on every host, an extra listener works beside the API's, and
      the drop-in goes away with the key;
    - `data-root`: the engine moves with its data, the old directory kept by default, and
      moves back when the key goes."""
    for host in hosts:
        dropin = on_host(host, "cat", DROPIN).stdout
        assert "ExecStart=\n" in dropin and "fd://" not in dropin, host
    host, ip = hosts[-1], f"172.29.77.{10 + len(hosts)}"
    on_host(host, "docker", "volume", "create", "dockhand-move-marker")
    options = dict(lab_group_vars()["docker_daemon_options"],
                   hosts=["unix:///var/run/docker.sock", "tcp://0.0.0.0:2380"],
                   **{"data-root": "/srv/docker"})
    extra = ("-e", json.dumps({"docker_daemon_options": options}))
    try:
        run = run_playbook(*ENGINE_SHARE, "--limit", host, *extra)
        assert run.rc == 0, run.output[-4000:]
        for port in (2380, 2376):
            answer = _api_version(ip, port)
            assert answer.returncode == 0 and answer.stdout.strip(), (port, answer.stderr)
        assert engine_info(host)["DockerRootDir"] == "/srv/docker"
        # The volume made before the move is still there, read from the new root.
        on_host(host, "docker", "volume", "inspect", "dockhand-move-marker")
        # The old directory is kept by default.
        old = on_host(host, "test", "-d", "/var/lib/docker/volumes/dockhand-move-marker")
        assert old.returncode == 0
        again = run_playbook(*ENGINE_SHARE, "--limit", host, *extra)
        assert again.rc == 0 and again.total("changed") == 0, again.output[-4000:]
    finally:
        off = run_playbook(*ENGINE_SHARE, "--limit", host, "-e", "docker_engine_api_tcp=false",
                           "-e", json.dumps({"docker_daemon_remove_keys": [*API_KEYS,
                                                                           "data-root"]}))
    assert off.rc == 0, off.output[-4000:]
    assert on_host(host, "test", "-e", DROPIN, check=False).returncode == 1
    assert not {"hosts", "data-root"} & set(json.loads(on_host(host, "cat", DAEMON_JSON).stdout))
    assert engine_info(host)["DockerRootDir"] == "/var/lib/docker"
    assert_engine_active([host])
    on_host(host, "rm", "-rf", "/srv/docker")
    on_host(host, "docker", "volume", "rm", "dockhand-move-marker")
    # A run with the inventory's values alone puts the API back (and tells the suite that no
    # whole site.yml is needed after this test).
    back = run_playbook(*ENGINE_SHARE, "--limit", host)
    assert back.rc == 0, back.output[-4000:]
    assert _api_version(ip, 2376).returncode == 0


def test_paramiko_transport_reaches_the_lab(converged, hosts):
    run = run_playbook("-e", "ansible_connection=paramiko",
                       playbook=ROOT / "tests" / "integration" / "playbooks" / "paramiko.yml")
    assert run.rc == 0, run.output[-4000:]
    assert set(run.recap) == set(hosts)
    assert "transport=paramiko" in run.output


@pytest.fixture
def repo_mirror(tmp_path):
    """An air-gapped site's mirror of Docker's repository, served on the lab's own gateway.

    Only its signing key is served: check mode fetches nothing else, and nothing here may
    reach download.docker.com.
    """
    key = tmp_path / "linux" / "debian" / "gpg"
    key.parent.mkdir(parents=True)
    key.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ndockhand lab\n"
                   "-----END PGP PUBLIC KEY BLOCK-----\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer((LAB_GATEWAY, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LAB_GATEWAY}:{server.server_address[1]}/linux/debian"
    server.shutdown()
    server.server_close()


def test_docker_repository_path_in_check_mode(converged, hosts, repo_mirror):
    """Docker's repository is unreachable here: check mode shows what would be written."""
    host = hosts[0]
    run = run_playbook(*ENGINE_SHARE, "--check", "--diff", "--limit", host,
                       "-e", "docker_engine_source=docker",
                       "-e", f"docker_engine_mirror={repo_mirror}")
    assert run.rc == 0, run.output[-4000:]
    assert f"URIs: {repo_mirror}" in run.output
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in run.output
    assert "Suites: bookworm" in run.output
    for path in ("/etc/apt/sources.list.d/docker.sources", "/etc/apt/keyrings/docker.asc"):
        assert on_host(host, "test", "-e", path, check=False).returncode == 1, path
