#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin of the same name does all the work, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: pki_keep
short_description: Keep a secret a host made in the PKI directory on the controller
version_added: 0.1.0
description:
  - Writes O(value) to C(<pki_dir>/<name>) on the Ansible controller, mode 0600, and with
    O(vault_encrypt) encrypted with the play's vault password, as
    M(dockhand.docker.pki_random) keeps the secrets dockhand generates. For secrets a host
    makes and the next run needs, such as a swarm's unlock key.
  - A kept file that holds the same secret is left as it is (C(changed=false)), encrypted or
    not; a different one is replaced. The secret never appears in the result.
  - Read it back with the M(ansible.builtin.unvault) lookup, which reads plain and
    vault-encrypted files alike.
options:
  pki_dir:
    description: The PKI directory on the controller (C(docker_pki_dir)).
    type: path
    required: true
  name:
    description: The file's name in O(pki_dir); letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  value:
    description: The secret. Never shown.
    type: str
    required: true
  vault_encrypt:
    description: Encrypt the file with the play's vault password.
    type: bool
    default: false
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Runs on the controller only, as an action plugin; the managed hosts need nothing.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Read the swarm's unlock key on a manager
  dockhand.docker.docker_swarm_node:
    return_unlock_key: true
  register: lock
  no_log: true

- name: Keep it beside the CA
  dockhand.docker.pki_keep:
    pki_dir: "{{ docker_pki_dir }}"
    name: swarm-unlock.key
    value: "{{ lock.unlock_key }}"
  no_log: true
"""

RETURN = r"""
path:
  description: The file on the controller.
  returned: success
  type: str
"""
