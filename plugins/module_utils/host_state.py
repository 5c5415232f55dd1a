# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a role reads on a host before deciding what to change: files and systemd units.

Standard library only; used by host_state. One module call answers what used to take a
slurp per file and a systemd call per unit, each a round trip of its own.
"""

from __future__ import annotations

import base64

from ansible_collections.dockhand.docker.plugins.module_utils.files import read_bytes

# What `systemctl show` is asked for, per unit.
UNIT_PROPERTIES = ("UnitFileState", "ActiveState")


def read_file(path: str) -> dict:
    """A file as ansible.builtin.slurp returns it (base64 ``content``), or ``exists`` false."""
    data = read_bytes(path)
    if data is None:
        return {"exists": False}
    return {"exists": True, "content": base64.b64encode(data).decode("ascii"),
            "encoding": "base64"}


def show_argv(systemctl: str, units: list[str]) -> list[str]:
    return [systemctl, "show", "--property", ",".join(UNIT_PROPERTIES), "--", *units]


def parse_show(units: list[str], text: str) -> dict[str, dict[str, str]]:
    """`systemctl show` prints one block of KEY=value lines per unit, in the order asked,
    separated by blank lines; an unknown unit gets a block too (an empty UnitFileState,
    ActiveState inactive). Blocks are matched by order: an alias shows its target's Id."""
    blocks: list[dict[str, str]] = [{}]
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        key, _dummy, value = line.partition("=")
        blocks[-1][key] = value
    blocks = [b for b in blocks if b]
    if len(blocks) != len(units):
        raise ValueError(
            f"systemctl show answered {len(blocks)} unit(s) for {len(units)}: {text!r}")
    return {unit: {"enabled": blocks[i].get("UnitFileState", ""),
                   "active": blocks[i].get("ActiveState", "")}
            for i, unit in enumerate(units)}
