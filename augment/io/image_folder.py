"""Finding the images of an input folder (ImageFolder layout, nested folders, or flat).

The walk is sorted, never follows directory symlinks (no loops), and reports instead of raising: a file symlink
that points outside INPUT, an unsupported file, an unreadable folder each become a per-item problem. The output
folder is excluded when it lies inside the input.

Hidden entries are skipped and only counted (``FolderScan.hidden``), never reported as problems: dot-files and
dot-folders (``.DS_Store``, ``._IMG.jpg`` AppleDouble files, ``.git``, a file named ``..jpg``) and the junk
other systems leave (``Thumbs.db``, ``desktop.ini``, ``__MACOSX``). A sub-folder holding both ``manifest.jsonl``
and ``run.json`` is an earlier augment OUTPUT: it is skipped whole (``FolderScan.earlier_outputs``), not read
as a class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from augment.io.images import IMAGE_EXTENSIONS
from augment.io.paths import is_within

__all__ = ["FolderScan", "non_data_reason", "scan_image_folder"]


@dataclass
class FolderScan:
    images: list[str] = field(default_factory=list)  # relative POSIX paths, sorted
    folders: list[str] = field(default_factory=list)  # every sub-folder, so empty classes are mirrored too
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    hidden: int = 0  # hidden files and folders skipped (dot-files, Thumbs.db, desktop.ini, ...)
    earlier_outputs: list[str] = field(default_factory=list)  # sub-folders holding an earlier augment OUTPUT
    ignored: list[tuple[str, str]] = field(default_factory=list)  # well-known non-data files (README, LICENSE...)
    files: list[str] = field(default_factory=list)  # every regular file that is not an image (sorted walk order)


JUNK_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", "icon\r", "__macosx",
                        "$recycle.bin", "system volume information"})


NON_DATA_STEMS = frozenset({"readme", "license", "licence", "copying", "notice", "changelog", "changes", "authors",
                            "contributors", "citation", "history", "credits", "acknowledgements"})
NON_DATA_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt", ".cff", ".bib", ".html", ".htm", ".pdf"})


def non_data_reason(name: str) -> str | None:
    """Why a file that is not an image is no data (None: it may be data). README*, LICENSE*, COPYING, NOTICE,
    CITATION... and notes (``*.md``, ``*.txt``, ``*.rst``) are skipped and counted apart, never errors. (A text file
    that is a YOLO label beside its image is found by the annotation formats before this is asked.)"""
    lower = name.lower()
    stem, ext = os.path.splitext(lower)
    if stem.split(".")[0].split("-")[0].split("_")[0] in NON_DATA_STEMS or lower in NON_DATA_STEMS:
        return "documentation or licence file, not data"
    if ext in NON_DATA_SUFFIXES:
        return f"notes ({ext}), not data"
    return None


def is_hidden(name: str) -> bool:
    """Dot-files and dot-folders, and the files operating systems drop into folders (case-insensitive)."""
    return name.startswith(".") or name.lower() in JUNK_NAMES


def is_augment_output(folder: Path) -> bool:
    return (folder / "manifest.jsonl").is_file() and (folder / "run.json").is_file()


def scan_image_folder(root: Path, exclude: Path | None = None) -> FolderScan:
    scan = FolderScan()
    real_root = os.path.realpath(root)

    def walk(folder: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            scan.problems.append((rel or ".", "folder not readable: permission denied"))
            return
        except OSError as exc:
            scan.problems.append((rel or ".", f"folder not readable: {exc.strerror or exc}"))
            return
        for entry in entries:
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            path = Path(entry.path)
            if exclude is not None and is_within(path, exclude):
                continue
            if is_hidden(entry.name):
                scan.hidden += 1
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(path)
                    if not os.path.exists(target):
                        scan.problems.append((child_rel, "broken or looping symlink"))
                        continue
                    if os.path.commonpath([target, real_root]) != real_root:
                        scan.problems.append((child_rel, "symlink points outside INPUT; skipped"))
                        continue
                    if os.path.isdir(target):
                        scan.problems.append((child_rel, "symlink to a folder; not followed"))
                        continue
                elif entry.is_dir(follow_symlinks=False):
                    if is_augment_output(path):
                        scan.earlier_outputs.append(child_rel)
                        continue
                    scan.folders.append(child_rel)
                    walk(path, child_rel)
                    continue
                elif not entry.is_file(follow_symlinks=False):
                    scan.problems.append((child_rel, "not a regular file"))
                    continue
            except OSError as exc:
                scan.problems.append((child_rel, f"cannot inspect: {exc.strerror or exc}"))
                continue
            ext = os.path.splitext(entry.name)[1].lower()
            if ext in IMAGE_EXTENSIONS:
                scan.images.append(child_rel)
                continue
            scan.files.append(child_rel)
            why = non_data_reason(entry.name)
            if why is not None:
                scan.ignored.append((child_rel, why))
            else:
                scan.problems.append((child_rel, f"not an image file (extension {ext or 'none'!r}); skipped"))

    walk(root, "")
    return scan
