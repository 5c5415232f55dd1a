# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.pki_random: a secret the operator did not give, made once on the
controller and kept beside the CA."""

from __future__ import annotations

DOCUMENTATION = """
name: pki_random
author: dockhand engineers (@dockhand)
short_description: A generated secret, kept in the PKI directory on the controller
description:
  - Returns the secret kept in O(pki_dir)/TERM. When there is none, makes one of O(length)
    random letters and digits, writes it with mode 0600 (vault-encrypted with the play's vault
    password when O(vault_encrypt) is on), and returns it. Every later run, and every host of
    this one, gets the same value.
  - For the secrets an operator may leave to dockhand, such as registry passwords and the
    registry's HTTP secret. A secret that the operator gives belongs in the inventory's vault
    file instead.
  - A vault-encrypted file is read whenever a vault password is given, whatever
    O(vault_encrypt) says now.
options:
  _terms:
    description: The file name of the secret in O(pki_dir), for example C(registry-ci.password).
    required: true
    type: list
    elements: str
  pki_dir:
    description: The PKI directory on the controller (C(docker_pki_dir)), an absolute path.
    required: true
    type: str
  length:
    description: Length of a new secret; 16 or more.
    type: int
    default: 32
  vault_encrypt:
    description: Encrypt a new secret with the play's vault password.
    type: bool
    default: false
"""

EXAMPLES = """
- name: Log in with the registry password dockhand generated
  ansible.builtin.command:
    argv: [docker, login, -u, ci, --password-stdin, registry.example.com]
    stdin: >-
      {{ lookup('dockhand.docker.pki_random', 'registry-ci.password', pki_dir=docker_pki_dir) }}
  no_log: true
  changed_when: false
"""

RETURN = """
_raw:
  description: One secret per term.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.dockhand.docker.plugins.action.pki_ca import vault_codecs
from ansible_collections.dockhand.docker.plugins.module_utils import pki, pki_random


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        pki_dir = self.get_option("pki_dir")
        if not pki_dir or not os.path.isabs(pki_dir):
            raise AnsibleLookupError(
                f"pki_dir must be an absolute path on the controller (docker_pki_dir), "
                f"not '{pki_dir}'")
        encrypt, decrypt = vault_codecs(self._loader, self.get_option("vault_encrypt"),
                                        AnsibleLookupError)
        try:
            return [pki_random.ensure_secret(pki_dir, str(term), self.get_option("length"),
                                             encrypt, decrypt)[0]
                    for term in terms]
        except pki.PkiError as exc:
            raise AnsibleLookupError(str(exc)) from exc
