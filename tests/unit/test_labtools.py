"""The lab suite's record of what a run may have left changed (tests/integration/labtools):
which scope a run's arguments give, so that a whole site.yml runs only when one is needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# labtools lives beside the lab suite, which puts its own directory on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import labtools
from labtools import EVERYTHING, SITE

PROXY = ("--tags", "proxy", "--limit", "proxy")


@pytest.mark.parametrize(
    ("args", "scope", "plain"),
    [
        ((), (SITE, None, None), True),
        (labtools.FULL_RUN, (SITE, None, None), True),
        (("--check", "--diff", "-vvv"), (SITE, None, None), True),
        (PROXY, (SITE, "proxy", "proxy"), True),
        ((*PROXY, "-e", "proxy_backend=traefik"), (SITE, "proxy", "proxy"), False),
        # Each -e takes its value, also after an earlier one made the run not plain.
        ((*PROXY, "-e", "proxy_backend=traefik", "-e", "proxy_traefik_mode=swarm"),
         (SITE, "proxy", "proxy"), False),
        (("-e", "a=1", *labtools.FULL_RUN), (SITE, None, None), False),
        (("--tags", "a", "--tags", "b"), EVERYTHING, True),
        (("--forks", "3"), EVERYTHING, False),
    ],
)
def test_a_runs_scope_and_whether_it_used_the_inventorys_values_only(args, scope, plain):
    assert labtools._scope(SITE, args) == (scope, plain)


def test_a_playbook_that_is_not_site_yml_or_its_podman_play_may_change_anything():
    assert labtools._scope(labtools.ROOT / "playbooks" / "swarm.yml", ())[0] == EVERYTHING
