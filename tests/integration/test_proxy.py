"""The front door on the lab's proxy host: the registry through nginx and through Traefik at
https://registry.dockhand.test/ (443), the guarantees both give, and a broken nginx
directive that never goes live."""

from __future__ import annotations

import json
import socket
import ssl
import uuid
from pathlib import Path

import pytest
from labtools import file_digest, on_host, run_playbook
from registrytools import (
    NAME,
    PKI,
    PullLoops,
    assert_only_aead_forward_secret_suites,
    login,
    password,
    tls_context,
)

pytestmark = pytest.mark.lab

PROXY_IP = "172.29.77.11"
FRONT = NAME  # port 443: no port in the image names
NGINX_CONF = "/etc/nginx/conf.d/dockhand-proxy.conf"
GITLAB = "gitlab.dockhand.test"
GIB = 1024 ** 3
# The front door's share of site.yml on the proxy group alone: what the proxy tests change.
# The other hosts would only gather facts and pass the preflight checks again.
PROXY_SHARE = ("--tags", "proxy", "--limit", "proxy")


def https_get(path: str = "/v2/", *, version: ssl.TLSVersion | None = None):
    """(status, headers) of a GET through the front door from the controller."""
    ctx = tls_context(PKI / "ca.crt", version=version)
    with socket.create_connection((PROXY_IP, 443), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=NAME) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        key, _, value = line.partition(":")
        headers.setdefault(key.strip().lower(), []).append(value.strip())
    return int(head[0].split()[1]), headers


def http_redirect() -> tuple[int, str]:
    with socket.create_connection((PROXY_IP, 80), timeout=10) as conn:
        conn.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode())
        data = conn.recv(65536).decode("latin-1")
    status = int(data.split()[1])
    location = next((line.split(":", 1)[1].strip() for line in data.split("\r\n")
                     if line.lower().startswith("location:")), "")
    return status, location


