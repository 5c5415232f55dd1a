"""Secrets the operator did not give: made once in the PKI directory, mode 0600, the same
for every fork and every run, vault-encrypted when asked."""

from __future__ import annotations

import os
import stat
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret, is_encrypted
from ansible_collections.dockhand.docker.plugins.module_utils import pki, pki_random

ROOT = Path(__file__).resolve().parents[2]


def _plain(data: bytes) -> bytes:
    return data


def _make(pki_dir: str) -> str:
    return pki_random.ensure_secret(pki_dir, "registry-ci.password", 24, None, _plain)[0]


def test_made_once_private_and_reused(tmp_path):
    pki_dir = tmp_path / "site-pki"
    value, made = pki_random.ensure_secret(str(pki_dir), "s", 24, None, _plain)
    assert made and len(value) == 24 and value.isalnum()
    assert stat.S_IMODE(os.stat(pki_dir / "s").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(pki_dir).st_mode) == 0o700
    assert pki_random.ensure_secret(str(pki_dir), "s", 24, None, _plain) == (value, False)


def test_every_fork_gets_the_same_secret(tmp_path):
    with ProcessPoolExecutor(max_workers=6) as pool:
        values = set(pool.map(_make, [str(tmp_path)] * 12))
    assert len(values) == 1


def test_vault_encrypted_and_read_back(tmp_path):
    vault = VaultLib([("default", VaultSecret(b"pw"))])
    value, _ = pki_random.ensure_secret(str(tmp_path), "s", 32, vault.encrypt, vault.decrypt)
    stored = (tmp_path / "s").read_bytes()
    assert is_encrypted(stored) and value.encode() not in stored
    assert pki_random.ensure_secret(str(tmp_path), "s", 32, None, vault.decrypt)[0] == value


@pytest.mark.parametrize(("name", "length", "message"), [
    ("../escape", 32, "plain file name"),
    ("", 32, "plain file name"),
    ("ok", 8, "16 characters"),
])
def test_refused(tmp_path, name, length, message):
    with pytest.raises(pki.PkiError, match=message):
        pki_random.ensure_secret(str(tmp_path), name, length, None, _plain)


def test_the_lookup_with_the_plays_vault_password(tmp_path):
    password_file = tmp_path / "vault-pass"
    password_file.write_text("lab\n")
    expr = ("{{ lookup('dockhand.docker.pki_random', 'registry-ci.password', "
            f"pki_dir='{tmp_path}/pki', vault_encrypt=true, length=20) }}}}")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    outputs = []
    for _ in range(2):
        proc = subprocess.run(
            ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m",
             "ansible.builtin.debug", "-a", f"msg={expr}", "--vault-password-file",
             str(password_file)], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
        outputs.append(proc.stdout)
    stored = (tmp_path / "pki" / "registry-ci.password").read_bytes()
    assert is_encrypted(stored)
    secret = VaultLib([("default", VaultSecret(b"lab"))]).decrypt(stored).decode().strip()
    assert len(secret) == 20 and all(secret in out for out in outputs)


def test_the_lookup_refuses_a_relative_directory():
    proc = subprocess.run(
        ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", "ansible.builtin.debug",
         "-a", "msg={{ lookup('dockhand.docker.pki_random', 'x', pki_dir='') }}"],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    assert proc.returncode != 0 and "docker_pki_dir" in proc.stdout + proc.stderr


def test_a_secret_made_elsewhere_is_kept_replaced_when_it_changes_and_encrypted(tmp_path):
    pki_dir = str(tmp_path / "site-pki")
    key = "SWMKEY-1-abc"
    assert pki_random.keep_secret(pki_dir, "swarm-unlock.key", key, None, _plain, check=True)
    assert not os.path.exists(pki_dir)
    assert pki_random.keep_secret(pki_dir, "swarm-unlock.key", key, None, _plain)
    path = Path(pki_dir) / "swarm-unlock.key"
    assert path.read_text() == key + "\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not pki_random.keep_secret(pki_dir, "swarm-unlock.key", key + "\n", None, _plain)
    vault = VaultLib([("default", VaultSecret(b"pw"))])
    # As the action's codecs: a plain file is read as it is.
    decrypt = lambda data: vault.decrypt(data) if is_encrypted(data) else data  # noqa: E731
    assert pki_random.keep_secret(pki_dir, "swarm-unlock.key", "SWMKEY-1-new", vault.encrypt,
                                  decrypt)
    assert is_encrypted(path.read_bytes())
    assert vault.decrypt(path.read_bytes()) == b"SWMKEY-1-new\n"
    with pytest.raises(pki.PkiError, match="empty"):
        pki_random.keep_secret(pki_dir, "swarm-unlock.key", " ", None, _plain)
    with pytest.raises(pki.PkiError, match="plain file name"):
        pki_random.keep_secret(pki_dir, "../x", key, None, _plain)
