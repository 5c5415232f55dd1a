"""The HTTPS registry, its trust on every host, rotation under load, the TLS remote API."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import time
import uuid

import pytest
import yaml
from labtools import (
    INVENTORY,
    ROOT,
    SITE,
    changed_by_hand,
    converge,
    lab_hosts,
    on_host,
    run_playbook,
)
from registrytools import (
    HA,
    NAME,
    PKI,
    PORT,
    REGISTRY,
    REGISTRY_IP,
    USER,
    PullLoops,
    assert_only_aead_forward_secret_suites,
    http_status,
    login,
    served_serial,
    tls_connection,
    tls_context,
)

pytestmark = pytest.mark.lab

ROTATE = ROOT / "playbooks" / "rotate_registry_certs.yml"


@pytest.fixture(scope="module")
def pushed(converged, hosts) -> str:
    """An image pushed from one host; the others pull it. On a lab that an earlier test left
    changed, site.yml converges it first."""
    converge()
    image = f"{REGISTRY}/itest/probe:{uuid.uuid4().hex[:8]}"
    pusher = hosts[1]
    login(pusher)
    on_host(pusher, "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(pusher, "docker", "push", image)
    return image


def test_every_host_pulls_what_another_pushed_trusting_only_certs_d(pushed, hosts):
    for host in hosts:
        daemon_json = json.loads(on_host(host, "cat", "/etc/docker/daemon.json").stdout)
        assert "insecure-registries" not in daemon_json, host
        assert on_host(host, "ls", f"/etc/docker/certs.d/{REGISTRY}").stdout.split() == ["ca.crt"]
        # CIS Docker Benchmark 3.7 and 3.8: every registry's certificate root-owned, 0444.
        modes = on_host(host, "sh", "-c", "stat -c '%a %U:%G' /etc/docker/certs.d/*/*.crt").stdout
        assert set(modes.splitlines()) == {"444 root:root"}, (host, modes)
        if host == hosts[1]:
            continue
        login(host)
        on_host(host, "docker", "rmi", "-f", pushed, check=False)
        on_host(host, "docker", "pull", pushed)


def _results(output: str, task: str) -> str:
    """The lines a task printed for its hosts (ok, changed, skipping...)."""
    return "".join(block for block in output.split("\nTASK [")[1:] if block.startswith(task))


def test_trust_as_wanted_costs_no_round_trip_and_trust_removed_by_hand_comes_back(
        pushed, hosts):
    """The trust task's local fact, read at fact gathering, shows the CA in certs.d as wanted:
    the controller skips the host call. Removed by hand, the fact shows it missing and the
    next run puts it back."""
    host, task = hosts[-1], "docker_pki : Install the CA"
    ca = f"/etc/docker/certs.d/{REGISTRY}/ca.crt"
    args = ("--tags", "docker_pki", "--limit", host)
    run = run_playbook(*args)
    assert run.rc == 0 and run.total("changed") == 0, run.output[-3000:]
    assert f"skipping: [{host}]" in _results(run.output, task), run.output[-3000:]
    on_host(host, "rm", ca)
    changed_by_hand(SITE, *args)
    run = run_playbook(*args)
    assert run.rc == 0, run.output[-3000:]
    assert f"changed: [{host}]" in _results(run.output, task), run.output[-3000:]
    assert on_host(host, "cat", ca).stdout == (PKI / "ca.crt").read_text()


def test_anonymous_request_gets_401(converged):
    assert http_status("/v2/") == 401
    assert http_status("/v2/_catalog") == 401


def test_anonymous_push_is_refused_directly_and_through_the_front_door(converged):
    # Starting an upload is the first step of every push.
    assert http_status("/v2/anon/blobs/uploads/", method="POST") == 401
    assert http_status("/v2/anon/blobs/uploads/", method="POST", address=(REGISTRY_IP, 443)) == 401


def test_wrong_password_is_refused(converged, hosts):
    refused = login(hosts[2], secret="not-the-password", check=False)
    assert refused.returncode != 0
    assert "unauthorized" in (refused.stdout + refused.stderr).lower()


def test_a_generated_password_is_hashed_at_cost_5(converged, hosts):
    """The registry checks it on every request a pull makes: at cost 10 four hosts pulling
    in a loop kept a core busy; its 190 random bits need no cost against guessing."""
    line = on_host(hosts[0], "cat", "/etc/dockhand/registry/htpasswd").stdout.strip()
    assert line.startswith(f"{USER}:$2b$05$"), line[:12]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_are_refused(converged, version):
    with pytest.raises(ssl.SSLError) as refused:
        http_status("/", tls_context(version=version))
    # The server's alert, not the client declining to offer the version.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


def test_tls_1_2_and_1_3_are_served_with_aead_suites_and_hsts(converged):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert http_status("/", tls_context(version=version)) == 200
    assert_only_aead_forward_secret_suites((REGISTRY_IP, PORT))
    with tls_connection(tls_context()) as conn:
        conn.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {REGISTRY}\r\nConnection: close\r\n\r\n"
                     .encode())
        head = conn.recv(65536).decode("latin-1").lower()
    assert "strict-transport-security: max-age=31536000" in head, head


def _podman_registry_host() -> str:
    for host in lab_hosts("podman_hosts"):
        path = INVENTORY / "host_vars" / f"{host}.yml"
        if path.exists() and (yaml.safe_load(path.read_text()) or {}).get(
                "dockhand_podman_registry"):
            return host
    pytest.fail("no lab host runs a registry under Podman")


@contextlib.contextmanager
def _registry_step_fails(host):
    """A file where the host's registry keeps its certificate directory: its step of the
    rotation fails there, as a broken mount would make it fail, until the file is gone."""
    certs = "/etc/dockhand/registry/certs"
    on_host(host, "sh", "-c", f"mv {certs} {certs}.held && touch {certs}")
    try:
        yield
    finally:
        on_host(host, "sh", "-c", f"rm -f {certs} && mv {certs}.held {certs}")


@contextlib.contextmanager
def _trust_step_fails(host):
    """A file where the host keeps its trust for the registry on shared storage, which no
    pull loop uses: the host's trust step of the rotation fails there until the file is
    gone."""
    trust = f"/etc/docker/certs.d/{HA}"
    on_host(host, "sh", "-c", f"mv {trust} {trust}.held && touch {trust}")
    try:
        yield
    finally:
        on_host(host, "sh", "-c", f"rm -f {trust} && mv {trust}.held {trust}")


def _stops_on(step_fails, host, says, *extra):
    """A rotation in which `step_fails` makes the host's step fail ends failed, saying the
    host `says` (why the rotation stopped where it did)."""
    with step_fails(host):
        first = run_playbook(*extra, playbook=ROTATE)
    said = " ".join(first.output.split())
    assert first.rc != 0, first.output[-3000:]
    assert f"{host} {says}" in said, first.output[-3000:]


def _rotate(hosts, image, *extra, fail_on="", trust_fails_on="", again=(), front=()):
    """Rotate while every host pulls (with `trust_fails_on`, a host whose trust step fails
    first: the run must stop before any registry moves; with `fail_on`, a host whose
    registry step fails first: the run must stop before the next CA becomes the CA; either
    way a run once the host is repaired finishes), and the hosts in `front` also pull
    through the front door, then run site.yml (`again` narrows it to what the rotation
    changed): it must find nothing to change."""
    before = served_serial()
    through_front = image.replace(REGISTRY, NAME, 1)
    with PullLoops(hosts, image) as loops, \
            PullLoops(list(front), through_front, registry=NAME, name="front-pull-loop") as fronts:
        if trust_fails_on:
            _stops_on(_trust_step_fails, trust_fails_on, "failed before the registries moved",
                      *extra)
            assert served_serial() == before
        if fail_on:
            _stops_on(_registry_step_fails, fail_on, "failed while the registries moved", *extra)
            assert (PKI / "ca-next.crt").exists()
    run = run_playbook(*extra, playbook=ROTATE)
    assert run.rc == 0, run.output[-4000:]
    counts = {**loops.counts(),
              **{f"{host} through the front door": c for host, c in fronts.counts().items()}}
    for host, (ok, failed, first_error) in counts.items():
        assert failed == 0, f"{host}: {failed} failed pulls, first: {first_error}"
        assert ok > 0, host
    assert served_serial() != before
    again = run_playbook(*again)
    assert again.rc == 0 and again.total("changed") == 0, again.output[-4000:]
    return counts


def test_server_certificate_rotation_has_no_failed_pull(pushed, hosts):
    # Only the registry's certificate and container change; the CA rotation below is
    # followed by the whole site.yml. A host that cannot take its trust stops the rotation
    # before any registry serves a new certificate.
    _rotate(hosts, pushed, trust_fails_on=hosts[1],
            again=("--tags", "docker_pki,docker_registry", "--limit", hosts[0]))


def test_interrupted_ca_rotation_finishes_with_no_failed_pull_and_only_the_new_ca(pushed, hosts):
    """A CA rotation in which the Podman host's registry step fails while the other
    registries move to the next CA's certificates stops there, before the next CA becomes
    the CA; run again once the host is repaired, it finishes, no pull failed meanwhile, only
    the new CA is left anywhere, and site.yml finds nothing to change. The two runs go
    through every step of a rotation (which bench/registry.py times, with its pulls)."""
    old_ca = (PKI / "ca.crt").read_text()
    # One host also pulls through the front door: it checks the registries with the CA
    # bundle the rotation gives it before any of them serves the next CA's certificate.
    _rotate(hosts, pushed, "-e", "rotate_registry_certs_ca=true",
            fail_on=_podman_registry_host(), front=hosts[-1:])
    new_ca = (PKI / "ca.crt").read_text()
    assert new_ca != old_ca
    assert not (PKI / "ca-next.crt").exists()
    for host in hosts:
        assert on_host(host, "cat", f"/etc/docker/certs.d/{REGISTRY}/ca.crt").stdout == new_ca
        assert on_host(host, "ls", f"/etc/docker/certs.d/{REGISTRY}").stdout.split() == ["ca.crt"]
    # A client that trusts only the old CA is refused now.
    old = PKI.parent / "old-ca-for-test.crt"
    old.write_text(old_ca)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            http_status("/", tls_context(old))
    finally:
        old.unlink()


def _docker_api(host_ip: str, *tls: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *tls, "-H", f"tcp://{host_ip}:2376", "version",
                           "--format", "{{.Server.Version}}"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_remote_api_needs_a_client_certificate(converged, hosts):
    client = [f"--tlscacert={PKI / 'docker-api-ca.crt'}",
              f"--tlscert={PKI / 'docker-api-client.crt'}",
              f"--tlskey={PKI / 'docker-api-client.key'}"]
    for index, host in enumerate(hosts, start=1):
        # CIS Docker Benchmark 3.10 to 3.14: the API's CA and certificate 0444, its key 0400.
        modes = on_host(host, "stat", "-c", "%n %a %U:%G", "/etc/docker/tls/ca.pem",
                        "/etc/docker/tls/server.pem", "/etc/docker/tls/server-key.pem").stdout
        assert modes.splitlines() == ["/etc/docker/tls/ca.pem 444 root:root",
                                      "/etc/docker/tls/server.pem 444 root:root",
                                      "/etc/docker/tls/server-key.pem 400 root:root"], (host, modes)
        ip = f"172.29.77.{10 + index}"
        good = _docker_api(ip, "--tlsverify", *client)
        assert good.returncode == 0 and good.stdout.strip(), good.stderr
        no_cert = _docker_api(ip, "--tlsverify", f"--tlscacert={PKI / 'docker-api-ca.crt'}")
        assert no_cert.returncode != 0
        assert "bad certificate" in no_cert.stderr or "certificate" in no_cert.stderr
        plain = _docker_api(ip)
        assert plain.returncode != 0
    # Plain TCP 2375 is not served at all.
    assert subprocess.run(["docker", "-H", "tcp://172.29.77.11:2375", "version"],
                          capture_output=True, timeout=30, check=False).returncode != 0


def _confined(host: str, engine: str, name: str) -> dict:
    """What CIS 4.x/5.x looks at in one running container, from its inspect data and from
    its main process as the kernel sees it."""
    data = json.loads(on_host(host, engine, "inspect", name).stdout)[0]
    status = on_host(host, "cat", f"/proc/{data['State']['Pid']}/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    host_config = data["HostConfig"]
    return {
        "uid": fields["Uid"].split()[0],
        "caps": fields["CapEff"].strip(),
        "no_new_privs": fields["NoNewPrivs"].strip(),
        "read_only": host_config["ReadonlyRootfs"],
        "limited": bool(host_config["Memory"] and host_config["NanoCpus"]
                        and host_config["PidsLimit"]),
        "health": (data["State"].get("Health") or {}).get("Status"),
        "docker_sock": any("docker.sock" in (m.get("Source") or "") for m in data["Mounts"]),
    }


def test_dockhands_own_containers_run_least_privileged(converged, hosts):
    # CIS 4.1 (not root), 5.3 (no capabilities), 5.10, 5.11 and 5.28 (memory, CPU, PIDs
    # limits), 5.12 (read-only root), 5.25 (no-new-privileges), 5.26 (a health check) and
    # 5.31 (no docker.sock) on the registry, the registries on shared storage, the one under
    # Podman and GitLab's stand-in.
    expected = {"uid": None, "caps": "0000000000000000", "no_new_privs": "1",
                "read_only": True, "limited": True, "health": "healthy", "docker_sock": False}
    seen = {}
    for host in [*hosts, *lab_hosts("podman_hosts")]:
        engine = "podman" if host in lab_hosts("podman_hosts") else "docker"
        names = on_host(host, engine, "ps", "--format", "{{.Names}}").stdout.split()
        for name in names:
            if name.startswith(("registry", "gitlab_gitlab.")):
                seen[f"{host}/{name}"] = _confined(host, engine, name)
    assert len([n for n in seen if "/registry" in n]) >= 4, seen  # node1, HA pair, Podman
    assert [n for n in seen if "/gitlab_gitlab." in n], seen
    for name, found in seen.items():
        assert found["uid"] != "0", name
        assert {**found, "uid": None} == expected, name
    # The registry's user owns its data and reads its key through its group, nothing more.
    modes = on_host(hosts[0], "stat", "-c", "%a %u:%g", "/var/lib/dockhand/registry",
                    "/etc/dockhand/registry/certs/server.key").stdout.split("\n")
    assert modes[:2] == ["750 65532:65532", "640 0:65532"], modes


@pytest.mark.parametrize(
    ("extra", "named", "why"),
    [
        ({"docker_registry_name": "bad_name!"}, "docker_registry_name", "not a valid DNS name"),
        ({"docker_registry_users": [{"name": "dockhand", "password": ""}]},
         "docker_registry_users", "password that is not empty"),
        # No users: anonymous pushes, unless asked for by name.
        ({"docker_registry_users": []}, "docker_registry_users", "docker_registry_auth: none"),
        # The front door's input, although the proxy role runs last.
        ({"proxy_sites": [{"name": "x", "server_name": "x.dockhand.test", "upstream": "ftp://x"}]},
         "proxy_sites", "upstream URL"),
        ({"docker_registry_user": "registry"}, "docker_registry_user", "numeric UID:GID"),
        ({"docker_registry_cert_sans": ["other.dockhand.test"]},
         "docker_registry_cert_sans", "does not cover"),
        ({"docker_pki_key_type": "rsa", "docker_pki_key_size": 1024},
         "docker_pki_key_type/docker_pki_key_size", "at least 2048"),
        # bcrypt's own range: the argument spec alone would take 32, or true as 1.
        ({"docker_registry_bcrypt_cost": 32}, "docker_registry_bcrypt_cost",
         "whole number from 4 to 31"),
    ],
)
def test_bad_input_fails_naming_the_variable_with_nothing_changed(converged, extra, named, why):
    run = run_playbook("-e", json.dumps(extra))
    assert run.rc != 0
    assert named in run.output and why in run.output, run.output[-3000:]
    # site.yml's first play checks every role for every host: the run ends there, everywhere.
    assert set(run.recap) == set(lab_hosts("lab")), run.recap
    assert run.total("changed") == 0, run.output[-3000:]
    assert "PLAY [Docker and Podman hosts" not in run.output


def test_garbage_collection_runs_read_only_and_switches_back(pushed, hosts):
    registry_host = hosts[0]
    conf = "/etc/dockhand/registry/conf/config.yml"
    before = on_host(registry_host, "cat", conf).stdout
    gc = on_host(registry_host, "systemctl", "start", "dockhand-registry-gc.service", check=False)
    assert gc.returncode == 0, gc.stderr
    journal = on_host(registry_host, "journalctl", "-u", "dockhand-registry-gc.service",
                      "-n", "20", "--no-pager", "-o", "cat").stdout
    assert "blobs marked" in journal
    # Writable again, and serving once the restarted container listens: a pull works.
    assert on_host(registry_host, "cat", conf).stdout == before
    deadline = time.monotonic() + 30
    while True:
        try:
            if http_status("/") == 200:
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)
    login(hosts[-1])
    on_host(hosts[-1], "docker", "pull", "-q", pushed)
    run = run_playbook("--tags", "docker_registry", "--limit", registry_host)
    assert run.rc == 0 and run.total("changed") == 0, run.output[-3000:]
