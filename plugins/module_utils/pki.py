# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small self-signed PKI: one CA and the leaf certificates it signs, kept as PEM files in a
directory on the controller (``<name>.crt``, ``<name>.key``, and ``<name>.chain.pem`` for
leaves).

Only ``cryptography`` and the standard library, so it is testable without Ansible. Callers
that keep keys encrypted at rest pass ``encrypt``/``decrypt`` callables (bytes -> bytes); the
action plugins use them for Ansible Vault. Nothing here puts a private key into a message.

The input checks, the file helpers and ``PkiError`` need only the standard library, and the
module imports without ``cryptography``: the plugins that use just those keep working on a
controller that lacks it, and whatever issues or reads a certificate says what to install.

Certificates are reissued only for a reason that ``reason`` names, because every reissue
means restarting whatever serves the certificate, and a new CA means redistributing trust.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import importlib
import ipaddress
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Optional

from ansible_collections.dockhand.docker.plugins.module_utils import controller_deps
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, read_bytes

# Bound by _need_cryptography, which every function that issues or reads a certificate calls
# first. The filters import this module for its input checks alone, afresh in every Ansible
# worker process that templates one of them, and importing cryptography costs those workers
# more than all the checks together.
x509 = InvalidSignature = hashes = serialization = ec = rsa = NameOID = None

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa")
RSA_SIZES = (2048, 3072, 4096)
DEFAULT_RSA_SIZE = 3072
# Extended key usages as dotted OIDs (RFC 5280's id-kp-serverAuth and id-kp-clientAuth), so
# that checking a usage needs no cryptography.
_SERVER_AUTH, _CLIENT_AUTH = "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"
USAGES = {
    "server": frozenset({_SERVER_AUTH}),
    "client": frozenset({_CLIENT_AUTH}),
    "server+client": frozenset({_SERVER_AUTH, _CLIENT_AUTH}),
}
# Backdating covers hosts whose clocks run a little behind the controller's.
CLOCK_SKEW = dt.timedelta(minutes=5)

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")

Codec = Callable[[bytes], bytes]
KeySpec = tuple[str, Optional[int]]


class PkiError(Exception):
    """A request that cannot be carried out; the message is meant for the user."""


def _need_cryptography() -> None:
    global x509, InvalidSignature, hashes, serialization, ec, rsa, NameOID  # noqa: PLW0603  (bound once, on first use: see above)
    if x509 is not None:
        return
    try:
        primitives = "cryptography.hazmat.primitives"
        hashes = importlib.import_module(f"{primitives}.hashes")
        serialization = importlib.import_module(f"{primitives}.serialization")
        ec = importlib.import_module(f"{primitives}.asymmetric.ec")
        rsa = importlib.import_module(f"{primitives}.asymmetric.rsa")
        InvalidSignature = importlib.import_module("cryptography.exceptions").InvalidSignature
        NameOID = importlib.import_module("cryptography.x509.oid").NameOID
        x509 = importlib.import_module("cryptography.x509")
    except ImportError as exc:
        raise PkiError(controller_deps.missing("cryptography", exc)) from None


def _curves() -> dict:
    return {"ecdsa-p256": ec.SECP256R1, "ecdsa-p384": ec.SECP384R1}


@dataclass(frozen=True)
class CaResult:
    changed: bool
    cert_pem: str | None
    serial: str | None
    not_after: str | None
    fingerprint_sha256: str | None
    path_cert: str
    path_key: str
    reason: str


@dataclass(frozen=True)
class CertResult:
    changed: bool
    cert_pem: str | None
    key_pem: str | None = field(repr=False)
    chain_pem: str | None
    serial: str | None
    not_after: str | None
    reason: str
    ca_fingerprint: str | None
    path_cert: str
    path_key: str
    path_chain: str


# --- input checks -----------------------------------------------------------------------------

def key_errors(key_type: str, key_size: int | None,
               var_name: str = "key_type/key_size") -> list[str]:
    if key_type not in KEY_TYPES:
        return [f"{var_name}: key type '{key_type}' is not one of {', '.join(KEY_TYPES)}"]
    if key_type != "rsa" or key_size is None:
        return []
    if key_size < RSA_SIZES[0]:
        return [f"{var_name}: RSA keys must be at least {RSA_SIZES[0]} bits, got {key_size}"]
    if key_size not in RSA_SIZES:
        return [f"{var_name}: RSA key size must be one of {', '.join(map(str, RSA_SIZES))}, "
                f"got {key_size}"]
    return []


