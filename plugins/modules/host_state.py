#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state
short_description: Read files and systemd units' states of a host in one call
version_added: 0.1.0
description:
  - Reads what a role needs to decide what to change on a host, where a slurp per file and
    a M(ansible.builtin.systemd_service) call per unit would each cost a round trip.
  - Changes nothing; its result is the same in check mode.
  - Callers that read secrets (a htpasswd, a key) set C(no_log) on the task.
options:
  files:
    description: Paths to read.
    type: list
    elements: path
    default: []
  units:
    description: systemd units whose enablement and activity to read.
    type: list
    elements: str
    default: []
attributes:
  diff_mode:
    support: none
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Read the registry's state on its host
  dockhand.docker.host_state:
    files: [/etc/dockhand-registry/mode]
    units: [dockhand-registry-route.service]
  register: state

- name: Enable the routing unit only when it is not
  ansible.builtin.systemd_service:
    name: dockhand-registry-route.service
    enabled: true
  when: state.units['dockhand-registry-route.service'].enabled != 'enabled'
"""

RETURN = r"""
files:
  description: >-
    Per path: C(exists), and for a file that exists its C(content), base64-encoded as
    M(ansible.builtin.slurp) returns it.
  returned: always
  type: dict
  sample:
    /etc/dockhand-registry/mode: {exists: true, content: Y29udGFpbmVyCg==, encoding: base64}
units:
  description: >-
    Per unit, C(enabled) (its UnitFileState, empty when it has no unit file) and C(active)
    (its ActiveState).
  returned: always
  type: dict
  sample:
    dockhand-registry-route.service: {enabled: enabled, active: inactive}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.host_state import (
    parse_show,
    read_file,
    show_argv,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="path", default=[]),
            units=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    files = {}
    for path in module.params["files"]:
        try:
            files[path] = read_file(path)
        except OSError as exc:
            module.fail_json(msg=f"cannot read {path}: {exc}")
    units = {}
    if module.params["units"]:
        argv = show_argv(module.get_bin_path("systemctl", required=True), module.params["units"])
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"systemctl show failed (rc {rc}): {err.strip()}")
        try:
            units = parse_show(module.params["units"], out)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    module.exit_json(changed=False, files=files, units=units)


if __name__ == "__main__":
    main()
