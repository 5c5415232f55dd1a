"""Helpers of the engine tests: test images built from the host's binaries, and the modules
run as Ansible runs them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
BINARIES = ("/bin/sh", "/bin/sleep", "/bin/true", "/bin/cat")
# PID 1 ignores SIGTERM without a handler; this one stops at once.
SLEEPER = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def cannot_run(reason):
    """Skip on a developer's machine; fail in CI, which must not go green on skipped proof."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and the engine tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

def _add(tar, name, data=None, mode=0o644):
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, 0
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def rootfs_layer(binaries=BINARIES):
    """A layer tar holding ``binaries`` and every library ldd says they load."""
    files = {}
    for binary in binaries:
        files[binary] = os.path.realpath(binary)
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
        for word in out.stdout.split():
            if word.startswith("/"):
                files[word] = os.path.realpath(word)
    buffer, dirs = io.BytesIO(), set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(path):
            if path not in ("", "/") and path not in dirs:
                add_dir(os.path.dirname(path))
                dirs.add(path)
                _add(tar, path.lstrip("/"))

        for directory in ("/tmp", "/etc", "/proc", "/sys", "/dev", "/run", "/data"):
            add_dir(directory)
        for name, real in sorted(files.items()):
            add_dir(os.path.dirname(name))
            _add(tar, name.lstrip("/"), Path(real).read_bytes(), mode=0o755)
    return buffer.getvalue()


def save_archive(path, tags, layer, config):
    """Write a `docker save` tarball (classic layout) of one image; its ID."""
    layer_digest = hashlib.sha256(layer).hexdigest()
    blob = json.dumps({
        "architecture": ARCH, "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "dockhand tests"}],
    }, sort_keys=True).encode()
    image = hashlib.sha256(blob).hexdigest()
    manifest = [{"Config": f"{image}.json", "RepoTags": tags,
                 "Layers": [f"{layer_digest}/layer.tar"]}]
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        _add(tar, f"{layer_digest}/layer.tar", layer)
        _add(tar, f"{image}.json", blob)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return f"sha256:{image}"


def image_config(**labels):
    return {"Env": ["PATH=/usr/bin:/bin", "FROM_IMAGE=yes"], "Cmd": SLEEPER,
            "Labels": {"from": "image", **labels}}


# ---------------------------------------------------------------------------------------------
# Running modules
# ---------------------------------------------------------------------------------------------

class Modules:
    """Runs plugins/modules/<name>.py with an args file, as Ansible's module runner does."""

    def __init__(self, socket_path, workdir):
        self.socket = socket_path
        self.workdir = workdir
        self.runs = 0

    def run(self, module, check_mode=False, diff=False, **args):
        self.runs += 1
        module_args = {"socket": self.socket, **args,
                       "_ansible_check_mode": check_mode, "_ansible_diff": diff}
        args_file = self.workdir / f"args-{self.runs}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
        proc = subprocess.run(
            [sys.executable, str(ROOT / "plugins" / "modules" / f"{module}.py"),
             str(args_file)],
            capture_output=True, text=True, cwd=self.workdir, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT / "collections")},
        )
        try:
            result = json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"{module} printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n"
                        f"{proc.stderr}")
        assert (proc.returncode != 0) == bool(result.get("failed")), result
        return result
