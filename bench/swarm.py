#!/usr/bin/env python3
"""Swarm benchmark on the lab, measured side by side in one run:

1. facts floor: a play that only gathers facts on the swarm's hosts;
2. formation: every lab node leaves its swarm, then the docker_swarm role forms it again
   (the leader inits, the others join, roles, labels, networks);
3. no-op re-run of the same play.

Prints the times and the ratios formation / facts floor and no-op / facts floor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from converge import ROOT, timed

PLAY = ROOT / "tests" / "integration" / "playbooks" / "swarm.yml"
INVENTORY = ["-i", str(ROOT / "inventory" / "lab")]


def lab_nodes() -> list[str]:
    out = subprocess.run(["docker", "ps", "--filter", "label=dockhand.lab=1", "--format",
                          "{{.Names}}"], capture_output=True, text=True, check=True).stdout
    return sorted(name for name in out.split() if name.startswith("dockhand-lab-node"))


def leave_all(nodes: list[str]) -> None:
    """Workers first: a manager that leaves first would cost the others their quorum."""
    for name in sorted(nodes, reverse=True):
        subprocess.run(["docker", "exec", name, "docker", "swarm", "leave", "--force"],
                       capture_output=True, check=False)


def main() -> int:
    nodes = lab_nodes()
    if len(nodes) < 4:
        sys.exit("[bench] the swarm benchmark wants the 4-node lab (make lab-up)")
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
