"""Datasets under the data roots: naming, confinement, listing and sampling.

A dataset is addressed as ``ROOT/relative/path`` where ROOT is the name of a ``--data-root``. Every path a client
names is checked with the io confinement helpers: no absolute paths, no ``..``, and nothing whose real path (after
symlinks) leaves its root. Image folders are read with the same scanner as ``augment run``, text files with the
same reader, so the studio shows the items a run would process, under the names that key their seeds.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from augment.io.annotations import FormatError, Layout, OutsideRootFormatError, describe_layout, detect
from augment.io.image_folder import scan_image_folder
from augment.io.images import IMAGE_EXTENSIONS
from augment.io.paths import OutsideRootError, UnsafePathError, is_within, open_within, safe_relative
from augment.io.text_formats import EXTENSIONS as TEXT_EXTENSIONS
from augment.io.text_formats import RowError, TextFormatError, detect_format, read_text_dataset

MAX_TEXT_ROWS_SAMPLED = 100_000  # rows read to pick text samples from; later rows are not offered
NOT_UTF8 = "file or folder names that are not valid UTF-8 (rename them to use them here)"


def is_utf8(name: str) -> bool:
    """Whether a name read from the file system (undecodable bytes as surrogates) can be sent as JSON text."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class DatasetError(ValueError):
    """A dataset reference that cannot be used; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def resolve(roots: dict[str, Path], ref: str, must_exist: bool = True) -> Path:
    """``"samples/digits"`` -> the folder, confined to the root named ``samples``."""
    if not isinstance(ref, str) or not ref:
        raise DatasetError("a dataset is named ROOT/path (see GET /v1/datasets)")
    name, _, rel = ref.strip("/").partition("/")
    root = roots.get(name)
    if root is None:
        known = ", ".join(sorted(roots)) or "none configured (start the server with --data-root)"
        raise DatasetError(f"unknown data root {name!r}; roots: {known}", 404)
    try:
        target = root.joinpath(*safe_relative(rel).parts) if rel else root
    except UnsafePathError as exc:
        raise DatasetError(f"{ref}: {exc}", 403) from None
    if not is_within(target, root):
        raise DatasetError(f"{ref}: resolves outside the data root {name!r} (symlinks leaving a root are refused)", 403)
    if must_exist and not target.exists():
        raise DatasetError(f"{ref}: no such file or folder", 404)
    return target


def modality_of(path: Path) -> str:
    if path.is_dir():
        return "image"
    if path.suffix.lower() in TEXT_EXTENSIONS:
        return "text"
    raise DatasetError(f"{path.name}: not a dataset (an image folder or a {', '.join(sorted(TEXT_EXTENSIONS))} file)")


def list_datasets(roots: dict[str, Path], max_depth: int = 4, limit: int = 500,
                  skipped: list[str] | None = None) -> list[dict]:
    """Image folders (images in them or in their class sub-folders) and text files under each root. Entries
    whose names are not UTF-8 cannot be named by a client: they are left out (and appended to ``skipped``)."""
    found: list[dict] = []
    skipped = skipped if skipped is not None else []

    def has_images(folder: Path) -> bool:
        try:
            with os.scandir(folder) as it:
                return any(e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS for e in it)
        except OSError:
            return False

    def walk(name: str, root: Path, folder: Path, depth: int) -> None:
        if len(found) >= limit or not is_within(folder, root):
            return
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        skipped.extend(e.path for e in entries if not is_utf8(e.name))
        entries = [e for e in entries if is_utf8(e.name)]
        rel = folder.relative_to(root).as_posix()
        ref = name if rel == "." else f"{name}/{rel}"
        subdirs = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
        layout = annotated(folder, entries)
        if layout == "refused":  # its annotations lead out of the root: not offered
            return
        if layout is not None:  # VOC, YOLO, COCO, mask folders: the dataset is the folder holding images/ & co
            found.append({"dataset": ref, "modality": "image", "annotations": layout.format,
                          "layout": layout_summary(folder)})
            return
        if has_images(folder) or (subdirs and all(has_images(d) for d in subdirs)):
            found.append({"dataset": ref, "modality": "image", "layout": layout_summary(folder)})
            return
        for e in entries:
            if e.is_file(follow_symlinks=False) and os.path.splitext(e.name)[1].lower() in TEXT_EXTENSIONS \
                    and not e.name.startswith("."):
                found.append({"dataset": f"{ref}/{e.name}", "modality": "text"})
        if depth < max_depth:
            for d in subdirs:
                walk(name, root, d, depth + 1)

    def annotated(folder: Path, entries):
        names = {e.name.lower() for e in entries}
        # detection (by what the files hold, as `augment run` does) only where a dataset can be
        if not names & {"images", "jpegimages", "labels", "annotations"} and \
                not any(os.path.splitext(n)[1] in _ANNOTATION_SUFFIXES for n in names) and \
                not has_images(folder) and not any(has_images(Path(e.path)) for e in entries
                                                   if e.is_dir(follow_symlinks=False)):
            return None
        try:
            layout = layout_of(folder)
            if layout is not None:
                check_confined(folder, layout)
        except DatasetError:
            return "refused"
        return layout

    for name, root in sorted(roots.items()):
        walk(name, root, root, 0)
    return found[:limit]


def _spread(count: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``count`` sorted items (so every class of a sorted folder shows up)."""
    if count <= n:
        return list(range(count))
    return [int(i * count / n) for i in range(n)]


