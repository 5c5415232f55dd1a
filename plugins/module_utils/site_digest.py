# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The digest of what a site.yml run does to a host, computed on the controller.

Two runs with the same digest for a host ask the same of it: the same project (roles,
modules, playbooks, on the same ansible-core), the same inventory (every host's variables
as written, unrendered, the groups and extra variables included) and the same PKI directory
on the controller (certificates, keys and generated secrets, which the variables only name).
Whether the host is still as the last run with that digest left it, its system and address
included, is the host's to say (site_record): no fact is an input, so a run decides before
gathering any.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# Variables that say how this run was started, not what it asks of a host, and the facts
# (the host's record checks what the roles read of them). Names starting with __ are a
# run's own internals.
RUN_VARIABLES = frozenset({
    "ansible_check_mode", "ansible_config_file", "ansible_diff_mode", "ansible_facts",
    "ansible_forks", "ansible_inventory_sources", "ansible_local", "ansible_play_batch",
    "ansible_play_hosts", "ansible_play_hosts_all", "ansible_play_name",
    "ansible_play_role_names", "ansible_playbook_python", "ansible_role_names",
    "ansible_dependent_role_names", "ansible_run_tags", "ansible_skip_tags",
    "ansible_verbosity", "ansible_version", "ansible_search_path", "ansible_loop_var",
    "ansible_index_var", "ansible_parent_role_names", "ansible_parent_role_paths",
    "ansible_collection_name", "environment", "groups", "hostvars", "omit", "play_hosts",
    "playbook_dir", "role_names", "vars", "dockhand_full_run", "gather_subset",
    "module_setup", "ansible_limit",
})

# What the project's behaviour comes from, relative to the collection's root.
PROJECT_PARTS = ("roles", "plugins", "playbooks", "galaxy.yml")


def plain(value):
    """``value`` as JSON can hold it the same way every run: data tags dropped, mappings
    and sequences walked, anything else (a vaulted string) as its text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(item) for item in value]
        return sorted(items, key=_text) if isinstance(value, set | frozenset) else items
    try:
        return str(value)
    except Exception:  # a value that cannot be read counts as its kind only
        return f"<{type(value).__name__}>"


def _text(value) -> str:
    return json.dumps(value, sort_keys=True)


def inventory_inputs(raw_vars: dict) -> dict:
    """A host's variables as written, without the facts and the run's own variables."""
    facts = raw_vars.get("ansible_facts") or {}
    injected = {f"ansible_{name}" for name in facts}
    # The interpreter Ansible discovered on the host is a fact kept under its own name: the
    # run's first module sets it, after a run that skips has decided.
    return {key: plain(value) for key, value in raw_vars.items()
            if key not in RUN_VARIABLES and key not in injected and not key.startswith("__")
            and not key.startswith("discovered_interpreter_")}


def tree_digest(path: str | os.PathLike, exclude: tuple[str, ...] = ()) -> str:
    """Every file's relative name and content under ``path`` (or the file itself)."""
    digest = hashlib.sha256()
    root = Path(path)
    if root.is_file():
        digest.update(root.read_bytes())
        return digest.hexdigest()
    if not root.is_dir():
        return "absent"
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in exclude)
        for name in sorted(names):
            if name.endswith(".pyc"):
                continue
            full = Path(base) / name
            digest.update(str(full.relative_to(root)).encode() + b"\0")
            try:
                digest.update(full.read_bytes())
            except OSError as exc:
                digest.update(f"unreadable: {exc.strerror}".encode())
            digest.update(b"\0")
    return digest.hexdigest()


def project_digest(root: str | os.PathLike, core_version: str) -> str:
    parts = {part: tree_digest(Path(root) / part, exclude=("__pycache__",))
             for part in PROJECT_PARTS}
    return _sha({"core": core_version, "parts": parts})


def _strings(value):
    """Every string in a variable's value, however deep in mappings and lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def controller_files(value) -> set:
    """The absolute paths of files on the controller that variables name as they are
    written (a binary or an image archive to send): a new file at the same path is a new
    input."""
    return {text for text in _strings(value)
            if text.startswith("/") and "{" not in text and os.path.isfile(text)}


def path_templates(value) -> list:
    """Strings built from other variables that name a path (`{{ inventory_dir }}/x.tar`),
    and read nothing else: no lookup, query or pipe."""
    return [text for text in _strings(value)
            if "{{" in text and "/" in text
            and not any(word in text for word in ("lookup", "query", "q(", "pipe"))]


def fleet_digest(project: str, groups: dict, inventory: dict, files: list[str] = ()) -> str:
    """What every host's digest shares: the project, the groups, every host's variables
    (a role reads its peers': a swarm's managers, a volume's bricks) and the controller's
    files they name (``files``, each by size and time of change)."""
    named = {}
    for path in sorted(set(files) | controller_files(inventory)):
        stat = os.stat(path)
        named[path] = [stat.st_size, stat.st_mtime_ns]
    return _sha({"project": project,
                 "groups": {name: sorted(hosts) for name, hosts in groups.items()},
                 "inventory": inventory, "files": named})


def host_digest(fleet: str, pki: dict) -> str:
    """The fleet's inputs and the host's PKI directories. The host's own system (kernel,
    release, architecture, address) is not an input: its record checks those live, so a
    run decides without gathering facts."""
    return _sha({"fleet": fleet, "pki": pki})


def _sha(value) -> str:
    return hashlib.sha256(_text(value).encode("utf-8")).hexdigest()


def moved(records: dict, digests: dict) -> dict:
    """Why each host that moved needs a full run: no record of a converged run, inputs
    that differ from the recorded ones, or a host no longer as that run left it."""
    out = {}
    for host, digest in sorted(digests.items()):
        record = records.get(host)
        if not isinstance(record, dict) or "digest" not in record:
            out[host] = "no record of a converged run"
        elif record["digest"] != digest:
            out[host] = "its inputs changed since the last converged run"
        elif not record.get("live"):
            out[host] = ("not as the last converged run left it: "
                         + ", ".join(record.get("drift") or ["no reason given"]))
    return out
