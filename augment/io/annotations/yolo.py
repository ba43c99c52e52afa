"""YOLO: ``images/`` + ``labels/`` (any split sub-folders mirrored), one text file per image, optional
``data.yaml`` with the class names.

A row is ``class cx cy w h`` (a box, normalised to the image) or ``class x1 y1 x2 y2 ... xn yn`` (a segmentation
polygon of n >= 3 points, normalised). Each output row keeps its input kind. An image without a label file is a
background image with no objects (the YOLO convention); a label file without an image is an error.

Pose datasets (``kpt_shape: [K, 3]`` or ``[K, 2]`` in data.yaml) have rows ``class cx cy w h px1 py1 [v1] ...
pxK pyK [vK]``: the keypoints move with the image, a keypoint that leaves it gets visibility 0, and a keypoint
of visibility 0 is written ``0 0 0`` (``0 0`` for ``[K, 2]``), the Ultralytics convention. With ``[K, 2]`` a
point at ``0 0`` is unlabelled (visibility 0), any other is visible (2). ``flip_idx`` (keypoint i becomes
``flip_idx[i]`` in a horizontal flip, e.g. left and right eye) is used by flips whose spec gives no ``flip_pairs``.
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


def read_pose_fields(data: dict, where: str) -> dict:
    """``{"kpt_shape": (K, D), "flip_idx": (...) or None}`` from a data.yaml mapping ({} when it has no
    kpt_shape); AnnotationError for a malformed one."""
    shape = data.get("kpt_shape") if isinstance(data, dict) else None
    if shape is None:
        if isinstance(data, dict) and data.get("flip_idx") is not None:
            raise AnnotationError(f"{where}: flip_idx needs kpt_shape")
        return {}
    if (not isinstance(shape, list) or len(shape) != 2 or not all(type(v) is int for v in shape)
            or shape[0] < 1 or shape[1] not in (2, 3)):
        raise AnnotationError(f"{where}: kpt_shape must be [K, 2] or [K, 3] with K >= 1, got {shape!r}")
    flip = data.get("flip_idx")
    if flip is not None and (not isinstance(flip, list) or sorted(flip) != list(range(shape[0]))
                             or not all(type(v) is int for v in flip)):
        raise AnnotationError(f"{where}: flip_idx must list each of the {shape[0]} keypoint indices once, got {flip!r}")
    return {"kpt_shape": tuple(shape), "flip_idx": tuple(flip) if flip is not None else None}


def _pose_points(values: list[float], k: int, d: int, hw: tuple[int, int], at: str) -> np.ndarray:
    h, w = hw
    pts = np.asarray(values, dtype=np.float64).reshape(k, d)
    out = np.zeros((k, 3))
    out[:, :2] = pts[:, :2] * [w, h]
    if d == 3:
        if not np.isin(pts[:, 2], (0, 1, 2)).all():
            raise AnnotationError(f"{at}: keypoint visibility must be 0, 1 or 2")
        out[:, 2] = pts[:, 2]
    else:
        out[:, 2] = np.where((pts[:, 0] == 0) & (pts[:, 1] == 0), 0.0, 2.0)
    out[out[:, 2] == 0, :2] = 0.0  # an unlabelled point has no position
    return out


def read(data: bytes | None, layout: Layout, hw: tuple[int, int], where: str) -> tuple[Targets, Repairs]:
    h, w = hw
    repairs = Repairs()
    pose = layout.kpt_shape
    if data is None:
        repairs.add("no_label_file_background")  # written with an empty label file
        return Targets(boxes=np.zeros((0, 4)), labels=(), polygons=(),
                       keypoints=np.zeros((0, pose[0], 3)) if pose else None,
                       keypoint_flip=layout.flip_idx if pose else None), repairs
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AnnotationError(f"{where}: not UTF-8 text") from None
    boxes, labels, polys, extras, points = [], [], [], [], []
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
        if pose:
            k, d = pose
            if len(values) != 4 + k * d:
                raise AnnotationError(f"{at}: a pose row needs 4 box numbers and {k} keypoints x {d} "
                                      f"(kpt_shape [{k}, {d}]), got {len(values)} numbers")
            cx, cy, bw, bh = values[:4]
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            boxes.append(clip_box(box, w, h, repairs, f"{at} ({label})"))
            polys.append(())
            points.append(_pose_points(values[4:], k, d, hw, at))
            kind = "pose"
        elif len(values) == 4:
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
    keypoints = (np.asarray(points, dtype=np.float64).reshape(len(points), pose[0], 3) if pose else None)
    return Targets(boxes=np.asarray(boxes).reshape(-1, 4), labels=labels, polygons=polys, extras=extras,
                   keypoints=keypoints, keypoint_flip=layout.flip_idx if pose else None), repairs


def _num(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.6f}"


def _pose_fields(points: np.ndarray, d: int, hw: tuple[int, int]) -> list[str]:
    h, w = hw
    out = []
    for x, y, v in points:
        if v <= 0:  # unlabelled, or moved out of the image: Ultralytics writes zeros
            out += ["0", "0", "0"][:d]
        else:
            out += [_num(x / w), _num(y / h)] + ([str(int(round(v)))] if d == 3 else [])
    return out


def encode(targets: Targets, hw: tuple[int, int], kpt_shape: tuple | None = None) -> bytes:
    h, w = hw
    rows = []
    for i, (box, extra) in enumerate(zip(targets.boxes, targets.extras)):
        cls = extra["class_id"]
        parts = targets.polygons[i] if targets.polygons is not None else ()
        if extra.get("kind") == "pose" and kpt_shape and targets.keypoints is not None:
            x0, y0, x1, y1 = box
            rows.append(" ".join([str(cls), _num((x0 + x1) / 2 / w), _num((y0 + y1) / 2 / h), _num((x1 - x0) / w),
                                  _num((y1 - y0) / h)] + _pose_fields(targets.keypoints[i], kpt_shape[1], hw)))
        elif extra.get("kind") == "polygon" and parts:
            part = max(parts, key=polygon_area)  # a polygon row holds one part: a clip can split a concave one
            rows.append(" ".join([str(cls)] + [_num(v) for p in part / [w, h] for v in p]))
        else:
            x0, y0, x1, y1 = box
            rows.append(" ".join([str(cls), _num((x0 + x1) / 2 / w), _num((y0 + y1) / 2 / h),
                                  _num((x1 - x0) / w), _num((y1 - y0) / h)]))
    return ("\n".join(rows) + "\n" if rows else "").encode("utf-8")


__all__ = ["annotation_for", "read_class_names", "read_pose_fields", "read", "encode"]
