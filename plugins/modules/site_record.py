#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: site_record
short_description: Record that a run left a host converged, or forget it
version_added: 0.1.0
description:
  - With O(state=present), records the digest of a successful run's inputs (from
    M(dockhand.docker.site_digest)) and what the run left on the host, which the next run
    compares with to skip its roles when nothing moved.
  - What is recorded is the host's state under dockhand's paths (files under
    C(/etc/docker), C(/etc/containers), C(/etc/dockhand), the proxy's, the units' and
    more, each by content, mode and owner), the units watched (active ones must stay
    active, enablement must not change), the engine's containers and their images, the
    swarm membership and, on a manager, the swarm's services, nodes and networks as
    their specs stand, and the GlusterFS mounts.
  - Leaves an executable local fact C(dockhand_site_record.fact) in O(report_dir) that at
    every fact gathering reports per record its C(digest), its C(age) in seconds, C(live)
    (the host is as the run left it and the record is at most O(max_age) old) and
    C(drift), the first things that differ.
  - With O(state=outdated), marks the record O(name) (or every record) as outdated, so
    that the next run is a full one. A run about to change the host does so first, so
    that a run stopped half way (or another playbook's run) never leaves a record that
    vouches for the host.
    With O(state=absent), removes it.
  - Every record written before the modification time of the file C(site-record.json.outdated)
    in O(state_dir) counts as outdated too. Touching that file outdates every record of the
    host in one shell command, without a module, which is how the playbooks do it
    (C(playbooks/tasks/site_record_forget.yml)).
  - Reports changed when the recorded digest or state differs from the one in place, and
    when O(state=absent) removes a record. Marking a record outdated and renewing the time
    of one that is otherwise the same are the record's own bookkeeping, reported as no
    change, so that a run that changes nothing on the host reports nothing changed.
options:
  name:
    description:
      - The record's name, one per playbook that keeps one (C(site), C(engine)). Required
        with O(state=present) and O(state=absent).
      - With O(state=outdated) and no name, every record the host holds is marked, as a run
        that may change the host outdates what any playbook's record says of it.
    type: str
  state:
    description: Whether the record exists.
    type: str
    choices: [present, outdated, absent]
    default: present
  digest:
    description: The digest of the run's inputs for this host. Required with O(state=present).
    type: str
  max_age:
    description:
      - Seconds after which the record no longer counts, so that time-bound work (a
        certificate due for renewal) is looked at by a full run at least this often.
    type: int
    default: 86400
  files:
    description:
      - Absolute paths to record, where C(*) in a component matches any name but a hidden
        one (as in a shell's glob; no other wildcard); directories are walked. The default
        is every path dockhand's roles write.
    type: list
    elements: str
  extra_files:
    description: Paths recorded besides O(files), such as paths the inventory moved, as in O(files).
    type: list
    elements: str
    default: []
  units:
    description:
      - systemd units to watch besides every unit whose file is in C(/etc/systemd/system).
    type: list
    elements: str
  state_dir:
    description: Where the records are kept (readable by root only).
    type: path
    default: /var/lib/dockhand
  report_dir:
    description: Where the local fact goes.
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
- name: Forget every converged run recorded on the host before changing it
  dockhand.docker.site_record:
    state: outdated

- name: Record that this run left the host converged
  dockhand.docker.site_record:
    name: site
    digest: "{{ digest.digests[inventory_hostname] }}"
"""

RETURN = r"""
watched:
  description: How many paths, units and engine objects the record holds.
  returned: when O(state=present)
  type: int
  sample: 412
"""

import json
import os
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils.files import (
    atomic_write,
    read_text,
)
from ansible_collections.dockhand.docker.plugins.module_utils.site_record import (
    STATE_FILE,
    WATCHED_FILES,
    WATCHED_UNITS,
    fact_script,
    outdate,
    probe_namespace,
    record,
    same_record,
)

FACT_NAME = "dockhand_site_record"


def _load(path: str) -> dict:
    text = read_text(path)
    if not text:
        return {}
    try:
        return json.loads(text)["records"]
    except (ValueError, KeyError, TypeError):
        # A damaged record counts as none: the next run is a full one.
        return {}


def _summary(entry: dict | None) -> dict:
    if not entry:
        return {}
    baseline = entry["baseline"]
    return {"digest": entry["digest"], "max_age": entry["max_age"],
            "watched": _count(baseline)}


def _count(baseline: dict) -> int:
    engine = baseline.get("engine") or {}
    return (len(baseline["files"]) + len(baseline["units"]) + len(baseline["mounts"] or [])
            + sum(len(engine.get(kind, {}))
                  for kind in ("containers", "services", "nodes", "networks")))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            state=dict(type="str", choices=["present", "outdated", "absent"],
                       default="present"),
            digest=dict(type="str"),
            max_age=dict(type="int", default=86400),
            files=dict(type="list", elements="str"),
            extra_files=dict(type="list", elements="str", default=[]),
            units=dict(type="list", elements="str"),
            state_dir=dict(type="path", default="/var/lib/dockhand"),
            report_dir=dict(type="path", default="/etc/ansible/facts.d"),
        ),
        required_if=[("state", "present", ["name", "digest"]), ("state", "absent", ["name"])],
        supports_check_mode=True,
    )
    params = module.params
    if params["max_age"] < 1:
        module.fail_json(msg=f"max_age must be at least 1 second, not {params['max_age']}")
    state_path = os.path.join(params["state_dir"], STATE_FILE)
    fact_path = os.path.join(params["report_dir"], f"{FACT_NAME}.fact")
    records = _load(state_path)
    old = records.get(params["name"])
    result = {"changed": False}

    write = True
    if params["state"] == "absent":
        result["changed"] = write = old is not None
        if old is not None:
            del records[params["name"]]
    elif params["state"] == "outdated":
        write = bool(outdate(records, params["name"]))
    else:
        files = params["files"] if params["files"] is not None else list(WATCHED_FILES)
        odd = [path for path in [*files, *params["extra_files"]]
               if not path.startswith("/") or any(c in path for c in "?[]")]
        if odd:
            module.fail_json(msg=f"files and extra_files take absolute paths whose only "
                                 f"wildcard is *, not {', '.join(odd)}")
        watch = {"files": sorted(set(files) | set(params["extra_files"])),
                 "units": params["units"] if params["units"] is not None else list(WATCHED_UNITS)}
        new = record(params["digest"], params["max_age"], watch,
                     probe_namespace()["probe"](watch), time.time())
        result["changed"] = not same_record(old, new)
        result["watched"] = _count(new["baseline"])
        records[params["name"]] = new
    if module._diff:
        result["diff"] = {"before_header": state_path, "after_header": state_path,
                          "before": json.dumps(_summary(old), indent=2, sort_keys=True) + "\n",
                          "after": json.dumps(_summary(records.get(params["name"])), indent=2,
                                              sort_keys=True) + "\n"}
    script = fact_script(sys.executable, state_path)
    if params["state"] == "present" and read_text(fact_path) != script:
        result["changed"] = True
    if module.check_mode or not write:
        module.exit_json(**result)

    try:
        for directory, mode in ((params["state_dir"], 0o700), (params["report_dir"], 0o755)):
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=mode)
        # The baseline holds the digests of secret files: root only.
        atomic_write(state_path, json.dumps({"records": records}, sort_keys=True), 0o600,
                     module=module)
        if params["state"] == "present" and read_text(fact_path) != script:
            atomic_write(fact_path, script, 0o755, module=module)
    except OSError as exc:
        module.fail_json(msg=f"cannot write the record {state_path}: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
