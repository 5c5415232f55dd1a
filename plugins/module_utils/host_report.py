# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What lets the controller tell from the facts it gathers anyway that a host_files call
would change nothing, and skip the round trip: host_files leaves an executable local fact
that reports, at every fact gathering, the mode, owner and content digest of the paths the
call manages (and the whole text of the files it keeps blocks in). The report is read live
on the host, so a file changed by hand since the last run is seen, and the call made."""

from __future__ import annotations

import hashlib
import json
import time

from ansible_collections.dockhand.docker.plugins.module_utils.files import with_block

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
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    kind = ("directory" if stat.S_ISDIR(st.st_mode)
            else "file" if stat.S_ISREG(st.st_mode) else "other")
    return {"kind": kind, "mode": "%04o" % stat.S_IMODE(st.st_mode), "owner": owner,
            "group": group}


def report(paths):
    out = {"dirs": {}, "files": {}, "texts": {}}
    for path in paths.get("dirs", []):
        out["dirs"][path] = _meta(path)
    for path in paths.get("files", []):
        meta = _meta(path)
        if meta and meta["kind"] == "file":
            with open(path, "rb") as handle:
                meta["sha256"] = hashlib.sha256(handle.read()).hexdigest()
        out["files"][path] = meta
    for path in paths.get("texts", []):
        try:
            with open(path, encoding="utf-8") as handle:
                out["texts"][path] = handle.read()
        except (FileNotFoundError, UnicodeDecodeError):
            out["texts"][path] = None
    return out
'''


# Facts older than this (or this far ahead, by the host's clock) are not taken as the host's
# state now.
MAX_AGE = 300


def fact_script(python: str, paths: dict) -> str:
    """The executable fact for these paths ({dirs, files, texts}: lists of paths)."""
    literal = json.dumps(json.dumps(paths, sort_keys=True))
    return (f"#!{python}\n# Written by dockhand.docker.host_files (report_fact): reports the "
            f"paths one call manages.\n{REPORT_SOURCE}\n\nprint(json.dumps(report(json.loads("
            f"{literal}))))\n")


def _mode(text) -> str | None:
    try:
        return f"{int(str(text), 8):04o}"
    except ValueError:
        return None


def _same(meta, item: dict, kind: str, default_mode: str) -> bool:
    return (isinstance(meta, dict) and meta.get("kind") == kind
            and meta.get("mode") == _mode(item.get("mode") or default_mode)
            and meta.get("owner") == (item.get("owner") or "root")
            and meta.get("group") == (item.get("group") or "root"))


def is_current(report, directories=(), files=(), absent=(), blocks=(), secret_files=(),
               gathered_at=None, now=None) -> bool:
    """Whether host_files with these arguments would find nothing to change, by the report
    (the fact). Anything the report does not answer counts as a change, and so does any
    secret file (its digest is not reported), and so does a report whose facts were not
    gathered within MAX_AGE seconds of now (`gathered_at`, the host's date_time.epoch): a
    fact cache can hand a play facts from an earlier run."""
    if secret_files or not isinstance(report, dict):
        return False
    try:
        age = (time.time() if now is None else now) - float(gathered_at)
    except (TypeError, ValueError):
        return False
    if abs(age) > MAX_AGE:
        return False
    dirs, have, texts = (report.get(key) or {} for key in ("dirs", "files", "texts"))
    for item in directories:
        if not _same(dirs.get(item["path"]), item, "directory", "0755"):
            return False
    for item in files:
        meta = have.get(item["path"])
        digest = hashlib.sha256(str(item["content"]).encode("utf-8")).hexdigest()
        if not _same(meta, item, "file", "0644") or meta.get("sha256") != digest:
            return False
    for path in absent:
        if path not in have or have[path] is not None:
            return False
    for item in blocks:
        text = texts.get(item["path"])
        if not isinstance(text, str) or with_block(text, item["marker"], item["block"]) != text:
            return False
    return True
