#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_image_load
short_description: Load images from a docker save tarball on the host, only when they are missing
version_added: 0.1.0
description:
  - Reads the tarball's C(manifest.json) to learn which images it holds (their IDs and tags)
    without loading it, and loads it through the Docker Engine API only when a tag is missing
    or points to another image, or an untagged image is missing.
  - The tarball is streamed to the daemon, never read into memory.
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
  - module: dockhand.docker.docker_container
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
  dockhand.docker.docker_image_load:
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
from ansible_collections.dockhand.docker.plugins.module_utils.docker_api import (
    EngineClient,
    EngineError,
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
    path = module.params["path"]
    if not os.path.isfile(path):
        module.fail_json(msg=f"{path} does not exist or is not a file")
    try:
        images = read_manifest(path)
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    client = EngineClient(module.params["socket"])
    try:
        rows = plan(images, client.image_id)
        if any(row["loaded"] for row in rows) and not module.check_mode:
            with open(path, "rb") as tarball:
                client.load_image(tarball)
            wrong = [row["tag"] or row["id"] for row in rows
                     if client.image_id(row["tag"] or row["id"]) != row["id"]]
            if wrong:
                module.fail_json(msg=f"the daemon loaded {path} but does not show "
                                     f"{', '.join(wrong)} with the manifest's image ID",
                                 images=rows)
    except EngineError as exc:
        module.fail_json(msg=f"cannot load {path}: {exc.message}", status=exc.status)
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}")

    module.exit_json(changed=any(row["loaded"] for row in rows), images=rows)


if __name__ == "__main__":
    main()
