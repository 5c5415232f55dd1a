"""audit_rules: watch rules for the paths a host has, checked as auditctl reads them."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.dockhand.docker.plugins.filter.audit import audit_watch_errors
from ansible_collections.dockhand.docker.plugins.module_utils.audit_rules import (
    RuleError,
    listed,
    parse,
    render,
)
from moduletools import run_module


def _resolve(tmp_path):
    def resolve(path):
        return os.path.realpath(path) if os.path.lexists(path) else None
    return resolve


def test_only_present_paths_are_watched_once_through_symlinks(tmp_path):
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/docker.service").write_text("[Unit]\n")
    (tmp_path / "lib").symlink_to(tmp_path / "usr/lib")
    watches = [{"path": f"{tmp_path}/lib/docker.service", "key": "docker"},
               {"path": f"{tmp_path}/usr/lib/docker.service", "permissions": "wa", "key": "docker"},
               {"path": f"{tmp_path}/etc/sysconfig/docker", "key": "docker"},
               {"path": str(tmp_path / "usr"), "permissions": "wa", "key": "docker"}]
    text, watched, absent = render(watches, _resolve(tmp_path), "managed\n\nby dockhand")
    real = os.path.realpath(tmp_path)
    assert watched == [f"{real}/usr/lib/docker.service", f"{real}/usr"]
    assert absent == [f"{tmp_path}/etc/sysconfig/docker"]
    assert text == (f"# managed\n#\n# by dockhand\n-w {real}/usr/lib/docker.service -k docker\n"
                    f"-w {real}/usr -p wa -k docker\n")
    assert parse(text) == [
        {"path": f"{real}/usr/lib/docker.service", "permissions": "", "key": "docker"},
        {"path": f"{real}/usr", "permissions": "wa", "key": "docker"}]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("-a always,exit -F path=/x -k docker", "not a watch"),
        ("-w /etc/docker -p wa", "key"),
        ("-w /etc/docker -k docker -k docker", "twice"),
        ("-w /etc/docker -p rwq -k docker", "letters of"),
        ("-w /etc/docker -p ww -k docker", "each once"),
        ("-w etc/docker -k docker", "absolute path"),
        ("-w /etc/docker -k", "not a watch"),
        ("-w /etc/docker -k " + "k" * 32, "1 to 31"),
        ("-D", "not a watch"),
    ],
)
def test_a_line_auditctl_would_refuse_is_named(line, why):
    with pytest.raises(RuleError, match=why) as caught:
        parse(f"# ok\n\n-w /usr/sbin/dockerd -k docker\n{line}\n")
    assert str(caught.value).startswith("line 4:")


def test_loaded_watches_are_read_from_auditctl_l():
    out = ("-w /usr/sbin/dockerd -p rwxa -k docker\n"
           "-a always,exit -F arch=b64 -S all -F dir=/var/lib/docker -F perm=wa -F key=docker\n"
           "No rules\n")
    assert listed(out) == {"/usr/sbin/dockerd", "/var/lib/docker"}


@pytest.mark.parametrize(
    ("watches", "key", "expected"),
    [
        ([{"path": "/etc/docker", "permissions": "wa"}], "docker", []),
        ([{"path": "/etc/docker"}], "a key", ["key 'a key' must be"]),
        ([{"path": "relative"}, {"path": "/ok", "permissions": "z"}], "docker",
         ["'relative': an audit watch needs an absolute path", "/ok: permissions 'z'"]),
        ([{"path": "/has space"}], "docker", ["absolute path without blanks"]),
    ],
)
def test_preflight_names_the_variable_and_what_is_wrong(watches, key, expected):
    errors = audit_watch_errors(watches, key, "docker_audit_watches")
    assert len(errors) == len(expected)
    for error, part in zip(errors, expected, strict=True):
        assert error.startswith("docker_audit_watches: ") and part in error


def test_the_file_is_written_checked_and_left_alone_once_right(tmp_path):
    (tmp_path / "dockerd").write_text("")
    rules = tmp_path / "rules.d" / "dockhand-docker.rules"
    args = {"path": str(rules), "load": False,
            "watches": [{"path": str(tmp_path / "dockerd"), "key": "docker"},
                        {"path": str(tmp_path / "absent"), "key": "docker"}]}
    checked = run_module("audit_rules", args, tmp_path, check_mode=True, diff=True)
    assert checked["changed"] and not rules.exists()
    assert f"-w {os.path.realpath(tmp_path / 'dockerd')} -k docker" in checked["diff"]["after"]

    first = run_module("audit_rules", args, tmp_path)
    assert first["changed"] and not first["loaded"]
    assert first["absent"] == [str(tmp_path / "absent")]
    assert stat.S_IMODE(rules.stat().st_mode) == 0o640
    assert parse(rules.read_text())[0]["path"] == os.path.realpath(tmp_path / "dockerd")

    assert not run_module("audit_rules", args, tmp_path)["changed"]
    rules.write_text("-w /tmp -k edited\n")
    assert run_module("audit_rules", args, tmp_path)["changed"]
    assert "edited" not in rules.read_text()


def test_bad_watches_and_a_load_without_auditd_fail_before_writing(tmp_path):
    rules = tmp_path / "r.rules"
    bad = run_module("audit_rules", {"path": str(rules), "load": False,
                                     "watches": [{"path": "/x y", "key": "docker"}]}, tmp_path)
    assert bad["failed"] and "watches: '/x y'" in bad["msg"]
    if not any(os.path.exists(f"{d}/augenrules") for d in ("/usr/sbin", "/sbin", "/usr/bin")):
        no_auditd = run_module("audit_rules", {"path": str(rules),
                                               "watches": [{"path": "/", "key": "docker"}]},
                               tmp_path)
        assert no_auditd["failed"] and "install auditd, or set load false" in no_auditd["msg"]
    assert not rules.exists()
