"""host_files: many files in one call, atomically, with secrets never shown."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, with_block
from ansible_collections.dockhand.docker.plugins.module_utils.host_report import is_current
from ansible_collections.dockhand.docker.plugins.modules.host_files import HostFiles
from moduletools import run_module


@pytest.mark.parametrize(
    ("text", "block", "expected"),
    [
        ("a\n", "x y", "a\n# BEGIN m\nx y\n# END m\n"),
        ("a\n# BEGIN m\nold\n# END m\nb\n", "new", "a\n# BEGIN m\nnew\n# END m\nb\n"),
        ("a\n# BEGIN m\nold\n# END m\nb\n", "", "a\nb\n"),
        ("", "", ""),
    ],
)
def test_managed_block(text, block, expected):
    assert with_block(text, "m", block) == expected
    assert with_block(expected, "m", block) == expected


@pytest.mark.parametrize(("content", "mode"), [("{}\n", 0o644), (b'{"debug": true}\n', 0o600)])
def test_atomic_write(tmp_path, content, mode):
    target = tmp_path / "daemon.json"
    target.write_text("old")
    atomic_write(str(target), content, mode)
    expected = content.encode() if isinstance(content, str) else content
    assert target.read_bytes() == expected
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert os.listdir(tmp_path) == ["daemon.json"]


def test_atomic_write_leaves_no_temp_file_when_it_fails(tmp_path):
    (tmp_path / "daemon.json").mkdir()
    with pytest.raises(OSError):
        atomic_write(str(tmp_path / "daemon.json"), "{}\n")
    assert os.listdir(tmp_path) == ["daemon.json"]


def test_files_directories_secrets_absent_and_blocks(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    stale = tmp_path / "stale.crt"
    stale.write_text("old")
    args = {
        "directories": [{"path": str(tmp_path / "tls"), "mode": "0700"}],
        "files": [{"path": str(tmp_path / "tls/ca.pem"), "content": "CA\n"}],
        "secret_files": [{"path": str(tmp_path / "tls/key.pem"), "content": "SECRET-KEY\n",
                          "mode": "0600"}],
        "absent": [str(stale)],
        "blocks": [{"path": str(hosts), "marker": "dockhand", "block": "10.0.0.1 reg.test"}],
    }
    checked = run_module("host_files", args, tmp_path, check_mode=True, diff=True)
    assert checked["changed"] and not (tmp_path / "tls").exists() and stale.exists()

    first = run_module("host_files", args, tmp_path, diff=True)
    assert first["changed"]
    assert len(first["changed_paths"]) == 5
    assert first["content_changed_paths"] == first["changed_paths"]
    assert "SECRET-KEY" not in str(first)
    assert stat.S_IMODE(os.stat(tmp_path / "tls").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "tls/key.pem").st_mode) == 0o600
    assert (tmp_path / "tls/key.pem").read_text() == "SECRET-KEY\n"
    assert not stale.exists()
    assert "10.0.0.1 reg.test" in hosts.read_text()

    again = run_module("host_files", args, tmp_path, diff=True)
    assert not again["changed"] and again["changed_paths"] == []

    # A mode set by hand is put back and shown, and is no new content: what read the file at
    # start reads the same (a caller restarts dockerd on content_changed_paths only).
    os.chmod(tmp_path / "tls/ca.pem", 0o600)
    os.chmod(tmp_path / "tls/key.pem", 0o640)
    fixed = run_module("host_files", args, tmp_path, diff=True)
    assert fixed["changed_paths"] == [str(tmp_path / "tls/ca.pem"), str(tmp_path / "tls/key.pem")]
    assert fixed["content_changed_paths"] == []
    uid, gid = os.getuid(), os.getgid()
    assert [(d["before"], d["after"]) for d in fixed["diff"]] == [
        (f"0600 {uid}:{gid}\n", f"0644 {uid}:{gid}\n"),
        (f"0640 {uid}:{gid}\n", f"0600 {uid}:{gid}\n")]
    assert "SECRET-KEY" not in str(fixed)
    assert stat.S_IMODE(os.stat(tmp_path / "tls/key.pem").st_mode) == 0o600


class Failed(Exception):
    pass


class Module:
    """What HostFiles asks of AnsibleModule: check mode, and fail_json that ends the call."""

    check_mode = False

    def fail_json(self, msg):
        raise Failed(msg)


def test_a_directory_another_host_makes_meanwhile_is_taken_and_a_file_is_refused(
        tmp_path, monkeypatch):
    """Two registry hosts write the same paths on their shared GlusterFS volume: the other
    host's mkdir can land between this host's look for a directory and its look for
    anything else at the path (the lab's first converge failed so, once)."""
    real_isdir = os.path.isdir
    shared, taken = tmp_path / "registry" / "data", tmp_path / "taken"
    taken.write_text("a file")

    def other_host_first(path):
        # The first look finds nothing; the other host's mkdir lands right after it.
        if str(path) == str(shared) and not shared.exists():
            shared.mkdir(parents=True)
            return False
        return real_isdir(path)

    monkeypatch.setattr(os.path, "isdir", other_host_first)
    me = {"owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name}
    files = HostFiles(Module())
    files.directory({"path": str(shared), "mode": "0750", **me})
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750
    assert files.changed_paths == [str(shared)]
    with pytest.raises(Failed, match="exists and is not a directory"):
        files.directory({"path": str(taken), "mode": "0755", **me})


def test_a_replaced_file_asked_to_be_kept_is_copied_beside_it_first(tmp_path):
    """backup: the file as it was is kept, with its mode, when new content replaces it, and
    named in backups; a file created, one rewritten without backup and a check run keep
    nothing."""
    conf = tmp_path / "conf"
    conf.mkdir()
    env, plain = conf / "etcd.env", conf / "plain.conf"
    env.write_text("OLD=1\n")
    os.chmod(env, 0o640)
    plain.write_text("old\n")
    args = {"files": [{"path": str(env), "content": "NEW=1\n", "mode": "0640", "backup": True},
                      {"path": str(plain), "content": "new\n"},
                      {"path": str(conf / "new.conf"), "content": "x\n", "backup": True}]}
    checked = run_module("host_files", args, tmp_path, check_mode=True)
    assert checked["changed"] and checked["backups"] == {}
    assert sorted(p.name for p in conf.iterdir()) == ["etcd.env", "plain.conf"]

    done = run_module("host_files", args, tmp_path)
    assert list(done["backups"]) == [str(env)]
    kept = Path(done["backups"][str(env)])
    assert kept.parent == conf and kept.name.startswith("etcd.env.")
    assert kept.read_text() == "OLD=1\n" and stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert env.read_text() == "NEW=1\n"
    assert run_module("host_files", args, tmp_path)["backups"] == {}


def test_a_block_needs_an_existing_file(tmp_path):
    result = run_module("host_files", {"blocks": [{"path": str(tmp_path / "nope"),
                                                   "marker": "m", "block": "x"}]}, tmp_path)
    assert result["failed"] and "does not exist" in result["msg"]


def _call(tmp_path):
    """One call's arguments: a directory, a file, an absent path and a block."""
    hosts = tmp_path / "hosts"
    if not hosts.exists():
        hosts.write_text("127.0.0.1 localhost\n")
    return {
        "directories": [{"path": str(tmp_path / "certs.d" / "r:5000"), "mode": "0755"}],
        "files": [{"path": str(tmp_path / "certs.d" / "r:5000" / "ca.crt"), "content": "CA\n"}],
        "absent": [str(tmp_path / "certs.d" / "r:5000" / "ca-next.crt")],
        "blocks": [{"path": str(hosts), "marker": "m", "block": "10.0.0.5 r"}],
    }


def _reported(tmp_path) -> dict:
    """The fact as fact gathering reads it: the script's own output, run as a program."""
    script = tmp_path / "facts" / "dockhand_test.fact"
    assert os.access(script, os.X_OK)
    return json.loads(subprocess.run([str(script)], capture_output=True, text=True,
                                     check=True).stdout)


def _write(tmp_path, **extra):
    return run_module("host_files", {**_call(tmp_path), **extra, "report_fact": "dockhand_test",
                                     "report_dir": str(tmp_path / "facts")}, tmp_path)


def _edits(tmp_path):
    ca = tmp_path / "certs.d" / "r:5000" / "ca.crt"
    return {
        "content": lambda: ca.write_text("other CA\n"),
        "mode": lambda: ca.chmod(0o600),
        "file removed": ca.unlink,
        "directory mode": lambda: ca.parent.chmod(0o700),
        "absent path present": lambda: (ca.parent / "ca-next.crt").write_text("x"),
        "block edited": lambda: (tmp_path / "hosts").write_text(
            "127.0.0.1 localhost\n# BEGIN m\n10.0.0.6 r\n# END m\n"),
        "block's end removed": lambda: (tmp_path / "hosts").write_text(
            "127.0.0.1 localhost\n# BEGIN m\n10.0.0.5 r\n"),
        "no newline at the end": lambda: (tmp_path / "hosts").write_text(
            (tmp_path / "hosts").read_text().rstrip("\n")),
        "owner": lambda: os.chown(ca, 65534, 0),
        "group": lambda: os.chown(ca, 0, 65534),
        "replaced by a link": lambda: (ca.rename(ca.with_name("real")), ca.symlink_to("real")),
    }


@pytest.mark.parametrize("edit", list(_edits(Path("/nonexistent"))))
def test_the_fact_shows_a_written_call_as_current_until_a_path_changes(tmp_path, edit):
    assert _write(tmp_path)["changed"]
    assert is_current(_reported(tmp_path), **_call(tmp_path), gathered_at=time.time())
    _edits(tmp_path)[edit]()
    assert not is_current(_reported(tmp_path), **_call(tmp_path), gathered_at=time.time())
    if edit == "replaced by a link":
        # The module fixes the link's target, never the link: it is never taken as current.
        return
    # The calls the controller then makes put it back (a block without its end takes two:
    # the first appends a whole block after it), and the fact says so.
    assert _write(tmp_path)["changed"]
    if edit == "block's end removed":
        assert not is_current(_reported(tmp_path), **_call(tmp_path), gathered_at=time.time())
        assert _write(tmp_path)["changed"]
    assert not _write(tmp_path)["changed"]
    assert is_current(_reported(tmp_path), **_call(tmp_path), gathered_at=time.time())


def test_what_the_fact_cannot_answer_is_a_change(tmp_path):
    _write(tmp_path)
    report, call = _reported(tmp_path), {**_call(tmp_path), "gathered_at": time.time()}
    assert is_current(report, **call)
    assert not is_current({}, **call)
    assert not is_current("error loading fact", **call)
    assert not is_current(report, **call, secret_files=[{"path": "/k", "content": "key"}])
    # A path the fact does not list (the call has grown since it was written).
    grown = {**call, "files": [*call["files"], {"path": str(tmp_path / "new"), "content": ""}]}
    assert not is_current(report, **grown)
    assert not is_current(report, **{**call, "absent": [str(tmp_path / "gone")]})
    assert not is_current(report, **{**call, "directories": [{**call["directories"][0],
                                                              "mode": "0750"}]})
    # Facts a cache kept from an earlier run, or of unknown age.
    assert not is_current(report, **{**call, "gathered_at": time.time() - 3600})
    assert not is_current(report, **{**call, "gathered_at": None})
    assert is_current(report, **{**call, "gathered_at": str(int(time.time()) - 60)})
    assert not is_current(report, **call, fact_cache="jsonfile")
    assert is_current(report, **call, fact_cache="ansible.builtin.memory")
    # A fact another version of the program wrote (or one edited by hand).
    assert not is_current({**report, "version": "0" * 16}, **call)
    # Owners the module would refuse, and a mode of 0, are not taken for the defaults.
    for key in ("owner", "group"):
        assert not is_current(report, **{**call, "files": [{**call["files"][0], key: "0"}]})
    assert not is_current(report, **{**call, "files": [{**call["files"][0], "mode": 0}]})
    # An empty call with no fact.
    assert not is_current({}, gathered_at=time.time())


def test_check_mode_leaves_no_fact_and_secrets_are_not_reported(tmp_path):
    args = {**_call(tmp_path), "report_fact": "dockhand_test", "report_dir": str(tmp_path / "f")}
    run_module("host_files", args, tmp_path, check_mode=True)
    assert not (tmp_path / "f").exists()
    key = tmp_path / "key"
    _write(tmp_path, secret_files=[{"path": str(key), "content": "SECRET", "mode": "0600"}])
    assert str(key) not in json.dumps(_reported(tmp_path))
    assert "SECRET" not in (tmp_path / "facts" / "dockhand_test.fact").read_text()


def test_a_fact_name_that_is_not_one_is_refused(tmp_path):
    result = run_module("host_files", {"report_fact": "../x"}, tmp_path)
    assert result["failed"] and "report_fact" in result["msg"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
def test_recurse_gives_what_a_root_process_wrote_to_a_numeric_owner(tmp_path):
    data = tmp_path / "data"
    (data / "docker/registry/v2").mkdir(parents=True)
    (data / "docker/registry/v2/blob").write_text("layer")
    os.symlink("/etc/passwd", data / "link")
    args = {"directories": [{"path": str(data), "mode": "0750", "owner": "65532",
                             "group": "65532", "recurse": True}]}

    checked = run_module("host_files", args, tmp_path, check_mode=True, diff=True)
    assert checked["changed"] and (data / "docker").stat().st_uid == 0
    assert checked["diff"][-1]["after"] == "5 paths owned by 65532:65532\n"

    first = run_module("host_files", args, tmp_path)
    assert first["changed_paths"] == [str(data)] and first["content_changed_paths"] == []
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in [data, *data.rglob("*")]}
    assert owners == {(65532, 65532)}
    # The link itself changed hands, not what it points to.
    assert Path("/etc/passwd").stat().st_uid == 0

    # Handed over once: a directory already the owner's is not walked again.
    os.lchown(data / "docker/registry/v2/blob", 0, 0)
    assert run_module("host_files", args, tmp_path)["changed"] is False
    assert (data / "docker/registry/v2/blob").stat().st_uid == 0
