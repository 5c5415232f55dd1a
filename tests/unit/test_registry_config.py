"""The registry's config.yml as the role renders it, parsed back and checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def render(tmp_path: Path, **extra) -> dict:
    extra_vars = {"render_out": str(tmp_path), "ansible_python_interpreter": sys.executable,
                  "__docker_registry_readonly": False, **extra}
    subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(ROOT / "tests/unit/render_registry.yml"),
         "-e", json.dumps(extra_vars)],
        check=True, capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
    )
    return yaml.safe_load((tmp_path / "config.yml").read_text())


def test_tls_auth_deletes_and_drain(tmp_path):
    config = render(tmp_path, docker_registry_users=[{"name": "u", "password": "p"}])
    assert config["http"]["tls"] == {"certificate": "/certs/server.crt",
                                     "key": "/certs/server.key", "minimumtls": "tls1.2"}
    assert config["http"]["draintimeout"] == "10s"
    assert len(config["http"]["secret"]) == 32
    assert config["auth"]["htpasswd"]["path"] == "/auth/htpasswd"
    assert config["http"]["headers"]["Strict-Transport-Security"] == ["max-age=31536000"]
    assert config["storage"]["delete"]["enabled"] is True
    assert config["storage"]["maintenance"]["readonly"]["enabled"] is False
    assert "proxy" not in config


def test_no_hsts_when_its_max_age_is_0(tmp_path):
    headers = render(tmp_path, docker_registry_hsts_max_age=0)["http"]["headers"]
    assert headers == {"X-Content-Type-Options": ["nosniff"]}


def test_htpasswd_unless_none_is_asked_for_by_name(tmp_path):
    assert render(tmp_path)["auth"]["htpasswd"]["path"] == "/auth/htpasswd"
    assert "auth" not in render(tmp_path, docker_registry_auth="none")


@pytest.mark.parametrize("readonly", [True, False])
def test_read_only_twin(tmp_path, readonly):
    config = render(tmp_path, __docker_registry_readonly=readonly)
    assert config["storage"]["maintenance"]["readonly"]["enabled"] is readonly


def test_pull_through_cache(tmp_path):
    config = render(tmp_path, docker_registry_proxy_remote_url="https://registry-1.docker.io",
                    docker_registry_proxy_username="mirror", docker_registry_proxy_password="s3")
    assert config["proxy"] == {"remoteurl": "https://registry-1.docker.io",
                               "username": "mirror", "password": "s3"}


def test_the_http_secret_is_stable(tmp_path):
    first = render(tmp_path)["http"]["secret"]
    assert render(tmp_path)["http"]["secret"] == first
