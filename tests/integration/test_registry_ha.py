"""The registry that survives losing a host (playbooks/registry_ha.yml, part of site.yml): a
GlusterFS volume replicated across node1-3 and mounted on each, the registry on node2 and
node3 at once on it, behind the front door at https://registry-ha.dockhand.test/."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from labtools import SITE, changed_by_hand, on_host, run_playbook
from registrytools import PullLoops, login

pytestmark = pytest.mark.lab

HA = "registry-ha.dockhand.test"
PEERS = ["node1", "node2", "node3"]
MOUNT = "/mnt/gluster/registry"


def push(host: str, tag: str) -> str:
    image = f"{HA}/ha/probe:{tag}"
    login(host, registry=HA)
    on_host(host, "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(host, "docker", "push", "-q", image)
    return image


def test_the_volume_is_replicated_across_three_peers_and_mounted_on_each(converged, hosts):
    info = on_host("node1", "gluster", "volume", "info", "registry").stdout
    assert "Type: Replicate" in info and "Status: Started" in info
    assert "Number of Bricks: 1 x 3 = 3" in info
    marker = uuid.uuid4().hex
    on_host("node2", "sh", "-c", f"echo {marker} > {MOUNT}/ha-test-{marker}")
    for peer in PEERS:
        assert on_host(peer, "findmnt", "-no", "FSTYPE", MOUNT).stdout.strip() == "fuse.glusterfs"
        assert on_host(peer, "cat", f"{MOUNT}/ha-test-{marker}").stdout.strip() == marker
    on_host("node2", "rm", f"{MOUNT}/ha-test-{marker}")
    # Both registries serve the same storage.
    for host in ("node2", "node3"):
        mounts = on_host(host, "docker", "inspect", "-f",
                         "{{range .Mounts}}{{.Source}} {{end}}", "registry-blue",
                         "registry-green", check=False).stdout
        assert f"{MOUNT}/data" in mounts


def pending_heals() -> int:
    """Entries GlusterFS still has to copy to a brick that missed them (a brick that started
    after the writes, a peer back from a stop), over all bricks."""
    info = on_host("node1", "gluster", "volume", "heal", "registry", "info").stdout
    return sum(int(line.split(":")[1]) for line in info.splitlines()
               if line.startswith("Number of entries:"))


def test_pushes_and_pulls_keep_working_with_a_registry_host_stopped(converged, hosts):
    image = push("node4", uuid.uuid4().hex[:8])
    # A peer is taken down only once the others hold every entry, as an operator checks
    # before maintenance: with a heal pending, a file's only good copy may be on the peer
    # that goes (seen once after a fresh converge: node2's brick started last and missed
    # the first writes, and reads then failed with "transport endpoint is not connected").
    on_host("node1", "gluster", "volume", "heal", "registry")
    deadline = time.monotonic() + 120
    while (left := pending_heals()) and time.monotonic() < deadline:
        time.sleep(2)
    assert left == 0, f"{left} entries still to heal after 120 s"
    clients = ["node1", "node4"]
    for host in clients:
        login(host, registry=HA)
    stopped = False
    try:
        with PullLoops(clients, image) as loops:
            time.sleep(3)
            # A host going down the way a server does: its services stop, then it is gone.
            subprocess.run(["docker", "stop", "-t", "60", "dockhand-lab-node3"], check=True,
                           capture_output=True, timeout=120)
            stopped = True
            # Only node3 went away: what its return needs is node3's run.
            changed_by_hand(SITE, "--limit", "node3")
            time.sleep(10)
            late = push("node4", "while-node3-is-down")
            time.sleep(5)
        counts = loops.counts()
        print(f"pull loops through {HA} while node3 was down: {counts}")
        assert all(ok > 5 and failed == 0 for ok, failed, _ in counts.values()), counts
        on_host("node1", "docker", "image", "rm", "-f", late)
        login("node1", registry=HA)
        on_host("node1", "docker", "pull", "-q", late)
    finally:
        if stopped:
            subprocess.run(["docker", "start", "dockhand-lab-node3"], check=True,
                           capture_output=True, timeout=120)
    # Back: the peer heals, and site.yml on the host that came back converges it again, as an
    # operator runs it after a server's return (every role runs on a limited run).
    deadline = time.monotonic() + 120
    while on_host("node3", "systemctl", "is-system-running", "--wait",
                  check=False).returncode not in (0, 1) and time.monotonic() < deadline:
        time.sleep(2)
    run = run_playbook("--limit", "node3")
    assert run.rc == 0, run.output[-4000:]
    heal = on_host("node1", "gluster", "volume", "heal", "registry", "info").stdout
    assert "Status: Connected" in heal
    login("node3", registry=HA)
    on_host("node3", "docker", "pull", "-q", late)
