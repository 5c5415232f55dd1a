"""The podman role's pure logic: compose projects as unit descriptions, and what the
podman_container_unit module writes and compares (the lab runs it for real on node5)."""

from __future__ import annotations

import configparser
import os
import socket
import stat
import time
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.podman import podman_compose_units
from ansible_collections.dockhand.docker.plugins.modules import podman_container_unit as pcu
from moduletools import run_module

REGISTRY = {"name": "registry", "compose": {"services": {"registry": {
    "container_name": "registry",
    "image": "registry.example.com/library/registry:2",
    "ports": ["5000:5000"],
    "volumes": ["/srv/registry:/var/lib/registry",
                {"type": "bind", "source": "/etc/reg", "target": "/etc/docker/registry",
                 "read_only": True}],
    "environment": {"REGISTRY_LOG_LEVEL": "info", "EMPTY": None},
    "command": "serve /etc/docker/registry/config.yml",
    "x-restart-on": "abc",
}}}}


def test_a_one_service_project_becomes_one_unit_without_a_network():
    assert podman_compose_units([REGISTRY]) == [{
        "name": "registry",
        "project": "registry",
        "image": "registry.example.com/library/registry:2",
        "publish": ["5000:5000"],
        "volumes": ["/srv/registry:/var/lib/registry", "/etc/reg:/etc/docker/registry:ro"],
        "env": {"REGISTRY_LOG_LEVEL": "info", "EMPTY": ""},
        "command": ["serve", "/etc/docker/registry/config.yml"],
        "network": "",
        "restart_on": "abc",
        "podman_args": [],
    }]


def test_what_confines_a_service_becomes_podman_run_options():
    confined = {"image": "r:2", "user": "65532:65532", "read_only": True, "tmpfs": ["/tmp"],
                "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "mem_limit": "1g",
                "cpus": 1.0, "pids_limit": 512, "cap_add": [],
                "healthcheck": {"test": ["CMD", "wget", "-q", "https://localhost:5000/"],
                                "interval": "10s", "retries": 3}}
    (unit,) = podman_compose_units([{"name": "r", "compose": {"services": {"r": confined}}}])
    assert unit["podman_args"] == [
        "--user=65532:65532", "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL",
        "--security-opt=no-new-privileges", "--memory=1g", "--cpus=1.0", "--pids-limit=512",
        '--health-cmd=["wget", "-q", "https://localhost:5000/"]', "--health-interval=10s",
        "--health-retries=3"]
    (shell,) = podman_compose_units([{"name": "r", "compose": {"services": {"r": {
        "image": "r:2", "healthcheck": {"test": ["CMD-SHELL", "curl -f localhost || exit 1"]}}}}}])
    assert shell["podman_args"] == ["--health-cmd=curl -f localhost || exit 1"]
    # Left empty or false, a key adds nothing.
    (plain,) = podman_compose_units([{"name": "r", "compose": {"services": {"r": {
        "image": "r:2", "user": "", "read_only": False, "cpus": ""}}}}])
    assert plain["podman_args"] == []
    with pytest.raises(AnsibleFilterError, match="healthcheck needs a test"):
        podman_compose_units([{"name": "r", "compose": {"services": {"r": {
            "image": "r:2", "healthcheck": {"interval": "1s"}}}}}])
    with pytest.raises(AnsibleFilterError, match="user must be a string"):
        podman_compose_units([{"name": "r", "compose": {"services": {"r": {
            "image": "r:2", "user": {"uid": 1}}}}}])


def test_podman_options_reach_the_unit_and_only_then_its_digest():
    base = {"image": "r:2", "command": [], "publish": [], "volumes": [], "env": {},
            "network": "", "restart_on": "", "podman_args": []}
    confined = dict(base, podman_args=["--read-only", "--user=1:1"])
    assert "podman_args" not in pcu.spec_of(base)
    assert pcu.run_args("x", pcu.spec_of(confined)) == ["--name", "x", "--read-only",
                                                         "--user=1:1", "r:2"]
    assert "PodmanArgs=--read-only --user=1:1" in pcu.quadlet_text("x", pcu.spec_of(confined))
    assert pcu.digest_of(pcu.spec_of(base), "quadlet") != pcu.digest_of(pcu.spec_of(confined),
                                                                         "quadlet")


def test_a_cgroup_setting_comes_before_the_operators_podman_args():
    spec = {"image": "r:2", "command": [], "publish": [], "volumes": [], "env": {},
            "network": "", "restart_on": "", "podman_args": ["--cgroups=enabled"]}
    plain = pcu.quadlet_text("x", spec)
    assert "--cgroups=no-conmon" not in plain
    text = pcu.quadlet_text("x", dict(spec, cgroups="no-conmon"))
    # Podman takes the last of a repeated flag: an operator's own setting still wins.
    assert text.index("PodmanArgs=--cgroups=no-conmon") < text.index("--cgroups=enabled")
    assert pcu.digest_of(dict(spec, cgroups="no-conmon"), "quadlet") != pcu.digest_of(
        spec, "quadlet")