def assert_front_door(hosts: list[str]) -> None:
    status, headers = https_get()
    assert status == 401
    assert headers["docker-distribution-api-version"] == ["registry/2.0"]
    assert headers["strict-transport-security"][0].startswith("max-age=")
    assert http_redirect() == (301, f"https://{NAME}/v2/")
    with pytest.raises(ssl.SSLError):
        https_get(version=ssl.TLSVersion.TLSv1_1)
    assert https_get(version=ssl.TLSVersion.TLSv1_3)[0] == 401
    assert_only_aead_forward_secret_suites((PROXY_IP, 443))
    # GitLab's site, for browsers: the headers that keep pages from being sniffed, framed or
    # leaking URLs, each once, and no compressed answer (BREACH) even when asked for one.
    head = on_host(hosts[2], "curl", "-fsS", "-o", "/dev/null", "-D", "-", "-H",
                   "Accept-Encoding: gzip", "--cacert", f"/etc/docker/certs.d/{GITLAB}/ca.crt",
                   f"https://{GITLAB}/").stdout.lower().splitlines()
    for header in ("x-content-type-options: nosniff", "x-frame-options: sameorigin",
                   "referrer-policy: strict-origin-when-cross-origin"):
        assert [line.strip() for line in head].count(header) == 1, head
    assert not [line for line in head if line.startswith("content-encoding:")], head
    # Push from one host, pull on every other, trusting only certs.d/<name>/ca.crt.
    pusher = hosts[1]
    image = f"{FRONT}/proxy/probe:{uuid.uuid4().hex[:8]}"
    login(pusher, registry=FRONT)
    on_host(pusher, "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(pusher, "docker", "push", "-q", image)
    for host in hosts:
        if host != pusher:
            login(host, registry=FRONT)
            on_host(host, "docker", "pull", "-q", image)
            assert on_host(host, "test", "-f", f"/etc/docker/certs.d/{NAME}/ca.crt",
                           check=False).returncode == 0


BLOB_TRIP = Path(__file__).with_name("blob-trip.sh")


def push_and_pull_a_big_layer(hosts: list[str], size: int = GIB) -> None:
    """A single layer (1 GiB unless told) through the front door, both ways: no 413, no
    timeout, the same bytes back. It goes as docker push and pull send a layer (one streamed
    PATCH, then a PUT with its digest; a GET of the blob), from one host up and to another
    down, by curl at the registry's API (tests/integration/blob-trip.sh).

    docker itself would gzip the layer first, and a layer random to gzip (as this one is: no
    earlier push left it in the registry, and compression cannot shrink what crosses the
    front door) goes at gzip's pace: 48 s for a GiB on a quiet lab, 21 s this way. The
    push and pull of images through the front door are proven on every host by
    assert_front_door."""
    pusher, puller = hosts[1], hosts[2]
    trip = BLOB_TRIP.read_text()
    args = (FRONT, f"proxy/big-{uuid.uuid4().hex[:8]}", str(size), uuid.uuid4().hex)
    pushed = on_host(pusher, "sh", "-c", trip, "blob-trip", "push", *args, stdin=password(),
                     timeout=900).stdout.strip()
    pulled = on_host(puller, "sh", "-c", trip, "blob-trip", "pull", *args, stdin=password(),
                     timeout=900).stdout.strip()
    assert pushed.startswith("sha256:") and pulled == pushed, (pushed, pulled)


def test_registry_through_nginx(converged, hosts):
    assert_front_door(hosts)
    assert on_host("node1", "systemctl", "is-active", "nginx").stdout.strip() == "active"


def test_one_gib_layer_through_nginx(converged, hosts):
    push_and_pull_a_big_layer(hosts)


def test_a_broken_nginx_directive_never_goes_live(converged, hosts):
    before = file_digest("node1", NGINX_CONF)
    image = f"{FRONT}/proxy/loop:1"
    login(hosts[1], registry=FRONT)
    on_host(hosts[1], "docker", "tag", "dockhand-lab/probe:1", image)
    on_host(hosts[1], "docker", "push", "-q", image)
    with PullLoops(hosts, image, registry=FRONT) as loops:
        run = run_playbook(*PROXY_SHARE, "-e",
                           json.dumps({"proxy_nginx_extra_directives": ["no_such_directive on;"]}))
    assert run.rc != 0
    assert 'unknown directive "no_such_directive"' in run.output
    assert "previous one keeps serving" in " ".join(run.output.split())
    assert file_digest("node1", NGINX_CONF) == before
    counts = loops.counts()
    assert all(ok > 0 and failed == 0 for ok, failed, _ in counts.values()), counts
    assert https_get()[0] == 401


SWARM_TRAEFIK = ["-e", "proxy_backend=traefik", "-e", "proxy_traefik_mode=swarm"]


def traefik_service_nodes() -> list[str]:
    """Nodes running a task of the front door's Traefik service."""
    out = on_host("node1", "docker", "service", "ps", "proxy_traefik", "--filter",
                  "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}",
                  check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines() if " Running " in f" {line} ")


def test_a_traefik_service_that_does_not_come_up_puts_nginx_back(converged, hosts):
    run = run_playbook(*PROXY_SHARE, *SWARM_TRAEFIK, "-e",
                       "proxy_traefik_image=dockhand-lab/no-such-traefik:1", "-e",
                       "proxy_traefik_image_archive=", "-e", "proxy_traefik_wait_timeout=15")
    assert run.rc != 0
    assert "was put back" in " ".join(run.output.split())
    assert "No such image: dockhand-lab/no-such-traefik:1" in run.output
    assert traefik_service_nodes() == []
    assert on_host("node1", "systemctl", "is-active", "nginx").stdout.strip() == "active"
    assert https_get()[0] == 401


def test_registry_through_traefik_as_a_swarm_service(converged, hosts):
    """From nginx to Traefik as a swarm service, left in place when all went well: the test
    after it moves the front door on from here."""
    try:
        run = run_playbook(*PROXY_SHARE, *SWARM_TRAEFIK)
        assert run.rc == 0, run.output[-4000:]
        assert traefik_service_nodes() == ["node1"]
        labels = on_host("node1", "docker", "node", "inspect", "node1", "-f",
                         "{{json .Spec.Labels}}").stdout
        assert json.loads(labels)["dockhand.proxy"] == "true"
        # Confined as far as its docker.sock allows: root, with nothing but port binding.
        task = on_host("node1", "docker", "ps", "-q", "--filter", "name=proxy_traefik").stdout
        inspected = json.loads(on_host("node1", "docker", "inspect", *task.split()).stdout)[0]
        host_config = inspected["HostConfig"]
        assert (host_config["ReadonlyRootfs"], host_config["CapDrop"], host_config["CapAdd"]) == (
            True, ["ALL"], ["CAP_NET_BIND_SERVICE"]), host_config
        assert host_config["Memory"] and host_config["NanoCpus"] and host_config["PidsLimit"]
        assert inspected["State"]["Health"]["Status"] in ("starting", "healthy")
        for unit in ("nginx", "traefik"):
            assert on_host("node1", "systemctl", "is-active", unit,
                           check=False).stdout.strip() != "active"
        assert_front_door(hosts)
        # GitLab's router comes from its service's labels, not from the file.
        assert "gitlab" not in on_host("node1", "cat", "/etc/traefik/dynamic.yml").stdout
        gitlab = on_host(hosts[3], "curl", "-fsS", "--cacert",
                         "/etc/docker/certs.d/gitlab.dockhand.test/ca.crt",
                         "https://gitlab.dockhand.test/").stdout
        assert gitlab.split()[0] == "gitlab.dockhand.test"
        for extra in ([], ["--check", "--diff"]):
            again = run_playbook(*PROXY_SHARE, *SWARM_TRAEFIK, *extra)
            assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
        # The static and dynamic files are those of Traefik under systemd, whose test moves a
        # whole GiB: here a layer of 64 MiB proves the path through the swarm service.
        push_and_pull_a_big_layer(hosts, size=64 * 1024 * 1024)
    except BaseException:
        # nginx again for the tests after this one, which then start from there.
        run_playbook(*PROXY_SHARE)
        raise


def test_registry_through_traefik(converged, hosts):
    """Traefik under systemd, from Traefik as a swarm service where the test before left it
    (or from nginx, run alone), then nginx again: with the test before, nginx gives way to
    Traefik and Traefik to nginx, and each kind of Traefik gives way to the other."""
    try:
        run = run_playbook(*PROXY_SHARE, "-e", "proxy_backend=traefik")
        assert run.rc == 0, run.output[-4000:]
        # The swarm service is gone, and with it its node label.
        assert traefik_service_nodes() == []
        labels = on_host("node1", "docker", "node", "inspect", "node1", "-f",
                         "{{json .Spec.Labels}}").stdout
        assert "dockhand.proxy" not in json.loads(labels)
        assert on_host("node1", "systemctl", "is-active", "traefik").stdout.strip() == "active"
        assert on_host("node1", "systemctl", "is-active", "nginx",
                       check=False).stdout.strip() != "active"
        assert_front_door(hosts)
        gitlab = on_host(hosts[2], "curl", "-fsS", "--cacert",
                         "/etc/docker/certs.d/gitlab.dockhand.test/ca.crt",
                         "https://gitlab.dockhand.test/").stdout
        assert gitlab.split()[0] == "gitlab.dockhand.test"  # the stand-in, routed by Traefik
        again = run_playbook(*PROXY_SHARE, "-e", "proxy_backend=traefik")
        assert again.rc == 0 and again.total("changed") == 0, again.output[-3000:]
        push_and_pull_a_big_layer(hosts)
    finally:
        back = run_playbook(*PROXY_SHARE)
    assert back.rc == 0, back.output[-4000:]
    assert on_host("node1", "systemctl", "is-active", "nginx").stdout.strip() == "active"
    assert https_get()[0] == 401