def sample_images(folder: Path, n: int) -> tuple[list[str], int, int]:
    """(names spread over the folder, how many images, how many left out for names that are not UTF-8)."""
    scan = scan_image_folder(folder)
    images = [name for name in scan.images if is_utf8(name)]
    return [images[i] for i in _spread(len(images), n)], len(images), len(scan.images) - len(images)


_LAYOUTS: dict[str, tuple[int, Layout | str | None]] = {}
_REPORTS: dict[str, tuple[int, dict]] = {}
_LOCK = threading.Lock()
_ANNOTATION_SUFFIXES = (".xml", ".txt", ".json", ".yaml", ".yml", ".names")
MAX_LISTED_IGNORED = 20


def layout_summary(folder: Path) -> dict:
    """What ``augment run --dry-run`` reports for the folder (``augment.io.annotations.describe_layout``): format,
    images, annotated images, objects per class, the files a run ignores (the first 20, with why, and how many)
    and the per-item problems it would log (how many). Cached while the folder's mtime stays the same."""
    key = str(folder)
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return {"error": "unreadable"}
    with _LOCK:
        hit = _REPORTS.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    report = describe_layout(folder).as_dict()
    summary = {k: report[k] for k in ("format", "images", "annotated_images", "unannotated_images", "objects",
                                      "objects_per_class", "annotation_files", "error")}
    summary.update(ignored=report["ignored"][:MAX_LISTED_IGNORED], ignored_count=len(report["ignored"]),
                   problems_count=len(report["problems"]))
    with _LOCK:
        if len(_REPORTS) > 256:
            _REPORTS.clear()
        _REPORTS[key] = (stamp, summary)
    return summary


def layout_of(folder: Path) -> Layout | None:
    """The annotation layout of a dataset folder (None: a plain image folder), as ``augment run`` detects it.
    Cached while the folder's modification time stays the same (COCO detection reads its JSON)."""
    key = str(folder)
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return None
    with _LOCK:
        hit = _LAYOUTS.get(key)
    if hit is not None and hit[0] == stamp:
        layout = hit[1]
    else:
        layout = _detect(folder)
        with _LOCK:
            if len(_LAYOUTS) > 256:
                _LAYOUTS.clear()
            _LAYOUTS[key] = (stamp, layout)
    if isinstance(layout, str):  # its layout files lead out of the root: refused, never read
        raise DatasetError(f"{layout}: resolves outside its dataset (symlinks leaving it are refused)", 403)
    return layout


def _detect(folder: Path) -> Layout | str | None:
    try:
        return detect(folder)
    except OutsideRootFormatError as exc:
        return exc.rel  # named relative to the dataset: the server's paths are not shown
    except FormatError:
        return None  # several formats at once: `augment run` needs --format; shown as a plain folder


def check_confined(folder: Path, layout: Layout) -> None:
    """Refuse a dataset whose layout files (the COCO JSON, YOLO's data.yaml) are symlinks leaving it: the service
    reads only what lies under its data roots (``augment run`` trusts its local user; a client is not one)."""
    from augment.io.annotations.layouts import coco_files

    for rel in (*(coco_files(layout) if layout.format == "coco" else ()), *layout.extra_files):
        if rel and not is_within(folder / rel, folder):
            raise DatasetError(f"{rel}: resolves outside its dataset (symlinks leaving it are refused)", 403)


_ITEMS: dict[tuple[str, str], tuple[tuple, list, dict]] = {}


