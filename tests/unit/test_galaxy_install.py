"""The collection as a Galaxy or AWX/AAP user gets it: the built tarball installed with
`ansible-galaxy collection install` into a fresh virtualenv that holds only ansible-core (the
project's version) and the collection's requirements.txt, used from a directory that is not
the checkout, so that neither the checkout's ansible.cfg (its roles_path, its collections/
symlink) nor the project's virtualenv can stand in for what the tarball lacks.

The slow test of the unit suite: it installs from PyPI (pip's cache makes a rerun quicker).
Leave it out with `pytest -m "not slow"`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HTPASSWD = "msg={{ [{'name': 'a', 'password': 'b'}] | dockhand.docker.htpasswd('', 'users') }}"


class Install:
    def __init__(self, base: Path):
        self.base = base
        self.bin = base / "venv" / "bin"
        self.collections = base / "collections"
        self.collection = self.collections / "ansible_collections" / "dockhand" / "docker"
        # Empty: ansible's defaults, not the checkout's ansible.cfg.
        self.config = base / "ansible.cfg"
        self.config.write_text("")

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV"))}
        env.update(PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
                   ANSIBLE_CONFIG=str(self.config),
                   ANSIBLE_COLLECTIONS_PATH=str(self.collections),
                   ANSIBLE_NOCOLOR="1")
        return env

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(a) for a in args], cwd=self.base, env=self.env(),
                              capture_output=True, text=True, check=False)
        if check:
            assert proc.returncode == 0, f"{args}:\n{proc.stdout}{proc.stderr}"
        return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Install:
    install = Install(tmp_path_factory.mktemp("galaxy"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(dist)],
                   cwd=ROOT, check=True, capture_output=True, text=True,
                   env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    (tarball,) = dist.glob("dockhand-docker-*.tar.gz")

    install.run(sys.executable, "-m", "venv", install.base / "venv")
    install.run(install.bin / "pip", "install", "-q", f"ansible-core=={version('ansible-core')}")
    install.run(install.bin / "ansible-galaxy", "collection", "install", tarball,
                "-p", install.collections)
    install.run(install.bin / "pip", "install", "-q", "-r",
                install.collection / "requirements.txt")
    return install


@pytest.mark.parametrize("playbook", ["site", "rotate_registry_certs", "engine"])
def test_the_playbooks_pass_a_syntax_check(installed, playbook):
    proc = installed.run(installed.bin / "ansible-playbook", "-i", "localhost,",
                         f"dockhand.docker.{playbook}", "--syntax-check")
    assert str(installed.collection / "playbooks" / f"{playbook}.yml") in proc.stdout


def test_without_bcrypt_htpasswd_says_what_to_install(installed):
    adhoc = (installed.bin / "ansible", "localhost", "-m", "ansible.builtin.debug", "-a",
             HTPASSWD)
    assert '"a:$2' in installed.run(*adhoc).stdout

    installed.run(installed.bin / "pip", "uninstall", "-q", "-y", "bcrypt")
    proc = installed.run(*adhoc, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Python package 'bcrypt'" in out
    assert f"pip install -r {installed.collection / 'requirements.txt'}" in out
    assert "No filter named" not in out