def test_services_of_one_project_share_its_network_and_get_prefixed_names():
    project = {"name": "app", "compose": {"services": {
        "web": {"image": "web:1", "ports": [{"target": 80, "published": 8080}],
                "environment": ["A=1", "B=x=y"]},
        "db": {"image": "db:1", "ports": [{"target": 53, "protocol": "udp"}]},
    }}}
    web, db = podman_compose_units([project])
    assert (web["name"], db["name"]) == ("app-web", "app-db")
    assert web["network"] == db["network"] == "app"
    assert web["publish"] == ["8080:80"] and db["publish"] == ["53/udp"]
    assert web["env"] == {"A": "1", "B": "x=y"}


@pytest.mark.parametrize(("projects", "message"), [
    ([{"name": "p", "compose": {"services": {"s": {"image": "i", "build": "."}}}}],
     "p.s: unsupported keys ['build']"),
    ([{"name": "p", "compose": {"services": {"s": {"ports": ["1:1"]}}}}], "p.s: needs an image"),
    ([{"name": "p", "compose": {}}], "p: compose needs a services mapping"),
    ([{"compose": {}}], "item 0: needs a name"),
    ([{"name": "p", "compose": {"services": {"s": {"image": "i", "environment": ["NOEQ"]}}}}],
     "KEY=VALUE"),
    ([{"name": "a", "compose": {"services": {"s": {"image": "i", "container_name": "x"}}}},
      {"name": "b", "compose": {"services": {"t": {"image": "i", "container_name": "x"}}}}],
     "the container name x is used twice"),
    ("not a list", "must be a list"),
])
def test_what_cannot_run_is_refused_by_name(projects, message):
    with pytest.raises(AnsibleFilterError, match="podman_compose_projects") as info:
        podman_compose_units(projects)
    assert message in str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("4.3.1", (4, 3, 1)), ("4.4.0-rc1", (4, 4, 0)), ("5.0", (5, 0, 0)), ("4.9.4+ds1", (4, 9, 4)),
])
def test_versions_compare_as_numbers(text, expected):
    assert pcu.version_tuple(text) == expected


def test_quadlet_describes_the_container_for_podmans_generator():
    spec = pcu.spec_of({"image": "r:2", "command": ["serve", "a b"], "publish": ["5000:5000"],
                        "volumes": ["/d:/var/lib/registry"], "env": {"K": "v w"},
                        "network": "net", "restart_on": ""})
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(pcu.quadlet_text("registry", spec))
    container = parser["Container"]
    assert container["Image"] == "r:2" and container["ContainerName"] == "registry"
    assert container["PublishPort"] == "5000:5000" and container["Network"] == "net"
    assert container["Exec"] == "serve 'a b'"
    assert container["Environment"] == "'K=v w'"
    assert parser["Install"]["WantedBy"] == "multi-user.target default.target"


def test_the_digest_covers_the_description_and_the_method():
    base = {"image": "r:2", "command": [], "publish": [], "volumes": [], "env": {"B": 1, "A": 2},
            "network": "", "restart_on": ""}
    same = dict(base, env={"A": 2, "B": 1})
    assert pcu.digest_of(pcu.spec_of(base), "generate") == pcu.digest_of(pcu.spec_of(same),
                                                                         "generate")
    assert pcu.digest_of(pcu.spec_of(base), "generate") != pcu.digest_of(pcu.spec_of(base),
                                                                         "quadlet")
    changed = dict(base, restart_on="new checksum")
    assert pcu.digest_of(pcu.spec_of(base), "generate") != pcu.digest_of(pcu.spec_of(changed),
                                                                         "generate")
    marked = pcu.with_mark("0123abcd", "[Unit]\n")
    assert pcu.mark_of(marked) == "0123abcd" and pcu.mark_of("[Unit]\n") is None


def test_run_arguments_name_the_container_and_end_with_image_and_command():
    spec = pcu.spec_of({"image": "r:2", "command": ["serve"], "publish": ["1:2"],
                        "volumes": ["/a:/b"], "env": {"K": "v"}, "network": "n",
                        "restart_on": ""})
    assert pcu.run_args("x", spec) == ["--name", "x", "--publish", "1:2", "--volume", "/a:/b",
                                       "--env", "K=v", "--network", "n", "r:2", "serve"]


