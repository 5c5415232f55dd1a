# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What docker_engine installs, decided on the controller from one package query."""

from __future__ import annotations

import re

DOCUMENTATION = """
name: engine
short_description: What docker_engine installs, from the host's package query
description:
  - C(engine_package_plan) takes the lines of docker_engine's query (C(name version status)
    per installed package, as C(dpkg-query) or C(rpm) print them, and C(service <is-enabled>
    <is-active>)), the package specs the run wants, the engine's own (pinned) specs, the
    packages that mean an engine is installed, and the separator of a name and its version
    (C(=) for apt, C(-) for dnf). It returns C(missing), the wanted specs not installed (a
    spec is a name, or a name and version); C(fresh), whether no engine package is
    installed; C(engine_missing), whether one of the engine's own specs is missing; and
    C(service), the service's C([is-enabled, is-active]) as the query found it.
"""

_INSTALLED = re.compile(r"^\S+ \S+ [ih]i")
_NAME_VERSION = re.compile(r"^(\S+) (?:\(none\):)?(\S+) .*$")


def engine_package_plan(lines, packages, engine_specs, engine_packages, separator):
    installed = set()
    for line in lines or []:
        if _INSTALLED.match(line):
            installed.update(_NAME_VERSION.sub(rf"\1 \1{separator}\2", line).split())
    missing = [spec for spec in packages if spec not in installed]
    service = next((line for line in lines or [] if line.startswith("service ")), "service")
    return {
        "missing": missing,
        "fresh": not any(name in installed for name in engine_packages),
        "engine_missing": any(spec in missing for spec in engine_specs),
        "service": service.split(" ")[1:],
    }


class FilterModule:
    def filters(self):
        return {"engine_package_plan": engine_package_plan}
