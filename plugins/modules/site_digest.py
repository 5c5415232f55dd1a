#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: site_digest
short_description: The digest of what a run asks of each host, computed on the controller
version_added: 0.1.0
description:
  - Returns, for every host of the play, a digest of the run's inputs for that host - the
    collection's roles, plugins and playbooks and the ansible-core version; every
    inventory host's variables as written (unrendered), the groups and the extra variables;
    the facts the roles read about the host (its system, architecture and default
    address); and the content of the PKI directories on the controller (C(docker_pki_dir)
    and every other C(*_pki_dir)), where the certificates, keys and generated secrets are.
  - Two runs with the same digest for a host ask the same of it. M(dockhand.docker.site_record)
    keeps the digest of the last successful run on the host, with what that run left.
  - Runs on the controller only, once for the whole play (C(run_once)); contacts no host.
  - Variables that only say how the run was started (check mode, tags, C(--limit),
    verbosity, C(dockhand_full_run)), what this run registered or set, and a run's internal
    C(__*) variables are left out. Strings built from other variables that name a path
    (C({{ inventory_dir }}/images/x.tar)) are rendered to find the file; values with a
    lookup are not rendered here.
  - Also says whether every host of the play is as the last run with the same digest left
    it, from each host's report in O(reports) (or its local fact C(dockhand_site_record),
    see M(dockhand.docker.site_record)). An input that cannot be read (a PKI directory whose
    expression does not render) never lets a run skip.
options:
  record:
    description: The record to compare with, as M(dockhand.docker.site_record) names it.
    type: str
    default: site
  full:
    description:
      - The run runs every role whatever the records say; nothing is computed.
    type: bool
    default: false
  reports:
    description:
      - Per host, what its local fact C(dockhand_site_record) printed (a JSON string, or
        the parsed object), when the play ran it itself rather than gather facts. A host of
        the play missing from it, or whose output does not parse, has no record. Without
        it, each host's gathered local fact is read.
    type: dict
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Compute the digest of every host's inputs
  dockhand.docker.site_digest:
  run_once: true
  register: digest
"""

RETURN = r"""
digests:
  description: The digest (hex SHA-256) per host of the play; empty with O(full).
  returned: always
  type: dict
  sample: {node1: 3f5c0e...}
moved:
  description: Per host that moved, why (no record, inputs changed, what differs on it).
  returned: always
  type: dict
  sample: {node4: "not as the last converged run left it, file /etc/docker/daemon.json"}
skip:
  description: Whether the run can skip every role (no host moved, and not O(full)).
  returned: always
  type: bool
msg:
  description: The decision, in a sentence.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    # The action plugin does the work on the controller; this runs only if it is missing.
    module = AnsibleModule(argument_spec=dict(record=dict(type="str", default="site"),
                                              full=dict(type="bool", default=False),
                                              reports=dict(type="dict")),
                           supports_check_mode=True)
    module.fail_json(msg="dockhand.docker.site_digest runs on the controller: its action "
                         "plugin was not found")


if __name__ == "__main__":
    main()
