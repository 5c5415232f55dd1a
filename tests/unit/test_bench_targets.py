"""`make bench` runs every benchmark in full and `make bench-quick` runs every one once in its
quick mode, which `make test` runs: a benchmark added to bench/ and left out of them could
break unnoticed, as bench/converge.py once did. Read from `make -n`, so what is checked is
what make would run."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = {path.name for path in (ROOT / "bench").glob("*.py")}


def scripts_run(target: str) -> dict[str, list[str]]:
    """Each bench script `make TARGET` would run, with the arguments it gets."""
    # -o: the prerequisites (virtualenv, engine, lab) are not what is looked at here.
    skip = [arg for name in ("venv", "docker", "lab-up") for arg in ("-o", name)]
    commands = subprocess.run(["make", "-n", "--no-print-directory", *skip, target], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    return {m["script"]: m["args"].split()
            for m in re.finditer(r"bench/(?P<script>\w+\.py)(?P<args>[^\n;]*)", commands)}


def test_make_bench_quick_runs_every_benchmark_quick_where_it_has_a_quick_mode():
    quick = scripts_run("bench-quick")
    assert set(quick) == BENCHMARKS
    for script, args in quick.items():
        has_quick = "--quick" in (ROOT / "bench" / script).read_text()
        assert ("--quick" in args) == has_quick, script


def test_make_bench_runs_every_benchmark_in_full():
    full = scripts_run("bench")
    assert set(full) == BENCHMARKS
    assert not any("--quick" in args for args in full.values())


def make_n(target: str) -> str:
    return subprocess.run(["make", "-n", "--no-print-directory", target], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def test_make_test_runs_every_quick_benchmark_once_those_on_the_lab_after_its_suite():
    # Those on the main lab need it as the suite leaves it; the others build labs of their
    # own (DOCKHAND_LAB), fresh, so they run in another lane.
    words = shlex.split(make_n("test").replace("\\\n", " "))
    lanes = [lane.split() for lane in words[words.index("scripts/run-phases") + 2:]]
    lab_lane = next(lane for lane in lanes if "integration" in lane)
    assert lab_lane.index("bench-quick-lab") > lab_lane.index("integration")
    elsewhere = [phase for lane in lanes if lane is not lab_lane for phase in lane]
    assert "bench-quick-apart" in elsewhere
    assert "bench-quick" not in lab_lane + elsewhere
    on_lab, apart = scripts_run("bench-quick-lab"), scripts_run("bench-quick-apart")
    assert set(on_lab) | set(apart) == BENCHMARKS and not set(on_lab) & set(apart)
    assert set(apart) == {"scale.py", "converge.py", "swarm.py"}
    assert "DOCKHAND_LAB=bench" in make_n("bench-quick-apart")
