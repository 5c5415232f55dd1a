# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read named local facts (facts.d) with one POSIX shell command instead of a Python module.

A module costs each host a Python start and the import of Ansible's module library (about a
fifth of a core-second on a small host); a play that only needs a few of the host's own
local facts pays that on every host before its first change. The command built here runs
the named facts as setup would (an executable fact is run, another one is read) and prints
each between marker lines that carry a random token, so a fact's own output cannot end or
forge another's. The controller parses the output the way setup parses local facts: JSON,
else INI, else an error string in the fact's place.
"""

from __future__ import annotations

import configparser
import json
import re
import secrets
import shlex

NAME = re.compile(r"^[A-Za-z0-9_]+$")
DEFAULT_FACT_PATH = "/etc/ansible/facts.d"


class LocalFactsError(ValueError):
    """An argument the command cannot be built from."""


def command(names: list[str], fact_path: str = DEFAULT_FACT_PATH,
            token: str | None = None) -> tuple[str, str]:
    """(token, shell command) that prints each named fact and the host's epoch."""
    bad = [name for name in names if not NAME.match(str(name))]
    if bad:
        raise LocalFactsError(
            f"names: {', '.join(map(repr, bad))} cannot name a fact file (<name>.fact): use "
            "letters, digits and underscores only")
    if not str(fact_path).startswith("/"):
        raise LocalFactsError(f"fact_path: {fact_path!r} is not an absolute path")
    token = token or f"dockhand-local-facts-{secrets.token_hex(8)}"
    parts = [f"d={shlex.quote(str(fact_path))}"]
    for name in names:
        # A missing fact prints no section, as setup leaves it out of ansible_local.
        parts.append(
            f'f="$d/{name}.fact"; if [ -f "$f" ]; then printf "\\n{token} begin {name}\\n"; '
            f'if [ -x "$f" ]; then "$f" 2>/dev/null; else cat "$f"; fi; '
            f'printf "\\n{token} end {name} %s\\n" "$?"; fi')
    parts.append(f'printf "{token} epoch %s\\n" "$(date +%s)"')
    return token, "; ".join(parts)


def _loaded(text: str):
    """A fact's value as setup makes it: JSON, else INI sections, else None."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return {section: dict(parser.items(section)) for section in parser.sections()}


def parse(output: str, token: str) -> tuple[dict, str | None]:
    """({name: value}, epoch) from the command's output; a fact that failed or does not
    parse gets an error string in its place, as setup gives it."""
    facts: dict = {}
    epoch = None
    name, body = None, []
    for line in output.splitlines():
        if not line.startswith(token + " "):
            if name is not None:
                body.append(line)
            continue
        kind, _sep, rest = line[len(token) + 1:].partition(" ")
        if kind == "begin":
            name, body = rest, []
        elif kind == "end" and name is not None:
            fact, _sep, rc = rest.partition(" ")
            if rc != "0":
                facts[fact] = f"error loading fact - {fact}.fact exited with {rc}"
            else:
                value = _loaded("\n".join(body).strip())
                facts[fact] = value if value is not None else (
                    f"error loading fact - please check content of {fact}.fact")
            name, body = None, []
        elif kind == "epoch":
            epoch = rest.strip() or None
    return facts, epoch
