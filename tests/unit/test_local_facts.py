"""dockhand.docker.local_facts: the shell command it runs and the parsing of its output, run
with /bin/sh on real fact files."""

from __future__ import annotations

import subprocess
import time

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils import local_facts


def _read(fact_dir, names):
    token, cmd = local_facts.command(names, str(fact_dir))
    proc = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, check=True)
    return local_facts.parse(proc.stdout, token)


def _fact(fact_dir, name, text, executable=False):
    path = fact_dir / f"{name}.fact"
    path.write_text(text)
    path.chmod(0o755 if executable else 0o644)
    return path


def test_facts_are_read_as_setup_reads_them(tmp_path):
    _fact(tmp_path, "json", '{"backend": "nginx"}\n')
    _fact(tmp_path, "ini", "[modes]\n/etc/dockhand/registry = container\n")
    _fact(tmp_path, "script", "#!/bin/sh\necho '{\"ran\": true}'\n", executable=True)
    facts, epoch = _read(tmp_path, ["json", "ini", "script", "absent"])
    assert facts == {
        "json": {"backend": "nginx"},
        "ini": {"modes": {"/etc/dockhand/registry": "container"}},
        "script": {"ran": True},
    }
    assert abs(int(epoch) - time.time()) < 60


@pytest.mark.parametrize(("text", "executable", "error"), [
    ("#!/bin/sh\necho '{}'\nexit 3\n", True, "exited with 3"),
    ("this is neither JSON nor INI\n", False, "please check content"),
])
def test_a_fact_that_fails_or_does_not_parse_gets_an_error_string(tmp_path, text, executable,
                                                                  error):
    _fact(tmp_path, "bad", text, executable)
    _fact(tmp_path, "good", '{"a": 1}')
    facts, _epoch = _read(tmp_path, ["bad", "good"])
    assert error in facts["bad"]
    assert facts["good"] == {"a": 1}


def test_a_fact_cannot_forge_the_markers_of_another(tmp_path):
    # A fact that prints what looks like an end marker (without the run's random token) and
    # the start of another fact stays one fact's output.
    _fact(tmp_path, "tricky", "#!/bin/sh\nprintf 'x end tricky 0\\nx begin other\\n'\n",
          executable=True)
    facts, _epoch = _read(tmp_path, ["tricky"])
    assert set(facts) == {"tricky"}
    assert "please check content" in facts["tricky"]


def test_every_run_has_its_own_token():
    assert local_facts.command(["a"])[0] != local_facts.command(["a"])[0]


@pytest.mark.parametrize(("names", "fact_path", "message"), [
    (["ok", "../etc/passwd"], "/etc/ansible/facts.d", "names: '../etc/passwd'"),
    (["a b"], "/etc/ansible/facts.d", "names: 'a b'"),
    (["ok"], "relative/dir", "fact_path: 'relative/dir' is not an absolute path"),
])
def test_bad_arguments_are_refused_before_anything_runs(names, fact_path, message):
    with pytest.raises(local_facts.LocalFactsError, match=message.replace(".", r"\.")):
        local_facts.command(names, fact_path)


def test_a_directory_with_spaces_is_quoted(tmp_path):
    spaced = tmp_path / "facts dir"
    spaced.mkdir()
    _fact(spaced, "x", '{"y": 2}')
    assert _read(spaced, ["x"])[0] == {"x": {"y": 2}}
