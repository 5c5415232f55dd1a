"""The lab's Podman hosts (`dockhand_engine: podman`): node5 (Debian 13, Podman 5) trusts the
fleet's CA under /etc/containers/certs.d, pulls from the registry over HTTPS, and runs a
registry of its own under Podman as a systemd unit that comes back, with its data, after a
restart of the unit and of the host; node6 (Debian 12, Podman 4.3) runs what node5 exports as
Kubernetes YAML. On Podman 4.4 or later the units are quadlets that Podman's generator turns
into services; before (Debian 12's 4.3: node6, molecule's podman scenario) they are the
units `podman generate systemd --new` writes, and `podman-kube@` for Kubernetes YAML. A unit
that does not start is rolled back here for a compose project, and for a single container by
molecule's podman scenario."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from functools import cache
from pathlib import Path

import pytest
import yaml
from labtools import INVENTORY, ROOT, Run, changed_by_hand, on_host, run_playbook
from registrytools import REGISTRY, USER, login, password

pytestmark = pytest.mark.lab

PODMAN_PLAY = ROOT / "playbooks" / "podman.yml"
HOST = "node5"
# The other Podman host, of the other release: Kubernetes YAML exported from HOST runs there.
OTHER = "node6"
OWN = "podman-registry.dockhand.test:5000"
ADDRESS = "172.29.77.15"


@pytest.fixture(scope="module")
def podman_host(converged) -> str:
    """The podman play alone on the host site.yml converged: a second run, so no change."""
    if OTHER not in (INVENTORY / "hosts.yml").read_text():
        pytest.fail("the lab has no second Podman host: it needs 6 nodes (LAB_NODES=6)")
    run = run_playbook(playbook=PODMAN_PLAY)
    assert run.rc == 0 and run.total("changed") == 0, run.output[-4000:]
    return HOST


@cache
def quadlets(host: str = HOST) -> bool:
    """Whether the host's Podman runs quadlets (4.4 or later), as the module decides."""
    version = on_host(host, "podman", "version", "--format", "{{.Client.Version}}").stdout
    return tuple(int(part) for part in version.strip().split(".")[:2]) >= (4, 4)


def unit_of(name: str) -> str:
    return f"{name}.service" if quadlets() else f"container-{name}.service"


def podman_login(registry: str, host: str = HOST) -> None:
    on_host(host, "podman", "login", "-u", USER, "--password-stdin", registry,
            stdin=password())


