"""Checks on the names a run will write, made when the run is planned, before anything is written.

Output names follow fixed rules (an original keeps its relative path, copy k of ``a/foo.jpg`` is
``a/foo__aug<k>.jpg``, a text dataset's output keeps the input file's name), so two planned outputs can share a
path only when INPUT itself holds names of both kinds, e.g. ``foo.jpg`` and ``foo__aug0.jpg`` (an earlier OUTPUT
copied into INPUT) with ``--include-originals``. Such a run is refused as a whole, with the first clash named:
renaming one of the outputs instead would make a file's output name depend on which other files exist (it never
does today, like its seed), and downstream tools that read ``__aug<k>`` would be misled.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

NAME_MAX = 255  # bytes in one path component on ext4, xfs, btrfs, APFS, NTFS (in UTF-16 units) and S3 keys parts
RESERVED = frozenset({"manifest.jsonl", "errors.jsonl", "run.json"})  # the run's own files at the top of OUTPUT


def name_max(root) -> int:
    """The longest file name (bytes) the folder ``root`` accepts; 255 where it cannot be asked."""
    try:
        return int(os.pathconf(root, "PC_NAME_MAX"))
    except (OSError, ValueError, TypeError, AttributeError):
        return NAME_MAX


def overlong_part(rel: str, limit: int = NAME_MAX) -> str | None:
    """The first component of ``rel`` longer than ``limit`` bytes in UTF-8, or None."""
    for part in rel.split("/"):
        if len(part.encode("utf-8", errors="surrogateescape")) > limit:
            return part
    return None


def reserved_name(rel: str) -> bool:
    """A top-level name that the run's own files use (or a hidden ``.augment*`` name)."""
    return rel in RESERVED or rel.startswith(".augment")


def copy_parts(rel: str) -> tuple[str, int] | None:
    """``("a/foo.jpg", 3)`` for ``"a/foo__aug3.jpg"``: the source and copy whose copy name ``rel`` is, or None."""
    folder, _, name = rel.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:  # no extension ("foo") or a dot-file (".jpg"): the stem is the whole name
        stem, suffix = name, ""
    base, mark, k = stem.rpartition("__aug")
    if not mark or not k.isdigit() or str(int(k)) != k:  # copy names print k without leading zeros
        return None
    source_name = f"{base}.{suffix}" if suffix else base
    return (f"{folder}/{source_name}" if folder else source_name), int(k)


def find_collision(sources: Iterable[str], copies: int, include_originals: bool,
                   copy_name: Callable[[str, int], str]) -> tuple[str, str, str] | None:
    """The first output path that two planned outputs share, as (path, first writer, second writer), or None.

    Copies never share a path with each other (``<stem>__aug<k>`` gives back its stem and k), nor originals with
    each other (distinct sources), so the only clash is an original that is also another source's copy name;
    checked in one pass over the sources (no set of every output name: a run of millions stays small).
    """
    names = sources if isinstance(sources, (set, frozenset)) else set(sources)
    if not include_originals:
        return None
    for rel in sorted(names):
        parts = copy_parts(rel)
        if parts is None:
            continue
        other, k = parts
        if k < copies and other in names and copy_name(other, k) == rel:
            return rel, f"the original {rel}", f"copy {k} of {other}"
    return None


__all__ = ["NAME_MAX", "RESERVED", "name_max", "overlong_part", "reserved_name", "copy_parts", "find_collision"]
