"""Annotated image datasets: detect the format of INPUT, list its items, read and write one item's annotations.

Formats (``augment.io.annotations.{voc,yolo,coco,masks}``): Pascal VOC XML, YOLO text labels, COCO JSON and
semantic mask folders. ``detect`` recognises them by what the files hold, wherever they lie
(``augment.io.annotations.layouts``; ``--format`` forces one, ``classification`` forces class folders); a folder
with none is a plain image folder (classes as sub-folders), handled as before, unless it holds annotation-like
files that such a run would lose (then it is refused).
"""

from __future__ import annotations

from pathlib import Path

from augment.io.annotations import coco, masks, voc, yolo
from augment.io.annotations.base import FORMATS, AnnotationError, Layout, Repairs
from augment.io.annotations.layouts import (AnnotationsFoundError, FormatError, Item,
                                            OutsideRootFormatError, LayoutReport, coco_files,
                                            describe_layout, detect_and_pair, detect_by_content, output_annotation,
                                            pair)
from augment.io.paths import OutsideRootError, read_bytes_within

__all__ = ["FORMATS", "AnnotationError", "AnnotationsFoundError", "FormatError", "Item", "Layout", "LayoutReport",
           "OutsideRootFormatError",
           "Repairs", "describe_layout", "detect", "detect_and_scan", "scan", "find_item", "annotation_path"]

_MODULES = {"voc": voc, "yolo": yolo, "masks": masks}


def detect(root: Path, forced: str | None = None, exclude: Path | None = None) -> Layout | None:
    """The annotation layout of ``root``, or None when it is a plain image folder (or ``forced`` is
    "classification"); FormatError when it is ambiguous, AnnotationsFoundError when class folders would lose
    annotation files."""
    return detect_by_content(Path(root), forced, exclude)


def annotation_path(layout: Layout, image_rel: str, item: Item | None = None) -> str:
    """The annotation file of image ``image_rel`` in OUTPUT terms: beside the item's own (``item``), or for masks
    the mask under ``masks/``."""
    if item is not None and (item.sidecar or item.annotation):
        return output_annotation(item, image_rel)
    return _MODULES[layout.format].annotation_for(layout, image_rel)


class ScanResult(tuple):
    """(items, problems, folders), with ``ignored``: the files that are not data, with why (counted apart)."""

    ignored: list = []


def scan(root: Path, layout: Layout, exclude: Path | None = None) -> ScanResult:
    """Items (image + annotation) in sorted order, per-item problems (path, reason), and the folders to mirror."""
    return _as_scan(pair(Path(root), layout, exclude))


def detect_and_scan(root: Path, forced: str | None = None, exclude: Path | None = None
                    ) -> tuple[Layout | None, ScanResult | None]:
    """``detect`` and ``scan`` from one walk of ``root`` (each annotation file probed, a COCO file parsed, once)."""
    layout, found = detect_and_pair(Path(root), forced, exclude)
    return layout, (_as_scan(found) if found is not None else None)


def _as_scan(found) -> ScanResult:
    result = ScanResult((found.items, found.problems, found.folders))
    result.ignored = found.ignored
    return result


def find_item(root: Path, layout: Layout, image_rel: str) -> Item | None:
    """The item ``scan`` lists for image ``image_rel`` (None: not an item of the dataset)."""
    items, _, _ = scan(root, layout)
    return next((it for it in items if it.image == image_rel), None)


def coco_image_path(root: Path, layout: Layout, entry: dict, json_rel: str | None = None) -> str | None:
    from augment.io.annotations.layouts import coco_image_path as _path

    return _path(Path(root), json_rel or layout.coco_json, entry)


def read_item(root: Path, layout: Layout, item: Item, hw: tuple[int, int]):
    """(Targets, Repairs, annotation source bytes or None) of one item; AnnotationError for a bad one."""
    if layout.format == "coco":
        targets, repairs = coco.read(item.payload, layout, hw, item.image)
        return targets, repairs, None
    data = None
    if item.annotation is not None:
        try:
            data = read_bytes_within(root, item.annotation)
        except OutsideRootError:
            raise AnnotationError(f"{item.annotation}: resolves outside INPUT (a symlink leaving it); not read") \
                from None
        except OSError as exc:
            raise AnnotationError(f"{item.annotation}: cannot read ({exc.strerror or exc})") from None
    targets, repairs = _MODULES[layout.format].read(data, layout, hw, item.annotation or item.image)
    return targets, repairs, data


def encode_item(layout: Layout, targets, out_image_rel: str, hw: tuple[int, int], source: bytes | None,
                coco_entry: dict | None = None, item: Item | None = None):
    """(annotation output path, bytes) for file formats; for COCO (None, entries dict). ``item``: the source item,
    whose annotation file's folder and name the output's follows (an image without one gets an empty one)."""
    if layout.format == "coco":
        return None, coco.entries(targets, out_image_rel, hw, coco_entry or {})
    rel = annotation_path(layout, out_image_rel, item)
    if layout.format == "voc":
        return rel, voc.encode(source, targets, out_image_rel, hw)
    if layout.format == "yolo":
        return rel, yolo.encode(targets, hw, layout.kpt_shape)
    return rel, masks.encode(targets, source)
