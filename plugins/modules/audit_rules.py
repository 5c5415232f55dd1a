#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: audit_rules
short_description: Keep a file of audit watch rules under /etc/audit/rules.d and load it
version_added: 0.1.0
description:
  - Writes one rules file of C(-w PATH -p PERMS -k KEY) watches for the paths in O(watches)
    that exist on the host (auditd refuses a whole rules load for one watch on a missing
    path), in one call. A path is written with its symlinks resolved, and watched once.
  - Every line is checked as auditctl reads it before the file is written.
  - With O(load), runs C(augenrules --load) when the file changed or a watch is not loaded,
    then checks C(auditctl -l) lists every watched path. If the load fails, the previous
    file is put back and loaded again, and the module fails with augenrules' own message.
  - Without O(load) (a container that shares its host's kernel, where loading would change
    the host's audit rules), the file is written and checked only.
options:
  path:
    description: The rules file.
    type: path
    default: /etc/audit/rules.d/dockhand-docker.rules
  watches:
    description: The watches, in the order they are written; a path listed twice is watched once.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: An absolute path, without blanks or quotes.
        type: str
        required: true
      permissions:
        description: Letters of C(rwxa); empty watches every access, as C(-w) alone does.
        type: str
        default: ""
      key:
        description: >-
          The key searches find the events by (C(ausearch -k)); up to 31 letters, digits,
          C(_) or C(-).
        type: str
        required: true
  header:
    description: Comment lines at the top of the file.
    type: str
    default: Managed by dockhand; changes by hand are replaced on the next run.
  load:
    description: >-
      Load the rules into the kernel with C(augenrules --load), which needs auditd's
      package.
    type: bool
    default: true
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
- name: Watch the Docker daemon's binary and configuration
  dockhand.docker.audit_rules:
    watches:
      - {path: /usr/sbin/dockerd, key: docker}
      - {path: /etc/docker, permissions: wa, key: docker}
"""

RETURN = r"""
watched:
  description: The paths the file watches.
  returned: always
  type: list
  elements: str
absent:
  description: The paths of O(watches) the host does not have, left out of the file.
  returned: always
  type: list
  elements: str
loaded:
  description: Whether this call loaded the rules into the kernel.
  returned: always
  type: bool
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.audit_rules import (
    RuleError,
    listed,
    parse,
    render,
)
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, read_text

# auditd's own rules files are 0640: the rules tell what is watched.
MODE = 0o640


def _run(module, *argv):
    rc, out, err = module.run_command(list(argv))
    return rc, out, (err or out).strip()


def _resolve(path):
    return os.path.realpath(path) if os.path.lexists(path) else None


def _missing(module, watched):
    """The watched paths the kernel's loaded rules do not list (all of them if it cannot
    be asked)."""
    rc, out, _err = _run(module, "auditctl", "-l")
    return sorted(set(watched) - listed(out)) if rc == 0 else sorted(watched)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/audit/rules.d/dockhand-docker.rules"),
            watches=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="str", required=True),
                permissions=dict(type="str", default=""),
                key=dict(type="str", required=True, no_log=False))),
            header=dict(type="str", default="Managed by dockhand; changes by hand are replaced "
                                            "on the next run."),
            load=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    path, load = module.params["path"], module.params["load"]
    try:
        text, watched, absent = render(module.params["watches"], _resolve,
                                       module.params["header"])
        parse(text)
    except RuleError as exc:
        module.fail_json(msg=f"watches: {exc}")
    if load and not shutil.which("augenrules", path="/usr/sbin:/sbin:/usr/bin:/bin"):
        module.fail_json(msg="load needs augenrules (Debian's and RHEL's auditd package); "
                             "install auditd, or set load false where the kernel is not the "
                             "host's own")
    before = read_text(path)
    written = before != text
    stale = load and not module.check_mode and not written and bool(_missing(module, watched))
    result = {"changed": written or stale, "watched": watched, "absent": absent, "loaded": False}
    if module._diff and written:
        result["diff"] = {"before_header": path, "after_header": path,
                          "before": before or "", "after": text}
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    if written:
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        atomic_write(path, text, MODE, module=module)
    if load:
        rc, _out, err = _run(module, "augenrules", "--load")
        missing = _missing(module, watched) if rc == 0 else watched
        if rc != 0 or missing:
            reason = err if rc != 0 else f"loaded, but auditctl -l lists no watch on {missing}"
            if before is None:
                os.unlink(path)
            else:
                atomic_write(path, before, MODE, module=module)
            _run(module, "augenrules", "--load")
            module.fail_json(msg=f"augenrules --load failed: {reason}; the previous rules are "
                                 "back", **result)
        result["loaded"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
