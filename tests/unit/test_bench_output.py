"""bench/converge.py names what failed when a run it times fails: the tail it printed
before showed the recap only (host counts, not the task or the reason)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from converge import failures

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
