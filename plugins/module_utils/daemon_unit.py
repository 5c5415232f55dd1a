# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker service's systemd unit: its files in the order systemd applies them, the
effective ExecStart split as systemd splits it, the dockerd flags in it (a pflag-style
parser), and the drop-in that removes flags daemon.json also sets. Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ansible_collections.dockhand.docker.plugins.module_utils.daemon_options import (
    FLAG_TO_KEY,
    MERGED_WITH_FLAGS,
    is_bool_flag,
    is_known_flag,
)

UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "lib/systemd/system",
             "usr/lib/systemd/system")


def find_unit_files(unit: str, roots) -> list[str]:
    """The unit's fragment followed by its drop-ins in the order systemd applies them.

    Empty when no fragment exists. A drop-in file name seen in an earlier directory hides the
    same name in later ones, as systemd does.
    """
    dirs = [os.path.join(root, d) for root in roots for d in UNIT_DIRS]
    fragment = next((os.path.join(d, unit) for d in dirs
                     if os.path.lexists(os.path.join(d, unit))
                     and not os.path.isdir(os.path.join(d, unit))), None)
    if fragment is None:
        return []
    dropins: dict[str, str] = {}
    for d in dirs:
        dropin_dir = os.path.join(d, unit + ".d")
        try:
            names = os.listdir(dropin_dir)
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf") and name not in dropins:
                dropins[name] = os.path.join(dropin_dir, name)
    return [fragment] + [dropins[name] for name in sorted(dropins)]


def _unit_assignments(text: str):
    """Yield (section, key, value) from unit file text, joining backslash continuations."""
    section = None
    pending = None

    def assignment(line):
        nonlocal section
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            return None
        key, sep, value = line.partition("=")
        return (section, key.strip(), value.strip()) if sep else None

    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped[:1] in ("#", ";") or (pending is None and not stripped):
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            pending = (pending or "") + line[:-1] + " "
            continue
        if pending is not None:
            line, pending = pending + line, None
        item = assignment(line)
        if item:
            yield item
    if pending is not None:
        item = assignment(pending)
        if item:
            yield item


def _execstart(text: str, current: str | None) -> str | None:
    for section, key, value in _unit_assignments(text):
        if section == "Service" and key == "ExecStart":
            # An empty assignment clears the list; otherwise the last one is what runs for
            # dockerd's Type=notify (systemd refuses several there anyway).
            current = value or None
    return current


def split_command(value: str) -> list[str]:
    """Split an ExecStart value into words, keeping each word exactly as written."""
    words, current, quote, in_word = [], [], None, False
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            in_word = True
            i += 2
            continue
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
            if char in "\"'":
                quote = char
        i += 1
    if in_word:
        words.append("".join(current))
    return words


