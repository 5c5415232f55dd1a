# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.site_digest: the digest of each play host's inputs, on the controller."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as core_version
from ansible_collections.dockhand.docker.plugins.module_utils import site_digest

# plugins/action/site_digest.py: the collection's root is two levels up.
ROOT = Path(__file__).resolve().parents[2]
PKI_DEFAULTS = ROOT / "roles" / "docker_pki" / "defaults" / "main.yml"


@functools.cache
def _project() -> str:
    return site_digest.project_digest(ROOT, core_version)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # nothing happens on the hosts

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing is transferred
        try:
            _dummy, args = self.validate_argument_spec(argument_spec={
                "record": {"type": "str", "default": "site"},
                "full": {"type": "bool", "default": False},
            })
            digests = self._digests(task_vars)
        except (AnsibleError, OSError) as exc:
            result.update(failed=True, changed=False,
                          msg=f"cannot compute the digest of the run's inputs: {exc}")
            return result
        hostvars = task_vars["hostvars"]
        records = {host: ((hostvars.raw_get(host).get("ansible_facts") or {})
                          .get("ansible_local") or {}).get("dockhand_site_record", {})
                   .get(args["record"]) for host in digests}
        moved = site_digest.moved(records, digests)
        skip = not moved and not args["full"]
        if skip:
            msg = (f"no host moved since the last run that asked the same of it: every role "
                   f"is skipped ({len(digests)} host(s); dockhand_full_run=true runs them)")
        elif not moved:
            msg = "every role runs: a full run was asked for"
        else:
            msg = "every role runs: " + "; ".join(f"{h}: {why}" for h, why in moved.items())
        result.update(changed=False, digests=digests, moved=moved, skip=skip, msg=msg)
        return result

    def _digests(self, task_vars: dict) -> dict:
        hostvars = task_vars["hostvars"]
        groups = task_vars["groups"]
        raw = {host: self._written(hostvars, host) for host in sorted(groups.get("all", []))}
        fleet = site_digest.fleet_digest(
            _project(), groups,
            {host: site_digest.inventory_inputs(values) for host, values in raw.items()})
        out = {}
        for host in task_vars.get("ansible_play_hosts_all") or []:
            values = raw.get(host) or self._written(hostvars, host)
            pki = {path: site_digest.tree_digest(path) for path in self._pki_dirs(values)}
            out[host] = site_digest.host_digest(fleet, values.get("ansible_facts") or {}, pki)
        return out

    @staticmethod
    def _written(hostvars, host: str) -> dict:
        """The host's variables without what this run registered or set (set_fact): those
        are results, and the record is taken at the end of the run."""
        values = hostvars.raw_get(host)
        results = getattr(hostvars, "_variable_manager", None)
        results = getattr(results, "_nonpersistent_fact_cache", {}).get(host, {})
        return {key: value for key, value in values.items() if key not in results}

    def _pki_dirs(self, values: dict) -> list[str]:
        """The PKI directories the host's roles read: docker_pki_dir (as the inventory sets
        it, or as docker_pki's default derives it) and every other *_pki_dir set."""
        expressions = [value for key, value in values.items()
                       if key.endswith("_pki_dir") and not key.startswith("__")]
        if "docker_pki_dir" not in values:
            expressions.append(self._loader.load_from_file(str(PKI_DEFAULTS))["docker_pki_dir"])
        templar = self._templar.copy_with_new_env(available_variables=values)
        dirs = {str(templar.template(expression)) for expression in expressions}
        return sorted(path for path in dirs if path and os.path.isabs(path))
