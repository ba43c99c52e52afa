"""Confinement: every path written is inside OUTPUT, and every path read is inside its data root (INPUT for the
CLI, a data root for the service), whatever the input names, symlinks or annotation files contain.

Readers never open a file themselves: they ask ``resolve_within`` / ``open_within`` / ``read_bytes_within`` with
the root they are confined to. Paths are compared by components of their real paths (symlinks resolved), never as
string prefixes, so ``/data/cc`` does not contain ``/data/cc2/x``."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["UnsafePathError", "OutsideRootError", "safe_relative", "confined", "is_within", "resolve_within",
           "resolve_within_any", "open_within", "read_bytes_within", "read_text_within"]


class UnsafePathError(ValueError):
    pass


class OutsideRootError(UnsafePathError):
    """A read that would leave its root (through ``..``, an absolute path or a symlink)."""


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


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or os.path.commonpath([real, real_root]) == real_root


def resolve_within(root: str | os.PathLike, path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """The real path of ``path`` (absolute, or relative to ``base``, by default ``root``), refused with
    ``OutsideRootError`` unless it lies inside ``root``'s real path. A relative path with ``..`` is refused even
    when it would come back inside: input data has no business naming its way around a folder."""
    raw = os.fspath(path)
    if "\x00" in raw:
        raise OutsideRootError("path contains a NUL byte")
    if not os.path.isabs(raw) and any(part == ".." for part in Path(raw).parts):
        raise OutsideRootError(f"path {raw!r} leaves its folder ('..')")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(os.fspath(root if base is None else base), raw))
    if not _inside(real, real_root):
        raise OutsideRootError(f"{raw!r} resolves outside {os.fspath(root)!r}")
    return Path(real)


def resolve_within_any(roots, path: str | os.PathLike) -> Path:
    """``resolve_within`` for a service with several data roots: the real path of ``path`` (absolute) when it
    lies inside one of ``roots``; ``OutsideRootError`` otherwise."""
    for root in roots:
        try:
            return resolve_within(root, path)
        except OutsideRootError:
            continue
    raise OutsideRootError(f"{os.fspath(path)!r} resolves outside the data roots")


def open_within(root: str | os.PathLike, path: str | os.PathLike, mode: str = "rb", **kwargs):
    """``open`` for reading, confined to ``root`` (see ``resolve_within``)."""
    if any(c in mode for c in "wax+"):
        raise ValueError("open_within is for reading; writes go through confined() and the output store")
    return open(resolve_within(root, path), mode, **kwargs)


def read_bytes_within(root: str | os.PathLike, path: str | os.PathLike, base: str | os.PathLike | None = None
                      ) -> bytes:
    with open(resolve_within(root, path, base), "rb") as fh:
        return fh.read()


def read_text_within(root: str | os.PathLike, path: str | os.PathLike, encoding: str = "utf-8",
                     errors: str = "strict") -> str:
    with open_within(root, path, "r", encoding=encoding, errors=errors) as fh:
        return fh.read()
