"""The module base every module shares: one failure shape, secrets hidden by path, one
way to compare, files written atomically with owner kept."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils import base
from moduletools import run_module

PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.41", (1, 41, 0)), ("4.3.1", (4, 3, 1)), ("4.9.4-dev", (4, 9, 4)),
     ("5.4.0+ds1", (5, 4, 0)), ("26", (26, 0, 0)), ("4.rc2", (4, 2, 0))],
)
def test_version_tuple(text, expected):
    assert base.version_tuple(text) == expected


def test_differences_names_what_after_has_and_before_lacks():
    before = {"image": "a", "ports": ["80"], "gone": 1}
    after = {"image": "b", "ports": ["80"], "new": True}
    assert base.differences(before, after) == ["image", "new"]
    assert base.differences(after, after) == []


def test_hidden_values_by_path():
    params = {"env": {"A": "1", "B": None, "C": 2}, "join": {"token": "SWMTKN"}, "x": None}
    assert base.hidden_values(params, [("env", "*"), ("join", "token"), ("x", "y"),
                                       ("missing",)]) == ["1", "2", "SWMTKN"]


# Every module that talks to the engine fails the same way when it cannot: the same keys,
# changed false because nothing was done, and what it had done (nothing) in actions.
FAILING = [
    ("engine_container", {"name": "dh-x", "image": "busybox", "env": {"SECRET": "1"}}),
    ("engine_network", {"name": "dh-x"}),
    ("swarm_stack", {"name": "dh-x", "compose": [{"services": {"a": {"image": "x"}}}]}),
    ("docker_swarm_node", {"join": {"remote_addrs": ["10.0.0.1"], "token": "SWMTKN-1-x"}}),
    ("swarm_info", {}),
]


@pytest.mark.parametrize(("module", "args"), FAILING, ids=[m for m, _ in FAILING])
def test_one_failure_shape(tmp_path, module, args):
    result = run_module(module, {**args, "socket": str(tmp_path / "no.sock")}, tmp_path)
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["actions"] == []
    assert "cannot" in result["msg"]
    assert result["invocation"]["module_args"]["socket"] == str(tmp_path / "no.sock")


def test_a_failure_hides_secrets_by_path_only(tmp_path):
    # The env value "1" is a no_log value, but Ansible's masking would also have turned
    # every "1" inside other strings into ********: the module hides it where it is.
    result = run_module("engine_container", {
        "name": "dh-1", "image": "busybox:1", "env": {"SECRET": "1"},
        "socket": str(tmp_path / "no.sock")}, tmp_path)
    args = result["invocation"]["module_args"]
    assert args["env"] == {"SECRET": PLACEHOLDER}
    assert args["name"] == "dh-1"
    assert args["image"] == "busybox:1"


def test_a_failure_hides_the_join_token(tmp_path):
    result = run_module("docker_swarm_node", {
        "join": {"remote_addrs": ["10.0.0.1"], "token": "SWMTKN-1-secret"},
        "return_join_tokens": True, "socket": str(tmp_path / "no.sock")}, tmp_path)
    assert "SWMTKN-1-secret" not in str(result)
    assert result["invocation"]["module_args"]["join"]["token"] == PLACEHOLDER


def test_an_unreadable_archive_fails_the_same_way(tmp_path):
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"not a tarball")
    result = run_module("engine_image_load", {"path": str(archive),
                                              "socket": str(tmp_path / "no.sock")}, tmp_path)
    assert (result["failed"], result["changed"], result["actions"]) == (True, False, [])


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_rewritten_file_keeps_its_owner_and_takes_the_mode(tmp_path):
    # docker_daemon_config writes through the shared atomic_write and module.atomic_move.
    path = tmp_path / "etc/docker/daemon.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}\n")
    os.chown(path, 1, 1)
    os.chmod(path, 0o640)
    result = run_module("docker_daemon_config", {
        "path": str(path), "options": {"debug": True}, "backup": False,
        "dropin_path": str(tmp_path / "dropin.conf"),
        "unit_search_roots": [str(tmp_path / "root")]}, tmp_path)
    assert result["changed"] is True
    info = path.stat()
    assert (info.st_uid, info.st_gid) == (1, 1)
    assert stat.S_IMODE(info.st_mode) == 0o644
    assert sorted(os.listdir(path.parent)) == ["daemon.json"]
