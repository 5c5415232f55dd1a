# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockhand.docker.pki_keep: keep a secret a host made (a swarm's unlock key) in the PKI
directory on the controller, vault-encrypted when asked, as pki_random keeps generated ones."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.dockhand.docker.plugins.action.pki_ca import vault_codecs
from ansible_collections.dockhand.docker.plugins.module_utils import pki
from ansible_collections.dockhand.docker.plugins.module_utils.pki_random import keep_secret


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # the secret goes to the controller only

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _dummy, args = self.validate_argument_spec(argument_spec={
            "pki_dir": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "value": {"type": "str", "required": True, "no_log": True},
            "vault_encrypt": {"type": "bool", "default": False},
        })
        try:
            encrypt, decrypt = vault_codecs(self._loader, args["vault_encrypt"], AnsibleError)
            changed = keep_secret(str(args["pki_dir"]), str(args["name"]), str(args["value"]),
                                  encrypt, decrypt, check=self._task.check_mode)
        except (pki.PkiError, AnsibleError, OSError) as exc:
            result.update(failed=True,
                          msg=f"cannot keep {args['name']} in {args['pki_dir']}: {exc}")
            return result
        result.update(changed=changed, path=f"{args['pki_dir']}/{args['name']}")
        return result
