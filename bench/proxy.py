#!/usr/bin/env python3
"""Front door benchmark on the lab, in one run: push and pull throughput of an image with a
single 256 MB layer straight to the registry (:5000) and through the proxy (443), first with
nginx, then with Traefik, each next to a direct measurement taken in the same phase.

Every push sends a layer the registry has never seen (a fresh random blob per measurement),
so no route profits from the registry already holding it. Target: through a proxy at least
0.9 x direct, push and pull.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from labtools import lab_hosts, on_host, run_playbook
from registrytools import NAME, REGISTRY, USER, password

SIZE_MB = 256
TARGET = 0.9
# Each route is measured this many times, alternating with direct; the best of each counts
# (two cores shared by five lab hosts make single runs noisy).
ROUNDS = 3


def login(host: str, registry: str) -> None:
    on_host(host, "sh", "-c",
            f"printf %s '{password()}' | docker login -u {USER} --password-stdin {registry}")


def timed(host: str, *cmd: str) -> float:
    start = time.monotonic()
    on_host(host, *cmd)
    return time.monotonic() - start


def measure(pusher: str, puller: str, registry: str) -> tuple[float, float]:
    """(push MB/s, pull MB/s) of a fresh 256 MB layer through ``registry``."""
    image = f"{registry}/bench/front:{uuid.uuid4().hex[:10]}"
    on_host(pusher, "sh", "-c",
            f"printf 'FROM dockhand-lab/probe:1\\nRUN head -c {SIZE_MB}M /dev/urandom > /blob\\n'"
            f" | docker build -q -t {image} - >/dev/null")
    try:
        push = timed(pusher, "docker", "push", "-q", image)
        pull = timed(puller, "docker", "pull", "-q", image)
    finally:
        for host in (pusher, puller):
            on_host(host, "docker", "rmi", "-f", image, check=False)
    return SIZE_MB / push, SIZE_MB / pull


def backend(name: str) -> None:
    run = run_playbook("--tags", "proxy", "-e", f"proxy_backend={name}")
    if run.rc != 0:
        sys.exit(f"[bench] switching the front door to {name} failed:\n{run.output[-3000:]}")


def main() -> int:
    hosts = lab_hosts()
    pusher, puller = hosts[1], hosts[-1]
    for host in (pusher, puller):
        login(host, REGISTRY)
        login(host, NAME)
    rows, worst = [], 0
    try:
        for proxy in ("nginx", "traefik"):
            backend(proxy)
            samples = [(measure(pusher, puller, REGISTRY), measure(pusher, puller, NAME))
                       for _ in range(ROUNDS)]
            direct = tuple(max(s[0][i] for s in samples) for i in (0, 1))
            front = tuple(max(s[1][i] for s in samples) for i in (0, 1))
            print(f"[bench] {proxy}: direct push {direct[0]:.1f} MB/s pull {direct[1]:.1f} MB/s; "
                  f"through {proxy} push {front[0]:.1f} MB/s pull {front[1]:.1f} MB/s", flush=True)
            rows.append((proxy, direct, front))
    finally:
        backend("nginx")
    print(f"\nhosts: {len(hosts)}, one {SIZE_MB} MB layer per measurement, best of {ROUNDS}")
    print(f"{'route':<18}{'push ratio':>12}{'pull ratio':>12}{'target':>9}")
    for proxy, direct, front in rows:
        ratios = (front[0] / direct[0], front[1] / direct[1])
        ok = min(ratios) >= TARGET
        worst |= not ok
        print(f"{proxy + ' / direct':<18}{ratios[0]:>12.2f}{ratios[1]:>12.2f}{'>= 0.9':>9}  "
              f"{'ok' if ok else 'MISSED'}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
