"""Atomic file writes: a reader (or a resumed run) sees a whole file or none."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from augment.io.lock import pid_alive

__all__ = ["TMP_MARK", "atomic_write_bytes", "remove_stale_temporaries"]

TMP_MARK = ".augment-tmp"


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = False) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``."""
    tmp = path.with_name(f".{path.name[:80]}.{os.getpid()}.{secrets.token_hex(4)}{TMP_MARK}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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
