"""Render a role's templates for many sets of variables in one ansible-playbook run.

Each case is a host of an inline inventory, run on the controller: the playbook's first task
reads the case's variables with include_vars, which rank above the role's defaults and vars
that the playbook loads as vars_files (host variables would rank below them). The cases share
Ansible's start and run side by side in its forks. Under `pytest -n 2` each worker that gets
one of the module's tests makes the run once: grouping them on one worker (`--dist
loadgroup`) made the whole unit suite slower here (119 s against 97 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Cases(dict):
    """name -> variables; `add` returns the name, to be used in a parametrize list."""

    def add(self, name: str, **variables) -> str:
        assert name not in self, f"case {name} is there twice"
        self[name] = variables
        return name


class Rendered:
    """What each case rendered: its files by name. A case whose host failed fails its own
    tests only, with Ansible's lines about it."""

    def __init__(self, workdir: Path, output: str):
        self.workdir, self.output = workdir, output

    def __getitem__(self, name: str) -> dict[str, str]:
        files = {p.name: p.read_text() for p in (self.workdir / name).iterdir()}
        if files and f"fatal: [{name}]" not in self.output:
            return files
        where = self.output.find(f"fatal: [{name}]")
        pytest.fail(f"case {name} did not render:\n"
                    + (self.output[where:where + 2000] if where >= 0 else self.output[-2000:]))


def render_cases(playbook: str, cases: dict[str, dict], workdir: Path) -> Rendered:
    """Run `playbook` (under tests/unit) once for every case; the playbook writes what each
    case rendered into the case's directory (its variable `render_out`)."""
    for name, variables in cases.items():
        (workdir / name).mkdir()
        (workdir / f"{name}.json").write_text(
            json.dumps({"render_out": str(workdir / name), **variables}))
    proc = subprocess.run(
        ["ansible-playbook", "-i", ",".join(cases) + ",", str(ROOT / "tests" / "unit" / playbook),
         "-e", json.dumps({"render_cases": str(workdir),
                           "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
    )
    return Rendered(workdir, proc.stdout + proc.stderr)
