"""Atomic file writes: a reader (or a resumed run) sees a whole file or none."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from augment.io.lock import pid_alive

__all__ = ["TMP_MARK", "atomic_write_bytes", "remove_stale_temporaries"]

TMP_MARK = ".augment-tmp"


# The temporary's token: unique within this process (the pid in the name makes it unique across processes).
# A counter, not random bytes: it costs nothing, and O_EXCL still refuses a leftover of a dead process that had
# the same pid (the next number is then tried).
_TOKENS = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = False) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``: a reader sees the old file,
    the whole new one, or none; never a part.

    ``fsync``: the data reaches the disk before the rename, and the rename itself (the folder's entry) after
    it, so the file survives a power loss or a kernel crash once this returns. Without it a crash can leave
    the file empty or missing, never partial, and a resumed run redoes what its manifest does not list.
    """
    path = os.fspath(path)
    folder, sep, name = path.rpartition(os.sep)
    prefix = f"{folder}{sep}.{name[:80]}.{os.getpid()}."
    while True:
        tmp = f"{prefix}{next(_TOKENS):x}{TMP_MARK}"
        try:
            fd = os.open(tmp, _CREATE, 0o666)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if fsync:
            _fsync_folder(folder or ".")
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX: the entry lives in the folder); not possible on Windows."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # pragma: no cover - Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_owner(name: str) -> int | None:
    """The pid written into a temporary's name (``.<name>.<pid>.<token>.augment-tmp``), or None."""
    if not name.endswith(TMP_MARK):
        return None
    parts = name[: -len(TMP_MARK)].rsplit(".", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def remove_stale_temporaries(root: Path, alive=pid_alive) -> int:
    """Delete temporaries whose writer is dead (a killed run or worker); returns how many.

    A temporary names its writer's pid: one whose process still lives on this host (an orphaned worker of a
    killed run may still be writing it) is left alone, so clean-up can never pull a file from under a writer.
    """
    removed = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not name.endswith(TMP_MARK):
                continue
            owner = temporary_owner(name)
            if owner is not None and alive(owner):
                continue
            try:
                os.unlink(os.path.join(dirpath, name))
                removed += 1
            except FileNotFoundError:
                pass  # its writer renamed or removed it meanwhile
    return removed
