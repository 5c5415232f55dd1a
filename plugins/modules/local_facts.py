#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: local_facts
short_description: Read named local facts with one shell command, without starting Python
version_added: 0.1.0
description:
  - Runs or reads each named local fact in O(fact_path) (C(<name>.fact)) as
    M(ansible.builtin.setup) does (an executable fact is run and its output parsed, another
    one is read; JSON, else INI), in one POSIX shell command per host, and sets them as
    C(ansible_facts.ansible_local) with the host's clock as C(ansible_facts.date_time.epoch).
  - A setup call costs each host a Python start and the import of Ansible's module library;
    a play that needs only a few of the host's own facts (playbooks/rotate_registry_certs.yml)
    spends that on every host before its first change. This needs only C(/bin/sh) on the host.
  - Replaces C(ansible_local) and C(date_time) as a whole, with only what it read; use it
    in place of fact gathering, not after it. A fact file that is missing is left out; one
    that fails or does not parse gets an error string in its place, as setup gives it.
options:
  names:
    description: The local facts to read, by name (letters, digits and underscores).
    type: list
    elements: str
    required: true
  fact_path:
    description: The directory of the local facts on the host.
    type: str
    default: /etc/ansible/facts.d
attributes:
  check_mode:
    support: full
    details: It only reads, in check mode as in a normal run.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Read the trust and registry records, without fact gathering
  dockhand.docker.local_facts:
    names: [dockhand_trust, dockhand_registry]
"""

RETURN = r"""
ansible_facts:
  description: C(ansible_local) with each named fact found, and C(date_time.epoch).
  returned: success
  type: dict
  sample: {ansible_local: {dockhand_proxy: {backend: nginx}}, date_time: {epoch: "1796544151"}}
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    # The action plugin does the work through the shell; this runs only if it is missing.
    module = AnsibleModule(
        argument_spec=dict(names=dict(type="list", elements="str", required=True),
                           fact_path=dict(type="str", default="/etc/ansible/facts.d")),
        supports_check_mode=True)
    module.fail_json(msg="dockhand.docker.local_facts runs as an action plugin: it was not found")


if __name__ == "__main__":
    main()
