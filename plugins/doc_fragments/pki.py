# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options pki_ca and pki_cert share: where the PKI lives, keys, renewal, vault, state."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  pki_dir:
    description:
      - Absolute path of the directory on the controller that holds the PKI files, such as
        C(inventory/site-pki) beside the inventory (never inside it, where Ansible would read
        every file as inventory). Created with mode C(0700) when missing.
    type: path
    required: true
  key_type:
    description: Key algorithm.
    type: str
    choices: [ecdsa-p256, ecdsa-p384, rsa]
    default: ecdsa-p256
  key_size:
    description: RSA key size in bits (2048, 3072 or 4096; 3072 when unset). Ignored for ECDSA.
    type: int
  key_var:
    description: The caller's variable(s) for O(key_type)/O(key_size), named in error messages.
    type: str
    default: key_type/key_size
  renew_before_days:
    description: Reissue when the certificate expires within this many days.
    type: int
    default: 30
  vault_encrypt:
    description:
      - Keep the private key encrypted at rest with the play's vault secret (the
        C(vault_identity_encrypt) identity if configured, else the first secret given), so
        it can be committed. Needs C(--vault-password-file) or C(--ask-vault-pass).
      - A key already on disk is re-encrypted or decrypted to match, without a new key.
      - Vault-encrypted keys are always read through the vault, whatever this option says.
    type: bool
    default: false
  state:
    description: V(absent) deletes the files of O(name).
    type: str
    choices: [present, absent]
    default: present
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
  - Runs on the controller only, as an action plugin.
requirements:
  - The Python package C(cryptography) on the controller (the collection's
    C(requirements.txt)); the managed hosts need nothing.
"""
