"""Session fixtures: the lab's hosts, converged once by site.yml."""

from __future__ import annotations

import pytest
from labtools import INVENTORY, Run, lab_hosts, run_playbook


@pytest.fixture(scope="session")
def hosts() -> list[str]:
    if not (INVENTORY / "hosts.yml").exists():
        pytest.fail("the lab is not up: run `make lab-up` (make integration does it)")
    return lab_hosts()


@pytest.fixture(scope="session")
def converged(hosts: list[str]) -> Run:
    run = run_playbook()
    assert run.rc == 0, run.output[-4000:]
    assert set(run.recap) == set(hosts) | set(lab_hosts("podman_hosts"))
    return run