@pytest.mark.parametrize(("publish", "expected"), [
    # A fixed host port: where a client on the host connects, through Podman's forwarding.
    (["5000:5000"], [("127.0.0.1", 5000)]),
    (["0.0.0.0:8080:80"], [("127.0.0.1", 8080)]),
    (["172.29.77.15:8443:443/tcp"], [("172.29.77.15", 8443)]),
    (["9000-9001:7000-7001"], [("127.0.0.1", 9000), ("127.0.0.1", 9001)]),
    # A random host port or an IPv6 binding: the container's own address and port.
    (["80"], [(None, 80)]),
    (["127.0.0.1::80"], [(None, 80)]),
    (["[::1]:8443:443"], [(None, 443)]),
    (["53:53/udp"], []),
    (["53:53/tcp,udp", "8443:443/TCP"], [("127.0.0.1", 53), ("127.0.0.1", 8443)]),
    ([], []),
])
def test_a_start_waits_where_a_client_would_connect(publish, expected):
    assert pcu.published_endpoints(publish) == expected


def test_a_container_answers_only_when_every_endpoint_accepts():
    local = ("127.0.0.1", 0)
    with socket.create_server(local) as one, socket.create_server(local) as two:
        ports = [one.getsockname()[1], two.getsockname()[1]]
        inside = [(None, port) for port in ports]
        assert pcu.answers(inside, ["127.0.0.1"])
        # An address that refuses, then one that answers: the second one counts.
        assert pcu.answers(inside, ["127.0.0.2", "127.0.0.1"])
        assert not pcu.answers(inside, ["127.0.0.2"])
        # Host-side endpoints need no container address.
        assert pcu.answers([("127.0.0.1", port) for port in ports], [])
        assert not pcu.answers([("127.0.0.1", ports[0]), (None, ports[1])], [])
    with socket.create_server(local) as only:
        # One port up and one not yet: not ready.
        assert not pcu.answers([(None, only.getsockname()[1]), inside[1]], ["127.0.0.1"])
        assert not pcu.answers([("127.0.0.1", only.getsockname()[1]), ("127.0.0.1", ports[1])],
                               [])
    assert not pcu.answers(inside, ["127.0.0.1"])
    assert not pcu.answers(inside, [])


class Settling(pcu.Unit):
    """The readiness wait with the unit's state, the container's addresses and the clock
    scripted: no systemd, no Podman."""

    def __init__(self, steady, addresses=("127.0.0.1",), uid=0, publish=()):
        self.params, self.uid = {"publish": list(publish), "start_timeout": 1}, uid
        self.looks, self._steady, self._addresses = 0, list(steady), list(addresses)
        self.asked_addresses = 0
        self.warnings = []
        self.module = self

    def warn(self, text):
        self.warnings.append(text)

    def steady(self, unit):
        self.looks += 1
        return self._steady.pop(0) if len(self._steady) > 1 else self._steady[0]

    def addresses(self):
        self.asked_addresses += 1
        return self._addresses


@pytest.fixture
def fast_clock(monkeypatch):
    monkeypatch.setattr(pcu, "SETTLE", 0.6)
    monkeypatch.setattr(pcu, "POLL", 0.05)


def soon(seconds=0.0):
    return time.monotonic() + seconds


def test_a_unit_that_restarts_while_settling_is_not_up(fast_clock):
    unit = Settling(steady=[True, True, False])
    assert unit.settled("x.service", soon()) is False
    assert unit.looks == 3


@pytest.mark.parametrize(("publish", "asks_podman"), [
    ("{port}:{port}", 0),  # a fixed host port: asked on the host's loopback
    ("{port}", 1),  # a random host port: asked on the container's address, which Podman knows
])
def test_a_container_answering_where_clients_connect_is_up_at_once(fast_clock, publish,
                                                                    asks_podman):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        unit = Settling(steady=[True], publish=[publish.format(port=port)])
        start = time.monotonic()
        assert unit.settled("x.service", soon(5)) is True
        assert time.monotonic() - start < pcu.SETTLE
        # Looked at once more after it answered.
        assert unit.looks == 2 and unit.asked_addresses == asks_podman
        assert unit.warnings == []


def test_a_container_that_answers_then_stops_is_not_up(fast_clock):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        unit = Settling(steady=[True, False], publish=[f"{port}:{port}"])
        assert unit.settled("x.service", soon(5)) is False


@pytest.mark.parametrize("unit", [
    # Rootless: the host cannot reach the container's address.
    Settling(steady=[True], uid=1000, publish=["1:9"]),
    # Nothing published.
    Settling(steady=[True]),
], ids=["rootless", "no-ports"])
def test_without_a_port_to_ask_a_unit_steady_for_the_settle_time_is_up(fast_clock, unit):
    start = time.monotonic()
    assert unit.settled("x.service", soon(5)) is True
    assert pcu.SETTLE <= time.monotonic() - start < 5
    assert unit.warnings == []


