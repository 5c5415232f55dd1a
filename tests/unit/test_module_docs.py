"""Every module's documentation parses (doc fragments resolved), as ansible-doc reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))


@pytest.mark.skipif(shutil.which("ansible-doc") is None, reason="ansible-doc not on PATH")
def test_every_module_documents_its_options():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run(["ansible-doc", "--json", *(f"dockhand.docker.{m}" for m in MODULES)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert sorted(docs) == [f"dockhand.docker.{m}" for m in MODULES]
    for name, doc in docs.items():
        assert doc["doc"]["short_description"], name
        assert "check_mode" in doc["doc"]["attributes"], name
