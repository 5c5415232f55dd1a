#!/usr/bin/python
# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_config
short_description: Manage the Docker daemon's daemon.json, and the unit flags that clash with it
version_added: 0.1.0
description:
  - Validates Docker daemon options against what dockerd 20.10 to 27 accepts, merges them into
    C(daemon.json) and writes the file atomically, only when its parsed content changes.
  - Reports whether the change needs a daemon restart or whether a reload (SIGHUP) applies it,
    so a handler can do the cheaper one. The module itself never restarts Docker.
  - dockerd refuses to start when an option is set both as a command-line flag and in
    C(daemon.json). The classic case is C(hosts) against the C(-H fd://) that the Debian and
    Docker unit files pass. With O(manage_unit_conflicts) the module writes a systemd drop-in
    that repeats the unit's C(ExecStart) without the conflicting flags, and removes it again
    once nothing conflicts.
options:
  path:
    description: Path of the daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  options:
    description:
      - Daemon options, keyed as in C(daemon.json) (for example C(log-opts), C(registry-mirrors)).
      - Values must have the JSON type dockerd expects; C(log-opts) values, for instance, must be
        strings such as C("3"), not numbers.
    type: dict
    default: {}
  state:
    description:
      - V(merged) replaces the top-level keys given in O(options) and keeps every other key
        already in the file.
      - V(exact) makes the file contain exactly O(options). It also replaces a file that is not
        valid JSON.
    type: str
    choices: [merged, exact]
    default: merged
  remove_keys:
    description:
      - Top-level keys to drop from the file with O(state=merged). Ignored with O(state=exact).
    type: list
    elements: str
    default: []
  allow_unknown_keys:
    description:
      - Accept keys this module does not know, for example options of a newer Docker engine.
      - dockerd refuses to start with a key it does not know, so leave this off unless the
        engine on the host is known to accept the key.
    type: bool
    default: false
  engine_version:
    description:
      - The version of the engine that reads the file, as its package or C(dockerd --version)
        prints it (C(20.10.24+dfsg1-1+b3), C(26.1.5)). Keys that engine does not know yet, or
        any more, are refused by version before anything is written, naming the key, the
        engine's version and the version that added or removed the key.
      - V(auto) asks C(dockerd --version) on the host; a host without dockerd (not installed
        yet) is then checked without a version. An empty string checks no version.
      - With O(validate_only) only a given version is checked (the host is not contacted).
    type: str
    default: auto
  backup:
    description: Keep a timestamped copy of C(daemon.json) and of the drop-in before changing them.
    type: bool
    default: true
  manage_unit_conflicts:
    description:
      - Write, update or remove O(dropin_path) so that the unit's command line carries no flag
        that C(daemon.json) also sets.
      - When off, conflicts are still reported in RV(unit_conflicts) and as a warning.
    type: bool
    default: true
  unit:
    description: The systemd unit that runs dockerd.
    type: str
    default: docker.service
  dropin_path:
    description:
      - Where the conflict drop-in lives. Change it together with O(unit).
      - The drop-in must sort after any other drop-in that sets C(ExecStart), or that one wins;
        the module warns when that happens.
    type: path
    default: /etc/systemd/system/docker.service.d/dockhand-daemon-json.conf
  unit_search_roots:
    description:
      - Directories that stand for C(/) when looking for the unit file and its drop-ins under
        C(etc/systemd/system), C(run/systemd/system), C(lib/systemd/system) and
        C(usr/lib/systemd/system).
      - C(systemctl daemon-reload) only runs when C(/) is among them, so pointing this at a
        test tree never touches the running systemd.
    type: list
    elements: path
    default: ['/']
  mode:
    description: Permissions of C(daemon.json), as an octal string such as C('0644').
    type: raw
    default: '0644'
  options_name:
    description:
      - How the caller names O(options) to its users; validation failures start with it, so
        that a role's failure names the variable the operator set.
    type: str
    default: options
  validate_only:
    description:
      - Check O(options) on the controller and return without contacting the host. Roles use
        it to fail on bad input before they install or change anything.
      - Handled by the action plugin of the same name; the file on the host is not read, so
        keys already in it are checked only by a real run.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - dockhand.docker.host
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  diff_mode:
    support: full
notes:
  - Nothing is written when any option is invalid; every problem is reported at once.
  - Keys of the existing file that O(options) does not mention are validated too, because
    dockerd reads them as well. Drop a bad one with O(remove_keys).
  - Flags hidden in environment variables of the unit, such as Debian's C($DOCKER_OPTS), are
    not expanded and so not checked; the drop-in passes them on unchanged.
  - Only the target's system python3 is needed.
seealso:
  - name: dockerd daemon configuration file
    description: The reference list of daemon.json options and of the ones a reload applies.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
author:
  - dockhand engineers (@dockhand)
"""

EXAMPLES = r"""
- name: Rotate container logs and use a registry mirror
  dockhand.docker.docker_daemon_config:
    options:
      log-driver: json-file
      log-opts:
        max-size: 10m
        max-file: "3"
      registry-mirrors:
        - https://mirror.example.com
  register: daemon_config

- name: Apply it the cheapest way that works
  ansible.builtin.systemd_service:
    name: docker
    state: "{{ 'reloaded' if daemon_config.apply == 'reload' else 'restarted' }}"
  when: daemon_config.apply != 'none'

- name: Listen on TCP with TLS as well as on the local socket
  dockhand.docker.docker_daemon_config:
    options:
      hosts:
        - unix:///var/run/docker.sock
        - tcp://0.0.0.0:2376
      tls: true
      tlsverify: true
      tlscacert: /etc/docker/tls/ca.pem
      tlscert: /etc/docker/tls/server.pem
      tlskey: /etc/docker/tls/server-key.pem

- name: Stop managing a key and drop it from the file
  dockhand.docker.docker_daemon_config:
    remove_keys:
      - debug

- name: Own the whole file
  dockhand.docker.docker_daemon_config:
    state: exact
    options:
      live-restore: true
"""

RETURN = r"""
config:
  description: The configuration the file holds after the task.
  returned: success
  type: dict
  sample: {"live-restore": true, "log-driver": "json-file"}
changed_keys:
  description: Top-level keys whose value was added, changed or removed.
  returned: success
  type: list
  elements: str
  sample: ["live-restore"]
apply:
  description:
    - What makes the running daemon pick the change up. V(none) when nothing changed, V(reload)
      when every changed key is one dockerd applies on SIGHUP, V(restart) otherwise, and always
      when the drop-in changed.
  returned: success
  type: str
  sample: reload
existed:
  description: Whether the configuration file existed before the task.
  returned: success
  type: bool
backup_file:
  description: Backup of the previous configuration file, when one was made.
  returned: success
  type: str
  sample: /etc/docker/daemon.json.1234.2024-05-01@10:00:00~
dropin_changed:
  description: Whether the conflict drop-in was written or removed.
  returned: success
  type: bool
dropin_existed:
  description: Whether the conflict drop-in existed before the task.
  returned: success
  type: bool
dropin_backup_file:
  description: Backup of the previous drop-in, when one was made.
  returned: success
  type: str
engine_version:
  description: The engine version the keys were checked against; empty when none was known.
  returned: success
  type: str
  sample: 20.10.24
unit_conflicts:
  description: Flags on the unit's command line that the resulting configuration also sets.
  returned: success
  type: list
  elements: dict
  contains:
    flag:
      description: The flag as the unit spells it.
      type: str
      sample: -H
    key:
      description: The daemon.json key it clashes with.
      type: str
      sample: hosts
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockhand.docker.plugins.module_utils import (
    daemon_json,
    daemon_options,
    daemon_unit,
    daemon_validate,
)
from ansible_collections.dockhand.docker.plugins.module_utils.files import atomic_write, read_bytes


class DaemonConfigManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.diff = []
        self.results = {
            "changed": False,
            "backup_file": None,
            "dropin_changed": False,
            "dropin_backup_file": None,
            "engine_version": "",
            "unit_conflicts": [],
        }

    def _read(self, path):
        try:
            return read_bytes(path)
        except OSError as exc:
            self.module.fail_json(msg=f"cannot read {path}: {exc}")

    def _mode(self):
        mode = self.params["mode"]
        try:
            return mode if isinstance(mode, int) else int(str(mode), 8)
        except ValueError:
            self.module.fail_json(msg=f"mode must be an octal string such as '0644', not {mode!r}")

    def _existing_config(self, raw):
        """The parsed file, {} when absent, None when unreadable and state=exact replaces it."""
        if raw is None:
            return {}
        try:
            return daemon_json.parse(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            if self.params["state"] == "exact":
                return None
            self.module.fail_json(
                msg=f"{self.params['path']} is not a JSON object ({exc}); fix the file, "
                    "or use state=exact to replace it"
            )

    def _engine_version(self):
        """The version to check the keys against: the one given, or dockerd's own."""
        wanted = self.params["engine_version"].strip()
        if wanted != "auto":
            return wanted
        dockerd = self.module.get_bin_path("dockerd")
        if not dockerd:
            return ""
        rc, out, err = self.module.run_command([dockerd, "--version"])
        if rc != 0:
            self.module.fail_json(msg=f"dockerd --version failed (rc {rc}): {err or out}")
        if daemon_options.parse_version(out) is None:
            self.module.warn(f"dockerd --version printed no version ({out.strip()!r}): the "
                             "keys are checked without one")
            return ""
        return out.strip()

    def _validation_errors(self, existing):
        options, path = self.params["options"], self.params["path"]
        remove = self.params["remove_keys"]
        allow_unknown = self.params["allow_unknown_keys"]
        version = self._engine_version()
        parsed = daemon_options.parse_version(version) if version else None
        self.results["engine_version"] = parsed[1] if parsed else ""
        errors = daemon_validate.request_errors(options, remove, self.params["state"],
                                                allow_unknown, version)
        if self.params["state"] == "merged":
            kept = {k: v for k, v in (existing or {}).items()
                    if k not in options and k not in remove}
            errors += [f"{e} (already in {path}; fix it there or drop it with remove_keys)"
                       for e in daemon_validate.validate(kept, allow_unknown, version)]
        return errors

    def _ensure_dir(self, path):
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755)
            os.chmod(directory, 0o755)

    def _record_diff(self, path, before, after):
        self.diff.append({"before": before, "after": after,
                          "before_header": path, "after_header": path})

    def _write(self, path, content, mode, existed):
        """Back up and replace ``path``; remove it when content is None. Returns the backup."""
        backup = None
        if self.params["backup"] and existed:
            backup = self.module.backup_local(path) or None
        try:
            if content is None:
                os.unlink(path)
            else:
                self._ensure_dir(path)
                atomic_write(path, content, mode, module=self.module)
        # atomic_move raises a bare Exception when it cannot replace the file.
        except Exception as exc:
            self.module.fail_json(msg=f"cannot write {path}: {exc}")
        return backup

    def _systemd_is_live(self):
        roots = {os.path.realpath(r) for r in self.params["unit_search_roots"]}
        return "/" in roots and os.path.isdir("/run/systemd/system")

    def _desired_dropin(self, config):
        """(content or None, whether to manage the drop-in at all)."""
        unit_files = daemon_unit.find_unit_files(self.params["unit"],
                                                 self.params["unit_search_roots"])
        texts = []
        for path in unit_files:
            raw = self._read(path)
            texts.append((path, (raw or b"").decode("utf-8", "replace")))
        dropin_path = self.params["dropin_path"]
        argv = daemon_unit.effective_execstart(texts, [dropin_path])
        found = daemon_unit.conflicts(argv, config)
        self.results["unit_conflicts"] = [{"flag": f, "key": k} for f, k in found]

        config_file = daemon_unit.config_file_flag(argv)
        if config_file and os.path.realpath(config_file) != os.path.realpath(self.params["path"]):
            self.module.warn(f"{self.params['unit']} runs dockerd with --config-file "
                             f"{config_file}, so dockerd does not read {self.params['path']}")

        if not self.params["manage_unit_conflicts"] or not texts:
            if found:
                flags = ", ".join(f"{f} ({k})" for f, k in found)
                self.module.warn(f"dockerd will refuse to start: {self.params['unit']} passes "
                                 f"{flags}, which daemon.json also sets")
            return None, False

        content = daemon_unit.dropin_content(argv, found)
        if content is not None:
            for path in daemon_unit.overriding_dropins(texts, dropin_path):
                self.module.warn(f"{path} sets ExecStart and sorts after {dropin_path}, so it "
                                 "wins and the flag conflict stays; rename one of them")
        return content, True

    def run(self):
        path = self.params["path"]
        mode = self._mode()
        if self.params["state"] == "exact" and self.params["remove_keys"]:
            self.module.warn("remove_keys is ignored with state=exact")

        raw = self._read(path)
        existed = raw is not None
        existing = self._existing_config(raw)
        errors = self._validation_errors(existing)
        if errors:
            self.module.fail_json(
                msg=daemon_validate.failure_message(self.params["options_name"], errors),
                errors=errors)

        config = daemon_json.merge(existing or {}, self.params["options"],
                                   self.params["state"], self.params["remove_keys"])
        for warning in daemon_validate.config_warnings(config):
            self.module.warn(warning)

        # An absent file and {} mean the same to dockerd, so neither is rewritten as the other.
        content_changed = existing != config
        new_text = daemon_json.render(config) if content_changed else None
        mode_changed = (existed and not content_changed
                        and stat.S_IMODE(os.stat(path).st_mode) != mode)

        dropin_path = self.params["dropin_path"]
        dropin_raw = self._read(dropin_path)
        dropin_before = None if dropin_raw is None else dropin_raw.decode("utf-8", "replace")
        dropin_after, manage_dropin = self._desired_dropin(config)
        dropin_changed = manage_dropin and dropin_after != dropin_before

        if content_changed:
            self._record_diff(path, "" if raw is None else raw.decode("utf-8", "replace"),
                              new_text)
        if dropin_changed:
            self._record_diff(dropin_path, dropin_before or "", dropin_after or "")

        if not self.check_mode:
            if content_changed:
                self.results["backup_file"] = self._write(path, new_text, mode, existed)
            elif mode_changed:
                os.chmod(path, mode)
            if dropin_changed:
                self.results["dropin_backup_file"] = self._write(
                    dropin_path, dropin_after, 0o644, dropin_raw is not None)
                if self._systemd_is_live():
                    systemctl = self.module.get_bin_path("systemctl", required=True)
                    self.module.run_command([systemctl, "daemon-reload"], check_rc=True)

        self.results.update(
            changed=bool(content_changed or mode_changed or dropin_changed),
            config=config,
            changed_keys=daemon_json.changed_keys(existing or {}, config),
            apply=daemon_json.apply_action(existing or {}, config, dropin_changed),
            existed=existed,
            dropin_changed=dropin_changed,
            dropin_existed=dropin_raw is not None,
        )
        if self.module._diff:
            self.results["diff"] = self.diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/docker/daemon.json"),
            options=dict(type="dict", default={}),
            state=dict(type="str", choices=["merged", "exact"], default="merged"),
            remove_keys=dict(type="list", elements="str", default=[], no_log=False),
            allow_unknown_keys=dict(type="bool", default=False),
            backup=dict(type="bool", default=True),
            manage_unit_conflicts=dict(type="bool", default=True),
            unit=dict(type="str", default="docker.service"),
            dropin_path=dict(
                type="path",
                default="/etc/systemd/system/docker.service.d/dockhand-daemon-json.conf",
            ),
            unit_search_roots=dict(type="list", elements="path", default=["/"]),
            mode=dict(type="raw", default="0644"),
            options_name=dict(type="str", default="options"),
            engine_version=dict(type="str", default="auto"),
            # Acted on by the action plugin, which never runs the module when it is true.
            validate_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    manager = DaemonConfigManager(module)
    manager.run()
    module.exit_json(**manager.results)


if __name__ == "__main__":
    main()
