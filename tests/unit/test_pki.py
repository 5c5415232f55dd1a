"""The controller-side PKI: module_utils.pki on real files, TLS handshakes with what it
issues, and the pki_ca/pki_cert action plugins driven through ansible on localhost."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ansible_collections.dockhand.docker.plugins.action import pki_ca as pki_ca_action
from ansible_collections.dockhand.docker.plugins.module_utils import pki
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

ROOT = Path(__file__).resolve().parents[2]
SANS = {"dns_names": ["registry.lan", "*.registry.lan"], "ip_addresses": ["127.0.0.1", "::1"]}


def make_ca(pki_dir, name="ca", key_type="ecdsa-p256", key_size=None, validity_days=3650,
            renew_before_days=30, **kwargs) -> pki.CaResult:
    return pki.ensure_ca(str(pki_dir), name, "dockhand test CA", key_type, key_size,
                         validity_days, renew_before_days, **kwargs)


def make_cert(pki_dir, name="registry", dns_names=None, ip_addresses=None, usage="server",
              key_type="ecdsa-p256", key_size=None, validity_days=397, renew_before_days=30,
              ca_name="ca", common_name=None, **kwargs) -> pki.CertResult:
    if dns_names is None and ip_addresses is None:
        dns_names, ip_addresses = SANS["dns_names"], SANS["ip_addresses"]
    return pki.ensure_cert(str(pki_dir), name, ca_name, common_name, dns_names, ip_addresses,
                           usage, key_type, key_size, validity_days, renew_before_days, **kwargs)


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


# --- the CA -----------------------------------------------------------------------------------

def test_ca_has_ca_extensions_and_a_private_key_file(tmp_path):
    pki_dir = tmp_path / "pki"
    ca = make_ca(pki_dir)
    assert ca.changed
    assert ca.reason == "missing"
    cert = load(ca.cert_pem)
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert basic.value.path_length == 0
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    assert ext(cert, x509.SubjectKeyIdentifier).value.digest
    cert.verify_directly_issued_by(cert)
    assert stat.S_IMODE(os.stat(ca.path_key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(pki_dir).st_mode) == 0o700
    assert Path(ca.path_key).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert not [p for p in os.listdir(pki_dir) if p.startswith(".tmp-")]
    assert "PRIVATE KEY" not in repr(ca)


def test_ca_second_run_changes_nothing(tmp_path):
    first = make_ca(tmp_path)
    key_before = Path(first.path_key).read_bytes()
    second = make_ca(tmp_path)
    assert not second.changed
    assert second.reason == "up to date"
    assert second.serial == first.serial
    assert second.fingerprint_sha256 == first.fingerprint_sha256
    assert Path(first.path_key).read_bytes() == key_before


def test_ca_inside_renew_before_is_reissued_with_a_new_key(tmp_path):
    short = make_ca(tmp_path, validity_days=10, renew_before_days=5)
    assert not make_ca(tmp_path, validity_days=10, renew_before_days=5).changed
    renewed = make_ca(tmp_path, validity_days=3650, renew_before_days=30)
    assert renewed.changed
    assert "within renew_before_days (30)" in renewed.reason
    assert renewed.serial != short.serial
    assert spki(load(renewed.cert_pem).public_key()) != spki(load(short.cert_pem).public_key())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key_type": "ecdsa-p384"}, "key type ecdsa-p256 differs from ecdsa-p384"),
        ({"force": True}, "forced"),
    ],
)
def test_ca_is_reissued_for_another_key_type_or_force(tmp_path, change, reason):
    first = make_ca(tmp_path)
    again = make_ca(tmp_path, **change)
    assert again.changed
    assert again.reason == reason
    assert again.serial != first.serial


def test_a_new_common_name_alone_keeps_the_ca(tmp_path):
    first = make_ca(tmp_path)
    again = pki.ensure_ca(str(tmp_path), "ca", "renamed CA", "ecdsa-p256", None, 3650, 30)
    assert not again.changed
    assert again.serial == first.serial


def test_a_key_that_does_not_match_is_replaced(tmp_path):
    make_ca(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (tmp_path / "ca.key").write_bytes(other)
    again = make_ca(tmp_path)
    assert again.changed
    assert again.reason == "the key does not match the certificate"


def test_check_mode_writes_nothing(tmp_path):
    pki_dir = tmp_path / "pki"
    ca = make_ca(pki_dir, check=True)
    assert ca.changed
    assert ca.cert_pem is None
    assert not pki_dir.exists()
    leaf = make_cert(pki_dir, check=True)
    assert leaf.changed
    assert leaf.reason == "CA 'ca' does not exist yet"
    make_ca(pki_dir)
    assert make_cert(pki_dir, check=True).changed
    assert sorted(os.listdir(pki_dir)) == [".lock", "ca.crt", "ca.key"]


# --- key types --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("key_type", "key_size", "expected"),
    [
        ("ecdsa-p256", None, ("secp256r1", 256)),
        ("ecdsa-p384", None, ("secp384r1", 384)),
        ("rsa", None, ("rsa", 3072)),
        ("rsa", 2048, ("rsa", 2048)),
        ("rsa", 3072, ("rsa", 3072)),
        ("rsa", 4096, ("rsa", 4096)),
    ],
)
def test_key_types(tmp_path, key_type, key_size, expected):
    make_ca(tmp_path, key_type=key_type, key_size=key_size)
    leaf = make_cert(tmp_path, key_type=key_type, key_size=key_size)
    public = load(leaf.cert_pem).public_key()
    if expected[0] == "rsa":
        assert isinstance(public, rsa.RSAPublicKey)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == expected[0]
    assert public.key_size == expected[1]
    # RSA key transport needs keyEncipherment; ECDHE with an ECDSA key does not.
    assert ext(load(leaf.cert_pem), x509.KeyUsage).value.key_encipherment == (key_type == "rsa")
    assert pki.describe(leaf.cert_pem)["key_size"] == expected[1]
    assert not make_cert(tmp_path, key_type=key_type, key_size=key_size).changed


def test_default_key_type_is_p256(tmp_path):
    assert pki_ca_action.COMMON_SPEC["key_type"]["default"] == "ecdsa-p256"
    assert pki.describe(make_ca(tmp_path).cert_pem)["key_type"] == "ecdsa-p256"


@pytest.mark.parametrize(
    ("key_type", "key_size", "message"),
    [
        ("rsa", 1024, "registry_pki_key_size: RSA keys must be at least 2048 bits, got 1024"),
        ("rsa", 2500, "registry_pki_key_size: RSA key size must be one of 2048, 3072, 4096"),
        ("dsa", None, "registry_pki_key_size: key type 'dsa' is not one of"),
    ],
)
def test_bad_keys_are_refused_naming_the_variable(tmp_path, key_type, key_size, message):
    assert pki.key_errors(key_type, key_size, "registry_pki_key_size")[0].startswith(message)
    with pytest.raises(pki.PkiError, match="key_type/key_size"):
        make_ca(tmp_path, key_type=key_type, key_size=key_size)
    assert not (tmp_path / "ca.key").exists()


def test_renew_before_must_be_shorter_than_validity(tmp_path):
    with pytest.raises(pki.PkiError, match=r"renew_before_days \(30\) must be less than"):
        make_ca(tmp_path, validity_days=10, renew_before_days=30)


# --- leaf certificates ------------------------------------------------------------------------

def test_leaf_has_sans_usage_and_identifiers(tmp_path):
    ca = make_ca(tmp_path)
    leaf = make_cert(tmp_path)
    assert leaf.changed
    cert, ca_cert = load(leaf.cert_pem), load(ca.cert_pem)
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["registry.lan", "*.registry.lan"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ext(cert, x509.KeyUsage).critical
    assert ext(cert, x509.KeyUsage).value.digital_signature
    assert not ext(cert, x509.BasicConstraints).value.ca
    assert (ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
            == ext(ca_cert, x509.SubjectKeyIdentifier).value.digest)
    assert ext(cert, x509.SubjectKeyIdentifier).value.digest
    cert.verify_directly_issued_by(ca_cert)
    assert cert.serial_number.bit_length() <= 159
    skew = cert.not_valid_before_utc - ca_cert.not_valid_before_utc
    assert abs(skew.total_seconds()) < 60, "both backdated by the same five minutes"
    assert leaf.chain_pem == leaf.cert_pem + ca.cert_pem
    assert Path(leaf.path_chain).read_text() == leaf.chain_pem
    assert leaf.ca_fingerprint == ca.fingerprint_sha256
    assert stat.S_IMODE(os.stat(leaf.path_key).st_mode) == 0o600
    assert "PRIVATE KEY" not in repr(leaf)
    described = pki.describe(leaf.cert_pem)
    assert described["subject_cn"] == "registry.lan"
    assert described["issuer_cn"] == "dockhand test CA"
    assert described["ip_addresses"] == ["127.0.0.1", "::1"]
    assert int(described["serial_hex"], 16) == int(described["serial"]) == int(leaf.serial)
    assert not described["is_ca"]


def test_a_server_certificate_is_never_cn_only(tmp_path):
    make_ca(tmp_path)
    with pytest.raises(pki.PkiError, match="at least one DNS name or IP address"):
        make_cert(tmp_path, dns_names=[], ip_addresses=[], common_name="registry.lan")
    client = make_cert(tmp_path, name="alice", dns_names=[], ip_addresses=[],
                       common_name="alice", usage="client")
    assert pki.describe(client.cert_pem)["dns_names"] == ["alice"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"dns_names": ["registry.lan"]}, "SANs "),
        ({"ip_addresses": ["127.0.0.2", "::1"]}, "SANs "),
        ({"usage": "server+client"}, "usage differs from server+client"),
        ({"key_type": "rsa", "key_size": 2048}, "key type ecdsa-p256 differs from rsa-2048"),
        ({"force": True}, "forced"),
    ],
)
def test_leaf_is_reissued_with_a_new_key_when_asked_for_something_else(tmp_path, change, reason):
    make_ca(tmp_path)
    first = make_cert(tmp_path)
    request = {**SANS, **change}
    again = make_cert(tmp_path, **request)
    assert again.changed
    assert again.reason.startswith(reason)
    assert again.serial != first.serial
    assert again.key_pem != first.key_pem
    request.pop("force", None)
    assert not make_cert(tmp_path, **request).changed


def test_san_order_and_case_do_not_matter(tmp_path):
    make_ca(tmp_path)
    first = make_cert(tmp_path)
    again = make_cert(tmp_path, dns_names=["*.registry.lan", "REGISTRY.lan"],
                      ip_addresses=["::1", "127.0.0.1"])
    assert not again.changed
    assert again.serial == first.serial
    assert again.key_pem == first.key_pem


def test_leaf_is_reissued_after_the_ca_changes(tmp_path):
    make_ca(tmp_path)
    first = make_cert(tmp_path)
    new_ca = make_ca(tmp_path, force=True)
    again = make_cert(tmp_path)
    assert again.changed
    assert again.reason == "not signed by the current CA 'ca'"
    load(again.cert_pem).verify_directly_issued_by(load(new_ca.cert_pem))
    assert again.chain_pem.endswith(new_ca.cert_pem)
    assert again.serial != first.serial


def test_leaf_without_its_ca_fails(tmp_path):
    with pytest.raises(pki.PkiError, match="CA 'ca' not found"):
        make_cert(tmp_path)


def test_rotation_promotes_the_next_ca(tmp_path):
    make_ca(tmp_path)
    nxt = make_ca(tmp_path, name="ca-next")
    leaf = make_cert(tmp_path, ca_name="ca-next")
    assert pki.promote(str(tmp_path), "ca-next", "ca")
    assert not (tmp_path / "ca-next.crt").exists()
    assert (tmp_path / "ca.crt").read_text() == nxt.cert_pem
    again = make_cert(tmp_path)
    assert not again.changed, "the leaf signed by ca-next is signed by the promoted ca"
    assert again.serial == leaf.serial
    with pytest.raises(pki.PkiError, match="cannot promote 'ca-next'"):
        pki.promote(str(tmp_path), "ca-next", "ca")
    assert pki.remove(str(tmp_path), "registry")
    assert not pki.remove(str(tmp_path), "registry")
    assert sorted(os.listdir(tmp_path)) == [".lock", "ca.crt", "ca.key"]


def fake_encrypt(data: bytes) -> bytes:
    return b"FAKEVAULT" + base64.b64encode(data[::-1])


def fake_decrypt(data: bytes) -> bytes:
    return base64.b64decode(data[9:])[::-1] if data.startswith(b"FAKEVAULT") else data


def test_keys_encrypted_at_rest_through_the_callables(tmp_path):
    codec = {"encrypt": fake_encrypt, "decrypt": fake_decrypt}
    ca = make_ca(tmp_path, **codec)
    leaf = make_cert(tmp_path, **codec)
    for path in (ca.path_key, leaf.path_key):
        assert Path(path).read_bytes().startswith(b"FAKEVAULT")
    assert leaf.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert not make_ca(tmp_path, **codec).changed
    assert not make_cert(tmp_path, **codec).changed
    # Turning encryption off rewrites the key in the clear, without reissuing anything.
    plain = make_cert(tmp_path, decrypt=fake_decrypt)
    assert plain.changed
    assert plain.reason == "key decrypted at rest"
    assert plain.serial == leaf.serial
    assert Path(leaf.path_key).read_text() == leaf.key_pem
    with pytest.raises(pki.PkiError, match="encrypted at rest"):
        make_ca(tmp_path)


# --- the certificates in use ------------------------------------------------------------------

def test_chain_verifies_with_cryptography(tmp_path):
    verification = pytest.importorskip("cryptography.x509.verification")
    ca = make_ca(tmp_path)
    leaf = make_cert(tmp_path, usage="server+client")
    store = verification.Store([load(ca.cert_pem)])
    for name in (x509.DNSName("registry.lan"), x509.DNSName("node1.registry.lan"),
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
        verifier = verification.PolicyBuilder().store(store).build_server_verifier(name)
        assert verifier.verify(load(leaf.cert_pem), [])[-1] == load(ca.cert_pem)
    for name in (x509.DNSName("other.lan"), x509.DNSName("a.b.registry.lan")):
        verifier = verification.PolicyBuilder().store(store).build_server_verifier(name)
        with pytest.raises(verification.VerificationError):
            verifier.verify(load(leaf.cert_pem), [])
    client = verification.PolicyBuilder().store(store).build_client_verifier()
    assert client.verify(load(leaf.cert_pem), []).chain[-1] == load(ca.cert_pem)


def handshake(chain_file: str, key_file: str, ca_pem: str, server_hostname: str) -> str:
    """TLS from a client that trusts only ``ca_pem`` to a loopback server with the chain."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(chain_file, key_file)
    client_ctx = ssl.create_default_context(cadata=ca_pem)
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            # A refused certificate fails here too; the test asserts on the client's side.
            with contextlib.suppress(ssl.SSLError, OSError):
                conn, _ = listener.accept()
                with conn, server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (socket.create_connection(listener.getsockname(), timeout=10) as raw,
                  client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls):
                assert tls.recv(2) == b"ok"
                return tls.version()
        finally:
            thread.join(10)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa"])
