"""A controller without bcrypt or cryptography, as a bare ansible-core with the collection
from Galaxy, or an AWX/AAP execution environment built without its requirements.txt: every
plugin still loads, what needs neither package keeps working, and what needs one says which
package to install instead of ansible calling the filter unknown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.module_utils import controller_deps

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """
- name: The plugins with a package missing
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Name checks need neither package
      ansible.builtin.set_fact:
        names: "{{ ['registry.lan', '::1', 'bad_name'] | dockhand.docker.pki_name_errors('v') }}"
        sans: "{{ ['registry.lan', '10.0.0.1'] | dockhand.docker.pki_split_sans }}"
        covered: "{{ 'registry.lan:5000' | dockhand.docker.pki_covers(['registry.lan']) }}"
    - name: Htpasswd needs bcrypt
      ansible.builtin.set_fact:
        htpasswd: "{{ [{'name': 'ci', 'password': 'pw'}] | dockhand.docker.htpasswd('', 'users') }}"
      register: htpasswd_result
      ignore_errors: true
    - name: The CA needs cryptography
      dockhand.docker.pki_ca:
        pki_dir: "{{ out }}/pki"
      register: ca_result
      ignore_errors: true
    - name: Keep what happened for the test
      ansible.builtin.copy:
        content: "{{ {'names': names, 'sans': sans, 'covered': covered,
                      'htpasswd': htpasswd_result, 'ca': ca_result} | to_json }}"
        dest: "{{ out }}/result.json"
        mode: "0600"
"""


def run_without(package: str, tmp_path: Path) -> dict:
    # An import that finds None in sys.modules fails as if the package were not installed;
    # sitecustomize puts it there before ansible starts.
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(f"import sys\nsys.modules[{package!r}] = None\n")
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "playbook.yml"),
         "-e", json.dumps({"out": str(tmp_path), "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, cwd=tmp_path, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                 PYTHONPATH=os.pathsep.join(filter(None, [str(blocker),
                                                          os.environ.get("PYTHONPATH")]))),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((tmp_path / "result.json").read_text())


@pytest.mark.parametrize("package", ["bcrypt", "cryptography"])
def test_plugins_load_and_name_the_missing_package(tmp_path, package):
    result = run_without(package, tmp_path)

    assert len(result["names"]) == 1
    assert "'bad_name' is not a valid DNS name" in result["names"][0]
    assert result["sans"] == {"dns": ["registry.lan"], "ip": ["10.0.0.1"]}
    assert result["covered"] is True

    needs = {"bcrypt": result["htpasswd"], "cryptography": result["ca"]}
    for name, task in needs.items():
        if name == package:
            assert task["failed"], task
            assert f"Python package '{name}'" in task["msg"]
            assert "pip install -r" in task["msg"]
            assert "No filter named" not in task["msg"]
        else:
            assert not task.get("failed"), task
    if package == "cryptography":
        assert result["htpasswd"]["ansible_facts"]["htpasswd"].startswith("ci:$2")
        assert not (tmp_path / "pki" / "ca.key").exists()
    else:
        assert (tmp_path / "pki" / "ca.key").exists()


def test_the_message_points_at_the_shipped_requirements():
    assert Path(controller_deps.REQUIREMENTS).is_file()
    message = controller_deps.missing("bcrypt")
    assert controller_deps.REQUIREMENTS in message
    assert "pip install bcrypt" in message


def test_require_raises_the_callers_error():
    with pytest.raises(AnsibleFilterError, match="Python package 'dockhand_absent_package'"):
        controller_deps.require("dockhand_absent_package.sub", AnsibleFilterError)
    assert controller_deps.require("json") is json


def test_a_broken_install_is_not_reported_as_absent():
    cause = ImportError("libssl.so.3: cannot open shared object file", name="_rust")
    assert "Importing it failed: libssl.so.3" in controller_deps.missing("cryptography", cause)
    absent = ModuleNotFoundError("No module named 'bcrypt'", name="bcrypt")
    assert "Importing it failed" not in controller_deps.missing("bcrypt", absent)


def test_requirements_match_the_project_dependencies():
    """requirements.txt is what Galaxy and ansible-builder users get; pyproject.toml is what
    the project's own virtualenv gets: the two must not drift apart."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    shipped = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = set(tomllib.load(handle)["project"]["dependencies"])
    assert {re.split(r"[<>=!~ ]", line)[0] for line in shipped} == {"cryptography", "bcrypt"}
    assert shipped <= project