def validity_errors(validity_days: int, renew_before_days: int) -> list[str]:
    if validity_days < 1 or renew_before_days < 0:
        return ["validity_days must be at least 1 and renew_before_days at least 0"]
    if renew_before_days >= validity_days:
        # Otherwise every run would find the fresh certificate due and reissue it.
        return [f"renew_before_days ({renew_before_days}) must be less than "
                f"validity_days ({validity_days})"]
    return []


def _hostname_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "it must be a non-empty string"
    if _as_ip(name) is not None:
        return "it is an IP address; list it with the IP addresses"
    if len(name) > 253:
        return "it is longer than 253 characters"
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if not labels:
            return "a wildcard needs a domain after '*.'"
    for label in labels:
        if _LABEL.match(label):
            continue
        if not label:
            return "it has an empty label"
        if len(label) > 63:
            return f"label '{label[:20]}...' is longer than 63 characters"
        return (f"label '{label}' may hold only letters, digits and '-', "
                "and may not start or end with '-'")
    return None


def validate_names(dns_names: Sequence[str] | None, ip_addresses: Sequence[str] | None,
                   var_name: str) -> list[str]:
    """Problems with the SANs a caller asked for, each naming the caller's variable."""
    errors = []
    for name in dns_names or ():
        problem = _hostname_problem(name)
        if problem:
            errors.append(f"{var_name}: '{name}' is not a valid DNS name: {problem}")
    for address in ip_addresses or ():
        if _as_ip(str(address)) is None:
            errors.append(f"{var_name}: '{address}' is not an IP address")
    return errors


def _as_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _host_part(name: str) -> str:
    """Drop the port from a registry name (``host:5000``, ``[::1]:5000``)."""
    if name.startswith("[") and "]" in name:
        return name[1:name.index("]")]
    if name.count(":") == 1:
        return name.split(":", 1)[0]
    return name


def covers(name: str, dns_names: Sequence[str] | None, ip_addresses: Sequence[str] | None) -> bool:
    """Would a certificate with these SANs be accepted for ``name`` (a host, an IP address,
    either with a port)? A wildcard stands for exactly one leftmost label (RFC 6125)."""
    host = _host_part(str(name))
    ip = _as_ip(host)
    if ip is not None:
        return any(_as_ip(str(a)) == ip for a in ip_addresses or ())
    host = host.lower().rstrip(".")
    first, _dummy, rest = host.partition(".")
    for pattern in (str(p).lower() for p in dns_names or ()):
        if pattern == host or (pattern.startswith("*.") and first and rest == pattern[2:]):
            return True
    return False


def _check_file_name(value: str, option: str) -> None:
    if not _FILE_NAME.match(value):
        raise PkiError(f"{option} '{value}' must be a plain file name: letters, digits, '.', "
                       "'_' and '-', not starting with a punctuation character")


def _key_spec(key_type: str, key_size: int | None) -> KeySpec:
    errors = key_errors(key_type, key_size)
    if errors:
        raise PkiError(errors[0])
    return ("rsa", key_size or DEFAULT_RSA_SIZE) if key_type == "rsa" else (key_type, None)


def _check_validity(validity_days: int, renew_before_days: int) -> None:
    errors = validity_errors(validity_days, renew_before_days)
    if errors:
        raise PkiError(errors[0])


# --- keys and files ---------------------------------------------------------------------------

def _spec_of(public_key: object) -> KeySpec:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for kind, curve in _curves().items():
            if isinstance(public_key.curve, curve):
                return kind, None
    return "unsupported", None


def _spec_text(spec: KeySpec) -> str:
    return f"{spec[0]}-{spec[1]}" if spec[1] else spec[0]


def _new_key(spec: KeySpec):
    if spec[0] == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec[1])
    return ec.generate_private_key(_curves()[spec[0]]())


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")


def _paths(pki_dir: str, name: str) -> tuple[str, str, str]:
    base = os.path.join(pki_dir, name)
    return f"{base}.crt", f"{base}.key", f"{base}.chain.pem"


@contextlib.contextmanager
def _locked(pki_dir: str, create: bool) -> Iterator[None]:
    """Serialise the forks that run the same task for many hosts: the first one creates the
    files, the others find them in place."""
    if not os.path.isdir(pki_dir):
        if not create:
            yield
            return
        os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(pki_dir, ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read_cert(path: str) -> x509.Certificate | None:
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiError(f"{path} is not a PEM certificate: fix or remove it, or use force") from None


def _load_key(path: str, raw: bytes, decrypt: Codec | None):
    data = decrypt(raw) if decrypt else raw
    if not _is_pem(data):
        raise PkiError(f"{path} is not a PEM private key; if it is encrypted at rest, "
                       "the password to decrypt it is needed")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # Deliberately without the library's message: nothing about the key goes to a log.
        raise PkiError(f"{path} holds an unreadable private key: fix or remove it, "
                       "or use force") from None


def _stored_key(key, encrypt: Codec | None) -> bytes:
    pem = _key_pem(key)
    return encrypt(pem) if encrypt else pem


# --- issuing ----------------------------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, signing: bool, rsa_leaf: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not signing, content_commitment=False,
                         key_encipherment=rsa_leaf, data_encipherment=False,
                         key_agreement=False, key_cert_sign=signing, crl_sign=signing,
                         encipher_only=False, decipher_only=False)


def _sign(subject: x509.Name, issuer: x509.Name, key, signer, validity_days: int,
          extensions: list[tuple[x509.ExtensionType, bool]]) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW)
               .not_valid_after(now + dt.timedelta(days=validity_days))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    p384 = isinstance(signer, ec.EllipticCurvePrivateKey) and signer.curve.key_size >= 384
    return builder.sign(signer, hashes.SHA384() if p384 else hashes.SHA256())


def _due(cert, key, spec: KeySpec, renew_before_days: int) -> str | None:
    """Why a certificate and key pair must be replaced, whatever it certifies."""
    if cert is None or key is None:
        return "missing"
    if _spki(key.public_key()) != _spki(cert.public_key()):
        return "the key does not match the certificate"
    have = _spec_of(cert.public_key())
    if have != spec:
        return f"key type {_spec_text(have)} differs from {_spec_text(spec)}"
    expires = cert.not_valid_after_utc
    if expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=renew_before_days):
        return f"expires {expires:%Y-%m-%d}, within renew_before_days ({renew_before_days})"
    return None


@dataclass
class _Outcome:
    changed: bool
    reason: str
    cert: x509.Certificate | None
    key: object | None


def _ensure_pair(crt_path: str, key_path: str, spec: KeySpec, renew_before_days: int, *,
                 force: bool, encrypt: Codec | None, decrypt: Codec | None, check: bool,
                 stale: Callable[[x509.Certificate], str | None],
                 build: Callable[[object], x509.Certificate]) -> _Outcome:
    cert = key = None
    at_rest_ok = True
    if not force:
        cert = _read_cert(crt_path)
        raw = read_bytes(key_path)
        if raw is not None:
            key = _load_key(key_path, raw, decrypt)
            at_rest_ok = _is_pem(raw) == (encrypt is None)
    reason = "forced" if force else _due(cert, key, spec, renew_before_days) or stale(cert)
    if reason:
        if check:
            return _Outcome(True, reason, cert, None)
        key = _new_key(spec)
        cert = build(key)
        # Key first: a crash in between leaves a mismatch that the next run repairs.
        atomic_write(key_path, _stored_key(key, encrypt), 0o600)
        atomic_write(crt_path, _pem(cert).encode(), 0o644)
        return _Outcome(True, reason, cert, key)
    if not at_rest_ok:
        if not check:
            atomic_write(key_path, _stored_key(key, encrypt), 0o600)
        return _Outcome(True, "key encrypted at rest" if encrypt else "key decrypted at rest",
                        cert, key)
    return _Outcome(False, "up to date", cert, key)


def _facts(cert: x509.Certificate | None) -> tuple[str | None, str | None, str | None]:
    if cert is None:
        return None, None, None
    return (str(cert.serial_number), cert.not_valid_after_utc.isoformat(),
            cert.fingerprint(hashes.SHA256()).hex())


