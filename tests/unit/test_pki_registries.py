"""The registries every host trusts, as docker_pki checks them (pki_registry_errors) and as a
host holds them (pki_trust_plan, on real PKI files): a certs.d directory per registry name,
the CA in each, the next CA beside it only while a rotation runs (and its removal
otherwise), and the /etc/hosts block of the named addresses."""

from __future__ import annotations

import pytest
from ansible_collections.dockhand.docker.plugins.filter.registry import (
    pki_registry_errors,
    pki_trust_plan,
)
from ansible_collections.dockhand.docker.plugins.module_utils import pki

CERTS_D = "/etc/docker/certs.d"
REGISTRIES = [
    {"name": "registry.lab", "port": 443, "address": "10.0.0.5"},
    {"name": "registry.lab", "port": 5000, "address": "10.0.0.5"},
    {"name": "10.0.0.7", "port": "5443"},
    {"name": "mirror.lab", "address": ""},
]
ROOTS = [f"{CERTS_D}/registry.lab", f"{CERTS_D}/registry.lab:5000", f"{CERTS_D}/10.0.0.7:5443",
         f"{CERTS_D}/mirror.lab"]


@pytest.fixture
def pki_dir(tmp_path):
    pki.ensure_ca(str(tmp_path), "ca", "ca", "ecdsa-p256", None, 3650, 30)
    return tmp_path


@pytest.mark.parametrize("rotating", [False, True])
def test_every_registry_name_gets_the_ca_and_the_next_one_only_during_a_rotation(
        pki_dir, rotating):
    ca = (pki_dir / "ca.crt").read_text()
    if rotating:
        pki.ensure_ca(str(pki_dir), "ca-next", "ca-next", "ecdsa-p256", None, 3650, 30)
    plan = pki_trust_plan(REGISTRIES, CERTS_D, ca, str(pki_dir))
    assert plan["directories"] == [{"path": root} for root in ROOTS]
    want = []
    for root in ROOTS:
        want.append({"path": f"{root}/ca.crt", "mode": "0444", "content": ca})
        if rotating:
            want.append({"path": f"{root}/ca-next.crt", "mode": "0444",
                         "content": (pki_dir / "ca-next.crt").read_text()})
    assert plan["files"] == want
    assert plan["absent"] == ([] if rotating else [f"{root}/ca-next.crt" for root in ROOTS])


@pytest.mark.parametrize(("manage", "want"), [
    (True, [{"path": "/etc/hosts", "marker": "dockhand registry names",
             "block": "10.0.0.5 registry.lab"}]),
    (False, []),
])
def test_the_hosts_block_names_each_given_address_once(pki_dir, manage, want):
    assert pki_trust_plan(REGISTRIES, CERTS_D, "pem", str(pki_dir), manage)["blocks"] == want


def test_no_registry_means_nothing_to_hold_but_an_empty_hosts_block(pki_dir):
    plan = pki_trust_plan([], CERTS_D, "pem", str(pki_dir))
    assert (plan["directories"], plan["files"], plan["absent"]) == ([], [], [])
    assert plan["blocks"][0]["block"] == ""



@pytest.mark.parametrize(("registries", "want"), [
    (REGISTRIES, []),
    ([], []),
    ([{"name": "r.lab", "port": 0}, {"name": "r.lab", "port": "x"}, {"name": "r.lab"},
      {"name": "r.lab", "port": 65536}],
     ["v: ports must be from 1 to 65535, not x, 0, 65536"]),
    ([{"name": "bad_name", "port": 5000}], ["v: 'bad_name' is not a valid DNS name"]),
])
def test_registry_names_and_ports_are_checked_and_named(registries, want):
    errors = pki_registry_errors(registries, "v")
    assert len(errors) == len(want)
    for error, start in zip(errors, want, strict=True):
        assert error.startswith(start)
