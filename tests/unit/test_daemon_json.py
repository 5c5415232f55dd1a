"""daemon_json logic and the docker_daemon_config module, on real files in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from ansible_collections.dockhand.docker.plugins.filter import daemon as daemon_filters
from ansible_collections.dockhand.docker.plugins.module_utils import daemon_json as dj
from ansible_collections.dockhand.docker.plugins.module_utils import daemon_options as opts
from ansible_collections.dockhand.docker.plugins.module_utils import daemon_unit as unit_flags
from ansible_collections.dockhand.docker.plugins.module_utils import daemon_validate as validation
from moduletools import run_module

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "docker_daemon_config.py"

DEBIAN_UNIT = """\
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=0
Restart=always

[Install]
WantedBy=multi-user.target
"""

DOCKER_UNIT = DEBIAN_UNIT.replace(
    "ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS",
    "ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def unit_tree(root: Path, fragment: str = DEBIAN_UNIT) -> Path:
    """A fake / whose lib/systemd/system holds docker.service, as the packages install it."""
    write(root / "lib/systemd/system/docker.service", fragment)
    return root


def unit_argv(root: Path, ignore=()) -> list[str]:
    files = unit_flags.find_unit_files("docker.service", [str(root)])
    return unit_flags.effective_execstart([(p, Path(p).read_text()) for p in files], ignore)


# ---------------------------------------------------------------------------------------------
# merge / changed_keys / render
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("existing", "options", "state", "remove", "expected"),
    [
        pytest.param({"data-root": "/srv/docker", "debug": False}, {"debug": True}, "merged", [],
                     {"data-root": "/srv/docker", "debug": True}, id="keeps-unmanaged"),
        pytest.param({"log-opts": {"max-size": "10m", "max-file": "3"}},
                     {"log-opts": {"max-size": "20m"}}, "merged", [],
                     {"log-opts": {"max-size": "20m"}}, id="replaces-managed-whole"),
        pytest.param({"debug": True, "labels": ["a=b"]}, {}, "merged", ["debug", "absent"],
                     {"labels": ["a=b"]}, id="remove-keys"),
        pytest.param({"data-root": "/srv/docker"}, {"debug": True}, "exact", ["debug"],
                     {"debug": True}, id="exact"),
        pytest.param({}, {}, "merged", [], {}, id="empty"),
    ],
)
def test_merge(existing, options, state, remove, expected):
    assert dj.merge(existing, options, state, remove) == expected


def test_merge_result_shares_nothing_with_inputs():
    options = {"log-opts": {"max-size": "10m"}}
    result = dj.merge({}, options, "merged", [])
    result["log-opts"]["max-size"] = "1g"
    assert options == {"log-opts": {"max-size": "10m"}}


def test_merge_rejects_unknown_state():
    with pytest.raises(ValueError, match="state"):
        dj.merge({}, {}, "replaced", [])


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({}, {"debug": True}, ["debug"]),
        ({"debug": True}, {}, ["debug"]),
        ({"debug": True, "mtu": 1400}, {"debug": False, "mtu": 1400}, ["debug"]),
        ({"log-opts": {"max-size": "1m"}}, {"log-opts": {"max-size": "2m"}}, ["log-opts"]),
        ({"b": 1, "a": 1}, {"a": 2, "b": 2}, ["a", "b"]),
        ({"debug": True}, {"debug": True}, []),
    ],
)
def test_changed_keys(before, after, expected):
    assert dj.changed_keys(before, after) == expected


def test_render_is_sorted_indented_and_newline_terminated():
    text = dj.render({"live-restore": True, "debug": False, "log-opts": {"max-size": "1m"}})
    assert text == (
        '{\n  "debug": false,\n  "live-restore": true,\n'
        '  "log-opts": {\n    "max-size": "1m"\n  }\n}\n'
    )
    assert dj.parse(text) == json.loads(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"debug":true,\n\n "mtu" : 1400}', {"debug": True, "mtu": 1400}),
        (b"\xef\xbb\xbf{\"debug\": true}", {"debug": True}),
        (b"  \n", {}),
    ],
)
def test_parse_accepts_what_dockerd_accepts(raw, expected):
    assert dj.parse(raw) == expected


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{'debug': true}", b'"text"'])
def test_parse_rejects_non_objects(raw):
    with pytest.raises(ValueError):
        dj.parse(raw)


# ---------------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------------

def test_unknown_key_without_a_close_match():
    assert validation.validate({"no-such-option": 1}) == [
        "unknown daemon.json option 'no-such-option' (not a dockerd option; check the "
        "spelling, see dockerd --help)"
    ]


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("lables", "'labels'"),
        ("live-restor", "'live-restore'"),
        ("insecure-registry", "'insecure-registries'"),
        ("registry-mirror", "'registry-mirrors'"),
        ("label", "'labels'"),
        ("http-proxy", "'proxies'"),
    ],
)
def test_unknown_key_is_named_with_a_suggestion(key, suggestion):
    [error] = validation.validate({key: []})
    assert f"unknown daemon.json option '{key}'" in error
    assert suggestion in error


def test_allow_unknown_skips_only_the_unknown_key_check():
    assert validation.validate({"some-future-option": 1}, allow_unknown=True) == []
    [error] = validation.validate({"some-future-option": 1, "debug": "yes"}, allow_unknown=True)
    assert error.startswith("'debug' must be a boolean")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("debug", "yes", "'debug' must be a boolean (true or false), not the str 'yes'"),
        ("live-restore", 1, "'live-restore' must be a boolean"),
        ("mtu", "1500", "'mtu' must be an integer, not the str '1500'"),
        ("max-concurrent-downloads", True, "'max-concurrent-downloads' must be an integer"),
        ("shutdown-timeout", 1.5, "'shutdown-timeout' must be an integer"),
        ("log-driver", 5, "'log-driver' must be a string"),
        ("default-shm-size", [64], "'default-shm-size' must be a size"),
        ("dns", "1.1.1.1", "'dns' must be a list of strings, not the str"),
        ("labels", ["a=b", 2], "'labels' must be a list of strings: item 1 is int"),
        ("log-opts", {"max-size": "10m", "max-file": 3},
         "'log-opts' must be a mapping of strings (Docker rejects numbers there): "
         "'max-file' is int"),
        ("log-opts", ["max-size=10m"], "'log-opts' must be a mapping of strings"),
        ("default-network-opts", {"bridge": {"com.docker.network.driver.mtu": 1400}},
         "'default-network-opts.bridge' must be a mapping of strings"),
        ("features", {"buildkit": "true"}, "'features' must be a mapping of name to true/false"),
        ("builder", ["gc"], "'builder' must be a mapping"),
        ("runtimes", {"crun": "/usr/bin/crun"}, "'runtimes' must be a mapping of runtime name"),
        ("runtimes", {"crun": {"runtimeArgs": []}}, "'crun' has no string \"path\""),
        ("default-ulimits", {"nofile": {"Name": "nofile", "Soft": "1024", "Hard": 2048}},
         "'nofile' needs an integer \"Soft\""),
        ("default-address-pools", {"base": "10.0.0.0/8"}, "'default-address-pools' must be a list"),
        ("default-address-pools", [{"base": "10.10.0.0/16", "size": "24"}],
         "size must be an integer prefix length"),
        ("proxies", {"http-proxy": 3128}, "'proxies' must be a mapping of strings"),
        ("proxies", {"ftp-proxy": "x"}, "'proxies' has unknown member 'ftp-proxy'"),
        ("bip", None, "'bip' is null"),
    ],
)
def test_type_errors(key, value, expected):
    errors = validation.validate({key: value})
    assert len(errors) == 1, errors
    assert expected in errors[0]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bip", "300.1.1.1/24"),
        ("bip", "172.18.0.1"),
        ("bip", "fd00::1/64"),
        ("fixed-cidr", "10.0.0.0/33"),
        ("fixed-cidr", "10.0.0.0"),
        ("fixed-cidr-v6", "10.0.0.0/24"),
        ("default-address-pools", [{"base": "10.300.0.0/16", "size": 24}]),
        ("default-address-pools", [{"base": "10.10.0.0/16", "size": 8}]),
        ("log-level", "verbose"),
        ("log-format", "xml"),
        ("default-cgroupns-mode", "shared"),
        ("default-ipc-mode", "host"),
        ("hosts", ["0.0.0.0:2375"]),
        ("hosts", ["unix:///var/run/docker.sock", "http://0.0.0.0:2375"]),
        ("ip", "0.0.0.256"),
        ("default-gateway-v6", "172.17.0.1"),
        ("dns", ["1.1.1.1", "dns.example.com"]),
        ("labels", ["no-value"]),
        ("exec-opts", ["native.cgroupdriver"]),
        ("registry-mirrors", ["mirror.gcr.io"]),
        ("insecure-registries", ["http://registry.local:5000"]),
        ("mtu", -1),
    ],
)
def test_value_errors_name_the_key(key, value):
    errors = validation.validate({key: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"'{key}'")
    if isinstance(value, str):
        assert repr(value) in errors[0]


def test_bip_error_shows_the_expected_form():
    [error] = validation.validate({"bip": "300.1.1.1/24"})
    assert error == ("'bip' must be the bridge's own IPv4 address with a prefix length, such as "
                     "172.18.0.1/16; got '300.1.1.1/24'")


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"bip": "172.18.0.1/16", "fixed-cidr": "172.18.1.0/24", "fixed-cidr-v6": "fd00:1::/64",
         "default-address-pools": [{"base": "10.200.0.0/16", "size": 24}], "mtu": 1450},
        {"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376", "fd://"],
         "tls": True, "tlsverify": True, "tlscacert": "/etc/docker/ca.pem"},
        {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"},
         "log-level": "WARN", "log-format": "json"},
        {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}},
         "runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}},
         "features": {"buildkit": True}, "builder": {"gc": {"enabled": True}},
         "default-shm-size": "64M", "proxies": {"http-proxy": "http://proxy:3128"}},
        {"bip": "", "fixed-cidr": "", "default-gateway": "", "ip": "0.0.0.0",
         "dns": ["1.1.1.1", "2606:4700:4700::1111"], "labels": ["role=ci"],
         "exec-opts": ["native.cgroupdriver=systemd"],
         "registry-mirrors": ["https://mirror.gcr.io"], "insecure-registries": ["10.0.0.5:5000"],
         "default-cgroupns-mode": "private", "default-network-opts": {"bridge": {"a": "b"}}},
    ],
)
def test_valid_configurations_pass(config):
    assert validation.validate(config) == []


def test_all_errors_are_collected():
    errors = validation.validate({
        "bip": "300.1.1.1/24",
        "log-level": "loud",
        "no-such-option": True,
        "debug": "yes",
        "log-opts": {"max-file": 3},
    })
    assert len(errors) == 5
    for key in ("bip", "log-level", "no-such-option", "debug", "log-opts"):
        assert any(f"'{key}'" in e for e in errors), key


def test_validate_rejects_a_non_mapping():
    assert validation.validate(["debug"]) == ["daemon.json options must be a mapping, not the list"]


# The preflight filter and the action plugin give the same one message, or none.
@pytest.mark.parametrize(
    ("options", "remove", "version", "expected"),
    [
        ({"log-level": "warn"}, [], "auto", None),
        ({"log-level": "loud"}, [], "auto",
         "docker_daemon_options: invalid daemon.json options: 'log-level'"),
        ({"debug": True}, ["debug"], "", "'debug' is both in options and in remove_keys"),
        (["debug"], [], "auto",
         "docker_daemon_options must be a mapping of daemon.json keys to values, not list"),
    ],
)
def test_the_controller_check_gives_one_message_naming_the_variable(options, remove, version,
                                                                    expected):
    message, _ = validation.request_failure(options, remove, "merged", False, version,
                                            "docker_daemon_options")
    found = daemon_filters.daemon_option_errors(options, remove, "merged", False, version,
                                                "docker_daemon_options")
    if expected is None:
        assert message is None and found == []
    else:
        assert expected in message
        assert found == [message]


def test_every_documented_key_is_known():
    documented = [
        "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins",
        "bip", "bridge", "builder", "cgroup-parent", "containerd", "containerd-namespace",
        "containerd-plugins-namespace", "data-root", "debug", "default-address-pools",
        "default-cgroupns-mode", "default-gateway", "default-gateway-v6",
        "default-ipc-mode", "default-network-opts", "default-runtime", "default-shm-size",
        "default-ulimits", "dns", "dns-opts", "dns-search", "exec-opts", "exec-root",
        "experimental", "features", "fixed-cidr", "fixed-cidr-v6", "group",
        "host-gateway-ip", "hosts", "icc", "init", "init-path", "insecure-registries", "ip",
        "ip-forward", "ip-masq", "ip6tables", "iptables", "ipv6", "labels", "live-restore",
        "log-driver", "log-format", "log-level", "log-opts", "max-concurrent-downloads",
        "max-concurrent-uploads", "max-download-attempts", "metrics-addr", "mtu",
        "no-new-privileges", "node-generic-resources", "oom-score-adjust", "pidfile",
        "proxies", "raw-logs", "registry-mirrors", "runtimes", "seccomp-profile",
        "selinux-enabled", "shutdown-timeout", "storage-driver", "storage-opts",
        "swarm-default-advertise-addr", "tls", "tlscacert", "tlscert", "tlskey",
        "tlsverify", "userland-proxy", "userland-proxy-path", "userns-remap",
        "cdi-spec-dirs",
    ]
    assert sorted(set(documented) - set(opts.OPTIONS)) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True}, ["no unix://"]),
        ({"hosts": ["tcp://0.0.0.0:2375"]}, ["no unix://", "tcp://"]),
        ({"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"], "tlsverify": True}, []),
        ({"hosts": ["fd://"]}, []),
        ({"debug": True}, []),
    ],
)
def test_config_warnings(config, expected):
    found = validation.config_warnings(config)
    assert len(found) == len(expected)
    for text, fragment in zip(found, expected, strict=True):
        assert fragment in text


# ---------------------------------------------------------------------------------------------
# reload or restart
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("before", "after", "dropin_changed", "expected"),
    [
        pytest.param({}, {"debug": True}, False, "reload", id="reloadable-only"),
        pytest.param({"labels": ["a=b"]},
                     {"labels": ["a=c"], "max-concurrent-downloads": 5,
                      "registry-mirrors": ["https://m.example"]}, False, "reload",
                     id="several-reloadable"),
        pytest.param({"debug": True}, {"debug": False, "log-driver": "local"}, False, "restart",
                     id="mixed"),
        pytest.param({}, {"data-root": "/srv/docker"}, False, "restart", id="restart-only"),
        pytest.param({"debug": True}, {"debug": True}, False, "none", id="no-change"),
        pytest.param({"debug": True}, {"debug": True}, True, "restart", id="dropin-changed"),
        pytest.param({}, {"debug": True}, True, "restart", id="reloadable-and-dropin"),
        pytest.param({"features": {"buildkit": False}}, {"features": {"buildkit": True}}, False,
                     "reload", id="feature-buildkit"),
        pytest.param({}, {"features": {"containerd-snapshotter": True}}, False, "restart",
                     id="feature-snapshotter"),
        pytest.param({"debug": True}, {}, False, "restart", id="removed-debug-sticks"),
        pytest.param({"max-concurrent-uploads": 1}, {}, False, "reload",
                     id="removed-max-concurrent-resets"),
        pytest.param({}, {"some-future-option": 1}, False, "restart", id="unknown-key"),
    ],
)
def test_apply_action(before, after, dropin_changed, expected):
    assert dj.apply_action(before, after, dropin_changed) == expected


# ---------------------------------------------------------------------------------------------
# systemd units, on real files
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        (DEBIAN_UNIT, ["/usr/sbin/dockerd", "-H", "fd://", "$DOCKER_OPTS"]),
        (DOCKER_UNIT,
         ["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"]),
        ("[Service]\nExecStart=/usr/bin/dockerd \\\n  -H fd:// \\\n  --log-level=warn\n",
         ["/usr/bin/dockerd", "-H", "fd://", "--log-level=warn"]),
        ("[Service]\nExecStart=/usr/bin/dockerd \\\n# a comment inside the continuation\n"
         "  --debug\n", ["/usr/bin/dockerd", "--debug"]),
        ("[Service]\nExecStart=/usr/bin/dockerd --label \"note=two words\" ${EXTRA}\n",
         ["/usr/bin/dockerd", "--label", '"note=two words"', "${EXTRA}"]),
        ("[Unit]\nExecStart=/not/a/service/key\n[Service]\nExecStart = /usr/bin/dockerd\n",
         ["/usr/bin/dockerd"]),
        ("[Service]\nExecStart=/usr/bin/dockerd -D\nExecStart=\n", []),
        ("", []),
    ],
)
def test_effective_execstart_of_a_fragment(tmp_path, fragment, expected):
    assert unit_argv(unit_tree(tmp_path, fragment)) == expected


def test_etc_override_with_reset_and_continuation(tmp_path):
    root = unit_tree(tmp_path)
    write(root / "etc/systemd/system/docker.service.d/override.conf",
          "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd \\\n"
          "    -H fd:// \\\n    --data-root=/srv/docker\n")
    assert unit_argv(root) == ["/usr/bin/dockerd", "-H", "fd://", "--data-root=/srv/docker"]


def test_dropin_without_reset_keeps_the_fragment_line(tmp_path):
    root = unit_tree(tmp_path)
    write(root / "etc/systemd/system/docker.service.d/limits.conf",
          "[Service]\nLimitNOFILE=1048576\n")
    assert unit_argv(root) == ["/usr/sbin/dockerd", "-H", "fd://", "$DOCKER_OPTS"]


def test_find_unit_files_priority_and_order(tmp_path):
    write(tmp_path / "lib/systemd/system/docker.service", DEBIAN_UNIT)
    write(tmp_path / "usr/lib/systemd/system/docker.service", DOCKER_UNIT)
    write(tmp_path / "etc/systemd/system/docker.service.d/b.conf", "")
    write(tmp_path / "lib/systemd/system/docker.service.d/b.conf", "hidden by /etc")
    write(tmp_path / "run/systemd/system/docker.service.d/a.conf", "")
    write(tmp_path / "usr/lib/systemd/system/docker.service.d/c.conf", "")
    write(tmp_path / "etc/systemd/system/docker.service.d/notes.txt", "not a drop-in")
    files = unit_flags.find_unit_files("docker.service", [str(tmp_path)])
    assert [os.path.relpath(f, tmp_path) for f in files] == [
        "lib/systemd/system/docker.service",
        "run/systemd/system/docker.service.d/a.conf",
        "etc/systemd/system/docker.service.d/b.conf",
        "usr/lib/systemd/system/docker.service.d/c.conf",
    ]


def test_etc_fragment_wins_and_missing_fragment_finds_nothing(tmp_path):
    assert unit_flags.find_unit_files("docker.service", [str(tmp_path)]) == []
    write(tmp_path / "lib/systemd/system/docker.service", DEBIAN_UNIT)
    write(tmp_path / "etc/systemd/system/docker.service", DOCKER_UNIT)
    assert unit_argv(tmp_path)[0] == "/usr/bin/dockerd"


def test_own_dropin_is_ignored(tmp_path):
    root = unit_tree(tmp_path)
    own = write(root / "etc/systemd/system/docker.service.d/dockhand-daemon-json.conf",
                "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd $DOCKER_OPTS\n")
    assert unit_argv(root) == ["/usr/sbin/dockerd", "$DOCKER_OPTS"]
    assert unit_argv(root, [str(own)]) == ["/usr/sbin/dockerd", "-H", "fd://", "$DOCKER_OPTS"]


def test_overriding_dropins_are_reported(tmp_path):
    root = unit_tree(tmp_path)
    d = root / "etc/systemd/system/docker.service.d"
    own = d / "dockhand-daemon-json.conf"
    write(d / "override.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd://\n")
    write(d / "zz-limits.conf", "[Service]\nLimitNOFILE=1\n")
    write(d / "a-early.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\n")
    files = unit_flags.find_unit_files("docker.service", [str(root)])
    texts = [(p, Path(p).read_text()) for p in files]
    assert unit_flags.overriding_dropins(texts, str(own)) == [str(d / "override.conf")]


# ---------------------------------------------------------------------------------------------
# conflicts and the drop-in
# ---------------------------------------------------------------------------------------------

HOSTS = {"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]}


@pytest.mark.parametrize(
    ("argv", "config", "expected_conflicts", "expected_execstart"),
    [
        pytest.param("/usr/sbin/dockerd -H fd:// $DOCKER_OPTS", HOSTS, [("-H", "hosts")],
                     "/usr/sbin/dockerd $DOCKER_OPTS", id="debian"),
        pytest.param("/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
                     {**HOSTS, "containerd": "/run/containerd/containerd.sock"},
                     [("-H", "hosts"), ("--containerd", "containerd")], "/usr/bin/dockerd",
                     id="docker-both"),
        pytest.param("/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
                     HOSTS, [("-H", "hosts")],
                     "/usr/bin/dockerd --containerd=/run/containerd/containerd.sock",
                     id="docker-hosts"),
        pytest.param("/usr/bin/dockerd --host=fd:// --host tcp://0.0.0.0:2375 -D", HOSTS,
                     [("--host", "hosts")], "/usr/bin/dockerd -D", id="long-forms"),
        pytest.param("/usr/bin/dockerd -Hfd:// ${DOCKER_OPTS}", HOSTS, [("-H", "hosts")],
                     "/usr/bin/dockerd ${DOCKER_OPTS}", id="attached-value"),
        pytest.param("/usr/bin/dockerd -H=fd://", HOSTS, [("-H", "hosts")], "/usr/bin/dockerd",
                     id="shorthand-equals"),
        pytest.param("/usr/bin/dockerd -D -H fd://", {"debug": True}, [("-D", "debug")],
                     "/usr/bin/dockerd -H fd://", id="short-bool"),
        pytest.param("/usr/bin/dockerd --debug=false -H fd://", {"debug": True},
                     [("--debug", "debug")], "/usr/bin/dockerd -H fd://", id="bool-false"),
        pytest.param("/usr/bin/dockerd --tlsverify -H fd://", {"tlsverify": True},
                     [("--tlsverify", "tlsverify")], "/usr/bin/dockerd -H fd://",
                     id="bool-does-not-take-next"),
        pytest.param("/usr/bin/dockerd -DH fd://", HOSTS, [("-H", "hosts")],
                     "/usr/bin/dockerd -D", id="stacked-shorthands"),
        pytest.param("/usr/bin/dockerd -l debug -s overlay2 -G docker -p /run/d.pid",
                     {"log-level": "info", "storage-driver": "overlay2", "group": "docker",
                      "pidfile": "/run/d.pid"},
                     [("-l", "log-level"), ("-s", "storage-driver"), ("-G", "group"),
                      ("-p", "pidfile")], "/usr/bin/dockerd", id="short-value-flags"),
        pytest.param("/usr/bin/dockerd -g /srv/docker --graph /x --data-root=/y",
                     {"data-root": "/srv/docker"},
                     [("-g", "data-root"), ("--graph", "data-root"),
                      ("--data-root", "data-root")], "/usr/bin/dockerd", id="data-root-aliases"),
        pytest.param('/usr/bin/dockerd --label "note=two words" --insecure-registry r:5000 '
                     "--registry-mirror https://m --storage-opt a=b --exec-opt c=d "
                     "--log-opt max-size=1m --default-ulimit nofile=1:2 --dns-opt ndots:1 "
                     "--authorization-plugin authz --default-address-pool base=10.0.0.0/8,size=24",
                     {"labels": [], "insecure-registries": [], "registry-mirrors": [],
                      "storage-opts": [], "exec-opts": [], "log-opts": {},
                      "default-ulimits": {}, "dns-opts": [], "authorization-plugins": [],
                      "default-address-pools": []},
                     [("--label", "labels"), ("--insecure-registry", "insecure-registries"),
                      ("--registry-mirror", "registry-mirrors"),
                      ("--storage-opt", "storage-opts"), ("--exec-opt", "exec-opts"),
                      ("--log-opt", "log-opts"), ("--default-ulimit", "default-ulimits"),
                      ("--dns-opt", "dns-opts"),
                      ("--authorization-plugin", "authorization-plugins"),
                      ("--default-address-pool", "default-address-pools")],
                     "/usr/bin/dockerd", id="plural-keys"),
        pytest.param("/usr/bin/dockerd --http-proxy http://p:3128 -H fd://",
                     {"proxies": {"http-proxy": "http://p:3128"}},
                     [("--http-proxy", "proxies.http-proxy")], "/usr/bin/dockerd -H fd://",
                     id="proxies"),
        pytest.param("/usr/bin/dockerd --some-new-bool -H fd://", HOSTS, [("-H", "hosts")],
                     "/usr/bin/dockerd --some-new-bool", id="unknown-bool-flag"),
        pytest.param('-/usr/bin/dockerd --label "note=two words" -H fd://', HOSTS,
                     [("-H", "hosts")], '-/usr/bin/dockerd --label "note=two words"',
                     id="exec-prefix-and-quoting-kept"),
        pytest.param("/usr/bin/dockerd --add-runtime crun=/usr/bin/crun",
                     {"runtimes": {"crun": {"path": "/usr/bin/crun"}}}, [], None,
                     id="runtimes-merge-with-flag"),
        pytest.param("/usr/sbin/dockerd -H fd:// $DOCKER_OPTS", {"debug": True}, [], None,
                     id="no-conflict"),
    ],
)
def test_conflicts_and_dropin(argv, config, expected_conflicts, expected_execstart):
    words = unit_flags.split_command(argv)
    found = unit_flags.conflicts(words, config)
    assert found == expected_conflicts
    content = unit_flags.dropin_content(words, found)
    if expected_execstart is None:
        assert content is None
        return
    assert content.startswith("# Managed by dockhand")
    assert content.endswith(f"[Service]\nExecStart=\nExecStart={expected_execstart}\n")


def test_dropin_resolves_the_conflict_it_was_written_for(tmp_path):
    root = unit_tree(tmp_path, DOCKER_UNIT)
    config = {**HOSTS, "containerd": "/run/containerd/containerd.sock"}
    argv = unit_argv(root)
    content = unit_flags.dropin_content(argv, unit_flags.conflicts(argv, config))
    write(root / "etc/systemd/system/docker.service.d/dockhand-daemon-json.conf", content)
    assert unit_argv(root) == ["/usr/bin/dockerd"]
    assert unit_flags.conflicts(unit_argv(root), config) == []


def test_config_file_flag():
    argv = unit_flags.split_command("dockerd --config-file /etc/d.json -H fd://")
    assert unit_flags.config_file_flag(argv) == "/etc/d.json"
    assert unit_flags.config_file_flag(["dockerd", "-H", "fd://"]) is None


# ---------------------------------------------------------------------------------------------
# The module, run for real
# ---------------------------------------------------------------------------------------------

class Host:
    """A temp tree standing for one host: daemon.json under etc/docker, units under root/."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.root = tmp_path / "root"
        self.daemon_json = self.root / "etc/docker/daemon.json"
        self.dropin = self.root / "etc/systemd/system/docker.service.d/dockhand-daemon-json.conf"

    def run(self, check_mode=False, diff=False, **args):
        module_args = {
            "path": str(self.daemon_json),
            "dropin_path": str(self.dropin),
            "unit_search_roots": [str(self.root)],
            **args,
        }
        return run_module("docker_daemon_config", module_args, self.tmp,
                          check_mode=check_mode, diff=diff)

    def warnings(self, result) -> str:
        return json.dumps(result.get("warnings", []))


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


