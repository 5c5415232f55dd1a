# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on a host: reading one that may be absent, atomic replacement, and managed blocks
in shared files.

Standard library only; every module that writes a file writes it with atomic_write, and
the controller's PKI does too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def atomic_write(path: str, content: str | bytes, mode: int = 0o644, module=None,
                 unsafe_writes: bool = False) -> None:
    """Replace ``path`` so readers see the old or the new file, never a partial one, and a
    crash leaves one of the two on disk (file and directory are fsynced).

    With ``module`` (every module passes its own) the file is moved into place by
    ``module.atomic_move``, which keeps an existing file's owner and SELinux context and
    gives a new one the default context; ``unsafe_writes`` lets it rewrite in place a file
    that cannot be renamed over, such as a bind-mounted /etc/hosts in a container. Without
    a module (the controller's PKI files) it is a plain rename.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    directory = os.path.dirname(os.path.abspath(path))
    # Same directory, so the rename stays within one filesystem and is atomic.
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if module is None or not os.path.exists(path):
            os.replace(tmp, path)
            if module is not None:
                module.set_default_selinux_context(path, False)
        else:
            # atomic_move gives the new file the old one's mode: set the wanted mode first,
            # so new content (a key) is never readable under an older, looser one.
            os.chmod(path, mode)
            module.atomic_move(tmp, path, unsafe_writes=unsafe_writes)
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
