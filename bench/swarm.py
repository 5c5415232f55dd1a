#!/usr/bin/env python3
"""Swarm benchmark on the lab, measured side by side in one run:

1. facts floor: a play that only gathers facts on the swarm's hosts;
2. formation: every lab node leaves its swarm, then the docker_swarm role forms it again
   (the leader inits, the others join, roles, labels, networks);
3. no-op re-run of the same play.

Prints the times and the ratios formation / facts floor and no-op / facts floor. The figures
are held to a swarm of 4 nodes (3 managers and a worker, as `make lab-up` builds); `--quick`
takes the swarm of any lab of 2 nodes or more, which is how `make bench-quick` runs it on a
small lab of its own (each step is one run already). The swarm is formed again without the
stacks other roles deployed on it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml
from converge import ROOT, timed

# The checkout's lab package (converge put the checkout on sys.path): which lab
# (DOCKHAND_LAB) and where its inventory and containers are.
from lab import config as lab_config

PLAY = ROOT / "tests" / "integration" / "playbooks" / "swarm.yml"
INVENTORY = ["-i", str(lab_config.INVENTORY.parent)]


def swarm_nodes() -> list[str]:
    """The containers of the lab's swarm managers and workers (not its Podman host)."""
    hosts = yaml.safe_load(lab_config.INVENTORY.read_text())
    children = hosts["all"]["children"]
    return [f"{lab_config.CONTAINER_PREFIX}{name}" for group in ("swarm_managers", "swarm_workers")
            for name in (children.get(group) or {}).get("hosts") or {}]


def leave_all(nodes: list[str]) -> None:
    """Workers first: a manager that leaves first would cost the others their quorum."""
    for name in sorted(nodes, reverse=True):
        subprocess.run(["docker", "exec", name, "docker", "swarm", "leave", "--force"],
                       capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="on a swarm of 2 nodes or more, to check that the benchmark works")
    args = parser.parse_args()
    nodes = swarm_nodes()
    wanted = 2 if args.quick else 4
    if len(nodes) < wanted:
        sys.exit(f"[bench] the swarm benchmark wants {wanted} swarm nodes, the lab has "
                 f"{len(nodes)} (make lab-up builds 4)")
    facts = timed("facts floor (gather facts only)",
                  ["ansible-playbook", *INVENTORY, str(Path(__file__).with_name("facts.yml"))])
    leave_all(nodes)
    formation = timed(f"formation ({len(nodes)} nodes in no swarm, docker_swarm role)",
                      ["ansible-playbook", *INVENTORY, str(PLAY)])
    noop = timed("no-op re-run (docker_swarm role)", ["ansible-playbook", *INVENTORY, str(PLAY)])
    print(f"\nhosts: {len(nodes)}")
    print(f"formation / facts floor: {formation / facts:.2f}")
    print(f"no-op / facts floor:     {noop / facts:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
