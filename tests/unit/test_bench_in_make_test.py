"""make test runs every benchmark once (deliverable of the speed issue): a benchmark added to
bench/ without a quick run in make test could break unnoticed, as bench/converge.py once did.
Read from `make -n`, so what is checked is what make would run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str) -> str:
    # -o: the prerequisites (virtualenv, engine, lab) are not what is looked at here.
    skip = [arg for name in ("venv", "docker", "lab-up") for arg in ("-o", name)]
    return subprocess.run(["make", "-n", "--no-print-directory", *skip, target], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def scripts_run(commands: str) -> dict[str, list[str]]:
    """Each bench script the commands run, with the arguments it gets."""
    return {m["script"]: m["args"].split()
            for m in re.finditer(r"bench/(?P<script>\w+\.py)(?P<args>[^\n]*)", commands)}


def test_make_test_runs_every_benchmark_in_a_lane():
    lanes = dry_run("test")
    assert "bench-quick-converge integration bench-quick" in lanes
    quick = scripts_run(dry_run("bench-quick-converge") + dry_run("bench-quick"))
    assert set(quick) == {path.name for path in (ROOT / "bench").glob("*.py")}


def test_each_benchmark_runs_quick_in_make_test_where_it_has_a_quick_mode():
    quick = scripts_run(dry_run("bench-quick-converge") + dry_run("bench-quick"))
    for script, args in quick.items():
        has_quick = "--quick" in (ROOT / "bench" / script).read_text()
        assert ("--quick" in args) == has_quick, script


def test_make_bench_runs_every_benchmark_in_full():
    full = scripts_run(dry_run("bench"))
    assert set(full) == {path.name for path in (ROOT / "bench").glob("*.py")}
    assert not any("--quick" in args for args in full.values())
