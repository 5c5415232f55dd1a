"""An isolated dockerd for the engine tests, and the modules run as Ansible runs them.

The daemon gets its own data root, exec root (so its own containerd), socket and config file,
its own bridge (never docker0), no iptables rules and no userland proxy: it can run next to
the host's Docker without touching it or the host's ports. It needs root and a dockerd binary;
without them the tests skip, or fail under CI=true, where a skipped engine test would pass a
run that proved nothing. DOCKHAND_TEST_DOCKER_SOCK=/path/to/docker.sock uses an already running
daemon instead (never point it at a Docker that matters: the tests create and remove
containers, images, networks and volumes named dh-test-*).

Images cannot be pulled here, so the test images are built on the spot from the host's own
/bin/sh, sleep and the libraries they link, written as `docker save` tarballs and loaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "collections", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (  # noqa: E402
    EngineClient,
    EngineError,
    NotFound,
)
from enginetools import (  # noqa: E402
    Modules,
    cannot_run,
    image_config,
    rootfs_layer,
    save_archive,
)

SOCKET_ENV = "DOCKHAND_TEST_DOCKER_SOCK"
# The isolated dockerd's own bridge, on an address range the project owns.
TEST_BRIDGE = "dh-test0"
TEST_BRIDGE_CIDR = "172.29.78.1/24"


# ---------------------------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------------------------


def _mounts_under(path):
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return sorted(found, reverse=True)


def _cleanup(client):
    """Remove what the tests left behind (best effort)."""
    for kind, listing, remove in (
        ("containers", "/containers/json?all=1", "/containers/{}?force=1&v=1"),
        ("networks", "/networks", "/networks/{}"),
        ("volumes", "/volumes", "/volumes/{}"),
    ):
        try:
            items = client.get(listing)
            items = items.get("Volumes") or [] if kind == "volumes" else items
            for item in items:
                name = item.get("Name") or (item.get("Names") or [""])[0].lstrip("/")
                if name.startswith("dh-test") and name not in ("bridge", "host", "none"):
                    client.delete(remove.format(item.get("Id") or name))
        except EngineError:
            pass


@pytest.fixture(scope="session")
def docker_socket():
    existing = os.environ.get(SOCKET_ENV)
    if existing:
        yield existing
        _cleanup(EngineClient(existing))
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        cannot_run("dockerd is not installed; the engine tests run an isolated one "
                    f"(or set {SOCKET_ENV})")
    if os.geteuid() != 0:
        cannot_run(f"running an isolated dockerd needs root (or set {SOCKET_ENV})")
    if shutil.which("ldd") is None:
        cannot_run("ldd is needed to build the test image from the host's binaries")

    # A bridge of our own: dockerd started with `--bridge none` deletes the host's docker0
    # (moby removes the default bridge interface when the bridge is disabled).
    subprocess.run(["ip", "link", "del", TEST_BRIDGE], capture_output=True, check=False)
    for cmd in (["link", "add", TEST_BRIDGE, "type", "bridge"],
                ["addr", "add", TEST_BRIDGE_CIDR, "dev", TEST_BRIDGE],
                ["link", "set", TEST_BRIDGE, "up"]):
        subprocess.run(["ip", *cmd], check=True, capture_output=True)
    workdir = tempfile.mkdtemp(prefix="dh-engine-", dir="/tmp")
    sock = f"{workdir}/docker.sock"
    Path(workdir, "daemon.json").write_text("{}\n")
    log = open(f"{workdir}/dockerd.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [dockerd, "--data-root", f"{workdir}/root", "--exec-root", f"{workdir}/exec",
         "--pidfile", f"{workdir}/dockerd.pid", "--host", f"unix://{sock}",
         "--config-file", f"{workdir}/daemon.json", "--bridge", TEST_BRIDGE,
         "--iptables=false", "--ip-masq=false", "--userland-proxy=false",
         "--containerd-namespace", "dockhand-test",
         "--containerd-plugins-namespace", "dockhand-test-plugins"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        client, deadline = EngineClient(sock, timeout=5), time.monotonic() + 60
        while True:
            try:
                client.get("/_ping", versioned=False)
                break
            except EngineError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = Path(workdir, "dockerd.log").read_text(errors="replace")[-3000:]
                    pytest.fail(f"the isolated dockerd did not come up:\n{tail}")
                time.sleep(0.3)
        yield sock
    finally:
        if proc.poll() is None:
            _cleanup(EngineClient(sock))
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        for point in _mounts_under(workdir):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        if not _mounts_under(workdir):
            shutil.rmtree(workdir, ignore_errors=True)
        subprocess.run(["ip", "link", "del", TEST_BRIDGE], capture_output=True, check=False)


@pytest.fixture(scope="session")
def client(docker_socket):
    return EngineClient(docker_socket)


@pytest.fixture(scope="session")
def layer():
    """The one layer of every test image."""
    return rootfs_layer()


@pytest.fixture(scope="session")
def images(client, layer, tmp_path_factory):
    """Two images that differ only in a label: dh-test:1 and dh-test:2; their IDs."""
    directory = tmp_path_factory.mktemp("images")
    ids = {}
    for version in ("1", "2"):
        path = directory / f"dh-test-{version}.tar"
        ids[version] = save_archive(path, [f"dh-test:{version}"], layer,
                                    image_config(version=version))
        with path.open("rb") as handle:
            client.load_image(handle)
        assert client.image_id(f"dh-test:{version}") == ids[version]
    return ids


@pytest.fixture
def modules(docker_socket, tmp_path):
    return Modules(docker_socket, tmp_path)


@pytest.fixture
def name(client):
    """A unique container name, force-removed after the test."""
    container = f"dh-test-{uuid.uuid4().hex[:10]}"
    yield container
    with contextlib.suppress(NotFound):
        client.delete(f"/containers/{container}", {"force": True, "v": True})
