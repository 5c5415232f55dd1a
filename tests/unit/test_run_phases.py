"""scripts/run-phases, make test's driver, on a Makefile of its own: the setup targets run
once before the lanes, the lanes run side by side, a failed phase fails the run and is named
in the closing table, and the other lane still finishes."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run-phases"

MAKEFILE = """\
setup:
\t@echo setup >> runs.log
slow-a: setup
\t@echo slow-a >> runs.log; sleep 2
slow-b: setup
\t@echo slow-b >> runs.log; sleep 2
after-a:
\t@echo after-a >> runs.log
broken:
\t@echo broken-output; exit 3
pytest-like:
\t@echo "tests/a.py ..F"; echo "FAILED - RETRYING: [node1]: Wait (5 retries left)."; \\
\t  echo "node1 : ok=3    changed=0    unreachable=0    failed=0    skipped=1"; \\
\t  echo "[bench] rotation: 20 s, 651 pulls, 0 failed"; \\
\t  echo "TASK [Clear what the failed attempts left] ***"; \\
\t  echo "FAILED tests/a.py::test_b - assert 1 == 2"; echo "1 failed, 2 passed"; exit 1
where-a:
\t@cat /proc/self/cgroup > where-a.log; cut -d' ' -f19 /proc/self/stat >> where-a.log
where-b:
\t@cat /proc/self/cgroup > where-b.log; cut -d' ' -f19 /proc/self/stat >> where-b.log
many-failures:
\t@for i in $$(seq 1 30); do echo "FAILED tests/t.py::test_$$i"; done; exit 1
ansible-like:
\t@echo "TASK [docker_pki : Trust] ***"; \\
\t  echo "fatal: [node2]: FAILED! => changed=false"; echo "  msg: no such file"; \\
\t  echo "PLAY RECAP ***"; \\
\t  echo "node2 : ok=3    changed=0    unreachable=0    failed=1    skipped=1"; exit 2
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    return tmp_path