LOGGING = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}


def test_module_first_run_changes_second_does_not(host):
    first = host.run(options=LOGGING)
    assert first["changed"] is True
    assert first["existed"] is False
    assert first["apply"] == "restart"
    assert first["changed_keys"] == ["log-driver", "log-opts"]
    assert first["config"] == LOGGING
    assert first["backup_file"] is None
    assert host.daemon_json.read_text() == dj.render(LOGGING)
    assert stat.S_IMODE(host.daemon_json.stat().st_mode) == 0o644
    assert stat.S_IMODE(host.daemon_json.parent.stat().st_mode) == 0o755

    second = host.run(options=LOGGING)
    assert second["changed"] is False
    assert second["apply"] == "none"
    assert second["changed_keys"] == []
    assert second["existed"] is True


def test_module_check_mode_writes_nothing(host):
    result = host.run(check_mode=True, options=LOGGING)
    assert result["changed"] is True
    assert result["apply"] == "restart"
    assert not host.daemon_json.exists()
    assert not host.daemon_json.parent.exists()

    write(host.daemon_json, '{"debug": false}')
    result = host.run(check_mode=True, options={"debug": True})
    assert result["changed"] is True
    assert result["apply"] == "reload"
    assert host.daemon_json.read_text() == '{"debug": false}'
    assert sorted(os.listdir(host.daemon_json.parent)) == ["daemon.json"]


