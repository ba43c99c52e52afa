"""Annotated images in the service: boxes, labels, polygons, keypoints and masks as JSON, moved with the image
exactly as ``augment run`` moves them on an annotated dataset.

The JSON shape is the library's (``pipeline(image, boxes=..., labels=..., ...)``, see ``augment.compile.annotated``)
with arrays as lists: ``boxes`` ``[[x_min, y_min, x_max, y_max], ...]`` in pixels (pixel i covers [i, i+1)),
``labels``, ``polygons`` (per object a list of parts, each ``[[x, y], ...]``), ``keypoints`` (per object
``[[x, y], ...]`` or ``[[x, y, visibility], ...]``), ``keypoint_names``, ``masks`` (one base64 PNG of class indices
for the whole image, or a list of base64 PNGs, one instance mask per object) and ``ignore_index``.

An image of an annotated dataset (VOC, YOLO, COCO, mask folders; detected as ``augment run`` detects them) is read
with its annotation file by the readers the run uses, and each copy is made as the run's unit of work makes it
(``augment.run.annotated_job``): the seed from the image's path under the dataset and the copy index, no redraw of
unchanged copies, partners of mosaic / copy-paste picked from the dataset. Its outputs therefore carry the bytes of
the image and of the annotation file that the run writes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augment.compile.targets import Targets, mask_box
from augment.io.annotations import AnnotationError, Item, Layout, annotation_path, encode_item, read_item
from augment.io.annotations.base import Repairs, clip_box
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.paths import is_within, read_bytes_within
from augment.seeding import derive_seed
from augment.serve.datasets import DatasetError, check_confined, dataset_items, read_image_file
from augment.serve.items import MEDIA_TYPES, ItemError, check_pixels

KEYS = ("boxes", "labels", "polygons", "keypoints", "keypoint_names", "masks", "ignore_index")


@dataclass(frozen=True)
class AnnotatedImage:
    name: str  # the seed key: the image's path relative to the dataset folder
    data: bytes
    annotations: dict | None = None  # uploaded JSON annotations (None: read from the dataset)
    folder: Path | None = None  # the annotated dataset the image belongs to
    layout: Layout | None = None


# -- datasets ----------------------------------------------------------------------------------------------------

def dataset_item(folder: Path, layout: Layout, name: str) -> Item:
    """The item ``scan`` lists for image ``name`` (its annotation file, or its COCO entry)."""
    check_confined(folder, layout)  # the COCO files, data.yaml: never read when they lead out of the dataset
    item = dataset_items(folder, layout)[1].get(name)  # paired by content, as `augment run` pairs it
    if item is None:
        raise ItemError(f"{name} is not an image of this {layout.format} dataset")
    ann = item.annotation
    if ann is not None and os.path.lexists(folder / ann) and not is_within(folder / ann, folder):
        raise DatasetError(f"{ann}: resolves outside its dataset (symlinks leaving it are refused)", 403)
    return item


def read_dataset_targets(folder: Path, layout: Layout, name: str, hw: tuple[int, int], with_item: bool = False):
    """(Targets, repairs, annotation file bytes, COCO image entry) of a dataset image, read as the run reads it
    (and the item itself with ``with_item``)."""
    item = dataset_item(folder, layout, name)
    try:
        targets, repairs, ann_bytes = read_item(folder, layout, item, hw)
    except AnnotationError as exc:
        raise ItemError(str(exc)) from None
    found = targets, repairs, ann_bytes, (item.payload or {}).get("image")
    return (*found, item) if with_item else found


# -- JSON <-> Targets --------------------------------------------------------------------------------------------


def _b64_png(value: Any, where: str, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not isinstance(value, str):
        raise ItemError(f"{where}: a base64 PNG")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        with Image.open(io.BytesIO(base64.b64decode(value, validate=True))) as img:
            if img.size[0] * img.size[1] > hw[0] * hw[1]:
                raise ItemError(f"{where}: mask is {img.size[0]}x{img.size[1]}, its image {hw[1]}x{hw[0]}")
            if img.mode not in ("P", "L", "1"):
                raise ItemError(f"{where}: a palette or gray PNG of class indices, got mode {img.mode}")
            arr = np.asarray(img.convert("L") if img.mode == "1" else img, dtype=np.uint8)
    except Image.DecompressionBombError:  # PIL refuses the header itself: never decoded
        raise ItemError(f"{where}: mask declares too many pixels (possible decompression bomb); its image is "
                        f"{hw[1]}x{hw[0]}") from None
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError, SyntaxError) as exc:
        if isinstance(exc, ItemError):
            raise
        raise ItemError(f"{where}: not a base64 PNG ({str(exc).splitlines()[0] if str(exc) else 'unreadable'})") \
            from None
    if arr.shape != tuple(hw):
        raise ItemError(f"{where}: mask is {arr.shape[1]}x{arr.shape[0]}, its image {hw[1]}x{hw[0]}")
    return arr


def _numbers(value: Any, where: str, shape_hint: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ItemError(f"{where}: expected {shape_hint}") from None
    if arr.dtype == object or not np.isfinite(arr).all():
        raise ItemError(f"{where}: expected {shape_hint} of finite numbers")
    return arr


def targets_from_json(ann: Any, hw: tuple[int, int], where: str) -> tuple[Targets, Repairs]:
    """Uploaded annotations -> Targets; every problem is one line naming its key (``items[0].annotations.boxes[2]``)."""
    if not isinstance(ann, dict):
        raise ItemError(f"{where}: an object with keys {', '.join(KEYS)}")
    unknown = sorted(set(ann) - set(KEYS))
    if unknown:
        raise ItemError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(KEYS)}")
    h, w = hw
    repairs = Repairs()
    semantic, instance = None, None
    masks = ann.get("masks")
    if isinstance(masks, str):
        semantic = _b64_png(masks, f"{where}.masks", hw)
    elif isinstance(masks, list):
        instance = np.stack([_b64_png(m, f"{where}.masks[{i}]", hw) for i, m in enumerate(masks)]) if masks \
            else np.zeros((0, h, w), np.uint8)
    elif masks is not None:
        raise ItemError(f"{where}.masks: one base64 PNG of class indices, or a list of instance mask PNGs")
    polygons = None
    if ann.get("polygons") is not None:
        if not isinstance(ann["polygons"], list):
            raise ItemError(f"{where}.polygons: per object a list of parts, each [[x, y], ...]")
        polygons = []
        for i, parts in enumerate(ann["polygons"]):
            if not isinstance(parts, list):
                raise ItemError(f"{where}.polygons[{i}]: a list of parts, each [[x, y], ...]")
            polys = []
            for j, part in enumerate(parts):
                arr = _numbers(part, f"{where}.polygons[{i}][{j}]", "[[x, y], ...]")
                if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 3:
                    raise ItemError(f"{where}.polygons[{i}][{j}]: at least 3 points [[x, y], ...]")
                polys.append(np.clip(arr, 0, [w, h]))
            polygons.append(polys)
    counts = {k: len(ann[k]) for k in ("boxes", "labels", "polygons", "keypoints") if isinstance(ann.get(k), list)}
    if instance is not None:
        counts["masks"] = len(instance)
    if len(set(counts.values())) > 1:
        raise ItemError(f"{where}: the per-object lists differ in length ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    n = next(iter(counts.values()), 0)
    if ann.get("boxes") is not None:
        raw = ann["boxes"]
        if not isinstance(raw, list):
            raise ItemError(f"{where}.boxes: a list of [x_min, y_min, x_max, y_max]")
        boxes = []
        for i, box in enumerate(raw):
            arr = _numbers(box, f"{where}.boxes[{i}]", "[x_min, y_min, x_max, y_max]")
            if arr.shape != (4,):
                raise ItemError(f"{where}.boxes[{i}]: expected [x_min, y_min, x_max, y_max]")
            try:
                boxes.append(clip_box([float(v) for v in arr], w, h, repairs, f"{where}.boxes[{i}]"))
            except AnnotationError as exc:
                raise ItemError(str(exc)) from None
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    elif polygons is not None:
        boxes = np.array([[*np.concatenate(p).min(0), *np.concatenate(p).max(0)] if p else [0, 0, 0, 0]
                          for p in polygons], dtype=np.float64).reshape(-1, 4)
    elif instance is not None:
        boxes = np.array([mask_box(m) if m.any() else [0, 0, 0, 0] for m in instance], dtype=np.float64).reshape(-1, 4)
    else:
        boxes = np.array([[0, 0, w, h]] * n, dtype=np.float64).reshape(-1, 4)
    labels = ann.get("labels")
    if labels is None:
        labels = [None] * n
    elif not isinstance(labels, list) or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in labels):
        raise ItemError(f"{where}.labels: a list of class names or ids")
    keypoints = None
    if ann.get("keypoints") is not None:
        keypoints = _numbers(ann["keypoints"], f"{where}.keypoints", "per object [[x, y(, visibility)], ...]")
        if keypoints.ndim != 3 or keypoints.shape[2] not in (2, 3):
            raise ItemError(f"{where}.keypoints: per object the same number of [x, y] or [x, y, visibility] points")
    names = ann.get("keypoint_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(x, str) for x in names)):
        raise ItemError(f"{where}.keypoint_names: a list of names")
    ignore = ann.get("ignore_index", 255)
    if not isinstance(ignore, int) or isinstance(ignore, bool) or not 0 <= ignore <= 255:
        raise ItemError(f"{where}.ignore_index: an integer from 0 to 255")
    try:
        targets = Targets(boxes=boxes, labels=labels, polygons=polygons, masks=instance, keypoints=keypoints,
                          keypoint_names=tuple(names) if names else None, semantic=semantic,
                          ignore_index=ignore if semantic is not None else None)
    except ValueError as exc:
        raise ItemError(f"{where}: {exc}") from None
    return targets, repairs


def _png_b64(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), mode="L").save(buf, "PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _label(x):
    return x.item() if hasattr(x, "item") else x


def targets_to_json(targets: Targets) -> dict:
    """The JSON shape ``targets_from_json`` reads (boxes in pixels; masks as base64 PNGs)."""
    out: dict = {"boxes": [[float(v) for v in box] for box in targets.boxes],
                 "labels": [_label(x) for x in targets.labels]}
    if targets.polygons is not None and any(len(p) for p in targets.polygons):
        out["polygons"] = [[[[float(x), float(y)] for x, y in part] for part in parts] for parts in targets.polygons]
    if targets.keypoints is not None:
        out["keypoints"] = [[[float(v) for v in point] for point in obj] for obj in targets.keypoints]
        if targets.keypoint_names:
            out["keypoint_names"] = list(targets.keypoint_names)
    if targets.semantic is not None:
        out["masks"] = _png_b64(targets.semantic)
        out["ignore_index"] = int(targets.ignore_index if targets.ignore_index is not None else 255)
    elif targets.masks is not None:
        out["masks"] = [_png_b64(m * 255) for m in targets.masks]
    return out


# -- augmenting --------------------------------------------------------------------------------------------------


def augment_annotated(pipe, item: AnnotatedImage, copies: list[int], quality: int, max_pixels: int,
                      where: str) -> tuple[dict, list[dict]]:
    """(the source's annotations as JSON, the outputs per copy): image bytes, moved annotations, what the box rules
    did (``objects``), and for a dataset image the annotation file ``augment run`` writes beside the copy."""
    check_pixels(item.data, max_pixels)
    try:
        pipe.check_moves_annotations()
    except ValueError as exc:
        raise ItemError(str(exc)) from None
    try:
        image, info = decode_image(item.data)
    except ImageReadError as exc:
        raise ItemError(str(exc)) from None
    hw = image.shape[:2]
    ann_bytes, entry, partners, source_item = None, None, None, None
    if item.annotations is not None:
        targets, repairs = targets_from_json(item.annotations, hw, f"{where}.annotations")
    else:
        targets, repairs, ann_bytes, entry, source_item = read_dataset_targets(item.folder, item.layout, item.name,
                                                                               hw, with_item=True)
        from augment.run.partners import DatasetPartners

        partners = DatasetPartners(str(item.folder), item.layout.to_dict(), item.name)
    fmt = output_format(item.name, info)
    outputs = []
    for copy in copies:
        seed = derive_seed(pipe.spec.seed, item.name, copy)
        try:  # as the run's unit of work: one draw per copy (annotated runs do not redraw unchanged copies)
            out, moved, applied, report = pipe.run_targets(image, targets, seed=seed, partners=partners)
        except Exception as exc:  # an op failing on this item, as errors.jsonl would record it
            outputs.append({"copy": copy, "seed": seed, "error": f"augmentation failed: {type(exc).__name__}: {exc}"})
            continue
        encoded = encode_image(out, fmt, quality)
        result = {"copy": copy, "seed": seed, "ops": applied, "media_type": MEDIA_TYPES.get(fmt, "application/octet-stream"),
                  "sha256": hashlib.sha256(encoded).hexdigest(), "image": base64.b64encode(encoded).decode("ascii"),
                  "width": int(out.shape[1]), "height": int(out.shape[0]), "annotations": targets_to_json(moved),
                  "objects": report.as_dict()}
        if item.layout is not None and item.annotations is None:
            from augment.run.annotated_job import output_name

            rel, ann = encode_item(item.layout, moved, output_name(item.name, copy), out.shape[:2], ann_bytes, entry,
                                   source_item)
            if isinstance(ann, dict):  # COCO: the entries the run's one JSON is assembled from
                result["annotation_file"] = {"format": "coco", "coco": ann}
            elif ann is not None:
                result["annotation_file"] = {"format": item.layout.format, "path": rel,
                                             "sha256": hashlib.sha256(ann).hexdigest(),
                                             "data": base64.b64encode(ann).decode("ascii")}
        outputs.append(result)
    source = {"width": int(hw[1]), "height": int(hw[0]), "annotations": targets_to_json(targets),
              "format": item.layout.format if item.layout is not None and item.annotations is None else "json"}
    if repairs.counts:
        source["repairs"] = repairs.counts
    return source, outputs


def sample_annotations(folder: Path, layout: Layout, name: str) -> dict:
    """A dataset image's annotations as JSON (for the studio's sample grid); a problem is reported, not raised."""
    try:  # the size after EXIF orientation, as the run decodes it
        image, _ = decode_image(read_image_file(folder, name, 2**31))
        h, w = image.shape[:2]
        targets, _, _, _ = read_dataset_targets(folder, layout, name, (h, w))
    except (ItemError, ImageReadError, OSError, ValueError) as exc:
        return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return {"width": w, "height": h, "annotations": targets_to_json(targets)}


__all__ = ["KEYS", "AnnotatedImage", "dataset_item", "read_dataset_targets", "targets_from_json",
           "targets_to_json", "augment_annotated", "sample_annotations"]
