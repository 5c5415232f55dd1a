# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.local_facts: named local facts in one shell round trip, no Python start."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.dockhand.docker.plugins.module_utils import local_facts


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # It only reads: a check run needs the same facts to decide what it would change.
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing is transferred
        _dummy, args = self.validate_argument_spec(argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "fact_path": {"type": "str", "default": local_facts.DEFAULT_FACT_PATH},
        })
        try:
            token, cmd = local_facts.command(args["names"], args["fact_path"])
        except local_facts.LocalFactsError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        run = self._low_level_execute_command(cmd, executable="/bin/sh")
        facts, epoch = local_facts.parse(run.get("stdout", ""), token)
        if run.get("rc") != 0 or epoch is None:
            result.update(failed=True, rc=run.get("rc"),
                          msg=f"cannot read the local facts in {args['fact_path']}: "
                              f"{(run.get('stderr') or run.get('stdout') or '').strip()[-500:]}")
            return result
        result.update(changed=False, ansible_facts={
            "ansible_local": facts,
            "ansible_date_time": {"epoch": epoch},
        })
        return result
