"""docker_pki_dir is derived from the inventory's directory; without one (-i host1,) the
run stops in the preflight, naming the variable, instead of writing the CA to /None-pki."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def preflight(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local",
         str(ROOT / "tests/unit/preflight_pki.yml"), *extra],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))


def test_no_inventory_directory_fails_naming_docker_pki_dir():
    run = preflight()
    assert run.returncode != 0
    assert "docker_pki_dir must be an absolute path" in run.stdout
    assert not Path("/None-pki").exists()


@pytest.mark.parametrize(("value", "ok"), [("/srv/dockhand/pki", True), ("relative/pki", False)])
def test_a_given_directory_must_be_absolute(value, ok):
    run = preflight("-e", f"docker_pki_dir={value}")
    assert (run.returncode == 0) is ok, run.stdout[-2000:]


def test_the_preflight_entry_point_validates_the_argument_specs():
    run = preflight("-e", "docker_pki_dir=/srv/dockhand/pki", "-e", "docker_pki_key_type=dsa")
    assert run.returncode != 0
    assert "argument_spec_name: preflight" in run.stdout
    assert "docker_pki_key_type" in run.stdout