def ensure_ca(pki_dir: str, name: str, common_name: str, key_type: str, key_size: int | None,
              validity_days: int, renew_before_days: int, *, force: bool = False,
              encrypt: Codec | None = None, decrypt: Codec | None = None,
              check: bool = False) -> CaResult:
    """Create ``<name>.crt``/``<name>.key`` in ``pki_dir``, or keep them. A CA is replaced
    (with a new key) only when missing, due within ``renew_before_days``, of another key type,
    or forced; a change of ``common_name`` alone does not replace it."""
    _need_cryptography()
    _check_file_name(name, "name")
    spec = _key_spec(key_type, key_size)
    _check_validity(validity_days, renew_before_days)
    crt_path, key_path, _dummy = _paths(pki_dir, name)

    def build(key) -> x509.Certificate:
        subject = _name(common_name)
        return _sign(subject, subject, key, key, validity_days, [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_key_usage(signing=True), True),
        ])

    with _locked(pki_dir, create=not check):
        out = _ensure_pair(crt_path, key_path, spec, renew_before_days, force=force,
                           encrypt=encrypt, decrypt=decrypt, check=check,
                           stale=lambda cert: None, build=build)
    serial, not_after, fingerprint = _facts(out.cert)
    return CaResult(out.changed, _pem(out.cert) if out.cert else None, serial, not_after,
                    fingerprint, crt_path, key_path, out.reason)


def _wanted_sans(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.GeneralName]:
    return ([x509.DNSName(str(n)) for n in dns_names]
            + [x509.IPAddress(ipaddress.ip_address(str(a))) for a in ip_addresses])


def _san_set(names: Sequence[x509.GeneralName]) -> frozenset[str]:
    return frozenset(f"DNS:{n.value.lower()}" if isinstance(n, x509.DNSName) else f"IP:{n.value}"
                     for n in names)


def _extension(cert: x509.Certificate, kind: type) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def ensure_cert(pki_dir: str, name: str, ca_name: str, common_name: str | None,
                dns_names: Sequence[str] | None, ip_addresses: Sequence[str] | None, usage: str,
                key_type: str, key_size: int | None, validity_days: int, renew_before_days: int,
                *, force: bool = False, encrypt: Codec | None = None,
                decrypt: Codec | None = None, check: bool = False) -> CertResult:
    """Create or keep the leaf ``<name>`` signed by the CA ``<ca_name>``. It is reissued with
    a new key when missing, due, of another key type, for other SANs or another usage, not
    signed by the current CA (as after a CA rotation), or forced."""
    _need_cryptography()
    _check_file_name(name, "name")
    _check_file_name(ca_name, "ca_name")
    if name == ca_name:
        raise PkiError(f"name '{name}' is the CA's name; a leaf certificate needs its own")
    if usage not in USAGES:
        raise PkiError(f"usage '{usage}' is not one of {', '.join(USAGES)}")
    spec = _key_spec(key_type, key_size)
    _check_validity(validity_days, renew_before_days)
    dns_names, ip_addresses = list(dns_names or ()), list(ip_addresses or ())
    errors = validate_names(dns_names, ip_addresses, "dns_names/ip_addresses")
    if errors:
        raise PkiError("; ".join(errors))
    if not dns_names and not ip_addresses:
        # Clients match names against SANs only; a client certificate may borrow its CN.
        if usage != "client" or not common_name or _hostname_problem(common_name):
            raise PkiError(f"certificate '{name}' needs at least one DNS name or IP address: "
                           "names are checked against the SANs, never the common name")
        dns_names = [common_name]
    sans = _wanted_sans(dns_names, ip_addresses)
    common_name = common_name or str(sans[0].value)
    crt_path, key_path, chain_path = _paths(pki_dir, name)
    ca_crt_path, ca_key_path, _dummy = _paths(pki_dir, ca_name)

    with _locked(pki_dir, create=not check):
        ca_cert = _read_cert(ca_crt_path)
        if ca_cert is None or not os.path.exists(ca_key_path):
            if check:
                return CertResult(True, None, None, None, None, None,
                                  f"CA '{ca_name}' does not exist yet", None,
                                  crt_path, key_path, chain_path)
            raise PkiError(f"CA '{ca_name}' not found in {pki_dir}: create it first "
                           "(dockhand.docker.pki_ca)")

        def stale(cert: x509.Certificate) -> str | None:
            try:
                cert.verify_directly_issued_by(ca_cert)
            except (ValueError, TypeError, InvalidSignature):
                return f"not signed by the current CA '{ca_name}'"
            san = _extension(cert, x509.SubjectAlternativeName)
            have, want = _san_set(list(san) if san else []), _san_set(sans)
            if have != want:
                return (f"SANs {', '.join(sorted(have)) or 'none'} differ from "
                        f"{', '.join(sorted(want))}")
            eku = _extension(cert, x509.ExtendedKeyUsage)
            if frozenset(oid.dotted_string for oid in eku or ()) != USAGES[usage]:
                return f"usage differs from {usage}"
            return None

        def build(key) -> x509.Certificate:
            ca_key = _load_key(ca_key_path, read_bytes(ca_key_path) or b"", decrypt)
            ski = _extension(ca_cert, x509.SubjectKeyIdentifier)
            aki = (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski) if ski
                   else x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()))
            return _sign(_name(common_name), ca_cert.subject, key, ca_key, validity_days, [
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (_key_usage(signing=False, rsa_leaf=spec[0] == "rsa"), True),
                (x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid)
                                        for oid in sorted(USAGES[usage])]), False),
                (x509.SubjectAlternativeName(sans), False),
                (aki, False),
            ])

        out = _ensure_pair(crt_path, key_path, spec, renew_before_days, force=force,
                           encrypt=encrypt, decrypt=decrypt, check=check, stale=stale,
                           build=build)
        chain = _pem(out.cert) + _pem(ca_cert) if out.cert else None
        if chain and (read_bytes(chain_path) or b"").decode(errors="replace") != chain:
            if not check:
                atomic_write(chain_path, chain.encode(), 0o644)
            if not out.changed:
                out = _Outcome(True, "chain file updated", out.cert, out.key)

    serial, not_after, _dummy = _facts(out.cert)
    return CertResult(out.changed, _pem(out.cert) if out.cert else None,
                      _key_pem(out.key).decode() if out.key else None, chain, serial, not_after,
                      out.reason, ca_cert.fingerprint(hashes.SHA256()).hex(),
                      crt_path, key_path, chain_path)


