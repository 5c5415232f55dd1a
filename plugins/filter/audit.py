# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit watches checked on the controller with the audit_rules module's own rules."""

from __future__ import annotations

from ansible_collections.dockhand.docker.plugins.module_utils.audit_rules import (
    RuleError,
    check_key,
    check_watch,
)

DOCUMENTATION = """
name: audit
short_description: What M(dockhand.docker.audit_rules) would refuse in audit watches
description:
  - C(audit_watch_errors) takes the watches (C([{path, permissions}])), the key and the
    name of the variables they came from, and returns one message per watch the module
    would refuse (a path not absolute or with blanks, permissions not of C(rwxa), a key
    auditctl does not take), each naming the variable; empty when all are good.
  - A role's preflight fails with them on the controller, before any host changes.
"""


def audit_watch_errors(watches, key, names):
    errors = []
    for check, arg in [(check_key, key)] + [
            (check_watch, {"path": watch.get("path", ""), "key": "key",
                           "permissions": watch.get("permissions") or ""}) for watch in watches]:
        try:
            check(arg)
        except RuleError as exc:
            errors.append(f"{names}: {exc}.")
    return errors


class FilterModule:
    def filters(self):
        return {"audit_watch_errors": audit_watch_errors}
