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
        message, errors = daemon_validate.request_failure(
            options, args.get("remove_keys") or [], args.get("state") or "merged",
            boolean(args.get("allow_unknown_keys", False), strict=True),
            args.get("engine_version", "auto"), name)
        if message:
            result.update(failed=True, changed=False, msg=message,
                          **({"errors": errors} if errors else {}))
            return result
        if validate_only:
            result.update(changed=False, msg=f"{name}: {len(options)} option(s) valid")
            return result

        result.update(self._execute_module(module_name=MODULE, module_args=args,
                                           task_vars=task_vars))
        return result
