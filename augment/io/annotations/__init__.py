"""Annotated image datasets: detect the format of INPUT, list its items, read and write one item's annotations.

Formats (``augment.io.annotations.{voc,yolo,coco,masks}``): Pascal VOC XML, YOLO text labels, COCO JSON and
semantic mask folders. ``detect`` looks at the layout of INPUT (``--format`` forces one); a folder that matches
none is a plain image folder (classes as sub-folders), handled as before.
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

import yaml

from augment.io.annotations import coco, masks, voc, yolo
from augment.io.annotations.base import FORMATS, AnnotationError, Layout, Repairs
from augment.io.image_folder import scan_image_folder
from augment.io.images import IMAGE_EXTENSIONS
from augment.io.paths import OutsideRootError, read_bytes_within, read_text_within, resolve_within

__all__ = ["FORMATS", "AnnotationError", "Item", "Layout", "Repairs", "detect", "scan", "annotation_path"]

_MODULES = {"voc": voc, "yolo": yolo, "masks": masks}


class FormatError(ValueError):
    """INPUT is not a dataset of the forced or detected format; one line for the user."""


class OutsideRootFormatError(FormatError):
    """A layout file (COCO JSON, data.yaml) resolves outside INPUT: never read (the service answers 403)."""

    def __init__(self, rel: str) -> None:
        super().__init__(f"{rel}: resolves outside INPUT (a symlink leaving it); copy the file into INPUT")
        self.rel = rel


@dataclass(frozen=True)
class Item:
    image: str  # relative POSIX path of the image under INPUT
    annotation: str | None  # relative path of its annotation file (None: COCO, or a YOLO background image)
    payload: dict | None = None  # COCO: {"image": entry, "annotations": [...]}


def _has(folder: Path, suffix: str) -> bool:
    try:
        return folder.is_dir() and any(p.suffix.lower() == suffix for p in folder.rglob("*"))
    except OSError:
        return False


def _first_dir(root: Path, *names: str) -> str | None:
    for name in names:
        if (root / name).is_dir():
            return name
    return None


def _coco_files(root: Path) -> list[str]:
    found = []
    for folder in (root, root / "annotations"):
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.json")):
            try:
                if p.stat().st_size > 2 * 2**30:
                    continue
                head = read_bytes_within(root, p.relative_to(root))
            except OutsideRootError:
                raise OutsideRootFormatError(p.relative_to(root).as_posix()) from None
            except OSError:
                continue
            if b'"images"' in head and b'"annotations"' in head:
                found.append(p.relative_to(root).as_posix())
    return found


def _yolo_fields(root: Path) -> dict:
    """The Layout fields a YOLO ``data.yaml`` gives: class names, the file to copy, and the pose shape."""
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        path = root / name
        if path.is_file():
            try:
                data = yaml.safe_load(read_text_within(root, name))
            except OutsideRootError:
                raise OutsideRootFormatError(name) from None
            except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
                raise FormatError(f"{name}: unreadable ({str(exc).splitlines()[0]})") from None
            try:
                pose = yolo.read_pose_fields(data or {}, name)
            except AnnotationError as exc:
                raise FormatError(str(exc)) from None
            return {"class_names": yolo.read_class_names(data or {}), "extra_files": (name,), **pose}
    return {}


def detect(root: Path, forced: str | None = None) -> Layout | None:
    """The annotation layout of ``root``, or None when it is a plain image folder (and no format is forced)."""
    found: dict[str, Layout] = {}
    ann_dir = _first_dir(root, "Annotations", "annotations")
    img_dir = _first_dir(root, "JPEGImages", "images")
    if ann_dir and img_dir and _has(root / ann_dir, ".xml"):
        found["voc"] = Layout("voc", img_dir, ann_dir)
    if _first_dir(root, "masks") and _first_dir(root, "images"):
        found["masks"] = Layout("masks", "images", "masks")
    label_dirs = [p for p in [root / "labels", *root.glob("*/labels")] if p.is_dir()]
    if label_dirs and any(_has(p, ".txt") for p in label_dirs):
        found["yolo"] = Layout("yolo", "", "labels", **_yolo_fields(root))
    coco_files = _coco_files(root)
    if coco_files:
        if len(coco_files) > 1 and (forced == "coco" or not found):
            raise FormatError(f"INPUT holds several COCO files ({', '.join(coco_files)}); give one split per run")
        if len(coco_files) == 1:
            found["coco"] = _coco_layout(root, coco_files[0])
    if forced:
        if forced not in found:
            raise FormatError(f"INPUT {root} is not a {forced} dataset ({_expected(forced)})")
        return found[forced]
    if len(found) > 1:
        raise FormatError(f"INPUT {root} looks like several formats ({', '.join(sorted(found))}); choose one with --format")
    return next(iter(found.values()), None)


def _expected(fmt: str) -> str:
    return {
        "voc": "expected images/ or JPEGImages/ with annotations/ or Annotations/ holding .xml files",
        "yolo": "expected images/ and labels/ holding .txt files",
        "coco": "expected one COCO .json (with images and annotations) at the top or in annotations/",
        "masks": "expected images/ and masks/",
    }[fmt]


def _coco_layout(root: Path, rel: str) -> Layout:
    try:
        doc = coco.load_index(read_bytes_within(root, rel), rel)
    except OutsideRootError:
        raise OutsideRootFormatError(rel) from None
    except AnnotationError as exc:
        raise FormatError(str(exc)) from None
    cats = doc.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, dict) and "id" in c for c in cats):
        raise FormatError(f"{rel}: 'categories' must be a list of objects with an id")
    images = "images" if (root / "images").is_dir() else ""
    return Layout("coco", images, "", coco_json=rel, class_names=tuple(str(c.get("name")) for c in cats),
                  categories=tuple(cats))


def annotation_path(layout: Layout, image_rel: str) -> str:
    return _MODULES[layout.format].annotation_for(layout, image_rel)


def scan(root: Path, layout: Layout, exclude: Path | None = None) -> tuple[list[Item], list[tuple[str, str]], list[str]]:
    """Items (image + annotation) in sorted order, per-item problems (path, reason), and the folders to mirror."""
    if layout.format == "coco":
        return _scan_coco(root, layout, exclude)
    base = root / layout.images if layout.images else root
    listing = scan_image_folder(base, exclude=exclude)
    prefix = (layout.images + "/") if layout.images else ""
    items, problems, folders = [], [], [prefix.rstrip("/")] if prefix else []
    folders += [prefix + f for f in listing.folders]
    referenced = set()
    for rel, reason in listing.problems:
        full = prefix + rel
        if layout.format == "yolo" and ("/labels/" in f"/{full}" or full in layout.extra_files):
            continue  # label files and data.yaml live beside the images in a YOLO tree
        problems.append((full, reason))
    for rel in listing.images:
        image = prefix + rel
        if layout.format == "yolo" and "images" not in image.split("/")[:-1]:
            problems.append((image, "image outside an images/ folder; YOLO labels cannot be found for it"))
            continue
        ann = annotation_path(layout, image)
        referenced.add(ann)
        if not (root / ann).is_file():
            if layout.format == "yolo":
                items.append(Item(image, None))  # a background image (YOLO convention)
                continue
            problems.append((image, f"no annotation file {ann}"))
            continue
        items.append(Item(image, ann))
    suffix = {"voc": ".xml", "yolo": ".txt", "masks": ".png"}[layout.format]
    ann_roots = [layout.annotations] if layout.format != "yolo" else sorted(
        p.relative_to(root).as_posix() for p in [root / "labels", *root.glob("*/labels")] if p.is_dir())
    for ann_root in ann_roots:
        for dirpath, _, files in os.walk(root / ann_root):
            for name in sorted(files):
                rel = Path(dirpath, name).relative_to(root).as_posix()
                if name.lower().endswith(suffix) and rel not in referenced and not name.startswith("."):
                    problems.append((rel, "annotation without an image"))
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            folders.append(rel_dir)
    return sorted(items, key=lambda it: it.image), sorted(problems), sorted(set(folders))


def _scan_coco(root: Path, layout: Layout, exclude) -> tuple[list[Item], list[tuple[str, str]], list[str]]:
    doc = coco.load_index(read_bytes_within(root, layout.coco_json), layout.coco_json)
    problems: list[tuple[str, str]] = []
    by_id: dict = {}
    for entry in doc["images"]:
        if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("file_name"), str):
            problems.append((layout.coco_json, f"image entry without id or file_name: {json.dumps(entry)[:80]}"))
            continue
        by_id[entry["id"]] = entry
    anns: dict = {k: [] for k in by_id}
    for ann in doc["annotations"]:
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if image_id not in anns:
            problems.append((f"{layout.coco_json}#annotation-{ann.get('id') if isinstance(ann, dict) else '?'}",
                             f"annotation for image_id {image_id!r}, which is not in images"))
            continue
        anns[image_id].append(ann)
    items, seen = [], set()
    for image_id, entry in by_id.items():
        rel = coco_image_path(root, layout, entry)
        if rel is None:
            problems.append((str(entry["file_name"]), "file_name leaves INPUT; skipped"))
            continue
        path = root / rel
        if posixpath.splitext(rel)[1].lower() not in IMAGE_EXTENSIONS:
            problems.append((rel, "not an image file; skipped"))
            continue
        try:  # compared by path components: /data/cc does not contain /data/cc2/x
            resolve_within(root, rel)
        except OutsideRootError:
            problems.append((rel, "resolves outside INPUT (a symlink leaving it); skipped"))
            continue
        if not path.is_file():
            problems.append((rel, f"image {image_id} of {layout.coco_json} is missing"))
            continue
        if rel in seen:
            problems.append((rel, "listed twice in the COCO file; second entry skipped"))
            continue
        seen.add(rel)
        items.append(Item(rel, None, {"image": entry, "annotations": anns[image_id]}))
    folders = sorted({posixpath.dirname(it.image) for it in items if posixpath.dirname(it.image)})
    return sorted(items, key=lambda it: it.image), sorted(problems), folders


def coco_image_path(root: Path, layout: Layout, entry: dict) -> str | None:
    """Where a COCO image entry's file is, relative to INPUT: under the images folder, or as written when
    ``file_name`` already starts with it; None when it would leave INPUT."""
    name = posixpath.normpath(str(entry.get("file_name", "")).replace("\\", "/"))
    if name.startswith("../") or name.startswith("/") or name in ("..", "."):
        return None
    if layout.images and not (root / layout.images / name).is_file() and (root / name).is_file():
        return name
    return posixpath.join(layout.images, name) if layout.images else name


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
                coco_entry: dict | None = None):
    """(annotation output path, bytes) for file formats; for COCO (None, entries dict)."""
    if layout.format == "coco":
        return None, coco.entries(targets, out_image_rel, hw, coco_entry or {})
    rel = annotation_path(layout, out_image_rel)
    if layout.format == "voc":
        return rel, voc.encode(source, targets, out_image_rel, hw)
    if layout.format == "yolo":
        return rel, yolo.encode(targets, hw, layout.kpt_shape)
    return rel, masks.encode(targets, source)
