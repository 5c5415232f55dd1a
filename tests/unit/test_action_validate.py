"""The controller-side check of docker_daemon_config: bad input fails before any host is
contacted. The inventory host below points at a closed port on loopback, so any attempt
to connect would show up as unreachable instead of the validation result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def adhoc(args: dict) -> tuple[int, str]:
    proc = subprocess.run(
        ["ansible", "-i", "closed-port-host,", "all", "-m", "dockhand.docker.docker_daemon_config",
         "-a", json.dumps(args), "-e", "ansible_host=127.0.0.1", "-e", "ansible_port=1",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"no-such-option": True}, "'no-such-option'"),
        ({"bip": "300.1.1.1/24"}, "'bip'"),
        ({"log-opts": {"max-file": 3}}, "'max-file' is int"),
    ],
)
def test_bad_options_fail_on_the_controller(options, named):
    rc, out = adhoc({"options": options, "options_name": "docker_daemon_options",
                     "validate_only": True})
    assert rc != 0
    assert "UNREACHABLE" not in out
    assert "docker_daemon_options: invalid daemon.json options" in out
    assert named in out


def test_valid_options_pass_without_a_connection():
    rc, out = adhoc({"options": {"log-driver": "json-file", "labels": ["a=b"]},
                     "validate_only": True})
    assert rc == 0, out
    assert "2 option(s) valid" in out


def test_a_real_run_does_contact_the_host():
    rc, out = adhoc({"options": {"debug": True}})
    assert rc != 0
    assert "UNREACHABLE" in out


def test_a_given_engine_version_is_checked_on_the_controller():
    """docker_engine passes the version its local fact read at fact gathering: a key that
    engine does not know fails before any host is contacted."""
    rc, out = adhoc({"options": {"cdi-spec-dirs": ["/etc/cdi"]}, "validate_only": True,
                     "engine_version": "20.10.24+dfsg1-1+deb12u1+b6",
                     "options_name": "docker_daemon_options"})
    assert rc != 0
    assert "UNREACHABLE" not in out
    assert "'cdi-spec-dirs' is not known to this host's engine, Docker Engine 20.10.24" in out


def test_auto_leaves_the_version_to_the_host():
    rc, out = adhoc({"options": {"cdi-spec-dirs": ["/etc/cdi"]}, "validate_only": True})
    assert rc == 0, out
