"""`ansible-galaxy collection build` ships the collection and nothing else of the checkout:
never an operator's CA keys or generated passwords (inventory/<name>-pki/), the lab's state,
the tests, or a tool's leftovers."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TOP_LEVEL = {"plugins", "roles", "playbooks", "meta", "docs", "README.md", "CHANGELOG.md",
             "LICENSE", "requirements.txt", "bindep.txt", "MANIFEST.json", "FILES.json"}
NEVER_UNDER = ("inventory", "lab", ".lab", "tests", "bench", "molecule", ".config", "scripts",
               ".ansible", "collections", ".venv", "dockhand.egg-info")
NEVER_ENDING = (".key", ".password", "secret", ".pyc")
# What an operator's checkout holds besides what git knows of.
PLANTED = {
    "inventory/mysite-pki/ca.key": "-----BEGIN PRIVATE KEY-----\n",
    "inventory/mysite-pki/registry-x.password": "hunter2hunter2hunter2\n",
    ".lab/state.json": "{}\n",
    ".ansible/collections/placeholder": "",
    "dockhand.egg-info/PKG-INFO": "Name: dockhand\n",
    "roles/docker_registry/molecule/default/molecule.yml": "---\n",
    "roles/docker_registry/.ansible/tmp/leftover": "",
    "plugins/filter/__pycache__/registry.cpython-311.pyc": "",
}


def checkout_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode()
    return sorted({name for name in listed.split("\0") if name})


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("checkout")
    for name in checkout_files():
        src, dst = ROOT / name, tree / name
        if not src.is_symlink() and not src.is_file():
            continue  # deleted in the working tree, not yet in the index
        dst.parent.mkdir(parents=True, exist_ok=True)
        # collections/ holds a symlink back to the checkout: copied as the link it is.
        shutil.copy2(src, dst, follow_symlinks=False)
    for name, content in PLANTED.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(content)
    out = tmp_path_factory.mktemp("out")
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(out)],
        cwd=tree, check=True, capture_output=True, text=True,
        # The copy's own ansible.cfg, as in a checkout of its own.
        env=dict(os.environ, ANSIBLE_CONFIG=str(tree / "ansible.cfg")))
    (built,) = out.glob("dockhand-docker-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def members(tarball) -> list[tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return tar.getmembers()


def test_only_collection_content_at_the_top(members):
    top = {member.name.split("/", 1)[0] for member in members}
    assert top <= TOP_LEVEL
    assert {"plugins", "roles", "playbooks", "meta", "LICENSE", "README.md",
            "requirements.txt", "bindep.txt", "MANIFEST.json", "FILES.json"} <= top


@pytest.mark.parametrize("directory", NEVER_UNDER)
def test_nothing_under(members, directory):
    assert not [m.name for m in members
                if m.name == directory or m.name.startswith(f"{directory}/")
                or f"/{directory}/" in m.name]


def test_no_key_password_or_bytecode(members):
    assert not [m.name for m in members if m.name.endswith(NEVER_ENDING)]


def test_shipped_for_galaxy_and_execution_environments(members):
    names = {m.name for m in members}
    assert {"requirements.txt", "bindep.txt", "meta/execution-environment.yml",
            "meta/runtime.yml", "playbooks/site.yml"} <= names
    # The roles' READMEs are their documentation on Galaxy.
    assert "roles/docker_registry/README.md" in names


def test_the_license_is_the_gpl3_galaxy_yml_names(tarball):
    with tarfile.open(tarball) as tar:
        handle = tar.extractfile("LICENSE")
        assert handle is not None
        text = handle.read().decode()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text


def test_nothing_is_world_writable(members):
    assert not [m.name for m in members if m.mode & stat.S_IWOTH]
