"""The registry as the tests see it: names, credentials, TLS probes from the controller,
and pull loops inside the lab hosts."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from labtools import INVENTORY, lab_group_vars, on_host, put_file, role_default

PKI = INVENTORY.parent / f"{INVENTORY.name}-pki"
NAME = lab_group_vars()["docker_registry_name"]
PORT = lab_group_vars().get("docker_registry_port") or role_default(
    "docker_registry", "docker_registry_port")
REGISTRY = f"{NAME}:{PORT}"
REGISTRY_IP = "172.29.77.11"
# The registry on GlusterFS (playbooks/registry_ha.yml), served by two hosts behind the front door.
HA = lab_group_vars()["registry_ha_name"]
USER = "dockhand"
LOOP = Path(__file__).with_name("pull-loop.sh")


def password() -> str:
    return (PKI / "registry-dockhand.password").read_text().strip()


def login(host: str, secret: str | None = None, check: bool = True, registry: str = REGISTRY):
    return on_host(host, "docker", "login", "-u", USER, "--password-stdin", registry,
                   check=check, stdin=secret or password())


def push_ha(host: str, tag: str) -> str:
    """The lab's probe image pushed from `host` to the HA registry as ha/probe:TAG."""
    image = f"{HA}/ha/probe:{tag}"
    login(host, registry=HA)
    on_host(host, "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(host, "docker", "push", "-q", image)
    return image


def pending_heals() -> int:
    """Entries GlusterFS still has to copy to a brick that missed them (a brick that started
    after the writes, a peer back from a stop), over all bricks of the HA registry's volume."""
    info = on_host("node1", "gluster", "volume", "heal", "registry", "info").stdout
    return sum(int(line.split(":")[1]) for line in info.splitlines()
               if line.startswith("Number of entries:"))


def healed(timeout: float = 120) -> None:
    """Heals the volume and waits until no entry is left to heal, as an operator checks
    before taking a peer down: with a heal pending, a file's only good copy may be on the
    peer that goes (seen once after a fresh converge: a brick started last missed the first
    writes, and reads then failed with "transport endpoint is not connected")."""
    on_host("node1", "gluster", "volume", "heal", "registry")
    deadline = time.monotonic() + timeout
    while (left := pending_heals()) and time.monotonic() < deadline:
        time.sleep(2)
    assert left == 0, f"{left} entries still to heal after {timeout:.0f} s"


def tls_context(ca: Path | None = PKI / "ca.crt", *, version: ssl.TLSVersion | None = None):
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        # The client offers exactly this version, even the old ones OpenSSL 3 disables.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


# OpenSSL's names of the TLS 1.2 suites with ECDHE and AES-GCM or ChaCha20-Poly1305.
AEAD_FORWARD_SECRET = re.compile(
    r"ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)")


def offered_tls12_suites(address: tuple[str, int], server_name: str = NAME) -> list[str]:
    """The TLS 1.2 suites an endpoint accepts, among all the controller's OpenSSL knows (weak
    ones included): one handshake offering each suite alone."""
    every = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    every.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    offered = []
    for suite in (c["name"] for c in every.get_ciphers() if c["protocol"] != "TLSv1.3"):
        ctx = tls_context(None)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(f"{suite}:@SECLEVEL=0")
        try:
            with socket.create_connection(address, timeout=10) as raw, \
                    ctx.wrap_socket(raw, server_hostname=server_name) as conn:
                offered.append(conn.cipher()[0])
        except ssl.SSLError:
            continue
    return offered


def assert_only_aead_forward_secret_suites(address: tuple[str, int], server_name: str = NAME):
    """TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 only: no CBC, no static RSA."""
    offered = offered_tls12_suites(address, server_name)
    assert offered, f"{address}: no TLS 1.2 suite accepted at all"
    weak = [suite for suite in offered if not AEAD_FORWARD_SECRET.fullmatch(suite)]
    assert not weak, f"{address} offers {weak} (all it offers: {offered})"


@contextmanager
def tls_connection(ctx: ssl.SSLContext, address: tuple[str, int] = (REGISTRY_IP, PORT)):
    with socket.create_connection(address, timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=NAME) as conn:
        yield conn


def http_status(path: str = "/v2/", ctx: ssl.SSLContext | None = None, *, method: str = "GET",
                address: tuple[str, int] = (REGISTRY_IP, PORT)) -> int:
    """The status of one request without credentials, to the registry or (with ``address``)
    to the front door serving it."""
    host = REGISTRY if address[1] != 443 else NAME
    with tls_connection(ctx or tls_context(), address) as conn:
        conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n"
                     f"Connection: close\r\n\r\n".encode())
        return int(conn.recv(64).split()[1])