def test_module_unknown_key_fails_and_leaves_the_file_alone(host):
    original = b'{\n"debug": true}'
    write(host.daemon_json, original.decode())
    result = host.run(options={"no-such-option": 1, "log-opts": {"max-file": 3}},
                      options_name="docker_daemon_options")
    assert result["failed"] is True
    # The failure names the caller's variable first, then each offending key.
    assert result["msg"].startswith("docker_daemon_options: invalid daemon.json options: ")
    assert "'no-such-option'" in result["msg"]
    assert "'max-file' is int" in result["msg"]
    assert len(result["errors"]) == 2
    assert host.daemon_json.read_bytes() == original
    assert os.listdir(host.daemon_json.parent) == ["daemon.json"]


def test_module_keeps_unmanaged_keys_and_backs_up(host):
    original = '{"data-root":"/srv/docker",   "debug": false}'
    write(host.daemon_json, original)
    result = host.run(options={"debug": True})
    assert result["changed"] is True
    assert result["apply"] == "reload"
    assert json.loads(host.daemon_json.read_text()) == {"data-root": "/srv/docker",
                                                        "debug": True}
    assert Path(result["backup_file"]).read_text() == original


def test_module_semantic_compare_does_not_rewrite(host):
    original = '{"debug":true,"labels":["a=b"]}'
    write(host.daemon_json, original)
    result = host.run(options={"labels": ["a=b"], "debug": True})
    assert result["changed"] is False
    assert host.daemon_json.read_text() == original