def run(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run([str(SCRIPT), *args], cwd=project, capture_output=True, text=True,
                          timeout=60, check=False)
    return proc, time.monotonic() - start


def table(output: str) -> list[list[str]]:
    rows = output.split("== make test: time per phase (min:s) ==\n", 1)[1]
    return [row.split() for row in rows.split("\n\n== why ", 1)[0].splitlines()]


def why(output: str, phase: str, fallback: bool = False) -> list[str]:
    """The lines printed after the table for a failed phase."""
    says = ("no line says; its last lines" if fallback
            else "the last lines of its output that say so")
    head = f"== why {phase} failed ({says}) ==\n"
    assert head in output, output
    return output.split(head, 1)[1].split("\n\n", 1)[0].splitlines()


def test_lanes_run_side_by_side_after_the_setup_ran_once(project):
    proc, wall = run(project, "setup", "slow-a after-a", "slow-b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = (project / "runs.log").read_text().split()
    assert runs.count("setup") == 1
    assert runs[0] == "setup" and runs.index("slow-a") < runs.index("after-a")
    assert wall < 3.8, "the two 2 s phases ran one after the other"
    rows = table(proc.stdout)
    assert [row[1:3] for row in rows[:4]] == [
        ["setup", "setup"], ["slow-a", "lane"], ["after-a", "lane"], ["slow-b", "lane"]]
    assert rows[-1][1:3] == ["total", "(wall"]
    # Two sleeping lanes leave the cores mostly idle; the share is a whole per cent.
    assert rows[-2][1:4] == ["%", "cpu", "busy"] and 0 <= int(rows[-2][0]) <= 100


def test_a_failed_phase_fails_the_run_is_named_and_the_other_lane_finishes(project):
    proc, _ = run(project, "setup", "broken after-a", "slow-b")
    assert proc.returncode == 1
    assert "[broken] broken-output" in proc.stdout
    runs = (project / "runs.log").read_text().split()
    assert "after-a" not in runs and "slow-b" in runs
    failed = [row for row in table(proc.stdout) if "FAILED" in row]
    # make exits 2 when a recipe fails, whatever the recipe returned.
    assert [row[1] for row in failed] == ["broken"] and failed[0][-2:] == ["(rc", "2)"]
    # CI shows the end of the output: it says what failed, after the table. Nothing in the
    # output names a failure, so its last lines are shown, make's error last.
    lines = why(proc.stdout, "broken", fallback=True)
    assert lines[0] == "broken-output" and lines[-1].endswith(" broken] Error 3"), lines
    assert proc.stdout.rstrip().endswith("Error 3"), proc.stdout
    assert "== why slow-b failed" not in proc.stdout


def test_a_failed_test_is_named_after_the_table_and_a_clean_recap_is_not(project):
    proc, _ = run(project, "setup", "pytest-like", "slow-a")
    assert proc.returncode == 1
    # Not a retry notice, a clean recap, a count of 0 failed, a banner or make's own line.
    assert why(proc.stdout, "pytest-like") == [
        "FAILED tests/a.py::test_b - assert 1 == 2", "1 failed, 2 passed"]


def test_each_lane_s_failure_is_named_in_lane_order(project):
    proc, _ = run(project, "setup", "pytest-like", "ansible-like")
    assert proc.returncode == 1
    assert why(proc.stdout, "ansible-like") == [
        "fatal: [node2]: FAILED! => changed=false",
        "node2 : ok=3    changed=0    unreachable=0    failed=1    skipped=1"]
    assert proc.stdout.index("== why pytest-like") < proc.stdout.index("== why ansible-like")


def test_two_failed_phases_share_the_lines_ci_shows(project):
    proc, _ = run(project, "setup", "many-failures", "ansible-like")
    # 18 lines for both, each with its blank line and heading: 7 lines of its own.
    assert why(proc.stdout, "many-failures") == [
        f"FAILED tests/t.py::test_{i}" for i in range(24, 31)]
    tail = proc.stdout.split("total (wall time)\n", 1)[1]
    assert len(tail.splitlines()) == 13, tail


def _may_make_cpu_cgroups() -> bool:
    v1 = Path("/sys/fs/cgroup/cpu")
    v2 = Path("/sys/fs/cgroup/cgroup.subtree_control")
    return os.geteuid() == 0 and (
        (v1.is_dir() and os.access(v1, os.W_OK))
        or (v2.exists() and os.access(v2.parent, os.W_OK) and "cpu" in v2.read_text().split()))


@pytest.mark.skipif(not _may_make_cpu_cgroups(), reason="needs root and a writable cpu cgroup")
def test_the_other_lanes_run_niced_in_a_cpu_cgroup_of_their_own_removed_afterwards(project):
    proc, _ = run(project, "setup", "where-a", "where-b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = (project / "where-a.log").read_text().splitlines()
    other = (project / "where-b.log").read_text().splitlines()
    own = Path("/proc/self/cgroup").read_text().splitlines()
    # The first lane runs where the run was started, at its priority (make test runs these
    # tests in a lane of its own, niced and in a cgroup).
    assert first[:-1] == own, first
    assert first[-1] == str(os.getpriority(os.PRIO_PROCESS, 0)), first
    # The other lane: niced, and its cpu hierarchy's line names the run's own cgroup.
    assert other[-1] == "19", other
    moved = [line for line in other[:-1] if line not in own]
    assert len(moved) == 1 and re.search(r":/dockhand-lanes-[0-9]+$", moved[0]), other
    name = moved[0].rsplit("/", 1)[1]
    assert "lanes after the first: cgroup " in proc.stdout and name in proc.stdout, proc.stdout
    # Gone afterwards, with its weight.
    assert not list(Path("/sys/fs/cgroup").glob(f"**/{name}"))


def test_a_run_that_passes_names_no_failure(project):
    proc, _ = run(project, "setup", "after-a")
    assert proc.returncode == 0 and "== why" not in proc.stdout, proc.stdout


def test_a_failed_setup_runs_no_lane(project):
    proc, _ = run(project, "broken", "slow-a")
    assert proc.returncode == 1
    assert not (project / "runs.log").exists()
    assert [row[1] for row in table(proc.stdout)[:-1]] == ["broken"]
