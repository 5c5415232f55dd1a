# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.site_digest: the digest of each play host's inputs, on the controller."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as core_version
from ansible.template import trust_as_template
from ansible_collections.dockhand.docker.plugins.module_utils import site_digest

# plugins/action/site_digest.py: the collection's root is two levels up.
ROOT = Path(__file__).resolve().parents[2]
PKI_DEFAULTS = ROOT / "roles" / "docker_pki" / "defaults" / "main.yml"


@functools.cache
def _project() -> str:
    return site_digest.project_digest(ROOT, core_version)


def _parsed(output: str):
    """The probe's JSON, from its output as a whole or its last line (a terminal may have
    added lines before it); anything else, the probe failing, is no record."""
    lines = [line for line in output.splitlines() if line.strip()]
    for text in (output, lines[-1] if lines else ""):
        try:
            return json.loads(text)
        except ValueError:
            continue
    return None


class Unresolved(Exception):
    """An input that cannot be read as the run would: the run must not skip on it."""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # nothing happens on the hosts

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing is transferred
        _dummy, args = self.validate_argument_spec(argument_spec={
            "record": {"type": "str", "default": "site"},
            "full": {"type": "bool", "default": False},
            "reports": {"type": "dict"},
        })
        hosts = list(task_vars.get("ansible_play_hosts_all") or [])
        if args["full"]:
            # Nothing to compare with, and a digest whose inputs cannot be read must not
            # stop a run that was asked to run every role anyway.
            result.update(changed=False, digests={}, moved={}, skip=False,
                          msg="every role runs: a full run was asked for")
            return result
        try:
            digests = self._digests(task_vars, hosts)
        except (Unresolved, AnsibleError, OSError) as exc:
            result.update(changed=False, digests={}, skip=False, moved={},
                          msg=f"every role runs: the run's inputs cannot all be read ({exc})")
            return result
        hostvars = task_vars["hostvars"]
        records = {host: self._record(hostvars, host, args["record"], args["reports"])
                   for host in digests}
        moved = site_digest.moved(records, digests)
        skip = not moved
        if skip:
            msg = (f"no host moved since the last run that asked the same of it: every role "
                   f"is skipped ({len(digests)} host(s); dockhand_full_run=true runs them)")
        else:
            msg = "every role runs: " + "; ".join(f"{h}: {why}" for h, why in moved.items())
        result.update(changed=False, digests=digests, moved=moved, skip=skip, msg=msg)
        return result

    @staticmethod
    def _record(hostvars, host: str, name: str, reports: dict | None):
        """The host's record as its local fact reported it: run by the play (``reports``,
        the fact's output) or at fact gathering. A fact that failed (its value is then the
        error's text) or a host missing from the reports is no record."""
        if reports is not None:
            report = reports.get(host)
            if isinstance(report, str):
                report = _parsed(report)
        else:
            facts = hostvars.raw_get(host).get("ansible_facts")
            local = facts.get("ansible_local") if isinstance(facts, dict) else None
            report = local.get("dockhand_site_record") if isinstance(local, dict) else None
        return report.get(name) if isinstance(report, dict) else None

    def _digests(self, task_vars: dict, hosts: list[str]) -> dict:
        hostvars = task_vars["hostvars"]
        groups = task_vars["groups"]
        raw = {host: self._written(hostvars, host) for host in sorted(groups.get("all", []))}
        inventory = {host: site_digest.inventory_inputs(values) for host, values in raw.items()}
        files = set()
        for host, values in raw.items():
            files |= self._named_files(values, inventory[host])
        fleet = site_digest.fleet_digest(_project(), groups, inventory, sorted(files))
        out = {}
        # Most hosts read the same PKI directory: each is hashed once, not once per host.
        tree = functools.cache(site_digest.tree_digest)
        for host in hosts:
            values = raw.get(host) or self._written(hostvars, host)
            pki = {path: tree(path) for path in self._pki_dirs(values)}
            out[host] = site_digest.host_digest(fleet, pki)
        return out

    @staticmethod
    def _written(hostvars, host: str) -> dict:
        """The host's variables without what this run registered or set (set_fact): those
        are results, and the record is taken at the end of the run."""
        values = hostvars.raw_get(host)
        results = getattr(hostvars, "_variable_manager", None)
        results = getattr(results, "_nonpersistent_fact_cache", {}).get(host, {})
        return {key: value for key, value in values.items() if key not in results}

    def _render(self, values: dict, expression):
        templar = self._templar.copy_with_new_env(available_variables=values)
        return templar.template(trust_as_template(expression))

    def _named_files(self, values: dict, inputs: dict) -> set[str]:
        """The files on the controller that the host's variables name, rendered as the run
        renders them when they are built from other variables (`{{ inventory_dir }}/...`).
        A value that reads anything else (a lookup) is not rendered: rendering it here
        could make what it looks up (a generated secret)."""
        found = site_digest.controller_files(inputs)
        for text in site_digest.path_templates(inputs):
            try:
                rendered = self._render(values, text)
            except AnsibleError:
                continue  # the run renders it as the role sees it; nothing to hash here
            found |= site_digest.controller_files(rendered)
        return found

    def _pki_dirs(self, values: dict) -> list[str]:
        """The PKI directories the host's roles read: docker_pki_dir (as the inventory sets
        it, or as docker_pki's default derives it) and every other *_pki_dir set."""
        expressions = [value for key, value in values.items()
                       if key.endswith("_pki_dir") and not key.startswith("__")]
        if "docker_pki_dir" not in values:
            expressions.append(self._loader.load_from_file(str(PKI_DEFAULTS))["docker_pki_dir"])
        dirs = set()
        for expression in expressions:
            try:
                path = str(self._render(values, expression))
            except AnsibleError as exc:
                raise Unresolved(f"a PKI directory, {expression!r}: {exc}") from exc
            if path and not os.path.isabs(path):
                raise Unresolved(f"a PKI directory that is not an absolute path: {path!r}")
            if path:
                dirs.add(path)
        return sorted(dirs)