def test_a_silent_container_is_waited_for_until_the_start_timeout_then_up_with_a_warning(
        fast_clock):
    unit = Settling(steady=[True], addresses=["127.0.0.2"], publish=["9"])
    start = time.monotonic()
    assert unit.settled("x.service", soon(1.0)) is True
    assert time.monotonic() - start >= 1.0 > pcu.SETTLE
    assert len(unit.warnings) == 1 and "did not answer" in unit.warnings[0]


def fake_podman(tmp_path: Path, version: str = "4.3.1", rc: int = 0) -> Path:
    """A podman that only answers `version` (the error paths need no more)."""
    path = tmp_path / "podman"
    path.write_text(f"#!/bin/sh\n[ \"$1\" = version ] && echo {version} && exit {rc}\n"
                    "echo 'unexpected call' >&2; exit 99\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_missing_podman_fails_with_a_clear_message(tmp_path):
    result = run_module("podman_container_unit", {"name": "r", "image": "r:2",
                                                  "podman": str(tmp_path / "nope")}, tmp_path)
    assert result["failed"] and "podman does not answer" in result["msg"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the unit path is root's")
def test_check_mode_reports_the_unit_it_would_write_and_writes_nothing(tmp_path):
    result = run_module("podman_container_unit",
                        {"name": "dockhand-unit-test-none", "image": "r:2",
                         "podman": str(fake_podman(tmp_path)), "method": "generate"},
                        tmp_path, check_mode=True, diff=True)
    assert result["changed"] and result["method"] == "generate"
    assert result["unit"] == "container-dockhand-unit-test-none.service"
    assert result["unit_file"] == "/etc/systemd/system/container-dockhand-unit-test-none.service"
    assert not Path(result["unit_file"]).exists()
    assert '"image": "r:2"' in result["diff"]["after"]
    quadlet = run_module("podman_container_unit",
                         {"name": "dockhand-unit-test-none", "image": "r:2",
                          "podman": str(fake_podman(tmp_path, "4.9.3"))}, tmp_path,
                         check_mode=True)
    assert quadlet["method"] == "quadlet"
    assert quadlet["unit_file"] == "/etc/containers/systemd/dockhand-unit-test-none.container"


def test_kubernetes_yaml_is_the_whole_description_and_its_quadlet_names_it():
    params = {"kube": "apiVersion: v1\nkind: Pod\n", "restart_on": "x", "image": None,
              "command": [], "publish": ["80:80"], "volumes": [], "env": {}, "network": "",
              "podman_args": []}
    spec = pcu.spec_of(params)
    assert spec == {"kube": "apiVersion: v1\nkind: Pod\n", "restart_on": "x"}
    assert pcu.digest_of(spec, "quadlet") != pcu.digest_of(dict(spec, kube="kind: Pod\n"),
                                                           "quadlet")
    parser = configparser.ConfigParser(strict=True)
    parser.read_string(pcu.kube_quadlet_text("web", spec))
    assert parser["Kube"]["Yaml"] == "web.yaml"
    assert "GlobalArgs" not in parser["Kube"]
    parser.read_string(pcu.kube_quadlet_text("web", dict(spec, cgroup_manager="cgroupfs")))
    assert parser["Kube"]["GlobalArgs"] == "--cgroup-manager=cgroupfs"
    assert "multi-user.target" in parser["Install"]["WantedBy"]


@pytest.mark.parametrize(("volume", "named"), [
    ("data:/var/lib/data", "data"),
    ("app_db.1:/db:ro", "app_db.1"),
    ("/srv/data:/data", None),
    ("./conf:/etc/app", None),
    ("anonymous", None),
])
def test_a_volume_names_a_podman_volume_or_a_host_path(volume, named):
    assert pcu.named_volume(volume) == named


def test_a_quadlet_refers_to_its_network_and_named_volumes_as_quadlets_of_their_own():
    spec = {"image": "db:1", "command": [], "publish": [], "env": {}, "network": "app",
            "volumes": ["data:/var/lib/db", "/etc/db:/etc/db:ro", "data:/backup"],
            "restart_on": ""}
    units = pcu.quadlet_units(spec)
    assert units == ["app.network", "data.volume"]
    text = pcu.quadlet_text("app-db", dict(spec, quadlet_units=units))
    assert "Network=app.network" in text
    assert "Volume=data.volume:/var/lib/db" in text and "Volume=data.volume:/backup" in text
    assert "Volume=/etc/db:/etc/db:ro" in text
    # Without them (Podman before 4.4 or a unit written before), the plain names.
    assert "Network=app\n" in pcu.quadlet_text("app-db", spec)
    network = configparser.ConfigParser()
    network.read_string(pcu.quadlet_unit_text("app.network"))
    assert network["Network"]["NetworkName"] == "app"
    volume = configparser.ConfigParser()
    volume.read_string(pcu.quadlet_unit_text("data.volume"))
    assert volume["Volume"]["VolumeName"] == "data"