def test_module_remove_keys_and_exact(host):
    write(host.daemon_json, dj.render({"debug": True, "data-root": "/srv/docker"}))
    result = host.run(remove_keys=["debug"])
    assert result["changed"] is True
    assert result["changed_keys"] == ["debug"]
    assert json.loads(host.daemon_json.read_text()) == {"data-root": "/srv/docker"}

    result = host.run(state="exact", options={"live-restore": True}, backup=False)
    assert result["config"] == {"live-restore": True}
    assert result["backup_file"] is None
    assert json.loads(host.daemon_json.read_text()) == {"live-restore": True}


def test_module_bad_existing_key_is_named(host):
    write(host.daemon_json, '{"lables": ["a=b"]}')
    result = host.run(options={"debug": True})
    assert result["failed"] is True
    assert "did you mean 'labels'" in result["msg"]
    assert "drop it with remove_keys" in result["msg"]
    assert host.run(options={"debug": True}, remove_keys=["lables"])["changed"] is True


def test_module_invalid_json_fails_unless_exact(host):
    write(host.daemon_json, "{not json")
    result = host.run(options={"debug": True})
    assert result["failed"] is True
    assert str(host.daemon_json) in result["msg"]
    assert "state=exact" in result["msg"]
    assert host.daemon_json.read_text() == "{not json"

    result = host.run(state="exact", options={"debug": True})
    assert result["changed"] is True
    assert json.loads(host.daemon_json.read_text()) == {"debug": True}


