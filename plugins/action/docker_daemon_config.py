# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of dockhand.docker.docker_daemon_config.

Checks the requested options against dockerd's option table before any host is contacted,
so a typo fails every host at once, without a round trip, and before a role installs
anything. With ``validate_only`` that is all it does; otherwise it runs the module.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.dockhand.docker.plugins.module_utils import daemon_validate

MODULE = "dockhand.docker.docker_daemon_config"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # not used: the module needs no files transferred
        args = dict(self._task.args)
        validate_only = boolean(args.get("validate_only", False), strict=True)

        options = args.get("options") or {}
        name = args.get("options_name") or "options"
        if not isinstance(options, dict):
            result.update(failed=True, changed=False,
                          msg=f"{name} must be a mapping of daemon.json keys to values, "
                              f"not {type(options).__name__}")
            return result
        remove_keys = args.get("remove_keys") or []
        # The controller knows an engine's version only when it is given: "auto" asks the host.
        version = str(args.get("engine_version", "auto") or "").strip()
        errors = daemon_validate.request_errors(
            options, remove_keys, args.get("state") or "merged",
            boolean(args.get("allow_unknown_keys", False), strict=True),
            "" if version == "auto" else version)
        if errors:
            result.update(failed=True, changed=False, errors=errors,
                          msg=daemon_validate.failure_message(name, errors))
            return result
        if validate_only:
            result.update(changed=False, msg=f"{name}: {len(options)} option(s) valid")
            return result

        result.update(self._execute_module(module_name=MODULE, module_args=args,
                                           task_vars=task_vars))
        return result