def wait_for_unit(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = on_host(HOST, "systemctl", "is-active", unit_of("registry"),
                        check=False).stdout.strip()
        # By address: the unit is what is waited for here, not the names the play keeps in
        # /etc/hosts (the next test's runs find them as the play left them).
        answer = on_host(HOST, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                         "--resolve", f"{OWN}:{ADDRESS}", "--cacert",
                         f"/etc/containers/certs.d/{OWN}/ca.crt", f"https://{OWN}/v2/",
                         check=False).stdout
        if state == "active" and answer == "401":
            return
        time.sleep(1)
    raise AssertionError(f"{unit_of('registry')} on {HOST} did not come back: {state}, "
                         f"HTTP {answer}")


def test_the_podman_host_pulls_from_the_registry_over_tls(podman_host, hosts):
    image = f"{REGISTRY}/podman/probe:{uuid.uuid4().hex[:8]}"
    login(hosts[1])
    on_host(hosts[1], "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(hosts[1], "docker", "push", "-q", image)
    assert on_host(HOST, "test", "-f", f"/etc/containers/certs.d/{REGISTRY}/ca.crt",
                   check=False).returncode == 0
    conf = on_host(HOST, "cat", "/etc/containers/registries.conf.d/50-dockhand.conf").stdout
    assert f'location = "{REGISTRY}"\ninsecure = false' in conf
    podman_login(REGISTRY)
    on_host(HOST, "podman", "pull", "-q", "--tls-verify=true", image)
    listed = on_host(HOST, "podman", "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert image in listed.split()
    assert on_host(HOST, "which", "docker", "dockerd", check=False).returncode != 0


def test_the_registry_under_podman_comes_back_with_its_data(podman_host, hosts):
    unit = on_host(HOST, "systemctl", "cat", unit_of("registry")).stdout
    # A container made afresh at every start, from the image, as generate --new makes it.
    assert "podman run" in unit and "--rm" in unit and "--replace" in unit
    if quadlets():
        assert "/run/systemd/generator/registry.service" in unit
        quadlet = on_host(HOST, "cat", "/etc/containers/systemd/registry.container").stdout
        assert "[Container]" in quadlet and "WantedBy=multi-user.target" in quadlet
    assert on_host(HOST, "systemctl", "is-enabled", unit_of("registry")).stdout.strip() == (
        "generated" if quadlets() else "enabled")
    image = f"{OWN}/survivor/probe:{uuid.uuid4().hex[:8]}"
    pusher, puller = hosts[1], hosts[2]
    login(pusher, registry=OWN)
    on_host(pusher, "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(pusher, "docker", "push", "-q", image)
    digest = on_host(pusher, "docker", "image", "inspect", "-f", "{{index .RepoDigests 0}}",
                     image).stdout.strip()

    def pulled_digest(host: str) -> str:
        on_host(host, "docker", "image", "rm", "-f", image, check=False)
        login(host, registry=OWN)
        on_host(host, "docker", "pull", "-q", image)
        return on_host(host, "docker", "image", "inspect", "-f", "{{index .RepoDigests 0}}",
                       image).stdout.strip()

    before = on_host(HOST, "podman", "inspect", "-f", "{{.Id}}", "registry").stdout.strip()
    on_host(HOST, "systemctl", "restart", unit_of("registry"))
    wait_for_unit()
    after = on_host(HOST, "podman", "inspect", "-f", "{{.Id}}", "registry").stdout.strip()
    assert after != before  # a fresh container from the image, as the unit makes it
    assert pulled_digest(puller) == digest

    subprocess.run(["docker", "restart", f"dockhand-lab-{HOST}"], check=True,
                   capture_output=True, timeout=120)
    # Restarted outside Ansible: the runs after it must find the host as the play left it.
    changed_by_hand(PODMAN_PLAY)
    wait_for_unit()
    assert pulled_digest(hosts[3]) == digest


def test_a_project_runs_rootless_for_a_named_user(podman_host):
    user, port = "dockhand-rootless", 18082
    project = {"podman_rootless_user": user, "podman_compose_projects": [
        {"name": "hello", "compose": {"services": {"probe": {
            "image": "dockhand-lab/probe:1", "ports": [f"{port}:8080"]}}}}]}
    args = ["--tags", "podman", "--limit", HOST, "-e", json.dumps(project)]
    run = run_playbook(*args, playbook=PODMAN_PLAY)
    assert run.rc == 0, run.output[-4000:]
    uid = on_host(HOST, "id", "-u", user).stdout.strip()
    assert on_host(HOST, "test", "-f", f"/var/lib/systemd/linger/{user}",
                   check=False).returncode == 0
    owned = (f"/home/{user}/.config/containers/systemd/hello-probe.container" if quadlets()
             else f"/home/{user}/.config/systemd/user/container-hello-probe.service")
    assert on_host(HOST, "test", "-f", owned, check=False).returncode == 0

    def user_systemctl(*args: str) -> str:
        return on_host(HOST, "runuser", "-u", user, "--", "env",
                       f"XDG_RUNTIME_DIR=/run/user/{uid}", "systemctl", "--user", *args,
                       check=False).stdout.strip()

    assert "podman run" in user_systemctl("cat", unit_of("hello-probe"))
    assert user_systemctl("is-active", unit_of("hello-probe")) == "active"
    # The container's processes belong to the user, not to root.
    owner = on_host(HOST, "sh", "-c", "ps -o user= -C conmon | sort -u").stdout.split()
    assert user[:8] in " ".join(owner) or user in owner, owner
    answer = on_host(HOST, "curl", "-s", "--retry", "10", "--retry-connrefused", "--retry-delay",
                     "1", f"http://127.0.0.1:{port}/").stdout
    assert answer.strip()
    again = run_playbook(*args, playbook=PODMAN_PLAY)
    assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]


def test_a_project_exported_as_kubernetes_yaml_runs_as_a_unit_from_the_registry(
        podman_host, hosts, tmp_path):
    """A compose project on one Podman host, written to the controller as Kubernetes YAML
    (podman kube generate), runs from that YAML as a unit on the other Podman host, of the
    other release, which pulls its image from the fleet's registry. On the way, a change to
    the project whose container does not start is rolled back to the unit that ran before."""
    image = f"{REGISTRY}/kube/probe:{uuid.uuid4().hex[:8]}"
    login(hosts[1])
    on_host(hosts[1], "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(hosts[1], "docker", "push", "-q", image)
    podman_login(REGISTRY)
    # Two services, so a network of the project's, and a named volume.
    exported = {"podman_kube_export_dir": str(tmp_path), "podman_compose_projects": [
        {"name": "web", "compose": {"services": {
            "probe": {"image": image, "ports": ["18083:8080"], "volumes": ["webdata:/data"]},
            # Stops on SIGTERM, as the probe does: a plain sleep as PID 1 ignores it, and
            # every stop of the project would wait out Podman's 10 s before SIGKILL.
            "idle": {"image": image,
                     "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]}}}}]}

    def podman_play(host: str, extra: dict) -> Run:
        return run_playbook("--tags", "podman", "--limit", host, "-e", json.dumps(extra),
                            playbook=PODMAN_PLAY)

    def answers(host: str) -> str:
        return on_host(host, "curl", "-s", "--retry", "10", "--retry-connrefused",
                       "--retry-delay", "1", "http://127.0.0.1:18083/").stdout.strip()

    run = podman_play(HOST, exported)
    assert run.rc == 0, run.output[-4000:]
    if quadlets():
        # The network and the volume are quadlets too, which the containers' units require.
        unit = on_host(HOST, "systemctl", "cat", "web-probe.service").stdout
        assert "web-network.service" in unit and "webdata-volume.service" in unit
        for kind, name in (("network", "web"), ("volume", "webdata")):
            assert on_host(HOST, "podman", kind, "exists", name, check=False).returncode == 0
    # A change whose container does not start: the unit the run before wrote is put back.
    # The export leaves the controller's copy as it was (the project that runs is the same).
    broken = json.loads(json.dumps(exported))
    broken["podman_compose_projects"][0]["compose"]["services"]["probe"]["command"] = [
        "sh", "-c", "exit 3"]
    written = (tmp_path / HOST / "web.yaml").stat().st_mtime_ns
    run = podman_play(HOST, broken)
    assert run.rc != 0
    assert "previous unit was put back and runs again" in " ".join(run.output.split())
    assert answers(HOST)
    again = podman_play(HOST, exported)
    assert again.rc == 0 and again.total("changed") == 0, again.output[-4000:]
    assert (tmp_path / HOST / "web.yaml").stat().st_mtime_ns == written
    text = (tmp_path / HOST / "web.yaml").read_text()
    assert "creationTimestamp" not in text
    (pod,) = [doc for doc in yaml.safe_load_all(text) if doc]
    assert pod["kind"] == "Pod"
    assert [c["image"] for c in pod["spec"]["containers"]] == [image, image]

    # On the other host, which has never had the image: from the registry, over certs.d.
    assert on_host(OTHER, "podman", "image", "exists", image, check=False).returncode != 0
    podman_login(REGISTRY, host=OTHER)
    moved = {"podman_kube_projects": [{"name": "web-kube", "kube": text}]}
    run = podman_play(OTHER, moved)
    assert run.rc == 0, run.output[-4000:]
    kube_unit = "web-kube.service" if quadlets(OTHER) else (
        "podman-kube@" + on_host(OTHER, "systemd-escape", "/etc/containers/kube/web-kube.yaml"
                                 ).stdout.strip() + ".service")
    assert on_host(OTHER, "systemctl", "is-active", kube_unit).stdout.strip() == "active"
    assert on_host(OTHER, "podman", "image", "exists", image, check=False).returncode == 0
    assert answers(OTHER)
    again = podman_play(OTHER, moved)
    assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]

    def unit_play(name: str, host: str, task: dict) -> Path:
        play = tmp_path / f"{name}.yml"
        play.write_text(yaml.safe_dump([{"name": name, "hosts": host, "gather_facts": False,
                                         "tasks": [task]}]))
        return play

    # Both gone: the project's units on one host, the YAML's unit, file and pod on the other.
    for play in (unit_play("remove-web", HOST, {
                     "name": "Remove the compose project's units",
                     "dockhand.docker.podman_container_unit": {
                         "name": "{{ item }}", "state": "absent"},
                     "loop": ["web-probe", "web-idle"]}),
                 unit_play("remove-web-kube", OTHER, {
                     "name": "Remove the Kubernetes project's unit",
                     "dockhand.docker.podman_container_unit": {
                         "name": "web-kube", "kube": text, "state": "absent"}})):
        assert run_playbook(playbook=play, own=True).rc == 0
    for host in (HOST, OTHER):
        assert on_host(host, "curl", "-s", "http://127.0.0.1:18083/",
                       check=False).returncode != 0
    assert on_host(OTHER, "podman", "pod", "ps", "-q").stdout.strip() == ""


def test_a_second_podman_run_changes_nothing(podman_host):
    # After the host's restart above (a server's reboot) and the rootless project's runs, a
    # plain run and a check run change nothing (in check mode a command task reports
    # skipped, so the plain run is the one that proves it). Last in the module: the lab
    # leaves it converged.
    for extra in ([], ["--check", "--diff"]):
        again = run_playbook(*extra, playbook=PODMAN_PLAY)
        assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
