"""Render a role's templates for many sets of variables in one ansible-playbook run.

Each case is a host of an inline inventory, run on the controller: the playbook's first task
reads the case's variables with include_vars, which rank above the role's defaults and vars
that the playbook loads as vars_files (host variables would rank below them). One run costs
about what one case cost on its own: Ansible's start, not the rendering, is the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Cases(dict):
    """name -> variables; `add` returns the name, to be used in a parametrize list."""

    def add(self, name: str, **variables) -> str:
        assert name not in self, f"case {name} is there twice"
        self[name] = variables
        return name


def render_cases(playbook: str, cases: dict[str, dict], workdir: Path) -> dict[str, Path]:
    """Run `playbook` (under tests/unit) once for every case; each case's directory, in which
    the playbook writes what it rendered (its variable `render_out`)."""
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
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return {name: workdir / name for name in cases}
