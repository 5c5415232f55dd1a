# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.pki_cert: a leaf certificate signed by a pki_ca CA, on the controller."""

from __future__ import annotations

from typing import ClassVar

from ansible_collections.dockhand.docker.plugins.action.pki_ca import (
    COMMON_SPEC,
    PkiAction,
)
from ansible_collections.dockhand.docker.plugins.module_utils import pki


class ActionModule(PkiAction):
    ARGUMENT_SPEC: ClassVar[dict] = {
        **COMMON_SPEC,
        "name": {"type": "str", "required": True},
        "ca_name": {"type": "str", "default": "ca"},
        "common_name": {"type": "str"},
        "dns_names": {"type": "list", "elements": "str", "default": []},
        "ip_addresses": {"type": "list", "elements": "str", "default": []},
        "names_var": {"type": "str", "default": "dns_names/ip_addresses"},
        "usage": {"type": "str", "default": "server",
                  "choices": ["server", "client", "server+client"]},
        "validity_days": {"type": "int", "default": 397},
        "return_private_key": {"type": "bool", "default": False},
    }

    def errors(self, args: dict) -> list[str]:
        errors = super().errors(args)
        if args["state"] == "absent":
            return errors
        dns_names, ip_addresses, names_var = (args["dns_names"], args["ip_addresses"],
                                              args["names_var"])
        errors += pki.validate_names(dns_names, ip_addresses, names_var)
        if args["usage"] != "client" and not dns_names and not ip_addresses:
            errors.append(f"{names_var}: a server certificate needs at least one DNS name or "
                          "IP address; clients check names against these, never the common name")
        return errors

    def apply(self, args: dict, check: bool) -> dict:
        pki_dir, name = args["pki_dir"], args["name"]
        if args["state"] == "absent":
            removed = pki.remove(pki_dir, name, check=check)
            return {"changed": removed, "reason": "removed" if removed else "absent"}
        encrypt, decrypt = self._codecs(args["vault_encrypt"])
        cert = pki.ensure_cert(pki_dir, name, args["ca_name"], args["common_name"],
                               args["dns_names"], args["ip_addresses"], args["usage"],
                               args["key_type"], args["key_size"],
                               args["validity_days"], args["renew_before_days"],
                               force=args["force"], encrypt=encrypt, decrypt=decrypt,
                               check=check)
        result = {"changed": cert.changed, "reason": cert.reason, "certificate": cert.cert_pem,
                  "chain": cert.chain_pem, "serial": cert.serial, "not_after": cert.not_after,
                  "ca_fingerprint_sha256": cert.ca_fingerprint,
                  "paths": {"cert": cert.path_cert, "key": cert.path_key,
                            "chain": cert.path_chain}}
        if args["return_private_key"]:
            # Hidden from every callback even if the task forgot no_log; register still has it.
            result.update(private_key=cert.key_pem, _ansible_no_log=True)
        return result
