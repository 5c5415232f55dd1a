# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GlusterFS peers that were rebuilt, from what each peer's pool says."""

from __future__ import annotations

from collections import Counter

DOCUMENTATION = """
name: glusterfs
short_description: The rebuilt peers of a GlusterFS pool and the UUIDs the pool knows them by
description:
  - C(glusterfs_rebuilt_peers) takes each peer's C(gluster pool list) output (a mapping of
    inventory name to text), the peers' inventory names and their addresses in the same
    order, and returns a mapping of each rebuilt peer to the UUID the other peers keep for
    its address. A peer is rebuilt when the others list its address under a UUID that is not
    its own (the C(localhost) line of its own list). Such a peer came back with its address
    but without C(/var/lib/glusterd), and the pool rejects it until it takes that UUID back.
  - A peer no other peer lists (a new one, or a pool not formed yet) is not rebuilt, nor is one
    whose list was not read (absent from the mapping). When the others disagree on the UUID,
    the one most of them keep counts.
  - The glusterfs role's C(volume.yml) gives each rebuilt peer its UUID back before it
    probes, so that a rebuilt server rejoins with no manual step.
"""


def _rows(text):
    """(uuid, hostname) of each line of `gluster pool list` after its header."""
    rows = []
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            rows.append((fields[0], fields[1]))
    return rows


def glusterfs_rebuilt_peers(pools, peers, addresses):
    rows = {peer: _rows(text) for peer, text in (pools or {}).items()}
    own = {peer: next((uuid for uuid, host in listed if host == "localhost"), None)
           for peer, listed in rows.items()}
    rebuilt = {}
    for peer, address in zip(peers, addresses, strict=True):
        if peer not in rows:
            continue
        kept = Counter(uuid for other, listed in rows.items() if other != peer
                       for uuid, host in listed if host == address)
        if kept and own.get(peer) not in kept:
            rebuilt[peer] = kept.most_common(1)[0][0]
    return rebuilt


class FilterModule:
    def filters(self):
        return {"glusterfs_rebuilt_peers": glusterfs_rebuilt_peers}
