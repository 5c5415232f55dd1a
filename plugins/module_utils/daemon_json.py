# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging requested options into daemon.json, and deciding whether dockerd must reload
or restart for the change. The option table is in daemon_options, validation in
daemon_validate, the systemd unit's flags in daemon_unit. Standard library only: this runs
on the managed hosts, which have nothing but their system python3.
"""

from __future__ import annotations

import copy
import json

from ansible_collections.dockhand.docker.plugins.module_utils.daemon_options import (
    OPTIONS,
    RELOAD_RESETS_WHEN_ABSENT,
    RESTART_ONLY_FEATURES,
)


def merge(existing: dict, options: dict, state: str = "merged",
          remove_keys: list | None = None) -> dict:
    if state == "exact":
        return copy.deepcopy(options)
    if state != "merged":
        raise ValueError(f"state must be 'merged' or 'exact', not {state!r}")
    drop = set(remove_keys or ())
    result = {k: v for k, v in existing.items() if k not in drop}
    result.update({k: v for k, v in options.items() if k not in drop})
    # Nested values are shared with the inputs otherwise.
    return copy.deepcopy(result)


_MISSING = object()


def changed_keys(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after)
                  if before.get(k, _MISSING) != after.get(k, _MISSING))


def _reloadable(key: str, before: dict, after: dict) -> bool:
    spec = OPTIONS.get(key)
    if spec is None or not spec.reload:
        return False
    if key not in after and key not in RELOAD_RESETS_WHEN_ABSENT:
        return False
    if key == "features":
        old, new = before.get(key) or {}, after.get(key) or {}
        return not any(old.get(f) != new.get(f) for f in RESTART_ONLY_FEATURES)
    return True


def apply_action(before: dict, after: dict, dropin_changed: bool) -> str:
    """'none', 'reload' (SIGHUP is enough) or 'restart' for going from before to after."""
    keys = changed_keys(before, after)
    if dropin_changed:
        return "restart"
    if not keys:
        return "none"
    if all(_reloadable(k, before, after) for k in keys):
        return "reload"
    return "restart"


def render(config: dict) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def parse(text: str | bytes) -> dict:
    """Parse daemon.json as dockerd does; raises ValueError when dockerd would not accept it."""
    if isinstance(text, bytes):
        # dockerd tolerates a UTF-8 byte order mark (Windows editors write one).
        text = text.decode("utf-8-sig")
    if not text.strip():
        return {}
    config = json.loads(text)
    if not isinstance(config, dict):
        raise ValueError(f"the top level is a JSON {type(config).__name__}, not an object")
    return config
