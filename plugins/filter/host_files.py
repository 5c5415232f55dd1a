# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host_files call would change nothing, decided on the controller."""

from __future__ import annotations

from ansible_collections.dockhand.docker.plugins.module_utils.host_report import is_current

DOCUMENTATION = """
name: host_files
short_description: Whether a dockhand.docker.host_files call would change nothing
description:
  - C(host_files_current) takes the local fact a M(dockhand.docker.host_files) call with
    C(report_fact) left on the host (C(ansible_local.<name>), read live at every fact
    gathering) and the arguments of the next call (C(directories), C(files), C(absent),
    C(blocks), C(secret_files)). It is true only when the fact was written for the same
    paths by the same version of the module, every directory and file has the wanted kind,
    mode, owner, group and content, every absent path is absent and every block is in
    place. A call with secret files is never skipped, as their digest is not reported; a
    missing or unreadable fact is false.
  - The facts must be this run's own. C(fact_cache) is the configured cache plugin
    (C(lookup('ansible.builtin.config', 'CACHE_PLUGIN'))); any cache but memory may hand a
    play facts from an earlier run, and makes the filter false. C(gathered_at) is the host's
    C(ansible_facts.date_time.epoch); facts gathered more than five minutes before (or
    after, by the host's clock) the filter runs are false too.
"""


class FilterModule:
    def filters(self):
        return {"host_files_current": is_current}