def test_tls_handshake_trusting_only_the_ca(tmp_path, key_type):
    ca = make_ca(tmp_path, key_type=key_type)
    leaf = make_cert(tmp_path, key_type=key_type, key_size=2048 if key_type == "rsa" else None)
    key_file = tmp_path / "plain.key"
    key_file.write_text(leaf.key_pem)
    for good in ("registry.lan", "node1.registry.lan", "127.0.0.1"):
        assert handshake(leaf.path_chain, str(key_file), ca.cert_pem, good).startswith("TLS")
    for bad in ("other.lan", "registry.lan.evil", "127.0.0.2"):
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(leaf.path_chain, str(key_file), ca.cert_pem, bad)
    other_ca = make_ca(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(leaf.path_chain, str(key_file), other_ca.cert_pem, "registry.lan")


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("dns_names", "ip_addresses"),
    [
        (["registry.lan", "*.registry.lan", "a-b.c", "x" * 63 + ".lan", "localhost"], []),
        ([".".join(["a" * 63] * 3) + "." + "b" * 61], []),
        ([], ["10.0.0.1", "::1", "fe80::1", "2001:db8::42"]),
        ([], []),
    ],
)
def test_valid_names(dns_names, ip_addresses):
    assert pki.validate_names(dns_names, ip_addresses, "registry_tls_names") == []


