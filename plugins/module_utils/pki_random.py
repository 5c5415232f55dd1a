# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets the operator did not give (registry passwords, the registry's HTTP secret), made
once on the controller and kept in the PKI directory beside the CA, so every run and every
host reads the same value."""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Callable

from ansible_collections.dockhand.docker.plugins.module_utils import pki
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, read_bytes

ALPHABET = string.ascii_letters + string.digits
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def name_errors(name: str) -> list[str]:
    if not _NAME.match(name or ""):
        return [f"secret name '{name}' must be a plain file name (letters, digits, '.', '_', '-')"]
    return []


def ensure_secret(pki_dir: str, name: str, length: int,
                  encrypt: Callable[[bytes], bytes] | None,
                  decrypt: Callable[[bytes], bytes]) -> tuple[str, bool]:
    """(the secret, whether it was made now). A kept secret is read, never replaced, whatever
    ``encrypt`` is now: turning vault encryption on later keeps the old plaintext file."""
    errors = name_errors(name) + ([] if length >= 16 else
                                  [f"a generated secret needs 16 characters or more, not {length}"])
    if errors:
        raise pki.PkiError("; ".join(errors))
    path = os.path.join(pki_dir, name)
    with pki._locked(pki_dir, create=True):
        stored = read_bytes(path)
        if stored is not None:
            return decrypt(stored).decode().strip(), False
        value = "".join(secrets.choice(ALPHABET) for _dummy in range(length))
        data = (value + "\n").encode()
        atomic_write(path, encrypt(data) if encrypt else data, 0o600)
        return value, True


def keep_secret(pki_dir: str, name: str, value: str, encrypt: Callable[[bytes], bytes] | None,
                decrypt: Callable[[bytes], bytes], check: bool = False) -> bool:
    """Keep a secret made elsewhere (a swarm's unlock key) as ``name`` in ``pki_dir``, 0600,
    vault-encrypted when ``encrypt`` is given; whether it was (or in check mode would be)
    written. A kept file with the same secret stays as it is, encrypted or not."""
    errors = name_errors(name) + ([] if value.strip() else ["the secret to keep is empty"])
    if errors:
        raise pki.PkiError("; ".join(errors))
    path = os.path.join(pki_dir, name)
    with pki._locked(pki_dir, create=not check):
        stored = read_bytes(path)
        if stored is not None and decrypt(stored).decode().strip() == value.strip():
            return False
        if not check:
            data = (value.strip() + "\n").encode()
            atomic_write(path, encrypt(data) if encrypt else data, 0o600)
        return True
