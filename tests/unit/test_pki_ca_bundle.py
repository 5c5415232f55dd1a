"""What a verifier trusts during a CA rotation (the pki_ca_bundle filter), on real PKI files:
the current CA alone, or the current one followed by the next one while it exists; the
data tier's CA rotates apart from the fleet's."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.registry import pki_ca_bundle
from ansible_collections.dockhand.docker.plugins.module_utils import pki


@pytest.fixture
def pki_dir(tmp_path):
    for name in ("ca", "data-ca"):
        pki.ensure_ca(str(tmp_path), name, name, "ecdsa-p256", None, 3650, 30)
    return tmp_path


def pem(pki_dir, name: str) -> str:
    return (pki_dir / f"{name}.crt").read_text()


@pytest.mark.parametrize(("args", "present", "want"), [
    ((), [], ["ca"]),
    ((), ["ca-next"], ["ca", "ca-next"]),
    (("data-ca",), [], ["data-ca"]),
    (("data-ca",), ["ca-next"], ["data-ca"]),
    (("data-ca",), ["data-ca-next"], ["data-ca", "data-ca-next"]),
])
def test_the_bundle_is_the_current_ca_then_the_next_one_while_it_exists(
        pki_dir, args, present, want):
    for name in present:
        pki.ensure_ca(str(pki_dir), name, name, "ecdsa-p256", None, 3650, 30)
    assert pki_ca_bundle(str(pki_dir), *args) == "".join(pem(pki_dir, n) for n in want)


def test_a_missing_current_ca_is_named(tmp_path):
    with pytest.raises(AnsibleFilterError, match=r"data-ca\.crt"):
        pki_ca_bundle(str(tmp_path), "data-ca")
