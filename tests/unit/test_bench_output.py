"""bench/converge.py names what failed when a run it times fails: the tail it printed
before showed the recap only (host counts, not the task or the reason). bench/scale.py
names what bound each run from its figures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from converge import failures
from scale import bottlenecks

RUN = """\
TASK [docker_pki : Install the CA] *********************************************
ok: [node1]
ok: [node3]

TASK [glusterfs : Mount the volume] ********************************************
ok: [node1]
fatal: [node3]: FAILED! =>
    msg: 'mount failed: transport endpoint is not connected'

TASK [docker_registry : Wait until the registry answers] ***********************
fatal: [node2]: FAILED! =>
    msg: Status code was -1

TASK [docker_registry : Load the images the host does not have yet] ************
failed: [node4] (item=workloads.tar) =>
    msg: 'no space left on device'

PLAY RECAP *********************************************************************
node1                      : ok=2    changed=0    unreachable=0    failed=0
"""


def test_each_failed_task_is_named_with_its_host_and_reason():
    blocks = failures(RUN).split("\n\n")
    assert len(blocks) == 3
    assert blocks[0].startswith("TASK [glusterfs : Mount the volume]")
    assert "fatal: [node3]" in blocks[0] and "transport endpoint" in blocks[0]
    assert blocks[1].startswith("TASK [docker_registry : Wait until the registry answers]")
    assert "fatal: [node2]" in blocks[1] and "Status code was -1" in blocks[1]
    # A loop item that failed is named with its item and reason.
    assert blocks[2].startswith("TASK [docker_registry : Load the images")
    assert "(item=workloads.tar)" in blocks[2] and "no space left" in blocks[2]


def test_a_run_without_failures_gives_nothing():
    assert failures(RUN.replace("fatal:", "ok:").replace("failed:", "ok:")) == ""


def _run(wall, cpu, core_s, rx_mb=0.0):
    return {"wall": wall, "cpu": cpu, "core_s": core_s, "rx_mb": rx_mb}


def test_scale_names_what_bound_each_run_from_its_figures():
    results = {
        3: {"fresh converge": _run(29.1, 92, 53.5, 2), "no-op": _run(1.2, 69, 1.7),
            "floor": _run(0.7, 60, 0.8)},
        24: {"fresh converge": _run(226.3, 99, 448.1, 3), "no-op": _run(3.3, 84, 5.5),
             "floor": _run(2.1, 82, 3.4)},
    }
    converge, noop, floor = bottlenecks(results, 3, 24)
    assert converge.startswith("fresh converge: the cores: 99 % busy at N=24")
    assert "grew 8.4x" in converge
    assert noop.startswith("no-op: neither the cores (84 % busy) nor the mirror")
    assert "the floor (one command over SSH on each host, no module) grew 3.00x" in floor
    assert "the no-op 2.75x" in floor and "took 1.2 s more than the floor" in floor

    results[24]["fresh converge"] = _run(100.0, 50, 100.0, 800)
    assert bottlenecks(results, 3, 24)[0] == "fresh converge: the mirror: 8.0 MB/s received at N=24"
