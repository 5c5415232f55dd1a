"""docker_engine's Docker-repository path, rendered by Ansible itself for each family."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def render(tmp_path: Path, **extra: str) -> dict[str, str]:
    extra_vars = {"render_out": str(tmp_path), "ansible_python_interpreter": sys.executable,
                  **extra}
    subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(ROOT / "tests/unit/render_repo.yml"),
         "-e", json.dumps(extra_vars)],
        check=True, capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
    )
    return {p.name: p.read_text() for p in tmp_path.iterdir()}


DEBIAN = {"render_facts": {"distribution": "Debian", "os_family": "Debian",
                           "distribution_release": "bookworm", "architecture": "x86_64"}}
UBUNTU = {"render_facts": {"distribution": "Ubuntu", "os_family": "Debian",
                           "distribution_release": "noble", "architecture": "aarch64"}}
ROCKY = {"render_facts": {"distribution": "Rocky", "os_family": "RedHat",
                          "distribution_release": "Blue Onyx", "architecture": "x86_64"}}


@pytest.mark.parametrize(
    ("facts", "uri", "suite", "arch"),
    [
        (DEBIAN, "https://download.docker.com/linux/debian", "bookworm", "amd64"),
        (UBUNTU, "https://download.docker.com/linux/ubuntu", "noble", "arm64"),
    ],
)
def test_deb822_source_points_at_the_right_repository(tmp_path, facts, uri, suite, arch):
    out = render(tmp_path, **facts)
    lines = out["docker.sources"].splitlines()
    assert lines[0].startswith("#"), "ansible_managed header first"
    assert f"URIs: {uri}" in lines
    assert f"Suites: {suite}" in lines
    assert f"Architectures: {arch}" in lines
    assert "Components: stable" in lines
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in lines


def test_mirror_replaces_docker_and_its_key(tmp_path):
    out = render(tmp_path, **DEBIAN, docker_engine_mirror="https://mirror.example.test/docker/")
    assert "URIs: https://mirror.example.test/docker" in out["docker.sources"].splitlines()
    assert "gpgkey=https://mirror.example.test/docker/gpg" in out["docker-ce.repo"]


def test_rhel_family_uses_the_centos_repository_and_holds_a_pin(tmp_path):
    out = render(tmp_path, **ROCKY, docker_engine_version="3:27.3.1-1.el9")
    repo = out["docker-ce.repo"]
    assert "[docker-ce-stable]" in repo
    assert "baseurl=https://download.docker.com/linux/centos/$releasever/$basearch/stable" in repo
    assert "excludepkgs=docker-ce docker-ce-cli" in repo
    assert json.loads(out["packages.json"])["packages"][:2] == ["docker-ce-3:27.3.1-1.el9",
                                                                "docker-ce-cli-3:27.3.1-1.el9"]


@pytest.mark.parametrize(
    ("source", "version", "expected"),
    [
        ("docker", "", ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin",
                        "docker-compose-plugin"]),
        ("docker", "5:27.3.1-1~debian.12~bookworm",
         ["docker-ce=5:27.3.1-1~debian.12~bookworm", "docker-ce-cli=5:27.3.1-1~debian.12~bookworm",
          "containerd.io", "docker-buildx-plugin", "docker-compose-plugin"]),
        ("distro", "", ["docker.io"]),
    ],
)
def test_package_list_pins_only_the_engine(tmp_path, source, version, expected):
    out = render(tmp_path, **DEBIAN, docker_engine_source=source, docker_engine_version=version)
    assert json.loads(out["packages.json"])["packages"] == expected
    assert "excludepkgs" not in out["docker-ce.repo"] or version


PIN = "5:27.3.1-1~debian.12~bookworm"


@pytest.mark.parametrize(
    ("facts", "version", "query", "missing", "fresh"),
    [
        # dpkg-query's answer on a host without any engine.
        (DEBIAN, "", ["docker-ce  un ", "docker.io  un "],
         ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin",
          "docker-compose-plugin"], True),
        # Everything installed, nothing pinned: nothing to do.
        (DEBIAN, "", [f"{p} 27.3.1 ii " for p in ("docker-ce", "docker-ce-cli", "containerd.io",
                                                "docker-buildx-plugin", "docker-compose-plugin")],
         [], False),
        # Installed at another version than the pin: the pinned packages are missing.
        (DEBIAN, PIN, [f"{p} 5:26.1.0-1 hi " for p in ("docker-ce", "docker-ce-cli")]
         + [f"{p} 1.0 ii " for p in ("containerd.io", "docker-buildx-plugin",
                                      "docker-compose-plugin")],
         [f"docker-ce={PIN}", f"docker-ce-cli={PIN}"], False),
        # rpm prints (none) for a package without epoch; a pin with epoch matches as spelled.
        (ROCKY, "3:27.3.1-1.el9",
         ["docker-ce 3:27.3.1-1.el9 ii", "docker-ce-cli (none):27.3.1-1.el9 ii",
          "package containerd.io is not installed"],
         ["docker-ce-cli-3:27.3.1-1.el9", "containerd.io", "docker-buildx-plugin",
          "docker-compose-plugin"], False),
    ],
)
def test_only_missing_packages_are_installed(tmp_path, facts, version, query, missing, fresh):
    out = render(tmp_path, **facts, docker_engine_version=version,
                 __docker_engine_query={"stdout_lines": query})
    found = json.loads(out["packages.json"])
    assert found["missing"] == missing
    assert found["fresh"] is fresh