@pytest.mark.parametrize(
    ("dns_names", "ip_addresses", "bad", "why"),
    [
        (["-registry.lan"], [], "-registry.lan", "may not start or end with '-'"),
        (["registry-.lan"], [], "registry-.lan", "may not start or end with '-'"),
        (["registry..lan"], [], "registry..lan", "empty label"),
        (["reg_istry.lan"], [], "reg_istry.lan", "letters, digits and '-'"),
        (["x" * 64 + ".lan"], [], "x" * 64 + ".lan", "longer than 63 characters"),
        ([".".join(["a" * 63] * 4)], [], "a" * 63, "longer than 253 characters"),
        (["a.*.lan"], [], "a.*.lan", "letters, digits and '-'"),
        (["*."], [], "*.", "empty label"),
        (["*"], [], "*", "a wildcard needs a domain"),
        (["10.0.0.1"], [], "10.0.0.1", "it is an IP address"),
        ([""], [], "''", "non-empty string"),
        ([], ["10.0.0.256"], "10.0.0.256", "is not an IP address"),
        ([], ["registry.lan"], "registry.lan", "is not an IP address"),
        ([], ["10.0.0.0/24"], "10.0.0.0/24", "is not an IP address"),
    ],
)
def test_invalid_names_are_named_with_the_variable(dns_names, ip_addresses, bad, why):
    errors = pki.validate_names(dns_names, ip_addresses, "registry_tls_names")
    assert len(errors) == 1
    assert errors[0].startswith("registry_tls_names: ")
    assert bad in errors[0]
    assert why in errors[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("registry.lan", True),
        ("REGISTRY.lan", True),
        ("registry.lan:5000", True),
        ("node1.registry.lan", True),
        ("a.node1.registry.lan", False),
        ("registry.lan.evil", False),
        ("other.lan", False),
        ("10.1.2.3", True),
        ("10.1.2.3:5000", True),
        ("10.1.2.4", False),
        ("2001:db8::1", True),
        ("[2001:db8:0::1]:5000", True),
        ("2001:db8::2", False),
    ],
)
def test_covers(name, expected):
    assert pki.covers(name, ["registry.lan", "*.registry.lan"],
                      ["10.1.2.3", "2001:db8::1"]) is expected


