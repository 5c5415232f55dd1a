# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.pki_ca: the registry CA, kept on the controller.

All crypto runs here, on the controller; hosts only ever receive certificates (and a leaf key,
through pki_cert). ``PkiAction`` is shared with pki_cert: option checks that name the caller's
variables, and Ansible Vault wired into the Ansible-free module_utils as encrypt/decrypt
callables.
"""

from __future__ import annotations

import os
from typing import ClassVar

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.parsing.vault import is_encrypted, match_encrypt_secret
from ansible.plugins.action import ActionBase
from ansible_collections.dockhand.docker.plugins.module_utils import pki

NEED_VAULT = ("pki_vault_encrypt needs a vault password: "
              "pass --vault-password-file or --ask-vault-pass")

COMMON_SPEC = {
    "pki_dir": {"type": "path", "required": True},
    "key_type": {"type": "str", "default": "ecdsa-p256"},
    "key_size": {"type": "int"},
    "key_var": {"type": "str", "default": "key_type/key_size"},
    "renew_before_days": {"type": "int", "default": 30},
    "force": {"type": "bool", "default": False},
    "vault_encrypt": {"type": "bool", "default": False},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


def _plain(value):
    """Drop 2.19's data tags (str/int/list subclasses) before values reach cryptography."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def vault_codecs(loader, vault_encrypt: bool, error: type[Exception]):
    """encrypt/decrypt for files in the PKI directory. Files are read through the vault
    whenever they are vault-encrypted, so turning vault_encrypt off later still finds them.
    Raises ``error`` when a vault password is needed and none was given."""
    vault = loader._vault
    secrets = vault.secrets or []
    if vault_encrypt and not secrets:
        raise error(NEED_VAULT)

    def decrypt(data: bytes) -> bytes:
        if not is_encrypted(data):
            return data
        if not secrets:
            raise error("a file in pki_dir is vault-encrypted: pass "
                        "--vault-password-file or --ask-vault-pass")
        return vault.decrypt(data)

    if not vault_encrypt:
        return None, decrypt
    # Same choice of secret as `ansible-vault encrypt`: the encrypt identity, else the best.
    vault_id, secret = match_encrypt_secret(secrets, C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
    label = None if vault_id == C.DEFAULT_VAULT_IDENTITY else vault_id

    def encrypt(data: bytes) -> bytes:
        return vault.encrypt(data, secret=secret, vault_id=label)

    return encrypt, decrypt


class PkiFailure(Exception):
    """A request to refuse, with a message for the user."""


class PkiAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # nothing happens on the host
    ARGUMENT_SPEC: ClassVar[dict] = {}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        try:
            _dummy, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
            args = {key: _plain(value) for key, value in args.items()}
            errors = self.errors(args)
            if errors:
                raise PkiFailure("; ".join(errors))
            result.update(self.apply(args, check=bool(self._task.check_mode)))
        except (PkiFailure, pki.PkiError, AnsibleError) as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        return result

    def apply(self, args: dict, check: bool) -> dict:
        raise NotImplementedError

    def errors(self, args: dict) -> list[str]:
        """Everything wrong with the request, before any file is touched."""
        if not os.path.isabs(args["pki_dir"]):
            return [f"pki_dir must be an absolute path on the controller, such as "
                    f"\"{{{{ inventory_dir }}}}/pki\", not '{args['pki_dir']}'"]
        return (pki.key_errors(args["key_type"], args["key_size"], args["key_var"])
                + pki.validity_errors(args["validity_days"], args["renew_before_days"]))

    def _codecs(self, vault_encrypt: bool):
        return vault_codecs(self._loader, vault_encrypt, PkiFailure)


class ActionModule(PkiAction):
    ARGUMENT_SPEC: ClassVar[dict] = {
        **COMMON_SPEC,
        "name": {"type": "str", "default": "ca"},
        "common_name": {"type": "str", "default": "dockhand CA"},
        "validity_days": {"type": "int", "default": 3650},
        # The end of a CA rotation: the next CA takes this name. Nothing to do once it did.
        "promote_from": {"type": "str"},
    }

    def apply(self, args: dict, check: bool) -> dict:
        pki_dir, name = args["pki_dir"], args["name"]
        if args["state"] == "absent":
            removed = pki.remove(pki_dir, name, check=check)
            return {"changed": removed, "reason": "removed" if removed else "absent",
                    "path": os.path.join(pki_dir, f"{name}.crt")}
        promoted = bool(args["promote_from"]) and os.path.exists(
            os.path.join(pki_dir, f"{args['promote_from']}.crt"))
        if promoted:
            pki.promote(pki_dir, args["promote_from"], name, check=check)
            if check:
                return {"changed": True, "reason": f"{args['promote_from']} would become {name}",
                        "path": os.path.join(pki_dir, f"{name}.crt")}
        encrypt, decrypt = self._codecs(args["vault_encrypt"])
        ca = pki.ensure_ca(pki_dir, name, args["common_name"], args["key_type"],
                           args["key_size"], args["validity_days"], args["renew_before_days"],
                           force=args["force"], encrypt=encrypt, decrypt=decrypt, check=check)
        return {"changed": ca.changed or promoted,
                "reason": f"promoted from {args['promote_from']}" if promoted else ca.reason,
                "certificate": ca.cert_pem,
                "serial": ca.serial, "not_after": ca.not_after,
                "fingerprint_sha256": ca.fingerprint_sha256, "path": ca.path_cert,
                "key_path": ca.path_key}
