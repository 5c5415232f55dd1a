"""Session fixtures: the lab's hosts, converged once by site.yml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# collections/ makes the collection importable as ansible_collections.dockhand.docker: a
# test reads what a module wrote with the module's own parser.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

import pytest
from labtools import FULL_RUN, INVENTORY, RECONVERGED, RUNS, Run, lab_hosts, run_playbook


@pytest.fixture(scope="session")
def hosts() -> list[str]:
    if not (INVENTORY / "hosts.yml").exists():
        pytest.fail("the lab is not up: run `make lab-up` (make integration does it)")
    return lab_hosts()


@pytest.fixture(scope="session")
def converged(hosts: list[str]) -> Run:
    # Every role: a lab kept from an earlier session may carry records the tests'
    # changes since have not outdated.
    run = run_playbook(*FULL_RUN)
    assert run.rc == 0, run.output[-4000:]
    assert set(run.recap) == set(hosts) | set(lab_hosts("podman_hosts"))
    return run


# Where the lab suite's time goes, per module (setup, call and teardown: a module's fixtures
# count for it), printed at the end and handed to make test's phase table.
_MODULE_SECONDS: dict[str, float] = {}


# What the drills printed (their gaps, failed requests and lost writes), shown at the end even
# when they pass: the figures a note reports come from the run that proved them.
_PRINTED: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::")[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration
    if report.when == "call" and report.capstdout.strip():
        _PRINTED.append((report.nodeid, report.capstdout.strip()))


def pytest_terminal_summary(terminalreporter) -> None:
    if not _MODULE_SECONDS:
        return
    if _PRINTED:
        terminalreporter.section("what the drills measured")
        for nodeid, text in _PRINTED:
            terminalreporter.write_line(f"{nodeid.split('::')[-1]}:")
            for line in text.splitlines():
                terminalreporter.write_line(f"    {line}")
    terminalreporter.section("lab suite time per module")
    rows = sorted(_MODULE_SECONDS.items(), key=lambda item: -item[1])
    for module, seconds in rows:
        terminalreporter.write_line(f"{seconds:8.0f} s  {module}")
    _summarise_runs(terminalreporter, sum(_MODULE_SECONDS.values()))
    if times := os.environ.get("DOCKHAND_TIMES"):
        with open(times, "a") as handle:
            for module, seconds in rows:
                handle.write(f"integration {Path(module).stem} {seconds:.0f}\n")


def _summarise_runs(terminalreporter, suite: float) -> None:
    """How much of the suite's time its ansible-playbook runs took, by what ran, and the
    slowest runs with their tests: where a cut would count."""
    if not RUNS:
        return
    spent = sum(seconds for _, _, seconds in RUNS)
    terminalreporter.section("ansible-playbook runs")
    terminalreporter.write_line(f"{len(RUNS)} runs, {spent:.0f} s: {100 * spent / suite:.0f} % "
                                "of the suite's time")
    grouped: dict[str, list[float]] = {}
    for _, what, seconds in RUNS:
        grouped.setdefault(what, []).append(seconds)
    for what, times in sorted(grouped.items(), key=lambda item: -sum(item[1]))[:15]:
        terminalreporter.write_line(f"{sum(times):8.0f} s  {len(times):3d} x  {what}")
    for scopes in RECONVERGED:
        terminalreporter.write_line(f"site.yml run again for what was left changed: "
                                    f"{'; '.join(scopes)}")
    terminalreporter.write_line("slowest runs:")
    for test, what, seconds in sorted(RUNS, key=lambda run: -run[2])[:10]:
        terminalreporter.write_line(f"{seconds:8.0f} s  {what}  ({test or 'no test'})")
