#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin of the same name does all the work, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: pki_ca
short_description: Create and keep a self-signed certificate authority on the controller
version_added: 0.1.0
description:
  - Keeps C(<name>.crt) and C(<name>.key) in O(pki_dir) on the Ansible controller, for a CA
    that signs the certificates of dockhand.docker.pki_cert (for example a Docker registry's).
  - All cryptography runs on the controller with the Python C(cryptography) library; nothing
    is installed on or run on the managed hosts, and the private key never leaves O(pki_dir)
    and never appears in the task result.
  - The CA is replaced, with a new key, only when it is missing, expires within
    O(renew_before_days), has another key type than requested, or O(force) is set.
    Changing O(common_name) alone does not replace it. RV(reason) says why it changed.
  - The CA has C(basicConstraints=CA:TRUE, pathlen:0) and C(keyUsage=keyCertSign, cRLSign),
    both critical, and a subject key identifier.
  - Safe to run for many hosts at once; a lock on C(<pki_dir>/.lock) makes the first host
    create the files and the others find them in place.
options:
  name:
    description: Base name of the CA's files in O(pki_dir).
    type: str
    default: ca
  common_name:
    description: Subject common name of the CA.
    type: str
    default: dockhand CA
  validity_days:
    description: Lifetime of a newly issued CA certificate.
    type: int
    default: 3650
  promote_from:
    description:
      - Ends a CA rotation, the CA named here (e.g. V(ca-next)) becomes O(name). Nothing
        happens when its files are gone, so a repeated run is harmless.
    type: str
  force:
    description: Reissue the CA, with a new key, whatever its state.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - dockhand.docker.pki
seealso:
  - module: dockhand.docker.pki_cert
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Keep the registry CA next to the inventory
  dockhand.docker.pki_ca:
    pki_dir: "{{ inventory_dir }}-pki"
    common_name: dockhand registry CA
    vault_encrypt: true
  run_once: true
  register: registry_ca

- name: Trust it for the registry on every host
  ansible.builtin.copy:
    content: "{{ registry_ca.certificate }}"
    dest: /etc/docker/certs.d/registry.lan:5000/ca.crt
    mode: "0644"
"""

RETURN = r"""
certificate:
  description: The CA certificate, PEM. In check mode the current one, if any.
  returned: state=present
  type: str
serial:
  description: Serial number, in decimal.
  returned: state=present
  type: str
not_after:
  description: End of validity, ISO 8601 in UTC.
  returned: state=present
  type: str
fingerprint_sha256:
  description: SHA-256 fingerprint of the certificate, lowercase hex.
  returned: state=present
  type: str
path:
  description: The certificate file on the controller.
  returned: always
  type: str
key_path:
  description: The private key file on the controller (vault-encrypted with O(vault_encrypt)).
  returned: state=present
  type: str
reason:
  description: >-
    Why it changed (V(missing), V(forced), V(key type ... differs ...), V(expires ...),
    V(key encrypted at rest), ...) or V(up to date).
  returned: always
  type: str
"""