def test_module_fixes_mode_without_rewriting(host):
    write(host.daemon_json, dj.render({"debug": True}))
    host.daemon_json.chmod(0o600)
    result = host.run(options={"debug": True})
    assert result["changed"] is True
    assert result["apply"] == "none"
    assert stat.S_IMODE(host.daemon_json.stat().st_mode) == 0o644


def test_module_diff_mode(host):
    write(host.daemon_json, '{"debug": false}')
    unit_tree(host.root)
    result = host.run(diff=True, options={"debug": True, **HOSTS})
    before_headers = [d["before_header"] for d in result["diff"]]
    assert before_headers == [str(host.daemon_json), str(host.dropin)]
    daemon_diff, dropin_diff = result["diff"]
    assert daemon_diff["before"] == '{"debug": false}'
    assert json.loads(daemon_diff["after"])["debug"] is True
    assert dropin_diff["before"] == ""
    assert dropin_diff["after"] == host.dropin.read_text()


def test_module_writes_and_removes_the_dropin(host):
    unit_tree(host.root, DEBIAN_UNIT)
    options = {"hosts": ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2376"],
               "tlsverify": True}
    first = host.run(options=options)
    assert first["changed"] is True
    assert first["dropin_changed"] is True
    assert first["dropin_existed"] is False
    assert first["apply"] == "restart"
    assert first["unit_conflicts"] == [{"flag": "-H", "key": "hosts"}]
    assert host.dropin.read_text().endswith(
        "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd $DOCKER_OPTS\n")

    second = host.run(options=options)
    assert second["changed"] is False
    assert second["dropin_changed"] is False
    assert second["dropin_existed"] is True
    assert second["apply"] == "none"

    third = host.run(remove_keys=["hosts"])
    assert third["dropin_changed"] is True
    assert third["unit_conflicts"] == []
    assert not host.dropin.exists()
    assert "ExecStart=/usr/sbin/dockerd $DOCKER_OPTS" in Path(
        third["dropin_backup_file"]).read_text()


