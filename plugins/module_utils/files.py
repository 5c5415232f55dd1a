# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on a host: reading one that may be absent, atomic replacement, and managed blocks
in shared files.

Standard library only; used by docker_daemon_config, host_files, host_state and pki.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile


def atomic_write(path: str, content: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` so readers see the old or the new file, never a partial one."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    directory = os.path.dirname(os.path.abspath(path))
    # Same directory, so os.replace is a rename within one filesystem and therefore atomic.
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Without this the rename itself may not survive a crash.
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_in_place(path: str, content: str | bytes) -> None:
    """For files that cannot be replaced by a rename (a bind-mounted /etc/hosts in a
    container answers EBUSY): truncate and write, as Ansible's unsafe_writes does."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(path, "r+b") as handle:
        handle.seek(0)
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())


def replace_file(path: str, content: str | bytes, mode: int) -> None:
    try:
        atomic_write(path, content, mode)
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.EXDEV) or not os.path.exists(path):
            raise
        write_in_place(path, content)


def with_block(text: str, marker: str, block: str) -> str:
    """``text`` with the lines between ``# BEGIN marker`` and ``# END marker`` replaced by
    ``block`` (appended when there are none; removed with their markers when block is empty)."""
    begin, end = f"# BEGIN {marker}", f"# END {marker}"
    lines = text.splitlines()
    try:
        start = lines.index(begin)
        stop = lines.index(end, start)
    except ValueError:
        start = stop = None
    body = [begin, *block.splitlines(), end] if block.strip() else []
    kept = lines + body if start is None else lines[:start] + body + lines[stop + 1:]
    return "\n".join(kept) + ("\n" if kept else "")


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when there is no such file."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        return handle.read()
    return None


def read_text(path: str) -> str | None:
    """The file's text (newlines as Python's text mode reads them), or None when absent."""
    with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as handle:
        return handle.read()
    return None
