#!/usr/bin/env python3
"""Front door benchmark on the lab, in one run: push and pull throughput of an image with a
single 256 MB layer straight to the registry (:5000) and through the proxy (443), first with
nginx, then with Traefik, each next to a direct measurement taken in the same phase.

Every push sends a layer the registry has never seen (a fresh random blob per measurement),
so no route profits from the registry already holding it. Target: through a proxy at least
0.9 x direct, push and pull.

`--quick` measures only the front door the lab runs (no switch: the lab suite switches the
doors and back), moving a 16 MB layer once per route, with no target: `make bench-quick` runs
it, so that a change that breaks the benchmark is found before it lands.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from labtools import lab_group_vars, lab_hosts, on_host, run_playbook
from registrytools import NAME, REGISTRY, login

SIZE_MB = 256
TARGET = 0.9
# Each route is measured this many times, alternating with direct; the best of each counts
# (two cores shared by five lab hosts make single runs noisy).
ROUNDS = 3




def timed(host: str, *cmd: str) -> float:
    start = time.monotonic()
    on_host(host, *cmd)
    return time.monotonic() - start


def measure(pusher: str, puller: str, registry: str, size_mb: int) -> tuple[float, float]:
    """(push MB/s, pull MB/s) of a fresh layer of ``size_mb`` through ``registry``."""
    image = f"{registry}/bench/front:{uuid.uuid4().hex[:10]}"
    on_host(pusher, "sh", "-c",
            f"printf 'FROM dockhand-lab/probe:1\\nRUN head -c {size_mb}M /dev/urandom > /blob\\n'"
            f" | docker build -q -t {image} - >/dev/null")
    try:
        push = timed(pusher, "docker", "push", "-q", image)
        pull = timed(puller, "docker", "pull", "-q", image)
    finally:
        for host in (pusher, puller):
            on_host(host, "docker", "rmi", "-f", image, check=False)
    return size_mb / push, size_mb / pull


def backend(name: str) -> None:
    run = run_playbook("--tags", "proxy", "-e", f"proxy_backend={name}")
    if run.rc != 0:
        sys.exit(f"[bench] switching the front door to {name} failed:\n{run.output[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the lab's own front door, a 16 MB layer, one round, no target")
    args = parser.parse_args()
    size_mb, rounds = (16, 1) if args.quick else (SIZE_MB, ROUNDS)
    hosts = lab_hosts()
    pusher, puller = hosts[1], hosts[-1]
    for host in (pusher, puller):
        login(host, registry=REGISTRY)
        login(host, registry=NAME)
    rows, worst = [], 0
    doors = (lab_group_vars()["proxy_backend"],) if args.quick else ("nginx", "traefik")
    try:
        for proxy in doors:
            if not args.quick:
                backend(proxy)
            samples = [(measure(pusher, puller, REGISTRY, size_mb),
                        measure(pusher, puller, NAME, size_mb)) for _ in range(rounds)]
            direct = tuple(max(s[0][i] for s in samples) for i in (0, 1))
            front = tuple(max(s[1][i] for s in samples) for i in (0, 1))
            print(f"[bench] {proxy}: direct push {direct[0]:.1f} MB/s pull {direct[1]:.1f} MB/s; "
                  f"through {proxy} push {front[0]:.1f} MB/s pull {front[1]:.1f} MB/s", flush=True)
            rows.append((proxy, direct, front))
    finally:
        if not args.quick:
            backend("nginx")
    print(f"\nhosts: {len(hosts)}, one {size_mb} MB layer per measurement, best of {rounds}"
          f"{' (quick: no target)' if args.quick else ''}")
    print(f"{'route':<18}{'push ratio':>12}{'pull ratio':>12}{'target':>9}")
    for proxy, direct, front in rows:
        ratios = (front[0] / direct[0], front[1] / direct[1])
        verdict = "" if args.quick else "ok" if min(ratios) >= TARGET else "MISSED"
        worst |= verdict == "MISSED"
        print(f"{proxy + ' / direct':<18}{ratios[0]:>12.2f}{ratios[1]:>12.2f}{'>= 0.9':>9}  "
              f"{verdict}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