# --- housekeeping -----------------------------------------------------------------------------

def promote(pki_dir: str, src_name: str, dst_name: str, *, check: bool = False) -> bool:
    """Make ``<src>`` the new ``<dst>`` (ca-next becomes ca at the end of a rotation)."""
    _check_file_name(src_name, "src_name")
    _check_file_name(dst_name, "dst_name")
    src, dst = _paths(pki_dir, src_name), _paths(pki_dir, dst_name)
    with _locked(pki_dir, create=False):
        if not (os.path.exists(src[0]) and os.path.exists(src[1])):
            raise PkiError(f"cannot promote '{src_name}': {src[0]} or {src[1]} is missing")
        # Key first, as when issuing: a half-done promote shows up as a mismatch.
        for index in (1, 0, 2):
            if not check and os.path.exists(src[index]):
                os.replace(src[index], dst[index])
    return True


def remove(pki_dir: str, name: str, *, check: bool = False) -> bool:
    """Delete ``<name>``'s files; True when there was anything to delete."""
    _check_file_name(name, "name")
    with _locked(pki_dir, create=False):
        present = [p for p in _paths(pki_dir, name) if os.path.exists(p)]
        if not check:
            for path in present:
                os.unlink(path)
    return bool(present)


def describe(cert_pem: str | bytes) -> dict:
    """What a certificate says, for tests, reports and the rotation playbook."""
    _need_cryptography()
    cert = x509.load_pem_x509_certificate(
        cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)

    def cn(name: x509.Name) -> str | None:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else None

    san = _extension(cert, x509.SubjectAlternativeName)
    basic = _extension(cert, x509.BasicConstraints)
    kind, size = _spec_of(cert.public_key())
    return {
        "serial": str(cert.serial_number),
        "serial_hex": f"{cert.serial_number:x}",
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "subject_cn": cn(cert.subject),
        "issuer_cn": cn(cert.issuer),
        "dns_names": san.get_values_for_type(x509.DNSName) if san else [],
        "ip_addresses": [str(a) for a in san.get_values_for_type(x509.IPAddress)] if san else [],
        "is_ca": bool(basic and basic.ca),
        "key_type": kind,
        "key_size": size or cert.public_key().key_size,
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }
