# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fields of the roles' raw probes, which print one "field value" line per question."""

from __future__ import annotations

DOCUMENTATION = """
name: probe
short_description: A field of a role's raw probe output
description:
  - C(probe_field) takes the lines a role's raw probe printed (C(stdout_lines)), one
    C(field value) line per question (C(package ii), C(service enabled active)), and returns
    the value of the first line of the given field, without the field name and the space
    after it (C(enabled active) for C(service)). A field the probe did not print, or printed
    empty, gives an empty string.
"""


def probe_field(lines, field):
    prefix = f"{field} "
    for line in lines or []:
        if line == field or line.startswith(prefix):
            return line[len(prefix):]
    return ""


class FilterModule:
    def filters(self):
        return {"probe_field": probe_field}
