#!/usr/bin/env python3
"""Converge benchmark: site.yml against its floors, measured side by side in one run.

1. install floor: fresh lab hosts, one ad-hoc command per host in parallel that does
   what any engine install must do (apt-get update, apt-get install docker.io, start it);
2. fresh converge of the engine's share: fresh lab hosts again, playbooks/engine.yml (trust,
   engine, daemon.json, the TLS remote API), profiled per task the last time;
   1 and 2 alternate for --rounds rounds (2 by default) and the best of each counts: on two
   cores shared with the lab, one round's pair can differ by a fifth between runs of the
   bench (the machine's own speed drifts), and alternating keeps the pair side by side;
3. its no-op re-run;
4. facts floor: a play that only gathers facts, on the same hosts;
5. the whole site.yml on top, then its no-op re-run (which finds every host as the run
   left it and skips the roles), then a no-op re-run with every role run
   (dockhand_full_run=true), profiled per role and per task.

Prints the wall times and the ratios the project targets: converge / install floor (<= 1.5),
engine no-op / facts floor (<= 3) and whole-site no-op / facts floor (<= 3); the every-role
no-op's ratio is printed beside them, with no target. A no-op re-run that changes anything
is a miss too.

`--quick` skips 1, the rebuilds and the every-role no-op: steps 2-5 run once on the lab as
it is (on a lab `make lab-up` has just built, step 2 is a fresh converge), and no ratio is
held against a target; a no-op that changes something still fails it. `make bench-quick`
runs it, so that a change that breaks the benchmark is found before it lands.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lab.config import DEFAULT_NODES, INVENTORY  # noqa: E402  (the checkout's lab package, found above)

ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
# The lab inventory's vault.yml is encrypted with the lab's vault password.
ENV.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(ROOT / ".lab" / "vault-password"))
# Debian 13's CLI is a package of its own (docker.io only recommends it): an engine install
# includes it where the release has it, as docker_engine's does.
INSTALL_FLOOR = (
    "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y -q --no-install-recommends docker.io "
    "$(apt-cache show docker-cli >/dev/null 2>&1 && echo docker-cli) >/dev/null "
    "&& systemctl start docker"
)
TARGETS = {"converge / install floor": 1.5, "engine no-op / facts floor": 3.0,
           "site no-op / facts floor": 3.0}
# Where a no-op run's time goes, printed after it: the slowest roles and tasks.
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_roles,ansible.posix.profile_tasks",
           "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "15"}


def profile_lines(output: str) -> str:
    """The per-role and per-task profile the PROFILE callbacks print after the recap."""
    recap = output[output.find("PLAY RECAP"):]
    return "\n".join(line for line in recap.splitlines()[-45:] if line.strip())


def failures(output: str) -> str:
    """Each failed task of a run, with its task line: the tail of a long run shows only the
    recap, which names the host but not what failed."""
    blocks, task = [], ""
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("TASK ["):
            task = line
        # A loop's failed items come as "failed: [host] (item=...)", the task's end as fatal.
        elif line.startswith(("fatal: [", "failed: [")):
            # The result ends at the first blank line; a long one is cut at 30 lines.
            block = [task]
            for result in lines[number:number + 30]:
                if not result.strip():
                    break
                block.append(result)
            blocks.append("\n".join(block))
    return "\n\n".join(blocks)


# The no-op re-runs that reported a change, by label: a miss whatever the times.
CHANGED: dict[str, int] = {}


def timed(label: str, cmd: list[str], profile: bool = False) -> float:
    print(f"[bench] {label} ...", flush=True)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env={**ENV, **(PROFILE if profile else {})},
                          capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"[bench] {label} failed:\n{failures(proc.stdout)}\n{proc.stdout[-3000:]}\n"
                 f"{proc.stderr[-3000:]}")
    if " changed=" in proc.stdout and "no-op" in label:
        changed = sum(int(n) for n in re.findall(r" changed=(\d+)", proc.stdout))
        print(f"[bench] {label}: changed={changed}", flush=True)
        if changed:
            CHANGED[label] = changed
    if profile:
        print(profile_lines(proc.stdout), flush=True)
    print(f"[bench] {label}: {elapsed:.1f} s", flush=True)
    return elapsed


def fresh_lab(nodes: int) -> None:
    for cmd in (["down"], ["up", "--nodes", str(nodes)]):
        subprocess.run([sys.executable, "-m", "lab", *cmd], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int,
                        default=int(os.environ.get("LAB_NODES", DEFAULT_NODES)))
    parser.add_argument("-e", "--extra-vars", action="append", default=[],
                        help="passed to every ansible-playbook run, e.g. to compare settings")
    parser.add_argument("--quick", action="store_true",
                        help="once on the lab as it is, no install floor, no target")
    parser.add_argument("--rounds", type=int, default=2,
                        help="install floor and fresh converge pairs; the best of each counts")
    args = parser.parse_args()
    extra = [arg for value in args.extra_vars for arg in ("-e", value)]
    # The lab DOCKHAND_LAB names: the main one unless told.
    inventory = ["-i", str(INVENTORY.parent)]

    # The engine's share of site.yml (its trust and remote API included), against the engine
    # install floor; the rotation is measured by bench/registry.py, the swarm by bench/swarm.py.
    engine = ["ansible-playbook", *inventory, "playbooks/engine.yml", *extra]
    label = "fresh converge (engine.yml: trust, engine, daemon.json, TLS API)"
    install = None
    if args.quick:
        converge = timed(label, engine)
    else:
        installs, converges = [], []
        for number in range(1, max(args.rounds, 1) + 1):
            last = number == max(args.rounds, 1)
            fresh_lab(args.nodes)
            installs.append(timed(
                f"round {number}: install floor (ad-hoc apt-get install docker.io + start, "
                "parallel)", ["ansible", *inventory, "docker_hosts", "-m", "ansible.builtin.shell",
                             "-a", INSTALL_FLOOR]))
            fresh_lab(args.nodes)
            converges.append(timed(f"round {number}: {label}", engine, profile=last))
        install, converge = min(installs), min(converges)
        print(f"[bench] best of {len(installs)}: install floor {install:.1f} s, "
              f"fresh converge {converge:.1f} s", flush=True)
    noop = timed("engine no-op re-run (engine.yml)", engine)
    facts = timed("facts floor (gather facts only)",
                  ["ansible-playbook", *inventory, "bench/facts.yml"])

    timed("whole site.yml (registry, swarm, GitLab, front door, HA registry, Podman) on top",
          ["ansible-playbook", *inventory, "playbooks/site.yml", *extra])
    site_noop = timed("site no-op re-run (site.yml)",
                      ["ansible-playbook", *inventory, "playbooks/site.yml", *extra])
    # What a run costs when a host moved (or one is asked for): every role checks its
    # state. Profiled: where the time of a run that has work to find goes. Not in quick
    # mode: the lab suite runs site.yml with every role (-vvv, --check) already, and
    # bench/registry.py's quick run prints a profile.
    full_noop = None if args.quick else timed(
        "site no-op re-run, every role (site.yml, dockhand_full_run=true)",
        ["ansible-playbook", *inventory, "playbooks/site.yml", *extra,
         "-e", "dockhand_full_run=true"], profile=True)
    ratios = {"engine no-op / facts floor": noop / facts,
              "site no-op / facts floor": site_noop / facts}
    if install is not None:
        ratios = {"converge / install floor": converge / install, **ratios}
    print(f"\nhosts: {args.nodes}{' (quick: no target held)' if args.quick else ''}")
    print(f"{'measure':<28}{'ratio':>8}{'target':>9}")
    worst = 0
    for name, value in ratios.items():
        verdict = "" if args.quick else "ok" if value <= TARGETS[name] else "MISSED"
        worst |= verdict == "MISSED"
        print(f"{name:<28}{value:>8.2f}{'<= ' + str(TARGETS[name]):>9}  {verdict}")
    if full_noop is not None:
        print(f"{'site no-op, every role run':<28}{full_noop / facts:>8.2f}{'-':>9}  "
              f"(no target: the cost of a run that finds a host moved)")
    for label, changed in CHANGED.items():
        print(f"{label}: changed={changed}, a no-op must change nothing  MISSED")
    return int(worst or bool(CHANGED))


if __name__ == "__main__":
    sys.exit(main())
