"""Run a module file the way Ansible runs it: a process reading its arguments from a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "plugins" / "modules"


def run_module(name: str, args: dict, workdir: Path, *, check_mode: bool = False,
               diff: bool = False) -> dict:
    args_file = workdir / f"args-{name}-{len(list(workdir.glob('args-*')))}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        **args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}}))
    proc = subprocess.run(
        [sys.executable, str(MODULES / f"{name}.py"), str(args_file)],
        capture_output=True, text=True, cwd=workdir, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "collections")},
    )
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"module printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    assert (proc.returncode != 0) == bool(result.get("failed")), result
    return result