def test_module_check_mode_does_not_write_the_dropin(host):
    unit_tree(host.root, DOCKER_UNIT)
    result = host.run(check_mode=True, options=HOSTS)
    assert result["dropin_changed"] is True
    assert not host.dropin.exists()
    assert not host.daemon_json.exists()


def test_module_reports_conflicts_it_may_not_fix(host):
    unit_tree(host.root, DEBIAN_UNIT)
    result = host.run(options=HOSTS, manage_unit_conflicts=False)
    assert result["unit_conflicts"] == [{"flag": "-H", "key": "hosts"}]
    assert result["dropin_changed"] is False
    assert not host.dropin.exists()
    assert "refuse to start" in host.warnings(result)


def test_module_without_unit_file_leaves_dropin_alone(host):
    result = host.run(options=HOSTS)
    assert result["unit_conflicts"] == []
    assert result["dropin_changed"] is False
    assert not host.dropin.exists()


def test_module_warns_about_hosts_without_unix_socket(host):
    result = host.run(options={"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True})
    assert "unix:///var/run/docker.sock" in host.warnings(result)


def test_module_warns_when_a_later_dropin_overrides_ours(host):
    unit_tree(host.root, DEBIAN_UNIT)
    write(host.dropin.parent / "override.conf",
          "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd://\n")
    result = host.run(options=HOSTS)
    assert result["dropin_changed"] is True
    assert "override.conf sets ExecStart" in host.warnings(result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.10.24", ((20, 10), "20.10.24")),
        ("20.10.24+dfsg1-1+deb12u1+b6", ((20, 10), "20.10.24")),  # Debian 12's docker.io
        ("26.1.5+dfsg1-9", ((26, 1), "26.1.5")),  # Debian 13's
        ("5:26.1.4-1~debian.12~bookworm", ((26, 1), "26.1.4")),  # docker-ce, with its epoch
        ("3:25.0.0-1.el9", ((25, 0), "25.0.0")),  # rpm's EPOCH:VERSION-RELEASE
        ("Docker version 20.10.24+dfsg1, build 297e128", ((20, 10), "20.10.24")),
        ("Docker version 28.0.1, build 068a01e", ((28, 0), "28.0.1")),
        ("27.0", ((27, 0), "27.0")),
        ("", None),
        ("not a version", None),
    ],
)
def test_engine_versions_are_read_as_packages_and_dockerd_print_them(text, expected):
    assert opts.parse_version(text) == expected


PROXY = {"http-proxy": "http://p:3128"}
CDI = ["/etc/cdi"]
NET_OPTS = {"bridge": {"a": "b"}}
ADDED, REMOVED = "added in Docker Engine", "removed in Docker Engine"
VERSIONED = {
    # Keys added after 20.10, each refused by the engine before it and taken from it on.
    "proxies-20.10": ({"proxies": PROXY}, "20.10.24", f"{ADDED} 23.0"),
    "proxies-23.0": ({"proxies": PROXY}, "23.0.0", None),
    "network-opts-23.0": ({"default-network-opts": NET_OPTS}, "23.0.6", f"{ADDED} 24.0"),
    "network-opts-24.0": ({"default-network-opts": NET_OPTS}, "24.0.0", None),
    "cdi-20.10": ({"cdi-spec-dirs": CDI}, "20.10.24+dfsg1-1+deb12u1", f"{ADDED} 25.0"),
    "cdi-26.1": ({"cdi-spec-dirs": CDI}, "26.1.5+dfsg1-9", None),
    "log-format-24.0": ({"log-format": "json"}, "24.0.9", f"{ADDED} 25.0"),
    "gateway-ips-27.5": ({"host-gateway-ips": ["192.0.2.1"]}, "27.5.1", f"{ADDED} 28.0"),
    "direct-routing-28.1": ({"allow-direct-routing": True}, "28.1.1", f"{ADDED} 28.2"),
    "direct-routing-28.2": ({"allow-direct-routing": True}, "28.2.0", None),
    # Keys an engine no longer takes.
    "oom-20.10": ({"oom-score-adjust": -500}, "20.10.24", None),
    "oom-26.1": ({"oom-score-adjust": -500}, "26.1.5", f"{REMOVED} 25.0"),
    "cors-28.0": ({"api-cors-header": "*"}, "28.0.0", f"{REMOVED} 28.0"),
    # Values: storage drivers removed by version.
    "overlay-20.10": ({"storage-driver": "overlay"}, "20.10.24", None),
    "overlay-24.0": ({"storage-driver": "overlay"}, "24.0.0", f"{REMOVED} 24.0"),
    "devicemapper-24.0": ({"storage-driver": "devicemapper"}, "24.0.9", None),
    "devicemapper-26.1": ({"storage-driver": "devicemapper"}, "26.1.5", f"{REMOVED} 25.0"),
    # Without a version, the table's union: every key any of these engines takes.
    "no-version": ({"cdi-spec-dirs": CDI, "oom-score-adjust": -500}, "", None),
}


@pytest.mark.parametrize(("options", "version", "expected"), list(VERSIONED.values()),
                         ids=list(VERSIONED))
def test_keys_are_checked_against_the_engine_version(options, version, expected):
    errors = validation.validate(options, engine_version=version)
    if expected is None:
        assert errors == []
    else:
        [error] = errors
        key = next(iter(options))
        assert f"'{key}'" in error and expected in error
        assert f"Docker Engine {opts.parse_version(version)[1]}" in error


def test_every_version_bound_is_an_engine_release_from_20_10_on():
    bounds = [b for spec in opts.OPTIONS.values() for b in (spec.since, spec.until) if b]
    assert bounds and all(b == (20, 10) or b >= (23, 0) for b in bounds)
    for key, spec in opts.OPTIONS.items():
        if spec.since and spec.until:
            assert spec.since < spec.until, key


def test_the_module_names_the_key_and_the_engine_version_before_writing(host):
    result = host.run(options={"cdi-spec-dirs": ["/etc/cdi"], "debug": True},
                      engine_version="20.10.24+dfsg1-1+deb12u1+b6",
                      options_name="docker_daemon_options")
    assert result["failed"] is True
    assert "docker_daemon_options" in result["msg"]
    assert "'cdi-spec-dirs' is not known to this host's engine, Docker Engine 20.10.24" in \
        result["msg"]
    assert not host.daemon_json.exists()


def test_a_key_already_in_the_file_is_checked_against_the_version_too(host):
    write(host.daemon_json, '{"oom-score-adjust": -500}')
    result = host.run(options={"debug": True}, engine_version="26.1.5")
    assert result["failed"] is True
    assert "'oom-score-adjust'" in result["msg"] and "already in" in result["msg"]
    assert json.loads(host.daemon_json.read_text()) == {"oom-score-adjust": -500}


def test_auto_checks_against_the_dockerd_on_the_host(host):
    """This machine's own dockerd (make docker installs Debian's): its version is the one
    the keys are checked against; without a dockerd there is none to check against."""
    result = host.run(options={"debug": True})
    assert result["changed"] is True
    dockerd = shutil.which("dockerd") or next(
        (p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd") if os.access(p, os.X_OK)), None)
    if dockerd is None:
        assert result["engine_version"] == ""
    else:
        printed = subprocess.run([dockerd, "--version"], capture_output=True, text=True,
                                 check=True).stdout
        assert result["engine_version"] == opts.parse_version(printed)[1]


def test_an_engine_version_that_is_none_is_refused_naming_it():
    [error] = validation.validate({"debug": True}, engine_version="latest")
    assert "engine_version 'latest' is not an engine version" in error
