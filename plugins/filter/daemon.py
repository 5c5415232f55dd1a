# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_daemon_config's controller-side check, for a role's check before any change."""

from __future__ import annotations

# module_utils are imported by the filters that use them (pyproject.toml says why).

DOCUMENTATION = """
name: daemon
short_description: What is wrong with requested daemon.json options
description:
  - C(daemon_option_errors) checks daemon.json options against dockerd's option table, as
    M(dockhand.docker.docker_daemon_config) does on the controller before it contacts a host,
    and returns its failure message in a list, or an empty list when the options are valid.
    Its arguments are the module's C(remove_keys), C(state), C(allow_unknown_keys),
    C(engine_version) (V(auto) or empty checks without a version) and C(options_name), the
    variable the message names. docker_daemon's C(validate.yml) fails on it, so that bad
    options stop every host before anything is installed or written.
"""


def daemon_option_errors(options, remove_keys=(), state="merged", allow_unknown=False,
                         engine_version="auto", options_name="options"):
    from ansible_collections.dockhand.docker.plugins.module_utils import daemon_validate
    message = daemon_validate.request_failure(options, remove_keys, state, bool(allow_unknown),
                                              engine_version, options_name)[0]
    return [message] if message else []


class FilterModule:
    def filters(self):
        return {"daemon_option_errors": daemon_option_errors}
