# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit watch rules (auditctl's ``-w PATH -p PERMS -k KEY``): rendering them for the paths
a host has, and reading a rules file back with auditctl's own syntax rules, so that a file
can be checked where it cannot be loaded (a container sharing its host's kernel).

Standard library only.
"""

from __future__ import annotations

import re

PERMISSIONS = "rwxa"
# auditctl(8): a key "can be up to 31 bytes long"; dockhand keeps to a plain word.
KEY = re.compile(r"[A-Za-z0-9_-]{1,31}")
# The kernel takes paths up to PATH_MAX; a watch on a path with blanks or quotes cannot be
# written in a rules file at all (augenrules splits on blanks).
PATH = re.compile(r"/[^\s'\"\\]*")


class RuleError(ValueError):
    """A watch or a line that auditctl would refuse; the message names it."""


def check_watch(watch: dict) -> None:
    path, perms, key = watch.get("path", ""), watch.get("permissions", ""), watch.get("key", "")
    if not PATH.fullmatch(path or "") or "//" in path or len(path) > 4095:
        raise RuleError(f"{path!r}: an audit watch needs an absolute path without blanks or "
                        "quotes")
    if perms and (set(perms) - set(PERMISSIONS) or len(set(perms)) != len(perms)):
        raise RuleError(f"{path}: permissions {perms!r} must be letters of {PERMISSIONS!r}, "
                        "each once")
    try:
        check_key(key)
    except RuleError as exc:
        raise RuleError(f"{path}: {exc}") from None


def check_key(key: str) -> None:
    if not KEY.fullmatch(key or ""):
        raise RuleError(f"key {key!r} must be 1 to 31 letters, digits, _ or -")


def watch_line(watch: dict) -> str:
    perms = f" -p {watch['permissions']}" if watch.get("permissions") else ""
    return f"-w {watch['path']}{perms} -k {watch['key']}"


def render(watches: list[dict], resolve, header: str) -> tuple[str, list[str], list[str]]:
    """The rules file for the watches whose path is on the host, in the order given.

    ``resolve(path)`` is the path with its symlinks resolved, or None when it is not there:
    the kernel watches an inode by the path written, and a watch on a path that is not
    there fails the whole load. A path reached twice (/lib and /usr/lib on a merged-usr
    system) is watched once, with the first watch's permissions.

    Returns the text, the paths watched and the paths left out."""
    lines, watched, absent = [], [], []
    for watch in watches:
        check_watch(watch)  # before resolve() reads the path on the host
        real = resolve(watch["path"])
        if real is None:
            absent.append(watch["path"])
        elif real not in watched:
            lines.append(watch_line({**watch, "path": real}))
            watched.append(real)
    body = "".join(f"{line}\n" for line in lines)
    return "".join(f"# {h}\n" if h else "#\n" for h in header.splitlines()) + body, watched, absent


def parse(text: str) -> list[dict]:
    """The watches of a rules file, each line checked as auditctl reads it: a comment, a
    blank line, or ``-w PATH`` with at most one ``-p`` and one ``-k``. Raises RuleError
    naming the first line it would refuse (dockhand writes no other kind of rule here)."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] != "-w" or len(words) % 2:
            raise RuleError(f"line {number}: {line!r} is not a watch (-w PATH [-p PERMS] "
                            "[-k KEY])")
        options = {}
        for flag, value in zip(words[0::2], words[1::2]):
            if flag not in ("-w", "-p", "-k") or flag in options:
                raise RuleError(f"line {number}: {line!r}: {flag} is not allowed here, or twice")
            options[flag] = value
        watch = {"path": options["-w"], "permissions": options.get("-p", ""),
                 "key": options.get("-k", "")}
        try:
            check_watch(watch)
        except RuleError as exc:
            raise RuleError(f"line {number}: {exc}") from None
        rules.append(watch)
    return rules


def listed(auditctl_output: str) -> set[str]:
    """The watched paths in ``auditctl -l``'s answer, which prints a loaded watch as
    ``-w PATH -p PERMS -k KEY`` (or, for a directory, ``-a always,exit -F dir=PATH ...``)."""
    paths = set()
    for line in auditctl_output.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] == "-w":
            paths.add(words[1])
        for word in words:
            if word.startswith(("dir=", "path=")):
                paths.add(word.split("=", 1)[1])
    return paths
