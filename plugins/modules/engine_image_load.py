#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: engine_image_load
short_description: Load images from a docker save tarball on the host, only when they are missing
version_added: 0.1.0
description:
  - Reads the tarball's C(manifest.json) to learn which images it holds (their IDs and tags)
    without loading it, and loads it through the Docker Engine API only when a tag is missing
    or points to another image, or an untagged image is missing.
  - The tarball is streamed to the daemon, never read into memory.
  - Not M(community.docker.docker_image_load), hence its own name. That module loads
    every time and reports what it loaded; this one decides from the tarball's manifest
    whether anything is missing, so a re-run is a no-op without sending the file. It needs
    no Docker SDK or C(requests) on the target.
options:
  path:
    description:
      - Tarball on the target as C(docker save) writes it (the classic layout or the OCI one
        of Docker 25 and later), optionally compressed with gzip, bzip2 or xz.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - dockhand.docker.engine
attributes:
  diff_mode:
    support: none
notes:
  - Reading the manifest of a compressed tarball decompresses it once, without loading it.
  - Only the target's system python3 is needed.
seealso:
  - module: dockhand.docker.engine_container
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Copy the image to the host
  ansible.builtin.copy:
    src: images/app-1.4.tar.gz
    dest: /var/lib/dockhand/images/app-1.4.tar.gz
    mode: "0644"

- name: Load it unless the host already has it
  dockhand.docker.engine_image_load:
    path: /var/lib/dockhand/images/app-1.4.tar.gz
"""

RETURN = r"""
images:
  description:
    - One entry per tag in the tarball, and one with O(path) C(tag=null) per untagged image.
    - C(loaded) tells whether the load (would, in check mode) put the tag in place, because it
      was missing or named another image.
  returned: success
  type: list
  elements: dict
  contains:
    tag:
      description: The tag, as in the tarball's C(RepoTags); null for an untagged image.
      type: str
      sample: registry.example.com/app:1.4
    id:
      description: The image ID.
      type: str
      sample: sha256:6f5c...
    loaded:
      description: Whether this tag or image was loaded.
      type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.base import ModuleRun
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
)
from ansible_collections.dockhand.docker.plugins.module_utils.image_archive import (
    plan,
    read_manifest,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            socket=dict(type="path", default="/var/run/docker.sock"),
        ),
        supports_check_mode=True,
    )
    run = ModuleRun(module)
    path = module.params["path"]
    if not os.path.isfile(path):
        run.fail(f"{path} does not exist or is not a file")
    try:
        images = read_manifest(path)
    except ValueError as exc:
        run.fail(str(exc))

    client = EngineClient(module.params["socket"])
    rows = run.call("list the engine's images", plan, images, client.image_id)
    if any(row["loaded"] for row in rows):
        run.actions.append(f"load {path}")
        if not run.check:
            try:
                with open(path, "rb") as tarball:
                    run.call(f"load {path}", client.load_image, tarball)
            except OSError as exc:
                run.fail(f"cannot read {path}: {exc}")
            wrong = [row["tag"] or row["id"] for row in rows
                     if run.call("inspect the loaded images", client.image_id,
                                 row["tag"] or row["id"]) != row["id"]]
            if wrong:
                run.fail(f"the daemon loaded {path} but does not show {', '.join(wrong)} "
                         "with the manifest's image ID", images=rows)
    module.exit_json(changed=bool(run.actions), images=rows)


if __name__ == "__main__":
    main()
