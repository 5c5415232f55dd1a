# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What lets the controller tell from the facts it gathers anyway that a host_files call
would change nothing, and skip the round trip: host_files leaves an executable local fact
that reports, at every fact gathering, the kind, mode, owner, group and content digest of
the paths the call manages (and, of the files it keeps blocks in, the block's lines). The
report is read live on the host, so a file changed by hand since the last run is seen, and
the call made."""

from __future__ import annotations

import hashlib
import json
import time

# The fact's program, run by the host's python3 at fact gathering (the collection is not
# on the host, so it carries its own code). It only reads.
REPORT_SOURCE = r'''
import grp
import hashlib
import json
import os
import pwd
import stat


def _meta(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = "#%d" % st.st_uid
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = "#%d" % st.st_gid
    kind = ("directory" if stat.S_ISDIR(st.st_mode)
            else "file" if stat.S_ISREG(st.st_mode) else "other")
    return {"kind": kind, "mode": "%04o" % stat.S_IMODE(st.st_mode), "owner": owner,
            "group": group}


def _digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _block(path, marker):
    """The lines between the markers (None without both), and whether the text is as a
    rewrite would leave it (lines joined by newlines, one at the end)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    begin, end = "# BEGIN " + marker, "# END " + marker
    try:
        start = lines.index(begin)
        stop = lines.index(end, start)
        block = lines[start + 1:stop]
    except ValueError:
        block = None
    return {"block": block, "canonical": text == "\n".join(lines) + ("\n" if lines else "")}


def report(paths, version):
    out = {"version": version, "dirs": {}, "files": {}, "blocks": {}}
    for path in paths["dirs"]:
        out["dirs"][path] = _meta(path)
    for path in paths["files"]:
        meta = _meta(path)
        if meta and meta["kind"] == "file":
            meta["sha256"] = _digest(path)
        out["files"][path] = meta
    for path, marker in paths["blocks"]:
        out["blocks"][path + "\n" + marker] = _block(path, marker)
    return out
'''

# host_files' defaults, which the decision must apply as the module does.
DIR_MODE, FILE_MODE, OWNER = "0755", "0644", "root"

# Facts older than this (or this far ahead, by the host's clock) are not taken as the host's
# state now.
MAX_AGE = 300


def reported_paths(directories=(), files=(), absent=(), blocks=()) -> dict:
    """What the fact of a call with these arguments reports on (not its secret files)."""
    return {"dirs": [item["path"] for item in directories],
            "files": [item["path"] for item in files] + list(absent),
            "blocks": [[item["path"], item["marker"]] for item in blocks]}


def version_of(paths: dict) -> str:
    """Names the program and the paths: a fact written by another version of either (an
    older collection, a call that has grown) never answers for this call."""
    text = REPORT_SOURCE + json.dumps(paths, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fact_script(python: str, paths: dict) -> str:
    """The executable fact for these paths (reported_paths())."""
    literal = json.dumps(json.dumps(paths, sort_keys=True))
    return (f"#!{python}\n# Written by dockhand.docker.host_files (report_fact): reports the "
            f"paths one call manages.\n{REPORT_SOURCE}\n\nprint(json.dumps(report(json.loads("
            f"{literal}), {json.dumps(version_of(paths))})))\n")


def _mode(value) -> str | None:
    try:
        return f"{int(str(value), 8):04o}"
    except ValueError:
        return None


def _name(value) -> str | None:
    """A user or group name as the module resolves it; a number it would refuse."""
    text = OWNER if value is None else str(value)
    return None if not text or text.isdigit() else text


def _same(meta, item: dict, kind: str, default_mode: str) -> bool:
    mode = item.get("mode")
    return (isinstance(meta, dict) and meta.get("kind") == kind
            and meta.get("mode") == _mode(default_mode if mode is None else mode)
            and _name(item.get("owner")) is not None
            and meta.get("owner") == _name(item.get("owner"))
            and _name(item.get("group")) is not None
            and meta.get("group") == _name(item.get("group")))


def is_current(report, directories=(), files=(), absent=(), blocks=(), secret_files=(),
               gathered_at=None, fact_cache="memory", now=None) -> bool:
    """Whether host_files with these arguments would find nothing to change, by the report
    (the fact). Anything the report does not answer counts as a change, and so do: any
    secret file (its digest is not reported); a report written for other paths or by
    another version; facts that may not be this run's own, because a fact cache other than
    memory is configured (`fact_cache`) or they were gathered more than MAX_AGE seconds from
    now (`gathered_at`, the host's date_time.epoch)."""
    if secret_files or not isinstance(report, dict):
        return False
    if str(fact_cache).rpartition(".")[2] != "memory":
        return False
    try:
        age = (time.time() if now is None else now) - float(gathered_at)
    except (TypeError, ValueError):
        return False
    if abs(age) > MAX_AGE:
        return False
    if report.get("version") != version_of(reported_paths(directories, files, absent, blocks)):
        return False
    dirs, have, texts = (report.get(key) or {} for key in ("dirs", "files", "blocks"))
    for item in directories:
        if not _same(dirs.get(item["path"]), item, "directory", DIR_MODE):
            return False
    for item in files:
        meta = have.get(item["path"])
        digest = hashlib.sha256(str(item["content"]).encode("utf-8")).hexdigest()
        if not _same(meta, item, "file", FILE_MODE) or meta.get("sha256") != digest:
            return False
    for path in absent:
        if path not in have or have[path] is not None:
            return False
    for item in blocks:
        seen = texts.get(f"{item['path']}\n{item['marker']}")
        if not isinstance(seen, dict) or not seen.get("canonical"):
            return False
        wanted = item["block"].splitlines() if str(item["block"]).strip() else None
        if seen.get("block") != wanted:
            return False
    return True
