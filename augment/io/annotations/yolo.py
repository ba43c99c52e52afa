"""YOLO: ``images/`` + ``labels/`` (any split sub-folders mirrored), one text file per image, optional
``data.yaml`` with the class names.

A row is ``class cx cy w h`` (a box, normalised to the image) or ``class x1 y1 x2 y2 ... xn yn`` (a segmentation
polygon of n >= 3 points, normalised). Each output row keeps its input kind. An image without a label file is a
background image with no objects (the YOLO convention); a label file without an image is an error.
"""

from __future__ import annotations

import math
import posixpath

import numpy as np

from augment.compile.targets import Targets, polygon_area
from augment.io.annotations.base import AnnotationError, Layout, Repairs, clip_box


def annotation_for(layout: Layout, image_rel: str) -> str:
    """``images/train/a.jpg`` -> ``labels/train/a.txt`` (the last ``images`` folder of the path becomes ``labels``)."""
    parts = image_rel.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return posixpath.splitext("/".join(parts))[0] + ".txt"


def read_class_names(data: dict) -> tuple[str, ...]:
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            return ()
        if ids != list(range(len(ids))):
            return ()
        return tuple(str(names.get(i, names.get(str(i)))) for i in ids)
    if isinstance(names, list):
        return tuple(str(n) for n in names)
    return ()


def read(data: bytes | None, layout: Layout, hw: tuple[int, int], where: str) -> tuple[Targets, Repairs]:
    h, w = hw
    repairs = Repairs()
    if data is None:
        repairs.add("no_label_file_background")
        return Targets(boxes=np.zeros((0, 4)), labels=(), polygons=()), repairs
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AnnotationError(f"{where}: not UTF-8 text") from None
    boxes, labels, polys, extras = [], [], [], []
    names = layout.class_names
    for line_no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        at = f"{where} line {line_no}"
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise AnnotationError(f"{at}: expected a class id and numbers, got {line.strip()[:60]!r}") from None
        if cls < 0 or (names and cls >= len(names)):
            raise AnnotationError(f"{at}: unknown class {cls}" + (f" (data.yaml names {len(names)} classes)" if names else ""))
        if not all(math.isfinite(v) for v in values):
            raise AnnotationError(f"{at}: non-finite coordinate")
        label = names[cls] if names else str(cls)
        if len(values) == 4:
            cx, cy, bw, bh = values
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            boxes.append(clip_box(box, w, h, repairs, f"{at} ({label})"))
            polys.append(())
            kind = "box"
        elif len(values) >= 6 and len(values) % 2 == 0:
            pts = np.asarray(values, dtype=np.float64).reshape(-1, 2) * [w, h]
            clipped = np.clip(pts, 0, [w, h])
            if not np.array_equal(clipped, pts):
                repairs.add("polygon_points_clipped_to_image")
            if polygon_area(clipped) <= 0:
                raise AnnotationError(f"{at}: polygon ({label}) has zero area")
            boxes.append([clipped[:, 0].min(), clipped[:, 1].min(), clipped[:, 0].max(), clipped[:, 1].max()])
            polys.append((clipped,))
            kind = "polygon"
        elif len(values) > 4:
            raise AnnotationError(f"{at}: a polygon row needs an even number of coordinates, at least 3 points")
        else:
            raise AnnotationError(f"{at}: expected 4 numbers (a box) or 3+ points (a polygon), got {len(values)}")
        labels.append(label)
        extras.append({"class_id": cls, "kind": kind})
    return Targets(boxes=np.asarray(boxes).reshape(-1, 4), labels=labels, polygons=polys, extras=extras), repairs


def _num(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.6f}"


def encode(targets: Targets, hw: tuple[int, int]) -> bytes:
    h, w = hw
    rows = []
    for i, (box, extra) in enumerate(zip(targets.boxes, targets.extras)):
        cls = extra["class_id"]
        parts = targets.polygons[i] if targets.polygons is not None else ()
        if extra.get("kind") == "polygon" and parts:
            part = max(parts, key=polygon_area)  # a polygon row holds one part: a clip can split a concave one
            rows.append(" ".join([str(cls)] + [_num(v) for p in part / [w, h] for v in p]))
        else:
            x0, y0, x1, y1 = box
            rows.append(" ".join([str(cls), _num((x0 + x1) / 2 / w), _num((y0 + y1) / 2 / h),
                                  _num((x1 - x0) / w), _num((y1 - y0) / h)]))
    return ("\n".join(rows) + "\n" if rows else "").encode("utf-8")


__all__ = ["annotation_for", "read_class_names", "read", "encode"]