def served_serial() -> int:
    with tls_connection(tls_context(None)) as conn:
        der = conn.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


class _HostLoops:
    """Loops a test starts inside the lab hosts, each writing into ``self.dir`` there; leaving
    the block asks them to stop and waits until each says it is done."""

    hosts: list[str]
    dir: str

    def __exit__(self, *exc) -> None:
        for host in self.hosts:
            on_host(host, "touch", f"{self.dir}/stop", check=False)
        deadline = time.monotonic() + 60
        for host in self.hosts:
            while (on_host(host, "test", "-e", f"{self.dir}/done", check=False).returncode
                   and time.monotonic() < deadline):
                time.sleep(0.5)


class PullLoops(_HostLoops):
    """`docker pull` in a loop on every host, counting successes and failures.

    A short pause between pulls: the lab's hosts share the machine's cores with the change
    the loops watch, and unpaced loops (each pull a docker client and two bcrypt checks on
    the registry, at cost 10 then) took most of them, which made a rotation take twice as
    long. With the pause every host still has a pull in flight most of the time, so a swap
    still meets several."""

    PAUSE = 0.25

    def __init__(self, hosts: list[str], image: str, *, registry: str = REGISTRY,
                 name: str = "pull-loop"):
        """``registry``: where ``image`` is pulled from and logged in to (the front door's
        name pulls through it); ``name`` keeps two loops on one host apart."""
        self.hosts, self.image, self.registry = hosts, image, registry
        self.dir = f"/tmp/dockhand-{name}"

    def __enter__(self) -> PullLoops:
        for host in self.hosts:
            login(host, registry=self.registry)
            on_host(host, "docker", "pull", "-q", self.image)
            container = f"dockhand-lab-{host}"
            subprocess.run(["docker", "cp", str(LOOP), f"{container}:/usr/local/bin/pull-loop"],
                           check=True)
            subprocess.run(["docker", "exec", "-d", container, "sh", "/usr/local/bin/pull-loop",
                            self.image, self.dir, str(self.PAUSE)], check=True)
        if self.hosts:
            time.sleep(2)
        return self


    def counts(self) -> dict[str, tuple[int, int, str]]:
        """host -> (pulls that worked, pulls that failed, first failure)."""
        result = {}
        for host in self.hosts:
            ok = on_host(host, "wc", "-l", f"{self.dir}/ok").stdout.split()[0]
            fail = on_host(host, "cat", f"{self.dir}/fail").stdout
            result[host] = (int(ok), len(fail.splitlines()), fail.splitlines()[:1])
        return result



class RequestLoops(_HostLoops):
    """request-loop.py on every host: HTTP requests to each target in a loop, counting
    successes and failures. Unlike PullLoops it needs no engine on the host, so it keeps
    counting while that host's engine restarts."""

    SCRIPT = Path(__file__).with_name("request-loop.py")

    def __init__(self, hosts: list[str], targets: list[dict], *, pause: float = 0.2,
                 name: str = "request-loop"):
        self.hosts, self.targets, self.pause = hosts, targets, pause
        self.dir = f"/tmp/dockhand-{name}"

    def __enter__(self) -> RequestLoops:
        spec = json.dumps({"pause": self.pause, "targets": self.targets})
        for host in self.hosts:
            container = f"dockhand-lab-{host}"
            put_file(host, self.SCRIPT, "/tmp/request-loop.py")
            # The spec holds a password: through stdin, into a file only root reads.
            on_host(host, "sh", "-c", f"rm -rf {self.dir} && mkdir -p {self.dir} && umask 077 "
                    f"&& cat > {self.dir}.json", stdin=spec)
            subprocess.run(["docker", "exec", "-d", container, "python3", "/tmp/request-loop.py",
                            f"{self.dir}.json", self.dir], check=True)
        time.sleep(2)
        return self


    def counts(self) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """(host, target) -> (requests that worked, the failures with their reasons)."""
        result = {}
        for host in self.hosts:
            for target in self.targets:
                base = f"{self.dir}/{target['name']}"
                ok = on_host(host, "wc", "-l", f"{base}.ok").stdout.split()[0]
                fail = on_host(host, "cat", f"{base}.fail").stdout.splitlines()
                result[(host, target["name"])] = (int(ok), fail)
        return result

    def slowest(self) -> float:
        """The longest any request took, in seconds (a line starts `HH:MM:SS <seconds> s`)."""
        took = [0.0]
        for host in self.hosts:
            for target in self.targets:
                lines = on_host(host, "sh", "-c", f"cat {self.dir}/{target['name']}.*").stdout
                took += [float(line.split()[1]) for line in lines.splitlines()]
        return max(took)
