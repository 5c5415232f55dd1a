# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a `docker save` tarball holds, read from its manifest without loading it, standard
library only: the engine_image_load module reads it on the host, the preload filter on the
controller, so a host that already has a tarball's images is not sent the tarball again.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile

_DIGEST = re.compile(r"(?:^|/)([0-9a-f]{64})(?:\.json)?$")


def _member_bytes(tar, name):
    try:
        handle = tar.extractfile(name)
    except KeyError:
        handle = None
    if handle is None:
        raise ValueError(f"{name} is missing from the archive")
    with handle:
        return handle.read()


def read_manifest(path):
    """[{"id": "sha256:...", "tags": [...]}] of a docker save tarball, without loading it.

    The image ID is the digest of the config blob, which both layouts name after it
    (``<hex>.json`` classic, ``blobs/sha256/<hex>`` OCI); any other name is hashed.
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            try:
                manifest = json.loads(_member_bytes(tar, "manifest.json"))
            except ValueError as exc:
                raise ValueError(f"{path} is not a docker save archive: {exc}") from None
            if not isinstance(manifest, list):
                raise ValueError(f"{path}: manifest.json is not a list")
            images = []
            for entry in manifest:
                config = (entry or {}).get("Config") or ""
                match = _DIGEST.search(config)
                if match:
                    digest = match.group(1)
                else:
                    digest = hashlib.sha256(_member_bytes(tar, config)).hexdigest()
                images.append({"id": f"sha256:{digest}", "tags": list(entry.get("RepoTags") or [])})
            return images
    except tarfile.ReadError:
        raise ValueError(f"{path} is not a tar archive (plain, gzip, bzip2 or xz)") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def plan(images, lookup):
    """The images rows; ``lookup(name)`` gives the ID the host has under a tag or ID, or None."""
    rows = []
    for image in images:
        if image["tags"]:
            rows.extend({"tag": tag, "id": image["id"], "loaded": lookup(tag) != image["id"]}
                        for tag in image["tags"])
        else:
            rows.append({"tag": None, "id": image["id"], "loaded": lookup(image["id"]) is None})
    return rows


def _in_order(pairs):
    return sorted(pairs, key=lambda pair: (pair[0], pair[1] or ""))


def rows(images):
    """(id, tag) of every tag, and (id, None) of every untagged image: what `plan` reports."""
    return _in_order((image["id"], tag) for image in images for tag in image["tags"] or [None])


def preload_needed(probe, src):
    """Whether the tarball `src` (on the controller) must be sent to the host and loaded,
    given `probe`: engine_image_load's result, in check mode, on the host's copy of it.

    It must when the host has no readable copy, when a tag or image is missing there, or when
    the host's copy holds other images than the controller's tarball (a newer one replaced it).
    """
    if not isinstance(probe, dict) or probe.get("failed") or "images" not in probe:
        return True
    if any(row.get("loaded") for row in probe["images"]):
        return True
    held = _in_order((row["id"], row["tag"]) for row in probe["images"])
    return held != rows(read_manifest(src))
