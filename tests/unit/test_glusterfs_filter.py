"""Which GlusterFS peers were rebuilt, read from each peer's `gluster pool list`."""

from __future__ import annotations

import pytest
from ansible_collections.dockhand.docker.plugins.filter.glusterfs import glusterfs_rebuilt_peers

PEERS = ["node1", "node2", "node3"]
ADDRESSES = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
HEADER = "UUID\t\t\t\t\tHostname\tState\n"


def pool(own: str, **others: str) -> str:
    """A pool list as `gluster pool list` prints it: the other peers, then localhost."""
    lines = [f"{uuid}\t{address}\tConnected " for address, uuid in others.items()]
    return HEADER + "\n".join([*lines, f"{own}\tlocalhost\tConnected "]) + "\n"


FORMED = {
    "node1": pool("u1", **{"10.0.0.2": "u2", "10.0.0.3": "u3"}),
    "node2": pool("u2", **{"10.0.0.1": "u1", "10.0.0.3": "u3"}),
    "node3": pool("u3", **{"10.0.0.1": "u1", "10.0.0.2": "u2"}),
}


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        # A formed pool: every peer is what the others keep.
        (FORMED, {}),
        # Nothing formed yet: every peer knows only itself.
        ({p: pool(f"u{i}") for i, p in enumerate(PEERS, 1)}, {}),
        # node3 reinstalled: a new UUID and a pool of its own; the others keep u3.
        ({**FORMED, "node3": pool("new3")}, {"node3": "u3"}),
        # The first peer rebuilt: the reference is then another one.
        ({**FORMED, "node1": pool("new1")}, {"node1": "u1"}),
        # In check mode a rebuilt peer has no glusterd yet: no pool at all.
        ({**FORMED, "node3": ""}, {"node3": "u3"}),
        # A peer whose list was not read is not taken for a rebuilt one.
        ({p: text for p, text in FORMED.items() if p != "node3"}, {}),
        # A new peer the others have not probed yet is not rebuilt.
        ({"node1": pool("u1", **{"10.0.0.2": "u2"}), "node2": pool("u2", **{"10.0.0.1": "u1"}),
          "node3": pool("u3")}, {}),
        # The others disagree: the UUID most of them keep counts.
        ({"node1": pool("u1", **{"10.0.0.2": "u2", "10.0.0.3": "u3"}),
          "node2": pool("u2", **{"10.0.0.1": "u1", "10.0.0.3": "u3"}),
          "node3": pool("new3"), "node4": pool("u4", **{"10.0.0.3": "other"})},
         {"node3": "u3"}),
    ],
)
def test_glusterfs_rebuilt_peers(pools, expected):
    peers, addresses = list(PEERS), list(ADDRESSES)
    if "node4" in pools:
        peers.append("node4")
        addresses.append("10.0.0.4")
    assert glusterfs_rebuilt_peers(pools, peers, addresses) == expected