def test_a_wildcard_does_not_cover_its_parent_or_an_ip():
    assert not pki.covers("registry.lan", ["*.registry.lan"], [])
    assert not pki.covers("10.1.2.3", ["*.2.3"], [])


# --- the action plugins, through ansible ------------------------------------------------------

def ansible(*args: str, hosts: str = "localhost,") -> tuple[int, dict[str, dict], str]:
    proc = subprocess.run(
        ["ansible", "-i", hosts, "all", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", *args],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                 ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
    )
    out = proc.stdout + proc.stderr
    results = {m["host"]: json.loads(m["body"]) for m in re.finditer(
        r"^(?P<host>\S+) \| [A-Z!]+ => (?P<body>\{.*?^\})", proc.stdout, re.M | re.S)}
    return proc.returncode, results, out


def ca_task(pki_dir: Path, *extra: str) -> list[str]:
    return ["-m", "dockhand.docker.pki_ca", "-a", " ".join([f"pki_dir={pki_dir}", *extra])]


def cert_task(pki_dir: Path, **overrides: object) -> list[str]:
    return ["-m", "dockhand.docker.pki_cert", "-a", json.dumps({
        "pki_dir": str(pki_dir), "name": "registry", "dns_names": ["registry.lan"],
        "ip_addresses": ["127.0.0.1"], **overrides})]


def test_actions_create_then_keep(tmp_path):
    pki_dir = tmp_path / "pki"
    outputs = []
    for expect_changed in (True, False):
        rc, ca, out = ansible(*ca_task(pki_dir))
        assert rc == 0, out
        rc, leaf, out2 = ansible(*cert_task(pki_dir))
        assert rc == 0, out2
        outputs += [out, out2]
        assert ca["localhost"]["changed"] is expect_changed
        assert leaf["localhost"]["changed"] is expect_changed
    assert leaf["localhost"]["reason"] == "up to date"
    assert set(leaf["localhost"]) >= {"certificate", "chain", "serial", "not_after", "paths",
                                      "ca_fingerprint_sha256", "reason"}
    assert "private_key" not in leaf["localhost"]
    assert set(ca["localhost"]) >= {"certificate", "serial", "not_after", "fingerprint_sha256",
                                    "path", "reason"}
    assert leaf["localhost"]["paths"]["key"] == str(pki_dir / "registry.key")
    assert "PRIVATE KEY" not in "".join(outputs)


def test_many_hosts_at_once_make_one_ca(tmp_path):
    hosts = ",".join(f"h{i}" for i in range(8)) + ","
    rc, results, out = ansible(*ca_task(tmp_path / "pki"), "-f", "8", hosts=hosts)
    assert rc == 0, out
    assert len(results) == 8
    assert sum(r["changed"] for r in results.values()) == 1
    assert len({r["serial"] for r in results.values()}) == 1


def test_check_mode_writes_nothing_through_ansible(tmp_path):
    pki_dir = tmp_path / "pki"
    rc, ca, out = ansible(*ca_task(pki_dir), "--check")
    assert rc == 0, out
    assert ca["localhost"]["changed"]
    rc, leaf, out = ansible(*cert_task(pki_dir), "--check")
    assert rc == 0, out
    assert leaf["localhost"]["changed"]
    assert not pki_dir.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dns_names": ["bad_name.lan"], "names_var": "registry_tls_dns_names"},
         "registry_tls_dns_names: 'bad_name.lan' is not a valid DNS name"),
        ({"dns_names": [], "ip_addresses": [], "names_var": "registry_tls_dns_names"},
         "registry_tls_dns_names: a server certificate needs at least one DNS name"),
        ({"key_type": "rsa", "key_size": 1024, "key_var": "registry_pki_key_size"},
         "registry_pki_key_size: RSA keys must be at least 2048 bits, got 1024"),
        ({"vault_encrypt": True}, "pki_vault_encrypt needs a vault password"),
    ],
)
def test_actions_fail_early_naming_the_variable(tmp_path, overrides, message):
    make_ca(tmp_path)
    rc, results, out = ansible(*cert_task(tmp_path, **overrides))
    assert rc != 0
    assert message in results["localhost"]["msg"], out
    assert not (tmp_path / "registry.crt").exists()


