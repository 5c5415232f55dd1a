"""docker_engine's Docker-repository path, rendered by Ansible itself for each family."""

from __future__ import annotations

import json

import pytest
from rendertools import Cases, Rendered, render_cases

CASES = Cases()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Rendered:
    """Every case of this module, rendered by one ansible-playbook run."""
    return render_cases("render_repo.yml", CASES, tmp_path_factory.mktemp("repo"))


DEBIAN = {"render_facts": {"distribution": "Debian", "os_family": "Debian",
                           "distribution_release": "bookworm", "distribution_major_version": "12",
                           "architecture": "x86_64"}}
TRIXIE = {"render_facts": {**DEBIAN["render_facts"], "distribution_release": "trixie",
                           "distribution_major_version": "13"}}
UBUNTU = {"render_facts": {"distribution": "Ubuntu", "os_family": "Debian",
                           "distribution_release": "noble", "distribution_major_version": "24",
                           "architecture": "aarch64"}}
ROCKY = {"render_facts": {"distribution": "Rocky", "os_family": "RedHat",
                          "distribution_release": "Blue Onyx", "distribution_major_version": "9",
                          "architecture": "x86_64"}}


@pytest.mark.parametrize(
    ("case", "uri", "suite", "arch"),
    [
        (CASES.add("debian", **DEBIAN), "https://download.docker.com/linux/debian", "bookworm",
         "amd64"),
        (CASES.add("ubuntu", **UBUNTU), "https://download.docker.com/linux/ubuntu", "noble",
         "arm64"),
    ],
)
def test_deb822_source_points_at_the_right_repository(rendered, case, uri, suite, arch):
    out = rendered[case]
    lines = out["docker.sources"].splitlines()
    assert lines[0].startswith("#"), "ansible_managed header first"
    assert f"URIs: {uri}" in lines
    assert f"Suites: {suite}" in lines
    assert f"Architectures: {arch}" in lines
    assert "Components: stable" in lines
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in lines


MIRROR = CASES.add("mirror", **DEBIAN, docker_engine_mirror="https://mirror.example.test/docker/")


def test_mirror_replaces_docker_and_its_key(rendered):
    out = rendered[MIRROR]
    assert "URIs: https://mirror.example.test/docker" in out["docker.sources"].splitlines()
    assert "gpgkey=https://mirror.example.test/docker/gpg" in out["docker-ce.repo"]


RHEL_PIN = CASES.add("rhel-pin", **ROCKY, docker_engine_version="3:27.3.1-1.el9")


def test_rhel_family_uses_the_centos_repository_and_holds_a_pin(rendered):
    out = rendered[RHEL_PIN]
    repo = out["docker-ce.repo"]
    assert "[docker-ce-stable]" in repo
    assert "baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable" in repo
    assert "excludepkgs=docker-ce docker-ce-cli" in repo
    assert json.loads(out["packages.json"])["packages"][:2] == ["docker-ce-3:27.3.1-1.el9",
                                                                "docker-ce-cli-3:27.3.1-1.el9"]


@pytest.mark.parametrize(
    ("case", "version", "expected"),
    [
        (CASES.add("docker-unpinned", **DEBIAN, docker_engine_source="docker",
                   docker_engine_version=""),
         "", ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin",
              "docker-compose-plugin"]),
        (CASES.add("docker-pinned", **DEBIAN, docker_engine_source="docker",
                   docker_engine_version="5:27.3.1-1~debian.12~bookworm"),
         "5:27.3.1-1~debian.12~bookworm",
         ["docker-ce=5:27.3.1-1~debian.12~bookworm", "docker-ce-cli=5:27.3.1-1~debian.12~bookworm",
          "containerd.io", "docker-buildx-plugin", "docker-compose-plugin"]),
        (CASES.add("distro", **DEBIAN, docker_engine_source="distro", docker_engine_version=""),
         "", ["docker.io"]),
        # Debian 13's CLI is a package of its own, pinned with the engine.
        (CASES.add("distro-trixie", **TRIXIE, docker_engine_source="distro",
                   docker_engine_version="26.1.5+dfsg1-9+deb13u1+b1"),
         "26.1.5+dfsg1-9+deb13u1+b1",
         ["docker.io=26.1.5+dfsg1-9+deb13u1+b1", "docker-cli=26.1.5+dfsg1-9+deb13u1+b1"]),
    ],
)
def test_package_list_pins_only_the_engine(rendered, case, version, expected):
    out = rendered[case]
    assert json.loads(out["packages.json"])["packages"] == expected
    assert "excludepkgs" not in out["docker-ce.repo"] or version


PIN = "5:27.3.1-1~debian.12~bookworm"


def query_case(name: str, facts: dict, version: str, lines: list[str]) -> str:
    return CASES.add(name, **facts, docker_engine_version=version,
                     __docker_engine_query={"stdout_lines": lines})


@pytest.mark.parametrize(
    ("case", "missing", "fresh", "upgrade"),
    [
        # dpkg-query's answer on a host without any engine.
        (query_case("no-engine", DEBIAN, "", ["docker-ce  un ", "docker.io  un "]),
         ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin",
          "docker-compose-plugin"], True, False),
        # Everything installed, nothing pinned: nothing to do.
        (query_case("all-installed", DEBIAN, "",
                    [f"{p} 27.3.1 ii " for p in ("docker-ce", "docker-ce-cli", "containerd.io",
                                                  "docker-buildx-plugin",
                                                  "docker-compose-plugin")]),
         [], False, False),
        # A plugin added beside a running engine is no upgrade of it: no restart.
        (query_case("plugin-missing", DEBIAN, "",
                    [f"{p} 27.3.1 ii " for p in ("docker-ce", "docker-ce-cli", "containerd.io",
                                                  "docker-buildx-plugin")]),
         ["docker-compose-plugin"], False, False),
        # Installed at another version than the pin: the pinned packages are missing, and
        # installing them upgrades a running engine.
        (query_case("other-version", DEBIAN, PIN,
                    [f"{p} 5:26.1.0-1 hi " for p in ("docker-ce", "docker-ce-cli")]
                    + [f"{p} 1.0 ii " for p in ("containerd.io", "docker-buildx-plugin",
                                                 "docker-compose-plugin")]),
         [f"docker-ce={PIN}", f"docker-ce-cli={PIN}"], False, True),
        # rpm prints (none) for a package without epoch; a pin with epoch matches as spelled.
        (query_case("rpm-epoch", ROCKY, "3:27.3.1-1.el9",
                    ["docker-ce 3:27.3.1-1.el9 ii", "docker-ce-cli (none):27.3.1-1.el9 ii",
                     "package containerd.io is not installed"]),
         ["docker-ce-cli-3:27.3.1-1.el9", "containerd.io", "docker-buildx-plugin",
          "docker-compose-plugin"], False, True),
    ],
)
def test_only_missing_packages_are_installed(rendered, case, missing, fresh, upgrade):
    found = json.loads(rendered[case]["packages.json"])
    assert found["missing"] == missing
    assert found["fresh"] is fresh
    # An upgrade of a running engine: its packages restart nothing, docker_daemon rolls it.
    assert found["upgrade"] is upgrade
    # apt's lists are refreshed for a pinned version that is not installed, whatever their age.
    assert found["pin_missing"] is upgrade
