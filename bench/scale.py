#!/usr/bin/env python3
"""Scale benchmark: light hosts at two lab sizes on the same machine, side by side in one run.

For each size N (default 3 and 24): a fresh lab of N nodes, every one of them a Docker host
and nothing else (no registry, front door, GitLab, swarm or Podman), then
playbooks/engine.yml (the fleet's trust, the engine, daemon.json, the TLS remote API) fresh,
then its no-op re-run, which finds every host as the fresh run recorded it and skips the
roles (the run fails if it does not), the floor of any run that reaches every host (one
command over SSH on each, no module), those two timed at the fastest of three runs, and
the same no-op with every role run
(`dockhand_full_run=true`, no goal: what the roles cost when a host did move). Prints both
sizes' times, the ratios large / small against the goals
(no-op <= 2, fresh converge <= 3), and for each run how busy the machine's CPUs were and how
much it received from the network, and from those which bound each run at the larger size:
the cores, the mirror, or neither (with the no-op's growth set against the floor's).

`--quick` runs sizes 1 and 2 with no goal, each run once: `make bench-quick` runs it, so
that a change that breaks the benchmark is found before it lands.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from converge import ENV, ROOT, fresh_lab

# The checkout's lab package (converge put the checkout on sys.path): which lab
# (DOCKHAND_LAB) and where its inventory is.
from lab import config as lab_config

GOALS = {"fresh converge": 3.0, "no-op": 2.0}
# How many times the no-op and the floor run at each size; the fastest counts.
SHORT_RUNS = 3
# Beside the lab's inventory, as its group_vars expect (they name files two levels up); its
# PKI directory is inventory/scale-pki. A lab of its own (DOCKHAND_LAB=bench, as make test
# runs it beside the lab suite) gets inventory/scale-bench.
INVENTORY_DIR = ROOT / "inventory" / (
    f"scale-{lab_config.LAB_NAME}" if lab_config.APART else "scale")


def light_inventory() -> Path:
    """The lab's hosts.yml with every node in docker_hosts only, beside the lab's group_vars."""
    lab = yaml.safe_load(lab_config.INVENTORY.read_text())
    children = lab["all"]["children"]
    every = children["lab"]["hosts"]
    addressed = {}
    for group in children.values():
        for name, host_vars in ((group or {}).get("hosts") or {}).items():
            if host_vars:
                addressed[name] = host_vars
    lab["all"]["children"] = {
        "docker_hosts": {"hosts": {name: addressed[name] for name in every}},
        "lab": {"hosts": dict.fromkeys(every)},
    }
    if INVENTORY_DIR.exists():
        shutil.rmtree(INVENTORY_DIR)
    INVENTORY_DIR.mkdir(parents=True)
    (INVENTORY_DIR / "hosts.yml").write_text(
        f"---\n# Written by bench/scale.py from {lab_config.INVENTORY.relative_to(ROOT)}: every "
        "node a Docker host.\n"
        + yaml.safe_dump(lab, sort_keys=False))
    (INVENTORY_DIR / "group_vars").symlink_to(lab_config.INVENTORY.parent / "group_vars")
    return INVENTORY_DIR / "hosts.yml"


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def received_bytes() -> int:
    """Bytes the machine received on its own interfaces (not loopback nor the lab's bridges)."""
    total = 0
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, data = line.split(":", 1)
        if not name.strip().startswith(("lo", "veth", "br-", "docker")):
            total += int(data.split()[0])
    return total


SKIPPED = "every role is skipped"


def measured(label: str, cmd: list[str], forks: int, skips: bool = False,
             repeat: int = 1) -> dict[str, float]:
    """The run's wall time, CPU and network; with repeat > 1, of the fastest of that many
    runs, each the same on the same hosts (a run of a second or two moves by a fifth with
    whatever else the machine did meanwhile)."""
    runs = []
    for number in range(1, repeat + 1):
        print(f"[bench] {label} ..." + (f" ({number} of {repeat})" if repeat > 1 else ""),
              flush=True)
        busy0, total0 = cpu_ticks()
        rx0 = received_bytes()
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env={**ENV, "ANSIBLE_FORKS": str(forks)},
                              capture_output=True, text=True, check=False)
        wall = time.monotonic() - start
        busy1, total1 = cpu_ticks()
        if proc.returncode != 0:
            sys.exit(f"[bench] {label} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        if skips and SKIPPED not in " ".join(proc.stdout.split()):
            sys.exit(f"[bench] {label} ran the roles on hosts the last run left converged:\n"
                     f"{proc.stdout[-3000:]}")
        runs.append({"wall": wall, "cpu": 100 * (busy1 - busy0) / max(1, total1 - total0),
                     "core_s": (busy1 - busy0) / os.sysconf("SC_CLK_TCK"),
                     "rx_mb": (received_bytes() - rx0) / 1e6})
    result = min(runs, key=lambda run: run["wall"])
    walls = ", ".join(f"{run['wall']:.1f}" for run in runs)
    print(f"[bench] {label}: {result['wall']:.1f} s"
          + (f" (fastest of {walls} s)" if repeat > 1 else "")
          + f", CPU {result['cpu']:.0f} % busy, {result['rx_mb']:.0f} MB received", flush=True)
    return result


# A run whose CPUs were at least this busy was bound by them; one that received at least
# MIRROR_BOUND MB/s was bound by the mirror.
CPU_BOUND = 90
MIRROR_BOUND = 5.0


def bottlenecks(results: dict, small: int, large: int) -> list[str]:
    """What bound each measure at the large size, from what was measured: the cores (busy
    CPUs, and how much more CPU work the large size took), the mirror (bytes received), or
    neither; for the no-op, how it grew against the floor, which any run that reaches every
    host pays."""
    lines = []
    for measure in GOALS:
        a, b = results[small][measure], results[large][measure]
        work = b["core_s"] / max(a["core_s"], 0.01)
        if b["cpu"] >= CPU_BOUND:
            why = (f"the cores: {b['cpu']:.0f} % busy at N={large}, and the work (CPU "
                   f"seconds, {a['core_s']:.0f} -> {b['core_s']:.0f}) grew {work:.1f}x, so "
                   f"the time follows the work")
        elif b["rx_mb"] / b["wall"] >= MIRROR_BOUND:
            why = f"the mirror: {b['rx_mb'] / b['wall']:.1f} MB/s received at N={large}"
        else:
            why = (f"neither the cores ({b['cpu']:.0f} % busy) nor the mirror "
                   f"({b['rx_mb'] / b['wall']:.1f} MB/s): waits and round trips")
        lines.append(f"{measure}: {why}")
    if "floor" in results[small]:
        a, b = results[small], results[large]
        floor = b["floor"]["wall"] / a["floor"]["wall"]
        noop = b["no-op"]["wall"] / a["no-op"]["wall"]
        lines.append(
            f"no-op against the floor: the floor (one command over SSH on each host, no "
            f"module) grew {floor:.2f}x and the no-op {noop:.2f}x; at N={large} the no-op "
            f"took {b['no-op']['wall'] - b['floor']['wall']:.1f} s more than the floor "
            f"(at N={small}: {a['no-op']['wall'] - a['floor']['wall']:.1f} s)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[3, 24], metavar=("SMALL", "LARGE"))
    parser.add_argument("--quick", action="store_true",
                        help="sizes 1 and 2, no goal: proves the benchmark runs")
    args = parser.parse_args()
    sizes = [1, 2] if args.quick else args.sizes
    results = {}
    for size in sizes:
        fresh_lab(size)
        inventory = ["-i", str(light_inventory())]
        play = ["ansible-playbook", *inventory, str(ROOT / "playbooks" / "engine.yml")]
        forks = max(size, int(os.environ.get("ANSIBLE_FORKS", "20")))
        # The short runs, a second or two each, are timed at their fastest of a few.
        repeat = 1 if args.quick else SHORT_RUNS
        results[size] = {
            "fresh converge": measured(f"N={size}: fresh converge (engine.yml)", play, forks),
            "no-op": measured(f"N={size}: no-op re-run (engine.yml)", play, forks, skips=True,
                              repeat=repeat),
        }
        # The least any run that reaches every host costs: one command over SSH on each,
        # no module. The lab's hosts share the machine's cores, so this grows with N too.
        results[size]["floor"] = measured(
            f"N={size}: floor (ad-hoc raw `true` on every host)",
            ["ansible", *inventory, "docker_hosts", "-m", "ansible.builtin.raw", "-a", "true"],
            forks, repeat=repeat)
        if not args.quick:
            results[size]["every-role no-op"] = measured(
                f"N={size}: no-op re-run with every role run (engine.yml)",
                [*play, "-e", "dockhand_full_run=true"], forks)
    small, large = sizes
    print(f"\n{'measure':<16}{'N=' + str(small):>10}{'N=' + str(large):>10}{'ratio':>8}"
          f"{'goal':>8}")
    missed = 0
    for measure, goal in GOALS.items():
        a, b = results[small][measure], results[large][measure]
        ratio = b["wall"] / a["wall"]
        verdict = "" if args.quick else ("ok" if ratio <= goal else "MISSED")
        missed |= verdict == "MISSED"
        print(f"{measure:<16}{a['wall']:>9.1f}s{b['wall']:>9.1f}s{ratio:>8.2f}"
              f"{'<= ' + str(goal):>8}  {verdict}")
    for measure in ("every-role no-op", "floor"):
        if measure in results[small]:
            a, b = (results[n][measure]["wall"] for n in sizes)
            print(f"{measure:<16}{a:>9.1f}s{b:>9.1f}s{b / a:>8.2f}{'-':>8}  (no goal)")
    print("\nwhere the time went (CPU busy across all cores and CPU seconds, MB received "
          "from the network):")
    for size in sizes:
        for measure in results[size]:
            r = results[size][measure]
            print(f"  N={size:<3} {measure:<16} CPU {r['cpu']:3.0f} % {r['core_s']:6.1f} s  "
                  f"{r['rx_mb']:6.0f} MB at {r['rx_mb'] / r['wall']:5.1f} MB/s")
    print("\nwhat bound each run at the larger size:")
    for line in bottlenecks(results, small, large):
        print(f"  {line}")
    return missed


if __name__ == "__main__":
    sys.exit(main())
