"""Atomic file writes: a reader (or a resumed run) sees a whole file or none."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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


def remove_stale_temporaries(root: Path) -> int:
    """Delete temporaries a killed run left behind; returns how many."""
    removed = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(TMP_MARK):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed
