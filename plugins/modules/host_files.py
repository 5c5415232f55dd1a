#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_files
short_description: Directories, files, absent paths and managed blocks of a host in one call
version_added: 0.1.0
description:
  - Brings a set of directories and files on a host to the wanted content, mode and owner in
    one module call, where a loop of M(ansible.builtin.copy) would cost several round trips
    per file. Files are replaced atomically (a temporary file in the same directory, then a
    rename); files that cannot be renamed over, such as a bind-mounted C(/etc/hosts) in a
    container, are rewritten in place.
  - The content of O(secret_files) is never shown, in diffs or anywhere else.
  - Reports the paths it changed, so that callers restart only what read them.
options:
  directories:
    description: Directories to create or fix.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Path., type: path, required: true}
      mode: {description: Octal mode., type: str, default: "0755"}
      owner: {description: Owner name or numeric ID., type: str, default: root}
      group: {description: Group name or numeric ID., type: str, default: root}
      recurse:
        description:
          - When the directory itself has another owner or group, also give everything under
            it the new ones (modes are left alone), as a containerised service that now runs
            as that user needs for the data an earlier root process wrote. A hand-over done
            once; while the directory has the wanted owner, what is under it is not walked.
            Symlinks are not followed.
        type: bool
        default: false
  files:
    description: Files and their content.
    type: list
    elements: dict
    default: []
    suboptions: &file_options
      path: {description: Path., type: path, required: true}
      content: {description: The whole content., type: str, required: true}
      mode: {description: Octal mode., type: str, default: "0644"}
      owner: {description: Owner name or numeric ID., type: str, default: root}
      group: {description: Group name or numeric ID., type: str, default: root}
      backup:
        description:
          - Before new content replaces the file, keep a copy of it beside it (as
            M(ansible.builtin.copy)'s C(backup) does), named in RV(backups), so that the
            caller can put it back when what reads the file refuses the new one.
        type: bool
        default: false
  secret_files:
    description:
      - Like O(files), for private keys and credentials; their content is never printed or
        diffed, their paths are (in RV(changed_paths) too).
    type: list
    elements: dict
    default: []
    suboptions: *file_options
  absent:
    description: Paths to remove (files only).
    type: list
    elements: path
    default: []
  blocks:
    description: Managed blocks, between C(# BEGIN marker) and C(# END marker) lines, in files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path of the file, which must exist.
        type: path
        required: true
      marker: {description: Text after BEGIN/END., type: str, required: true}
      block: {description: Lines of the block; empty removes it., type: str, required: true}
  report_fact:
    description:
      - Also leave an executable local fact C(<report_fact>.fact) in O(report_dir) that
        reports, at every fact gathering, the kind, mode, owner, group and content digest of
        this call's directories, files and absent paths, and the lines of the blocks it
        keeps (nothing of the secret files). With it, the filter
        C(dockhand.docker.host_files_current) tells on the controller that the same call
        would change nothing, and the round trip can be skipped. Empty leaves no fact.
    type: str
    default: ""
  report_dir:
    description: Where O(report_fact) goes.
    type: path
    default: /etc/ansible/facts.d
attributes:
  diff_mode:
    support: full
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Give dockerd its TLS files
  dockhand.docker.host_files:
    directories:
      - {path: /etc/docker/tls, mode: "0700"}
    files:
      - {path: /etc/docker/tls/ca.pem, content: "{{ ca_pem }}"}
    secret_files:
      - {path: /etc/docker/tls/server-key.pem, content: "{{ key_pem }}", mode: "0600"}
"""

RETURN = r"""
changed_paths:
  description: Every path that was (or in check mode would be) created, changed or removed.
  returned: always
  type: list
  elements: str
content_changed_paths:
  description:
    - The paths of RV(changed_paths) whose content was (or in check mode would be) written,
      created or removed, and not those where only the mode or the owner was set right.
    - What a service read at start is in it only when the service would read something else
      now, so a restart can be decided on it.
  returned: always
  type: list
  elements: str
backups:
  description:
    - For each file with O(files[].backup) whose content was replaced, its path and the
      path of the copy kept of it. Empty in check mode.
  returned: always
  type: dict
  sample: {/etc/dockhand/etcd/etcd.env: /etc/dockhand/etcd/etcd.env.1234.2026-12-05@02:40:00~}
"""

import grp
import os
import pwd
import re
import stat
import sys

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.files import (
    atomic_write,
    read_text,
    with_block,
)
from ansible_collections.dockhand.docker.plugins.module_utils.host_report import (
    DIR_MODE,
    FILE_MODE,
    OWNER,
    fact_script,
    reported_paths,
)

_PATH_SPEC = dict(path=dict(type="path", required=True), owner=dict(type="str", default=OWNER),
                  group=dict(type="str", default=OWNER))
DIR_SPEC = dict(_PATH_SPEC, mode=dict(type="str", default=DIR_MODE),
                recurse=dict(type="bool", default=False))
FILE_SPEC = dict(_PATH_SPEC, content=dict(type="str", required=True),
                 mode=dict(type="str", default=FILE_MODE),
                 backup=dict(type="bool", default=False))
# Only the content is secret: the paths stay readable in changed_paths, which callers
# compare to decide what to restart.
SECRET_FILE_SPEC = dict(FILE_SPEC, content=dict(type="str", required=True, no_log=True))


class HostFiles:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changed_paths = []
        # Created, rewritten or removed: what a reader of the file would see differently.
        self.content_changed_paths = []
        # Path -> the copy kept of it before its content was replaced.
        self.backups = {}
        self.diff = []

    def _ids(self, item):
        owner, group = str(item["owner"]), str(item["group"])
        try:
            # A numeric ID needs no account on the host: a container's user often has none.
            return (int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid,
                    int(group) if group.isdigit() else grp.getgrnam(group).gr_gid)
        except KeyError as exc:
            self.module.fail_json(msg=f"{item['path']}: no such owner or group ({exc})")

    def _mode(self, item):
        try:
            return int(item["mode"], 8)
        except ValueError:
            self.module.fail_json(msg=f"{item['path']}: mode must be octal, not {item['mode']!r}")

    def _metadata(self, path, item, show=False):
        """Fix mode and owner of an existing path; True when they were off. ``show``: the
        path was there before, and the diff says what its mode and owner were."""
        st, mode, (uid, gid) = os.lstat(path), self._mode(item), self._ids(item)
        if stat.S_IMODE(st.st_mode) == mode and (st.st_uid, st.st_gid) == (uid, gid):
            return False
        if show:
            self.diff.append({"before_header": f"{path} (mode, owner)",
                              "after_header": f"{path} (mode, owner)",
                              "before": f"{stat.S_IMODE(st.st_mode):04o} {st.st_uid}:{st.st_gid}\n",
                              "after": f"{mode:04o} {uid}:{gid}\n"})
        if not self.check:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        return True

    def _changed(self, path):
        self.changed_paths.append(path)
        self.content_changed_paths.append(path)

    def directory(self, item):
        path = item["path"]
        if os.path.isdir(path):
            before = os.lstat(path)
            owner_was = (before.st_uid, before.st_gid)
            fixed = self._metadata(path, item, show=True)
            # A hand-over, once: what runs as the new owner writes as it from then on, and a
            # walk of every blob on each run (shared storage, too) would cost the most.
            if item.get("recurse") and owner_was != self._ids(item):
                fixed = self._owner_below(path, item) or fixed
            if fixed:
                self.changed_paths.append(path)
            return
        # On shared storage (the registry's GlusterFS volume) another host may make the
        # directory between the two looks: only what is still no directory is refused.
        if os.path.lexists(path) and not os.path.isdir(path):
            self.module.fail_json(msg=f"{path} exists and is not a directory")
        if not self.check:
            os.makedirs(path, exist_ok=True)
            self._metadata(path, item)
        self._changed(path)

    def _owner_below(self, top, item):
        """Give everything under ``top`` the item's owner and group; True when some had
        another. The diff counts them rather than listing what can be many thousands."""
        uid, gid = self._ids(item)
        wrong = 0
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                if (st.st_uid, st.st_gid) != (uid, gid):
                    wrong += 1
                    if not self.check:
                        os.lchown(path, uid, gid)
        if wrong:
            self.diff.append({"before_header": f"{top}/* (owner)",
                              "after_header": f"{top}/* (owner)",
                              "before": f"{wrong} paths owned otherwise\n",
                              "after": f"{wrong} paths owned by {uid}:{gid}\n"})
        return bool(wrong)

    def file(self, item, secret):
        path, content = item["path"], item["content"]
        before = read_text(path)
        if before == content:
            if self._metadata(path, item, show=True):
                self.changed_paths.append(path)
            return
        if not secret:
            self.diff.append({"before_header": path, "after_header": path,
                              "before": before or "", "after": content})
        if not self.check:
            if before is not None and item.get("backup"):
                self.backups[path] = self.module.backup_local(path)
            atomic_write(path, content, self._mode(item), module=self.module,
                         unsafe_writes=True)
            self._metadata(path, item)
        self._changed(path)

    def absent(self, path):
        if not os.path.lexists(path):
            return
        if os.path.isdir(path) and not os.path.islink(path):
            self.module.fail_json(msg=f"{path} is a directory; absent removes files only")
        if not self.check:
            os.unlink(path)
        self._changed(path)

    def block(self, item):
        path = item["path"]
        before = read_text(path)
        if before is None:
            self.module.fail_json(msg=f"{path} does not exist; a managed block needs the file")
        after = with_block(before, item["marker"], item["block"])
        if after == before:
            return
        self.diff.append({"before_header": path, "after_header": path,
                          "before": before, "after": after})
        if not self.check:
            atomic_write(path, after, stat.S_IMODE(os.stat(path).st_mode), module=self.module,
                         unsafe_writes=True)
        self._changed(path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[], options=DIR_SPEC),
            files=dict(type="list", elements="dict", default=[], options=FILE_SPEC),
            # The paths are shown; the content sub-option is the secret.
            secret_files=dict(type="list", elements="dict", default=[], no_log=False,
                              options=SECRET_FILE_SPEC),
            absent=dict(type="list", elements="path", default=[]),
            blocks=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True), marker=dict(type="str", required=True),
                block=dict(type="str", required=True))),
            report_fact=dict(type="str", default=""),
            report_dir=dict(type="path", default="/etc/ansible/facts.d"),
        ),
        supports_check_mode=True,
    )
    files = HostFiles(module)
    for item in module.params["directories"]:
        files.directory(item)
    for item in module.params["files"]:
        files.file(item, secret=False)
    for item in module.params["secret_files"]:
        files.file(item, secret=True)
    for path in module.params["absent"]:
        files.absent(path)
    for item in module.params["blocks"]:
        files.block(item)
    name = module.params["report_fact"]
    if name:
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            module.fail_json(msg=f"report_fact must be a fact name (letters, digits and _), "
                                 f"not {name!r}")
        report_dir = module.params["report_dir"]
        files.directory({"path": report_dir, "mode": DIR_MODE, "owner": OWNER, "group": OWNER})
        paths = reported_paths(module.params["directories"], module.params["files"],
                               module.params["absent"], module.params["blocks"])
        files.file({"path": os.path.join(report_dir, f"{name}.fact"), "mode": "0755",
                    "owner": "root", "group": "root",
                    "content": fact_script(sys.executable, paths)}, secret=False)
    result = {"changed": bool(files.changed_paths), "changed_paths": files.changed_paths,
              "content_changed_paths": files.content_changed_paths, "backups": files.backups}
    if module._diff:
        result["diff"] = files.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
