"""The Engine API client and the pure logic of engine_container and engine_image_load.

No Docker daemon: error paths talk to a small HTTP server on a unix socket in a thread.
tests/engine runs the modules against a real (isolated) dockerd.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tarfile
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter import registry as registry_filters
from ansible_collections.dockhand.docker.plugins.module_utils import docker_api as api
from ansible_collections.dockhand.docker.plugins.module_utils import image_archive
from ansible_collections.dockhand.docker.plugins.modules import engine_container as dc
from ansible_collections.dockhand.docker.plugins.modules import engine_image_load as dil

ROOT = Path(__file__).resolve().parents[2]
S = 10**9

# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30s", 30 * S), ("1m", 60 * S), ("1m30s", 90 * S), ("500ms", S // 2), ("1h", 3600 * S),
        ("1.5s", 3 * S // 2), ("250us", 250_000), ("10ns", 10), ("0", 0), ("10", 10 * S),
        (10, 10 * S), (0.5, S // 2), (" 2s ", 2 * S),
    ],
)
def test_parse_duration(value, expected):
    assert dc.parse_duration(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "30x", "1m30", "s", "-1s", "-5", "1 m", True])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        dc.parse_duration(value)


@pytest.mark.parametrize(
    ("spec", "expected", "text"),
    [
        ("8080:80", ("80/tcp", "", "8080"), "8080:80/tcp"),
        ("8080:80/udp", ("80/udp", "", "8080"), "8080:80/udp"),
        ("127.0.0.1:8080:80", ("80/tcp", "127.0.0.1", "8080"), "127.0.0.1:8080:80/tcp"),
        ("[::1]:53:53/udp", ("53/udp", "::1", "53"), "[::1]:53:53/udp"),
        ("[0:0::1]:53:53", ("53/tcp", "::1", "53"), "[::1]:53:53/tcp"),
        (":80", ("80/tcp", "", ""), ":80/tcp"),
        ("0.0.0.0::9000/sctp", ("9000/sctp", "0.0.0.0", ""), "0.0.0.0::9000/sctp"),
        ("08080:080", ("80/tcp", "", "8080"), "8080:80/tcp"),
    ],
)
def test_parse_port(spec, expected, text):
    assert dc.parse_port(spec) == expected
    assert dc.port_text(*expected) == text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("80", "base-60"),
        ("1342", "base-60"),
        ("a:b", "is not a port number"),
        ("8080:0", "is not a port number"),
        ("8080:70000", "is not a port number"),
        ("8080:80/icmp", "protocol must be one of"),
        ("1.2.3:80:80", "does not appear to be an IPv4 or IPv6 address"),
        ("::1:53:53", "is not HOSTPORT:CONTAINERPORT"),
        ("1:2:3:4", "is not HOSTPORT:CONTAINERPORT"),
        ("8000-8010:8000-8010", "is not a port number"),
    ],
)
def test_parse_port_rejects(spec, message):
    with pytest.raises(ValueError, match=message):
        dc.parse_port(spec)


def test_port_bindings_group_by_container_port_and_drop_duplicates():
    parsed = [dc.parse_port(s) for s in
              ["8080:80", "127.0.0.1:8081:80", "8080:80", "53:53/udp"]]
    assert dc.port_bindings(parsed) == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"},
                   {"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "53/udp": [{"HostIp": "", "HostPort": "53"}],
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/etc/certs:/certs:ro",
         {"Type": "bind", "Source": "/etc/certs", "Target": "/certs", "ReadOnly": True}),
        ("/srv/data/:/data/",
         {"Type": "bind", "Source": "/srv/data", "Target": "/data", "ReadOnly": False}),
        ("/srv//x:/x:rw",
         {"Type": "bind", "Source": "/srv/x", "Target": "/x", "ReadOnly": False}),
        ("registry-data:/var/lib/registry",
         {"Type": "volume", "Source": "registry-data", "Target": "/var/lib/registry",
          "ReadOnly": False}),
        ("db.v2:/var/lib/db:ro",
         {"Type": "volume", "Source": "db.v2", "Target": "/var/lib/db", "ReadOnly": True}),
    ],
)
def test_parse_mount(spec, expected):
    assert dc.parse_mount(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/a", "is not SRC:DST"),
        ("/a:/b:z", "is not SRC:DST"),
        ("/a:/b:ro:x", "is not SRC:DST"),
        ("/a:b", "DST must be an absolute path"),
        ("./certs:/certs", "SRC must be an absolute host path"),
        ("v:/x", "SRC must be an absolute host path"),
        ("-vol:/x", "SRC must be an absolute host path"),
    ],
)
def test_parse_mount_rejects(spec, message):
    with pytest.raises(ValueError, match=message):
        dc.parse_mount(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("/run", ("/run", "")), ("/run/:size=64m,mode=1777", ("/run", "size=64m,mode=1777"))],
)
def test_parse_tmpfs(spec, expected):
    assert dc.parse_tmpfs(spec) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ([], []),
        (["sleep", 10], ["sleep", "10"]),
        ("sh -c 'echo a b'", ["sh", "-c", "echo a b"]),
    ],
)
def test_command_list(value, expected):
    assert dc.command_list(value, "command") == expected


def test_command_list_rejects():
    with pytest.raises(ValueError, match="cannot split"):
        dc.command_list("echo 'unterminated", "command")
    with pytest.raises(ValueError, match="must be a list or a string"):
        dc.command_list({"a": 1}, "entrypoint")


def test_string_map_stringifies_and_validates():
    assert dc.string_map({"A": True, "B": False, "C": 3, "D": None, "E": "x=y"}, "env") == {
        "A": "true", "B": "false", "C": "3", "D": "", "E": "x=y"}
    assert dc.string_map(None, "labels") == {}
    with pytest.raises(ValueError, match="is not a valid name"):
        dc.string_map({"A=B": "1"}, "env")
    with pytest.raises(ValueError, match=r"env\.A must be a string"):
        dc.string_map({"A": [1]}, "env")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, None),
        ({}, {"Test": []}),
        ({"test": "curl -f http://localhost/"}, {"Test": ["CMD-SHELL", "curl -f http://localhost/"]}),
        ({"test": ["curl", "-f", "x"]}, {"Test": ["CMD", "curl", "-f", "x"]}),
        ({"test": ["CMD-SHELL", "true"]}, {"Test": ["CMD-SHELL", "true"]}),
        ({"test": ["NONE"]}, {"Test": ["NONE"]}),
        ({"test": ["true"], "interval": "30s", "timeout": "5s", "retries": 3,
          "start_period": "1m"},
         {"Test": ["CMD", "true"], "Interval": 30 * S, "Timeout": 5 * S, "Retries": 3,
          "StartPeriod": 60 * S}),
    ],
)
def test_healthcheck_config(spec, expected):
    assert dc.healthcheck_config(spec) == expected


def test_healthcheck_config_names_the_bad_field():
    with pytest.raises(ValueError, match=r"healthcheck\.timeout: 'soon' is not a duration"):
        dc.healthcheck_config({"test": ["true"], "timeout": "soon"})


IMAGE_HC = {"Test": ["CMD", "check"], "Interval": 10 * S, "Retries": 5}


@pytest.mark.parametrize(
    ("image_hc", "ours", "expected"),
    [
        (None, None, None),
        (IMAGE_HC, None, {"Test": ["CMD", "check"], "Interval": 10 * S, "Timeout": 0,
                          "StartPeriod": 0, "Retries": 5}),
        (IMAGE_HC, {"Test": [], "Interval": 30 * S},
         {"Test": ["CMD", "check"], "Interval": 30 * S, "Timeout": 0, "StartPeriod": 0,
          "Retries": 5}),
        (IMAGE_HC, {"Test": ["NONE"]},
         {"Test": ["NONE"], "Interval": 10 * S, "Timeout": 0, "StartPeriod": 0, "Retries": 5}),
        (None, {"Test": ["CMD", "true"]},
         {"Test": ["CMD", "true"], "Interval": 0, "Timeout": 0, "StartPeriod": 0,
          "Retries": 0}),
        (None, {"Test": []}, None),
    ],
)
def test_merged_healthcheck_follows_the_daemon(image_hc, ours, expected):
    assert dc.merged_healthcheck(image_hc, ours) == expected


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------

IMAGE = {
    "Id": "sha256:" + "a" * 64,
    "Config": {
        "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
        "Cmd": ["serve"],
        "Entrypoint": ["/entry"],
        "Labels": {"org.opencontainers.image.version": "1.0"},
        "User": "app",
        "Healthcheck": None,
    },
}

BASE_PARAMS = {
    "name": "web", "image": "app:1", "command": None, "entrypoint": None,
    "env": {"TOKEN": "s3cret", "WORKERS": 4}, "labels": {"role": "web"},
    "ports": ["8080:80", "127.0.0.1:8443:443"], "mounts": ["/etc/certs:/certs:ro", "data:/data"],
    "restart_policy": "unless-stopped", "healthcheck": None, "user": None,
    "network_mode": None, "networks": None, "hostname": None, "read_only": False,
    "tmpfs": ["/run"], "stop_timeout": None,
}


def fake_daemon_inspect(body, image, api_default_network="default"):
    """Roughly what dockerd 20.10 reports for a container created with ``body``."""
    image_config = image["Config"]
    env = dict(dc.env_map(image_config["Env"]), **dc.env_map(body.get("Env")))
    entrypoint = body.get("Entrypoint", image_config.get("Entrypoint"))
    cmd = body.get("Cmd") or ([] if body.get("Entrypoint") else image_config.get("Cmd"))
    host = body["HostConfig"]
    return {
        "Id": "b" * 64,
        "Name": "/web",
        "Image": image["Id"],
        "State": {"Running": True},
        "Config": {
            "Hostname": body.get("Hostname", "bbbbbbbbbbbb"),
            "User": body.get("User") or image_config.get("User", ""),
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Cmd": cmd, "Entrypoint": entrypoint,
            "Labels": {**image_config.get("Labels", {}), **body.get("Labels", {})},
            "Healthcheck": body.get("Healthcheck", image_config.get("Healthcheck")),
            **({"StopTimeout": body["StopTimeout"]} if "StopTimeout" in body else {}),
        },
        "HostConfig": {
            "Binds": None,
            "Mounts": [{k: v for k, v in m.items() if v is not False}
                       for m in host.get("Mounts", [])],
            "PortBindings": host["PortBindings"],
            "RestartPolicy": host["RestartPolicy"],
            "NetworkMode": host.get("NetworkMode", api_default_network),
            "ReadonlyRootfs": host["ReadonlyRootfs"],
            "Tmpfs": host.get("Tmpfs"),
        },
        "NetworkSettings": {"Networks": {
            name: {} for name in
            (body.get("NetworkingConfig", {}).get("EndpointsConfig")
             or {host.get("NetworkMode", "bridge"): {}})}},
    }


def compare(params, container=None, image=IMAGE, **overrides):
    """Differences between ``params`` (+ overrides) and a container created from ``params``."""
    spec = dc.container_spec(params)
    if container is None:
        container = fake_daemon_inspect(dc.create_body(spec), image)
        for network in spec["networks"][1:]:  # connected after create
            container["NetworkSettings"]["Networks"][network] = {}
    changed = dc.container_spec({**params, **overrides})
    return dc.differences(dc.current_state(container), dc.wanted_state(changed, image))


def test_a_container_made_from_the_options_matches_them():
    assert compare(BASE_PARAMS) == []


@pytest.mark.parametrize("default_mode", ["default", "bridge", ""])
def test_default_network_mode_is_the_same_under_any_name(default_mode):
    body = dc.create_body(dc.container_spec(BASE_PARAMS))
    assert "NetworkMode" not in body["HostConfig"]
    container = fake_daemon_inspect(body, IMAGE, api_default_network=default_mode)
    assert compare(BASE_PARAMS, container) == []
    assert compare(BASE_PARAMS, container, network_mode="bridge") == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"env": {"TOKEN": "new", "WORKERS": 4}}, ["env"]),
        ({"env": {"TOKEN": "s3cret"}}, ["env"]),  # a key we set before is gone
        ({"env": {"TOKEN": "s3cret", "WORKERS": "4"}}, []),  # stringified either way
        ({"env": {"TOKEN": "s3cret", "WORKERS": 4, "LANG": "C.UTF-8"}}, []),  # = the image's
        ({"labels": {"role": "db"}}, ["labels"]),
        ({"labels": {}}, ["labels"]),
        ({"ports": ["127.0.0.1:8443:443", "8080:80"]}, []),  # order does not matter
        ({"ports": ["8080:80"]}, ["ports"]),
        ({"ports": ["8080:80/udp", "127.0.0.1:8443:443"]}, ["ports"]),
        ({"mounts": ["data:/data", "/etc/certs/:/certs:ro"]}, []),
        ({"mounts": ["/etc/certs:/certs", "data:/data"]}, ["mounts"]),
        ({"tmpfs": ["/run:size=1m"]}, ["tmpfs"]),
        ({"restart_policy": "always"}, ["restart_policy"]),
        ({"command": ["serve", "--debug"]}, ["command"]),
        ({"command": ["serve"]}, []),  # = the image's CMD
        ({"command": "serve"}, []),
        ({"entrypoint": ["/entry"]}, ["command"]),  # an entrypoint drops the image's CMD
        ({"entrypoint": ["/other"], "command": ["serve"]}, ["entrypoint"]),
        ({"user": "app"}, []),
        ({"user": "root"}, ["user"]),
        ({"read_only": True}, ["read_only"]),
        ({"hostname": "web1"}, ["hostname"]),
        ({"stop_timeout": 30}, ["stop_timeout"]),
        ({"healthcheck": {"test": ["NONE"]}}, ["healthcheck"]),
        ({"network_mode": "host"}, ["network_mode"]),
        ({"networks": ["backend"]}, ["network_mode", "networks"]),
    ],
)
def test_differences(overrides, expected):
    assert compare(BASE_PARAMS, **overrides) == expected


def test_options_compared_only_when_set_are_kept_once_set():
    params = {**BASE_PARAMS, "hostname": "web1", "stop_timeout": 30,
              "networks": ["backend", "frontend"]}
    assert compare(params) == []
    assert compare(params, hostname=None, stop_timeout=None) == []
    assert compare(params, networks=["backend"]) == ["networks"]
    assert compare(params, networks=["frontend", "backend"]) == ["network_mode"]


def test_a_new_image_id_is_a_difference():
    container = fake_daemon_inspect(dc.create_body(dc.container_spec(BASE_PARAMS)), IMAGE)
    newer = {**IMAGE, "Id": "sha256:" + "c" * 64}
    assert compare(BASE_PARAMS, container, image=newer) == ["image"]


def test_image_labels_and_healthcheck_are_inherited():
    image = {**IMAGE, "Config": {**IMAGE["Config"], "Healthcheck": IMAGE_HC}}
    params = {**BASE_PARAMS, "healthcheck": {"interval": "1m"}}
    container = fake_daemon_inspect(dc.create_body(dc.container_spec(params)), image)
    # The daemon fills in the image's test and retries.
    container["Config"]["Healthcheck"] = {**IMAGE_HC, "Interval": 60 * S}
    assert compare(params, container, image=image) == []
    assert compare(params, container, image=image, healthcheck={"interval": "2m"}) == [
        "healthcheck"]


def test_binds_made_by_hand_are_understood():
    container = fake_daemon_inspect(dc.create_body(dc.container_spec(BASE_PARAMS)), IMAGE)
    container["HostConfig"]["Mounts"] = None
    container["HostConfig"]["Binds"] = ["/etc/certs/:/certs:ro,z", "data:/data:rw"]
    assert compare(BASE_PARAMS, container) == []
    container["HostConfig"]["Binds"].append("/tmp:/tmp")
    assert compare(BASE_PARAMS, container) == ["mounts"]


def test_restart_policy_no_under_any_name():
    params = {**BASE_PARAMS, "restart_policy": "no"}
    container = fake_daemon_inspect(dc.create_body(dc.container_spec(params)), IMAGE)
    container["HostConfig"]["RestartPolicy"] = {"Name": "", "MaximumRetryCount": 0}
    assert compare(params, container) == []


def test_create_body():
    params = {**BASE_PARAMS, "networks": ["backend", "frontend"], "entrypoint": [],
              "healthcheck": {"test": "true", "interval": "5s"}, "user": "1000",
              "stop_timeout": 3}
    body = dc.create_body(dc.container_spec(params))
    assert body["Image"] == "app:1"
    assert body["Env"] == ["TOKEN=s3cret", "WORKERS=4"]
    assert body["Entrypoint"] == []
    assert "Cmd" not in body
    assert body["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5 * S}
    assert body["StopTimeout"] == 3
    assert body["User"] == "1000"
    assert body["HostConfig"]["NetworkMode"] == "backend"
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "unless-stopped",
                                                   "MaximumRetryCount": 0}
    assert body["HostConfig"]["Tmpfs"] == {"/run": ""}
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"backend": {}}}


def test_container_spec_reports_every_problem_at_once():
    params = {**BASE_PARAMS, "ports": ["80", "x:1"], "mounts": ["./rel:/x", "/a:/run"],
              "tmpfs": ["/run"], "healthcheck": {"test": ["true"], "interval": "often"},
              "network_mode": "host", "networks": ["backend"]}
    with pytest.raises(ValueError) as info:
        dc.container_spec(params)
    message = str(info.value)
    for part in ("'80'", "'x:1'", "'./rel:/x'", "/run is mounted more than once",
                 "healthcheck.interval", "networks cannot be combined with network_mode host"):
        assert part in message


def test_network_mode_that_is_a_network_joins_networks():
    spec = dc.container_spec({**BASE_PARAMS, "network_mode": "backend",
                              "networks": ["frontend"]})
    assert spec["networks"] == ["backend", "frontend"]
    assert dc.create_body(spec)["HostConfig"]["NetworkMode"] == "backend"


def test_redact_env_pair_hides_values_and_marks_changes():
    before, after = dc.redact_env_pair({"A": "1", "B": "2", "GONE": "x"},
                                       {"A": "1", "B": "3", "NEW": "y"})
    assert before == {"A": "********", "B": "********", "GONE": "********"}
    assert after == {"A": "********", "B": "******** (changed)", "NEW": "******** (changed)"}


def test_redact_container_leaves_the_input_alone():
    container = {"Id": "x", "Config": {"Env": ["A=1", "B=x=y", "C"]}}
    redacted = dc.redact_container(container)
    assert redacted["Config"]["Env"] == ["A=********", "B=********", "C=********"]
    assert container["Config"]["Env"] == ["A=1", "B=x=y", "C"]
    assert dc.redact_container(None) == {}


# ---------------------------------------------------------------------------------------------
# docker save tarballs
# ---------------------------------------------------------------------------------------------

def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def save_archive(path, images, layout="classic", compress=None):
    """A docker save tarball of ``images`` [(config dict, tags)], with a dummy layer."""
    opener = gzip.open if compress == "gz" else open
    with opener(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        manifest, ids = [], []
        layer = b"not really a layer"
        layer_digest = hashlib.sha256(layer).hexdigest()
        for number, (config, tags) in enumerate(images):
            blob = json.dumps(config).encode()
            digest = hashlib.sha256(blob).hexdigest()
            if layout == "classic":
                config_name, layer_name = f"{digest}.json", f"{layer_digest}/layer.tar"
            elif layout == "oci":
                config_name, layer_name = f"blobs/sha256/{digest}", f"blobs/sha256/{layer_digest}"
            else:
                config_name, layer_name = f"config/image{number}.json", "layer.tar"
            add_bytes(tar, config_name, blob)
            add_bytes(tar, layer_name, layer)
            manifest.append({"Config": config_name, "RepoTags": tags, "Layers": [layer_name]})
            ids.append(f"sha256:{digest}")
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return ids


@pytest.mark.parametrize("layout", ["classic", "oci", "other"])
@pytest.mark.parametrize("compress", [None, "gz"])
def test_read_manifest(tmp_path, layout, compress):
    path = tmp_path / "images.tar"
    ids = save_archive(path, [({"os": "linux", "n": 1}, ["app:1", "app:latest"]),
                              ({"os": "linux", "n": 2}, None)], layout, compress)
    assert dil.read_manifest(str(path)) == [
        {"id": ids[0], "tags": ["app:1", "app:latest"]},
        {"id": ids[1], "tags": []},
    ]


def test_read_manifest_rejects_what_is_not_a_docker_save(tmp_path):
    not_tar = tmp_path / "x.tar"
    not_tar.write_text("hello")
    with pytest.raises(ValueError, match="is not a tar archive"):
        dil.read_manifest(str(not_tar))
    no_manifest = tmp_path / "y.tar"
    with tarfile.open(no_manifest, "w") as tar:
        add_bytes(tar, "rootfs/etc/hostname", b"x")
    with pytest.raises(ValueError, match=r"manifest\.json is missing"):
        dil.read_manifest(str(no_manifest))


def test_plan_marks_missing_and_moved_tags():
    images = [{"id": "sha256:1", "tags": ["app:1", "app:latest"]},
              {"id": "sha256:2", "tags": []}]
    host = {"app:1": "sha256:1", "app:latest": "sha256:0"}
    assert dil.plan(images, host.get) == [
        {"tag": "app:1", "id": "sha256:1", "loaded": False},
        {"tag": "app:latest", "id": "sha256:1", "loaded": True},
        {"tag": None, "id": "sha256:2", "loaded": True},
    ]
    host.update({"app:latest": "sha256:1", "sha256:2": "sha256:2"})
    assert not any(row["loaded"] for row in dil.plan(images, host.get))


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, ""),
        ({"a": None}, ""),
        ({"t": 10, "force": True, "v": False}, "?t=10&force=1&v=0"),
        ({"filters": {"name": ["x"]}}, "?filters=%7B%22name%22%3A+%5B%22x%22%5D%7D"),
    ],
)
def test_query(params, expected):
    assert api._query(params) == expected


class FakeDaemon:
    """An HTTP server on a unix socket. ``routes`` maps 'METHOD /path?query' to
    (status, content type, body bytes); every request is recorded."""

    def __init__(self, socket_path, routes):
        self.routes = routes
        self.requests = []
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _body(self):
                if self.headers.get("Transfer-Encoding") != "chunked":
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                body = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if not size:
                        return body
                    body += chunk

            def _answer(self):
                body = self._body()
                daemon.requests.append((self.command, self.path, dict(self.headers), body))
                status, ctype, payload = daemon.routes.get(
                    f"{self.command} {self.path}",
                    (404, "application/json", b'{"message": "page not found"}'))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *args):
                pass

            def address_string(self):
                return "unix"

        self.server = socketserver.ThreadingUnixStreamServer(socket_path, Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def as_json(status, data):
    return status, "application/json", json.dumps(data).encode()


def version(api_version="1.41", minimum="1.12"):
    return as_json(200, {"ApiVersion": api_version, "MinAPIVersion": minimum})


@pytest.fixture
def socket_path():
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="dh-api-test-")
    yield os.path.join(directory, "docker.sock")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize(
    ("server", "minimum", "expected"),
    [("1.41", "1.12", "1.41"), ("1.43", "1.12", "1.41"), ("1.40", "1.12", "1.40"),
     ("1.51", "1.44", "1.44"), ("1.9", "1.9", "1.9")],
)
def test_api_version_negotiation(socket_path, server, minimum, expected):
    routes = {"GET /version": version(server, minimum),
              f"GET /v{expected}/_ping": (200, "text/plain", b"OK")}
    with FakeDaemon(socket_path, routes) as daemon:
        client = api.EngineClient(socket_path)
        assert client.get("/_ping") == "OK"
        assert client.api_version == expected
        assert [r[1] for r in daemon.requests] == ["/version", f"/v{expected}/_ping"]


def test_errors_carry_the_daemons_message(socket_path):
    routes = {
        "GET /version": version(),
        "POST /v1.41/containers/create?name=web": as_json(
            500, {"message": "Conflict. The container name \"/web\" is already in use"}),
        "GET /v1.41/containers/nope/json": as_json(404, {"message": "No such container: nope"}),
        "POST /v1.41/containers/x/stop": (409, "text/plain", b"plain text refusal\n"),
        "POST /v1.41/containers/x/start": (304, "application/json", b""),
    }
    with FakeDaemon(socket_path, routes) as daemon:
        client = api.EngineClient(socket_path)
        with pytest.raises(api.EngineError) as info:
            client.post("/containers/create", {"name": "web"}, {"Image": "app:1"})
        assert info.value.status == 500
        assert info.value.message == 'Conflict. The container name "/web" is already in use'
        assert not isinstance(info.value, api.NotFound)
        assert "(HTTP 500)" in str(info.value)
        _, _, headers, body = daemon.requests[-1]
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"Image": "app:1"}

        with pytest.raises(api.NotFound) as info:
            client.get("/containers/nope/json")
        assert (info.value.status, info.value.message) == (404, "No such container: nope")
        assert client.container("nope") is None

        with pytest.raises(api.EngineError, match="plain text refusal") as info:
            client.post("/containers/x/stop")
        assert info.value.status == 409
        assert client.post("/containers/x/start") is None  # 304: already started


def test_lookups_refuse_an_id_prefix_match(socket_path):
    full = "f" * 64
    routes = {
        "GET /version": version(),
        "GET /v1.41/containers/ff/json": as_json(200, {"Id": full, "Name": "/other"}),
        "GET /v1.41/containers/web/json": as_json(200, {"Id": full, "Name": "/web"}),
        f"GET /v1.41/containers/{full}/json": as_json(200, {"Id": full, "Name": "/web"}),
        "GET /v1.41/images/registry:5000/app:1/json": as_json(200, {"Id": "sha256:1"}),
    }
    with FakeDaemon(socket_path, routes):
        client = api.EngineClient(socket_path)
        assert client.container("ff") is None
        assert client.container("web")["Id"] == full
        assert client.container(full)["Name"] == "/web"
        assert client.image_id("registry:5000/app:1") == "sha256:1"
        assert client.image_id("missing:1") is None


def stream_body(*messages, glue="\r\n"):
    return glue.join(json.dumps(m) for m in messages).encode()


def test_stream_reads_every_message(socket_path, tmp_path):
    tarball = tmp_path / "image.tar"
    tarball.write_bytes(b"x" * 200_000)
    loaded = stream_body({"status": "Loading layer", "progressDetail": {"current": 1}},
                         {"stream": "Loaded image: app:1\n"}, glue="")
    routes = {"GET /version": version(), "POST /v1.41/images/load?quiet=0": (
        200, "application/json", loaded)}
    with FakeDaemon(socket_path, routes) as daemon:
        client = api.EngineClient(socket_path)
        with tarball.open("rb") as handle:
            messages = client.load_image(handle)
        assert messages[-1] == {"stream": "Loaded image: app:1\n"}
        _, _, headers, body = daemon.requests[-1]
        assert headers["Content-Type"] == "application/x-tar"
        assert headers["Content-Length"] == "200000"
        assert body == tarball.read_bytes()


@pytest.mark.parametrize(
    "error",
    [{"errorDetail": {"message": "open /x.json: no such file"},
      "error": "open /x.json: no such file"},
     {"error": "open /x.json: no such file"},
     {"errorDetail": {"message": "open /x.json: no such file"}}],
)
def test_stream_raises_on_an_error_message(socket_path, error):
    # dockerd 20.10 answers a failed load with HTTP 200 and the error inside the stream.
    routes = {"GET /version": version(), "POST /v1.41/images/load?quiet=0": (
        200, "application/json", stream_body({"status": "Loading layer"}, error))}
    with FakeDaemon(socket_path, routes):
        client = api.EngineClient(socket_path)
        with pytest.raises(api.EngineError) as info:
            client.load_image(io.BytesIO(b"x" * 1000))
        assert info.value.message == "open /x.json: no such file"
        assert info.value.status == 200


def test_no_daemon_is_an_engine_error(socket_path):
    client = api.EngineClient(socket_path, timeout=2)
    with pytest.raises(api.EngineError, match="cannot talk to the Docker daemon at") as info:
        client.get("/info")
    assert info.value.status is None


# ---------------------------------------------------------------------------------------------
# The modules fail before touching the daemon on bad input
# ---------------------------------------------------------------------------------------------

def run_module(tmp_path, module, **args):
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "plugins" / "modules" / f"{module}.py"), str(args_file)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "collections")},
    )
    return json.loads(proc.stdout)


def test_container_module_validates_before_connecting(tmp_path):
    result = run_module(tmp_path, "engine_container", name="web", image="app:1",
                        ports=["22:22", 1342], env={"TOKEN": "s3cret"},
                        socket=str(tmp_path / "none.sock"))
    assert result["failed"] is True
    assert "'1342' is not HOSTPORT:CONTAINERPORT" in result["msg"]
    assert "base-60" in result["msg"]
    assert result["invocation"]["module_args"]["env"] == {
        "TOKEN": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert "s3cret" not in json.dumps(result)


def test_container_module_without_daemon(tmp_path):
    result = run_module(tmp_path, "engine_container", name="web", image="app:1",
                        socket=str(tmp_path / "none.sock"))
    assert result["failed"] is True
    assert "cannot inspect container web: cannot talk to the Docker daemon" in result["msg"]


def test_image_load_module_rejects_a_bad_tarball(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_text("not a tarball")
    result = run_module(tmp_path, "engine_image_load", path=str(bad),
                        socket=str(tmp_path / "none.sock"))
    assert result["failed"] is True
    assert result["msg"] == f"{bad} is not a tar archive (plain, gzip, bzip2 or xz)"
    result = run_module(tmp_path, "engine_image_load", path=str(tmp_path / "missing.tar"))
    assert result["msg"].endswith("does not exist or is not a file")


@pytest.fixture
def controller_tarball(tmp_path):
    path = tmp_path / "workloads.tar"
    ids = save_archive(path, [({"os": "linux", "n": 1}, ["app:1"]),
                              ({"os": "linux", "n": 2}, None)])
    return str(path), ids


def _probe(ids, loaded=(False, False), tags=("app:1", None)):
    """engine_image_load's check-mode result on a host copy holding ``ids`` under ``tags``."""
    return {"changed": any(loaded), "images": [
        {"tag": tag, "id": image_id, "loaded": flag}
        for tag, image_id, flag in zip(tags, ids, loaded, strict=True)]}


@pytest.mark.parametrize(("case", "needed"), [
    ("the host has its images from the same tarball", False),
    ("no copy on the host", True),
    ("the engine cannot be reached", True),
    ("a tag is missing on the host", True),
    ("the host's copy is an older tarball", True),
])
def test_preload_is_sent_only_when_the_host_lacks_its_images(controller_tarball, case, needed):
    src, ids = controller_tarball
    probe = {
        "the host has its images from the same tarball": _probe(ids),
        "no copy on the host": {"failed": True, "msg": "/var/cache/x.tar does not exist"},
        "the engine cannot be reached": {"failed": True, "msg": "cannot load", "images": []},
        "a tag is missing on the host": _probe(ids, loaded=(True, False)),
        "the host's copy is an older tarball": _probe(["sha256:" + "0" * 64, ids[1]]),
    }[case]
    assert image_archive.preload_needed(probe, src) is needed


def test_preload_of_an_unreadable_controller_tarball_names_the_variable(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_text("not a tarball")
    named = r"docker_registry_preload_images: .* is not a tar"
    with pytest.raises(AnsibleFilterError, match=named):
        registry_filters.docker_preload_needed({"images": []}, str(bad))