def _stamp(folder: Path, layout: Layout, folders) -> tuple:
    """What changes when the items of a dataset can: its folders' entries (a file added, removed or renamed) and
    its layout files (a COCO JSON edited in place). Annotation files are read per request, so their edits count."""
    from augment.io.annotations.layouts import coco_files

    stamp = []
    for rel in ("", *folders, *(coco_files(layout) if layout.format == "coco" else ()), *layout.extra_files):
        try:
            stamp.append(os.stat(folder / rel if rel else folder).st_mtime_ns)
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def dataset_items(folder: Path, layout: Layout) -> tuple[list, dict]:
    """(items in order, items by image) of an annotated dataset, as ``augment run`` pairs them: scanned once and
    kept while no folder of the dataset and no layout file changed (a request for one image does not walk the
    whole dataset again)."""
    from augment.io.annotations import scan

    key = (str(folder), repr(layout))
    with _LOCK:
        hit = _ITEMS.get(key)
    if hit is not None and hit[0] == _stamp(folder, layout, hit[3]):
        return hit[1], hit[2]
    items, _, folders = scan(folder, layout)
    folders = sorted(set(folders) | {it.image.rpartition("/")[0] for it in items} - {""})
    stamp = _stamp(folder, layout, folders)  # taken after the scan: a change during it is seen next time
    by_image = {it.image: it for it in items}
    with _LOCK:
        if len(_ITEMS) > 64:
            _ITEMS.clear()
        _ITEMS[key] = (stamp, items, by_image, folders)
    return items, by_image


def sample_annotated(folder: Path, layout, n: int) -> tuple[list[str], int, int]:
    """Images of an annotated dataset (the items ``augment run`` would process), spread over it; as
    ``sample_images``."""
    items, _ = dataset_items(folder, layout)
    images = [it.image for it in items if is_utf8(it.image)]
    return [images[i] for i in _spread(len(images), n)], len(images), len(items) - len(images)


def text_format(path: Path):
    try:
        return detect_format(path)
    except TextFormatError as exc:
        raise DatasetError(f"{path.name}: {exc}", 422) from None


def sample_texts(path: Path, n: int) -> tuple[list[dict], int]:
    rows = []
    for item in read_text_dataset(path, text_format(path)):
        if not isinstance(item, RowError):
            rows.append(item)
            if len(rows) >= MAX_TEXT_ROWS_SAMPLED:
                break
    picked = [rows[i] for i in _spread(len(rows), n)]
    return [{"row": r.index, "text": r.text, "label": r.label} for r in picked], len(rows)


def count_text_rows(path: Path) -> int:
    return sum(1 for item in read_text_dataset(path, text_format(path)) if not isinstance(item, RowError))


def read_text_row(path: Path, row: int) -> str:
    for item in read_text_dataset(path, text_format(path)):
        if not isinstance(item, RowError) and item.index == row:
            return item.text
        if item.index > row:
            break
    raise DatasetError(f"{path.name}: no readable row {row}", 404)


def read_image_file(folder: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of image ``name`` (relative to ``folder``), confined to the folder."""
    try:
        safe_relative(name)
    except UnsafePathError as exc:
        raise DatasetError(f"{name}: {exc}", 403) from None
    if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
        raise DatasetError(f"{name}: not an image file", 400)
    try:
        with open_within(folder, name) as fh:  # the real path, inside the dataset: no symlink leaves it
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise DatasetError(f"{name}: {size} bytes, over the limit of {max_bytes}", 413)
            return fh.read()
    except OutsideRootError:
        raise DatasetError(f"{name}: resolves outside its dataset (symlinks leaving it are refused)", 403) from None
    except FileNotFoundError:
        raise DatasetError(f"{name}: no such image", 404) from None
    except IsADirectoryError:
        raise DatasetError(f"{name}: is a folder", 400) from None
    except OSError as exc:
        raise DatasetError(f"{name}: cannot read: {exc.strerror or exc}", 403) from None


__all__ = [
    "MAX_TEXT_ROWS_SAMPLED",
    "NOT_UTF8",
    "is_utf8",
    "DatasetError",
    "resolve",
    "modality_of",
    "list_datasets",
    "sample_images",
    "sample_annotated",
    "layout_of",
    "layout_summary",
    "check_confined",
    "dataset_items",
    "text_format",
    "sample_texts",
    "count_text_rows",
    "read_text_row",
    "read_image_file",
]
