"""host_files: many files in one call, atomically, with secrets never shown."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, with_block
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
    assert "SECRET-KEY" not in str(first)
    assert stat.S_IMODE(os.stat(tmp_path / "tls").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "tls/key.pem").st_mode) == 0o600
    assert (tmp_path / "tls/key.pem").read_text() == "SECRET-KEY\n"
    assert not stale.exists()
    assert "10.0.0.1 reg.test" in hosts.read_text()

    again = run_module("host_files", args, tmp_path, diff=True)
    assert not again["changed"] and again["changed_paths"] == []

    os.chmod(tmp_path / "tls/ca.pem", 0o600)
    fixed = run_module("host_files", args, tmp_path)
    assert fixed["changed_paths"] == [str(tmp_path / "tls/ca.pem")]


def test_a_block_needs_an_existing_file(tmp_path):
    result = run_module("host_files", {"blocks": [{"path": str(tmp_path / "nope"),
                                                   "marker": "m", "block": "x"}]}, tmp_path)
    assert result["failed"] and "does not exist" in result["msg"]
