"""The host image: debootstrap rootfs (cached tarball) -> base image -> lab/image/Dockerfile."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import config as cfg
from .runner import LabError, docker, elapsed, exists, log


def debootstrap_args(release: str = cfg.SUITE) -> list[str]:
    return ["--variant=minbase", f"--include={cfg.PACKAGES}", release]


def _digest(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "big") + chunk)
    return h.hexdigest()[:12]


def base_hash(args: list[str]) -> str:
    """Names the rootfs tarball and the base image: the debootstrap recipe only."""
    return _digest(*(a.encode() for a in args))


def host_hash(args: list[str], image_dir: Path = cfg.IMAGE_DIR) -> str:
    """Names the host image: the debootstrap recipe plus every file under lab/image/."""
    files = sorted(p for p in image_dir.rglob("*") if p.is_file())
    parts = [str(p.relative_to(image_dir)).encode() + b"\0" + p.read_bytes() for p in files]
    return _digest(base_hash(args).encode(), *parts)


def _is_main(types: list[str], uris: list[str], suites: list[str], comps: list[str]) -> bool:
    """A Debian main archive: no -updates/-security/-backports suite, not the security archive."""
    plain_suite = any("-" not in s and "/" not in s for s in suites)
    http = bool(uris) and uris[0].startswith(("http://", "https://"))
    return "deb" in types and "main" in comps and plain_suite and http and "security" not in uris[0]


def _deb822_mirror(text: str) -> str | None:
    for stanza in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ", "\t")):
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
        get = fields.get
        if _is_main(get("types", []), get("uris", []), get("suites", []), get("components", [])):
            return fields["uris"][0]
    return None


def _one_line_mirror(text: str) -> str | None:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) > 1 and words[1].startswith("["):  # deb [signed-by=... arch=...] URI
            end = next((i for i, w in enumerate(words) if w.endswith("]")), len(words) - 1)
            words = words[:1] + words[end + 1 :]
        if len(words) >= 4 and _is_main(words[:1], words[1:2], words[2:3], words[3:]):
            return words[1]
    return None


def mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The host's Debian mirror: first main archive in sources.list.d/*.sources, sources.list."""
    found = [
        _deb822_mirror(p.read_text()) for p in sorted(apt_dir.glob("sources.list.d/*.sources"))
    ]
    lists = [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]
    found += [_one_line_mirror(p.read_text()) for p in lists if p.is_file()]
    return next((url.rstrip("/") for url in found if url), cfg.DEFAULT_MIRROR)


def _logged(what: str, *args: str) -> None:
    """Run a long build step with its output in .lab/image-build.log (its tail on failure)."""
    # A fresh clone on a machine that has the base image builds only what changed: the first
    # step to log may come before anything else made .lab.
    cfg.BUILD_LOG.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with cfg.BUILD_LOG.open("a") as out:
        out.write(f"\n### {' '.join(args)}\n")
        out.flush()
        rc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        tail = "\n".join(cfg.BUILD_LOG.read_text(errors="replace").splitlines()[-25:])
        raise LabError(f"{what} failed (exit {rc}); full log {cfg.BUILD_LOG}:\n{tail}")


def _build_rootfs(tarball: Path, args: list[str]) -> None:
    release = args[-1]
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap is not installed (apt-get install debootstrap)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    try:
        start, url = time.monotonic(), mirror()
        log(f"debootstrap {release} from {url} (a few minutes; log {cfg.BUILD_LOG}) ...")
        _logged("debootstrap", "debootstrap", *args, str(tmp / "root"), url)
        for deb in (tmp / "root/var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        partial = tarball.with_suffix(".partial")
        _logged("tar", "tar", "--numeric-owner", "-C", str(tmp / "root"), "-cf", str(partial), ".")
        partial.rename(tarball)
        log(f"debootstrap done in {elapsed(start)}: {tarball}")
    finally:  # a failed debootstrap can leave /proc, /sys mounted in the target
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(f"{tmp}/")), reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_image(release: str = cfg.SUITE) -> str:
    """The host image tag of a release, building only what is missing (host image, base
    image, rootfs). It is also tagged by the release's name, and the default release's as
    `latest` too (molecule's instances run it)."""
    args = debootstrap_args(release)
    bhash, tag = base_hash(args), f"{cfg.HOST_IMAGE}:{host_hash(args)}"
    if not exists("image", tag):
        start, base = time.monotonic(), f"{cfg.BASE_IMAGE}:{bhash}"
        log(f"building image {tag} ...")
        cfg.STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        cfg.BUILD_LOG.write_text(f"# build log of {tag}\n")
        if not exists("image", base):
            tarball = cfg.CACHE_DIR / f"rootfs-{bhash}.tar"
            if not tarball.exists():
                _build_rootfs(tarball, args)
            log(f"importing {tarball} as {base}")
            docker("import", str(tarball), base)
        build = ["docker", "build", "--build-arg", f"BASE={base}", "-t", tag, str(cfg.IMAGE_DIR)]
        _logged("docker build", *build)
        log(f"image {tag} built in {elapsed(start)}")
    image_id = docker("image", "inspect", "-f", "{{.Id}}", tag)
    for alias in aliases(release):
        if docker("image", "inspect", "-f", "{{.Id}}", alias, check=False) != image_id:
            docker("tag", tag, alias)
    return tag


def aliases(release: str) -> list[str]:
    """The stable names of a release's current host image."""
    return [f"{cfg.HOST_IMAGE}:{release}"] + (
        [f"{cfg.HOST_IMAGE}:latest"] if release == cfg.SUITE else [])
