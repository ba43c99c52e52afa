"""Fingerprints of source files, so that a resumed run notices a source that changed since its outputs were made.

A fingerprint is ``{"size", "mtime_ns", "sha256"}``. Images are fingerprinted by the worker from the bytes it
actually read (the hash costs little next to decoding), and the fingerprint travels in each manifest record;
a text dataset is one file, hashed whole by the main process and recorded in ``run.json``.

On resume a source is unchanged when its size and mtime_ns match the record (no read at all); when only the
mtime moved (``touch``, a copy that did not keep times) the file is hashed and compared, so a touched file is
not redone. Like make and rsync, a change that keeps both the size and the mtime_ns is not noticed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

HASH_BLOCK = 1 << 20


def fingerprint_of(data: bytes, st: os.stat_result) -> dict:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": hashlib.sha256(data).hexdigest()}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: Path) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}


def compare(path: Path, recorded: dict | None) -> tuple[str, dict | None]:
    """``("same" | "touched" | "changed", current fingerprint or None)`` of the file at ``path`` against the
    recorded fingerprint. "touched": another mtime, the same bytes (the caller may record the new mtime). A record
    without a fingerprint (an OUTPUT of a version that kept none) is trusted, as before: "same"."""
    if not isinstance(recorded, dict) or "size" not in recorded:
        return "same", None
    try:
        st = os.stat(path)
    except OSError:
        return "changed", None
    if st.st_size != recorded.get("size"):
        return "changed", None
    if st.st_mtime_ns == recorded.get("mtime_ns"):
        return "same", recorded
    try:
        digest = file_sha256(path)
    except OSError:
        return "changed", None
    if digest != recorded.get("sha256"):
        return "changed", None
    return "touched", {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}


def has_changed(path: Path, recorded: dict | None) -> bool:
    """Whether the file at ``path`` differs from the recorded fingerprint in content."""
    return compare(path, recorded)[0] == "changed"


__all__ = ["HASH_BLOCK", "fingerprint_of", "file_sha256", "file_fingerprint", "compare", "has_changed"]