def test_relative_pki_dir_is_refused(tmp_path):
    rc, results, out = ansible("-m", "dockhand.docker.pki_ca", "-a", "pki_dir=pki")
    assert rc != 0
    assert "pki_dir must be an absolute path" in results["localhost"]["msg"], out


PLAYBOOK = """
- name: PKI on the controller
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: CA
      dockhand.docker.pki_ca:
        pki_dir: "{{ pki_dir }}"
        vault_encrypt: "{{ vault }}"
    - name: Registry certificate
      dockhand.docker.pki_cert:
        pki_dir: "{{ pki_dir }}"
        name: registry
        dns_names: [registry.lan]
        vault_encrypt: "{{ vault }}"
        return_private_key: true
      register: registry_cert
    - name: Hand the key to a "host"
      ansible.builtin.copy:
        content: "{{ registry_cert.private_key }}"
        dest: "{{ pki_dir }}/../handed-over.key"
        mode: "0600"
      no_log: true
    - name: Copy the key file the way a role does (decrypts vault in transit)
      ansible.builtin.copy:
        src: "{{ registry_cert.paths.key }}"
        dest: "{{ pki_dir }}/../copied.key"
        mode: "0600"
"""


def playbook(tmp_path: Path, *args: str, vault: bool) -> tuple[int, str]:
    book = tmp_path / "pki.yml"
    book.write_text(PLAYBOOK)
    extra = {"pki_dir": str(tmp_path / "pki"), "vault": vault,
             "ansible_python_interpreter": sys.executable}
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(book), "-v", "-e", json.dumps(extra), *args],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
    )
    return proc.returncode, proc.stdout + proc.stderr


def recap_changed(out: str) -> int:
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", out).group(1))


@pytest.mark.parametrize("vault", [False, True])
def test_playbook_keeps_keys_out_of_the_output(tmp_path, vault):
    password = tmp_path / "vault-pass"
    password.write_text("correct horse battery staple\n")
    args = ["--vault-password-file", str(password)] if vault else []
    rc, out = playbook(tmp_path, *args, vault=vault)
    assert rc == 0, out
    assert recap_changed(out) == 4
    assert "PRIVATE KEY" not in out
    key_at_rest = (tmp_path / "pki/registry.key").read_text()
    ca_key_at_rest = (tmp_path / "pki/ca.key").read_text()
    if vault:
        assert key_at_rest.startswith("$ANSIBLE_VAULT")
        assert ca_key_at_rest.startswith("$ANSIBLE_VAULT")
    else:
        assert key_at_rest.startswith("-----BEGIN PRIVATE KEY-----")
    handed = (tmp_path / "handed-over.key").read_bytes()
    assert handed == (tmp_path / "copied.key").read_bytes()
    key = serialization.load_pem_private_key(handed, password=None)
    cert = x509.load_pem_x509_certificate((tmp_path / "pki/registry.crt").read_bytes())
    assert spki(key.public_key()) == spki(cert.public_key())

    rc, out = playbook(tmp_path, *args, vault=vault)
    assert rc == 0, out
    assert recap_changed(out) == 0
    assert "PRIVATE KEY" not in out
    assert (tmp_path / "pki/registry.key").read_text() == key_at_rest

    if vault:
        rc, out = playbook(tmp_path, vault=False)
        assert rc != 0
        assert "vault-encrypted: pass --vault-password-file or --ask-vault-pass" in out
