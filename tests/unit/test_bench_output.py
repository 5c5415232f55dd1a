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

PLAY RECAP *********************************************************************
node1                      : ok=2    changed=0    unreachable=0    failed=0
"""


def test_each_failed_task_is_named_with_its_host_and_reason():
    blocks = failures(RUN).split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].startswith("TASK [glusterfs : Mount the volume]")
    assert "fatal: [node3]" in blocks[0] and "transport endpoint" in blocks[0]
    assert blocks[1].startswith("TASK [docker_registry : Wait until the registry answers]")
    assert "fatal: [node2]" in blocks[1] and "Status code was -1" in blocks[1]


def test_a_run_without_failures_gives_nothing():
    assert failures(RUN.replace("fatal:", "ok:")) == ""
