#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin of the same name does all the work, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: pki_cert
short_description: Issue and keep a certificate signed by a dockhand.docker.pki_ca CA
version_added: 0.1.0
description:
  - Keeps C(<name>.crt), C(<name>.key) and C(<name>.chain.pem) (certificate then CA) in
    O(pki_dir) on the controller, signed by the CA C(<ca_name>) of dockhand.docker.pki_ca.
  - All cryptography runs on the controller; the managed hosts need nothing.
  - Names always go in the subject alternative names (DNS and IP); the common name is never
    the only name. A server certificate needs at least one O(dns_names) or O(ip_addresses).
  - The certificate is reissued, always with a new key, only when it is missing, expires
    within O(renew_before_days), has other SANs (in any order), another key type or size,
    another O(usage), is not signed by the current CA (as after a CA rotation), or O(force)
    is set. RV(reason) says why.
  - Safe to run for many hosts at once (a lock on C(<pki_dir>/.lock)).
options:
  name:
    description: Base name of the certificate's files in O(pki_dir).
    type: str
    required: true
  ca_name:
    description: Base name of the signing CA's files in O(pki_dir).
    type: str
    default: ca
  common_name:
    description: Subject common name; the first DNS name or IP address when unset.
    type: str
  dns_names:
    description:
      - DNS subject alternative names. A leading C(*.) makes a wildcard for one label.
    type: list
    elements: str
    default: []
  ip_addresses:
    description: IPv4 or IPv6 subject alternative names.
    type: list
    elements: str
    default: []
  names_var:
    description: The caller's variable(s) for the names, named in error messages.
    type: str
    default: dns_names/ip_addresses
  usage:
    description:
      - Extended key usage. A V(client) certificate without names gets its O(common_name)
        as DNS name.
    type: str
    choices: [server, client, server+client]
    default: server
  validity_days:
    description: Lifetime of a newly issued certificate.
    type: int
    default: 397
  force:
    description: Reissue, with a new key, whatever the state.
    type: bool
    default: false
  return_private_key:
    description:
      - Return the private key (PEM, unencrypted) in RV(private_key). The result is then
        marked C(no_log), so no callback shows it; a registered variable still holds it.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - dockhand.docker.pki
seealso:
  - module: dockhand.docker.pki_ca
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Issue the registry's server certificate
  dockhand.docker.pki_cert:
    pki_dir: "{{ inventory_dir }}-pki"
    name: registry
    dns_names: "{{ registry_tls_dns_names }}"
    ip_addresses: "{{ registry_tls_ip_addresses }}"
    names_var: registry_tls_dns_names/registry_tls_ip_addresses
    vault_encrypt: true
  run_once: true
  register: registry_cert

- name: Install its key on the registry host (the vault-encrypted file is decrypted in transit)
  ansible.builtin.copy:
    src: "{{ registry_cert.paths.key }}"
    dest: /etc/registry/tls/registry.key
    mode: "0600"
  no_log: true
"""

RETURN = r"""
certificate:
  description: The certificate, PEM. In check mode the current one, if any.
  returned: state=present
  type: str
chain:
  description: The certificate followed by the CA certificate, PEM.
  returned: state=present
  type: str
private_key:
  description: The private key, PEM, unencrypted. The result is marked no_log.
  returned: O(return_private_key=true)
  type: str
serial:
  description: Serial number, in decimal.
  returned: state=present
  type: str
not_after:
  description: End of validity, ISO 8601 in UTC.
  returned: state=present
  type: str
ca_fingerprint_sha256:
  description: SHA-256 fingerprint of the signing CA certificate, lowercase hex.
  returned: state=present
  type: str
paths:
  description: Files on the controller.
  returned: state=present
  type: dict
  contains:
    cert:
      description: The certificate.
      type: str
    key:
      description: The private key (vault-encrypted with O(vault_encrypt)).
      type: str
    chain:
      description: Certificate and CA, PEM.
      type: str
reason:
  description: >-
    Why it changed (V(missing), V(forced), V(SANs ... differ ...), V(not signed by the current
    CA ...), V(expires ...), V(chain file updated), ...) or V(up to date).
  returned: always
  type: str
"""
