"""The registry that survives losing a host (playbooks/registry_ha.yml, part of site.yml): a
GlusterFS volume replicated across node1-3 and mounted on each, the registry on node2 and
node3 at once on it, behind the front door at https://registry-ha.dockhand.test/.

That it survives is proven where a host is lost anyway: test_data_tier.py's host-loss drill
stops a registry host (the one that leads PostgreSQL) while node1 and node4 pull through the
front door and node4 pushes, and site.yml brings the host back; its rebuild drill rebuilds
node3, brick and all. test_swarm.py's rolling restart asks it from every host."""

from __future__ import annotations

import uuid

import pytest
from labtools import on_host

pytestmark = pytest.mark.lab

PEERS = ["node1", "node2", "node3"]
MOUNT = "/mnt/gluster/registry"


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
