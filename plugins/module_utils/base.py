# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection shares: how a run records what it did, the one way
it fails, how secrets are kept out of its result, and how it compares states.

Standard library and ansible.module_utils only, so it runs on any target's python3.
"""

from __future__ import annotations

import copy


def version_tuple(text):
    """(major, minor, patch) of a version string, ignoring suffixes ("4.3.1-dev" -> (4, 3, 1))."""
    parts = []
    for piece in str(text).split("-", maxsplit=1)[0].split("+", maxsplit=1)[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return (*parts, 0, 0, 0)[:3]


def differences(before, after):
    """Names of the fields of ``after`` whose value ``before`` does not have, sorted."""
    return sorted(key for key, value in after.items() if before.get(key) != value)


# What Ansible puts in place of a no_log value.
NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def _at(params, path):
    """(container, key) pairs that ``path`` names: ("join", "token") is params["join"]
    ["token"], ("env", "*") every key of params["env"]; missing or None parts name nothing."""
    level, spots = [params], []
    for part in path:
        spots = [(container, key) for container in level if isinstance(container, dict)
                 for key in (list(container) if part == "*" else [part] if part in container
                             else [])
                 if container[key] is not None]
        level = [container[key] for container, key in spots]
    return spots


def hidden_values(params, paths):
    """The values at ``paths`` (see _at), as strings."""
    return [str(container[key]) for path in paths for container, key in _at(params, path)]


def invocation(module, paths=()):
    """module_args as Ansible reports them, the values at ``paths`` replaced by the no_log
    placeholder. For modules that hide a secret themselves because Ansible's masking would
    spoil their result: it masks a no_log value inside every other string, so an environment
    value "1" would turn each 1 of a container ID into ********, and a join token could not
    be returned as the manager token it also is."""
    args = copy.deepcopy(module.params)
    for path in paths:
        for container, key in _at(args, path):
            container[key] = NO_LOG_PLACEHOLDER
    return {"module_args": args}


class ModuleRun:
    """One run of a module: what it did (``actions``), and its end.

    Every failure reports ``changed`` (an action already carried out, so never in check
    mode) and ``actions``, so a caller can tell what a failed run had already done.
    """

    # Parameter paths whose values the module hides itself (see invocation()).
    hidden = ()

    def __init__(self, module, prefix=""):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.prefix = prefix
        self.actions = []

    @property
    def changed(self):
        return bool(self.actions) and not self.check

    def fail(self, msg, **extra):
        self.module.fail_json(msg=f"{self.prefix}{msg}", changed=self.changed,
                              actions=self.actions,
                              invocation=invocation(self.module, self.hidden), **extra)

    def exit(self, **result):
        self.module.exit_json(invocation=invocation(self.module, self.hidden), **result)

    def call(self, what, function, *args, **kwargs):
        """``function(*args, **kwargs)``; an engine error fails the run as "cannot <what>"."""
        # Imported here: docker_api takes version_tuple from this module.
        from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (  # noqa: PLC0415
            EngineError,
        )

        try:
            return function(*args, **kwargs)
        except EngineError as exc:
            self.fail(f"cannot {what}: {exc.message}", status=exc.status)
