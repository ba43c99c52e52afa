"""Confinement: every path written is inside OUTPUT, whatever the input names contain."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["UnsafePathError", "safe_relative", "confined", "is_within"]


class UnsafePathError(ValueError):
    pass


def safe_relative(rel: str) -> PurePosixPath:
    """Check a relative POSIX path taken from input data (file names, class folders, labels)."""
    if "\x00" in rel:
        raise UnsafePathError("path contains a NUL byte")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("\\") or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePathError(f"absolute path {rel!r} not allowed")
    if any(part in ("..", "") for part in pure.parts) or not pure.parts:
        raise UnsafePathError(f"path {rel!r} leaves its folder")
    return pure


def confined(root: Path, rel: str) -> Path:
    """``root / rel``, refusing anything that would resolve outside ``root`` (including through symlinks)."""
    target = root.joinpath(*safe_relative(rel).parts)
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(target.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise UnsafePathError(f"path {rel!r} resolves outside the output folder")
    return target


def is_within(child: Path, parent: Path) -> bool:
    child_r, parent_r = os.path.realpath(child), os.path.realpath(parent)
    return os.path.commonpath([child_r, parent_r]) == parent_r