def _unquote(word: str) -> str:
    out, quote, i = [], None, 0
    while i < len(word):
        char = word[i]
        if char == "\\" and i + 1 < len(word):
            nxt = word[i + 1]
            out.append(nxt if nxt in "\\\"' " else word[i:i + 2])
            i += 2
            continue
        if quote and char == quote:
            quote = None
        elif not quote and char in "\"'":
            quote = char
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _quote(text: str) -> str:
    if text and not any(c.isspace() or c in "\"'\\;" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def effective_execstart(unit_texts, ignore_paths=()) -> list[str]:
    """The dockerd command line systemd would run, as words spelled as in the unit file.

    ``unit_texts`` is [(path, text)] in application order (fragment, then drop-ins). Files in
    ``ignore_paths`` are skipped so that dockhand's own drop-in does not hide the vendor line.
    Words keep their quoting and ``$VAR``/``${VAR}`` references, so they can be written back
    unchanged; environment variables are not expanded.
    """
    ignored = {os.path.realpath(p) for p in ignore_paths}
    command = None
    for path, text in unit_texts:
        if os.path.realpath(path) not in ignored:
            command = _execstart(text, command)
    return split_command(command) if command else []


def overriding_dropins(unit_texts, own_path: str) -> list[str]:
    """Drop-ins that sort after ``own_path`` and set ExecStart, so they would win over it."""
    own_name, own_real = os.path.basename(own_path), os.path.realpath(own_path)
    return [path for path, text in unit_texts[1:]
            if os.path.basename(path) > own_name and os.path.realpath(path) != own_real
            and any(s == "Service" and k == "ExecStart" for s, k, _v in _unit_assignments(text))]


@dataclass
class _Arg:
    words: list[str]
    # (flag as spelled, value or None, raw word the value came from when it was separate)
    flags: list[tuple[str, str | None, str | None]]
    combined: bool = False


def _skip_exec_prefix(words: list[str]) -> int:
    """Index of the first real argument, past systemd's '@-:+!' executable prefixes."""
    if not words:
        return 0
    prefix = words[0][: len(words[0]) - len(words[0].lstrip("@-:+!"))]
    # With '@' the next word is argv[0] rather than an argument.
    return 2 if "@" in prefix else 1


def _takes_next(flag: str, following: str | None) -> bool:
    if following is None:
        return False
    if is_known_flag(flag):
        return True
    # Unknown flag: guess from the next word, so a bool flag we do not know cannot swallow
    # the next flag and hide a conflict.
    return not _unquote(following).startswith("-")


def _parse_argv(argv: list[str]) -> list[_Arg]:
    args, i = [], _skip_exec_prefix(argv)
    while i < len(argv):
        raw = argv[i]
        word = _unquote(raw)
        following = argv[i + 1] if i + 1 < len(argv) else None
        if word == "--":
            args.extend(_Arg([w], []) for w in argv[i:])
            break
        if word.startswith("--") and len(word) > 2:
            name, sep, value = word.partition("=")
            if sep or is_bool_flag(name) or not _takes_next(name, following):
                args.append(_Arg([raw], [(name, value if sep else None, None)]))
                i += 1
            else:
                args.append(_Arg([raw, following], [(name, _unquote(following), following)]))
                i += 2
            continue
        if word.startswith("-") and len(word) > 1:
            arg = _parse_shorthands(raw, word, following)
            args.append(arg)
            i += len(arg.words)
            continue
        args.append(_Arg([raw], []))
        i += 1
    return args


def _parse_shorthands(raw: str, word: str, following: str | None) -> _Arg:
    """pflag shorthands: -D, -Hvalue, -H=value, -H value, and stacked ones such as -DH x."""
    flags, words, j = [], [raw], 1
    while j < len(word):
        flag = "-" + word[j]
        rest = word[j + 1:]
        if is_bool_flag(flag):
            if rest.startswith("="):
                flags.append((flag, rest[1:], None))
                break
            flags.append((flag, None, None))
            j += 1
            continue
        rest = rest[1:] if rest.startswith("=") else rest
        if rest:
            flags.append((flag, rest, None))
        elif _takes_next(flag, following):
            flags.append((flag, _unquote(following), following))
            words.append(following)
        else:
            flags.append((flag, None, None))
        break
    return _Arg(words, flags, combined=len(flags) > 1)


def _config_keys(config: dict) -> set[str]:
    keys = set(config)
    if isinstance(config.get("proxies"), dict):
        keys |= {f"proxies.{k}" for k in config["proxies"]}
    return keys


def conflicts(argv: list[str], config: dict) -> list[tuple[str, str]]:
    """(flag, key) for each flag on the command line that daemon.json also sets."""
    keys = _config_keys(config)
    found = []
    for arg in _parse_argv(argv):
        for flag, _value, _attached in arg.flags:
            key = FLAG_TO_KEY.get(flag)
            if key in keys and key not in MERGED_WITH_FLAGS and (flag, key) not in found:
                found.append((flag, key))
    return found


def config_file_flag(argv: list[str]) -> str | None:
    """The --config-file the command line passes, if any (dockerd then ignores daemon.json)."""
    value = None
    for arg in _parse_argv(argv):
        for flag, flag_value, _dummy in arg.flags:
            if flag == "--config-file":
                value = flag_value
    return value


def _kept_words(arg: _Arg, dropped: set[str]) -> list[str]:
    kept = [f for f in arg.flags if f[0] not in dropped]
    if len(kept) == len(arg.flags):
        return arg.words
    if not arg.combined:
        return []
    words = []
    for flag, value, value_word in kept:
        if value is None:
            words.append(flag)
        elif value_word is not None:
            words += [flag, value_word]
        else:
            words.append(flag + _quote(value))
    return words


def dropin_content(argv: list[str], conflicting) -> str | None:
    """A drop-in that reruns ``argv`` without the conflicting flags; None when none conflict."""
    if not conflicting:
        return None
    dropped = {flag for flag, _dummy in conflicting}
    start = _skip_exec_prefix(argv)
    words = list(argv[:start])
    for arg in _parse_argv(argv):
        words += _kept_words(arg, dropped)
    reasons = ", ".join(f"{flag} ({key})" for flag, key in conflicting)
    return (
        "# Managed by dockhand (dockhand.docker.docker_daemon_config); edits are overwritten.\n"
        "# dockerd refuses to start when an option is set both as a flag and in daemon.json,\n"
        f"# so this repeats the unit's command line without the flags daemon.json now sets:\n"
        f"# {reasons}\n"
        "[Service]\n"
        "ExecStart=\n"
        f"ExecStart={' '.join(words)}\n"
    )
