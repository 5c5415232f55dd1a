"""engine_image_load against a real, isolated dockerd (see conftest.py)."""

from __future__ import annotations

import io
import tarfile
import uuid

from ansible_collections.dockhand.docker.plugins.modules import engine_image_load as dil
from enginetools import image_config, save_archive


def new_archive(path, layer, tags):
    """A tarball of an image no test loaded before (a unique label makes a unique ID)."""
    return save_archive(path, tags, layer, image_config(unique=uuid.uuid4().hex))


def test_load_then_nothing_to_do(modules, client, images, layer, tmp_path):
    tag = f"dh-test-load:{uuid.uuid4().hex[:8]}"
    path = tmp_path / "image.tar.gz"
    image_id = new_archive(path, layer, [tag])

    planned = modules.run("engine_image_load", check_mode=True, path=str(path))
    assert planned["changed"] is True
    assert planned["images"] == [{"tag": tag, "id": image_id, "loaded": True}]
    assert client.image_id(tag) is None

    loaded = modules.run("engine_image_load", path=str(path))
    assert loaded["changed"] is True
    assert loaded["images"] == [{"tag": tag, "id": image_id, "loaded": True}]
    assert client.image_id(tag) == image_id

    again = modules.run("engine_image_load", path=str(path))
    assert again["changed"] is False
    assert again["images"] == [{"tag": tag, "id": image_id, "loaded": False}]


def test_a_tag_on_another_image_is_loaded_again(modules, client, images, layer, tmp_path):
    repo, tag = "dh-test-load", f"moved-{uuid.uuid4().hex[:8]}"
    client.post("/images/dh-test:1/tag", {"repo": repo, "tag": tag})
    path = tmp_path / "image.tar"
    image_id = new_archive(path, layer, [f"{repo}:{tag}", "dh-test:1"])

    result = modules.run("engine_image_load", path=str(path))
    assert result["changed"] is True
    assert result["images"] == [{"tag": f"{repo}:{tag}", "id": image_id, "loaded": True},
                                {"tag": "dh-test:1", "id": image_id, "loaded": True}]
    assert client.image_id(f"{repo}:{tag}") == image_id
    # Put dh-test:1 back for the other tests.
    client.post(f"/images/{images['1']}/tag", {"repo": "dh-test", "tag": "1"})
    assert client.image_id("dh-test:1") == images["1"]


def test_what_docker_save_writes(modules, client, images, tmp_path):
    tagged, untagged = tmp_path / "tagged.tar", tmp_path / "untagged.tar"
    tagged.write_bytes(client.get("/images/get", {"names": "dh-test:2"}))
    untagged.write_bytes(client.get("/images/get", {"names": images["2"]}))
    assert dil.read_manifest(str(tagged)) == [{"id": images["2"], "tags": ["dh-test:2"]}]
    assert dil.read_manifest(str(untagged)) == [{"id": images["2"], "tags": []}]

    for path, tag in ((tagged, "dh-test:2"), (untagged, None)):
        result = modules.run("engine_image_load", path=str(path))
        assert result["changed"] is False
        assert result["images"] == [{"tag": tag, "id": images["2"], "loaded": False}]


def test_a_broken_tarball_fails_with_the_daemons_message(modules, images, tmp_path):
    # A layer the daemon does not have yet: it skips the files of layers it already has.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer_tar:
        marker = uuid.uuid4().hex.encode()
        info = tarfile.TarInfo("marker")
        info.size = len(marker)
        layer_tar.addfile(info, io.BytesIO(marker))
    path = tmp_path / "broken.tar"
    save_archive(path, [f"dh-test-load:{uuid.uuid4().hex[:8]}"], buffer.getvalue(),
                 image_config())
    # Drop the layer: the manifest still reads, the daemon refuses the load.
    with tarfile.open(path) as source:
        members = [(m, source.extractfile(m).read()) for m in source.getmembers()
                   if not m.name.endswith("layer.tar")]
    with tarfile.open(path, "w") as target:
        for member, data in members:
            target.addfile(member, io.BytesIO(data))
    result = modules.run("engine_image_load", path=str(path))
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot load {path}: ")
    assert "layer.tar" in result["msg"]
