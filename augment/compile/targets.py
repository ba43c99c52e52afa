"""Annotation geometry: boxes, polygons, masks and keypoints moved with the image by the same drawn values.

One module for both backends: each geometric op's drawn values become a point map (the same matrices the
backends warp images with, from ``augment.compile.geometry``) and a mask warp (OpenCV, nearest neighbour), so
the annotations of an output depend only on the drawn values, never on the backend.

Coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)`` (the convention of Pascal VOC, COCO and
YOLO once scaled), so a point ``p`` sits at pixel index ``p - 0.5`` in the matrices, which map pixel indices.

Box rules (per op, from the op's params): after the op every object is clipped to the image; it is dropped when
less than ``min_visibility`` of its transformed area stays inside, or when its visible area is under
``min_area`` pixels. A box is the tight box of the object's transformed polygon when it has one, else of its
mask, else of its four transformed corners (``box_source`` says which). Keypoints leaving the image get
visibility 0 and stay in the list; ``flip_pairs`` swaps named keypoints in a horizontal flip (without it, the
dataset's ``keypoint_flip`` map, e.g. YOLO's ``flip_idx``, when the annotations carry one). Pixel ops leave
annotations alone; cut-out drops objects it covers past ``erase_covered`` when that is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import cv2
import numpy as np

from augment.compile import geometry_native as gn
from augment.compile.geometry import affine_matrix, perspective_points
from augment.ops import image_ops as ops
from augment.ops.image_ops_degrade import grid_boxes
from augment.ops.image_ops_native import DROPOUT_OPS

_BORDER = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}
# Elastic edges bend: polygon edges and box sides are resampled at this spacing (pixels) before mapping.
_DENSIFY_STEP = 2.0


@dataclass(frozen=True)
class Targets:
    """The annotations of one image. Arrays are never modified in place; every transform returns a new one.

    boxes: (N, 4) float64 ``x_min, y_min, x_max, y_max`` in pixels. labels: N class names or ids.
    polygons: per object a list of parts, each an (M, 2) float64 array of x, y (empty list: no polygon).
    masks: (N, H, W) uint8 instance masks (0/1), or None. keypoints: (N, K, 3) float64 x, y, visibility.
    semantic: an (H, W) uint8 class-index mask of the whole image; ``ignore_index`` fills what the op cannot see.
    extras: per object, fields carried unchanged (difficult, truncated, source ids, ...).
    """

    boxes: np.ndarray
    labels: tuple
    polygons: tuple | None = None
    masks: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    keypoint_names: tuple[str, ...] | None = None
    semantic: np.ndarray | None = None
    ignore_index: int | None = None
    extras: tuple = ()
    keypoint_flip: tuple[int, ...] | None = None  # a mirror moves keypoint i to flip_idx[i] (YOLO pose data.yaml)

    def __post_init__(self):
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "labels", tuple(self.labels))
        n = len(boxes)
        if len(self.labels) != n:
            raise ValueError(f"{n} boxes but {len(self.labels)} labels")
        if self.polygons is not None:
            polys = tuple(tuple(np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in parts) for parts in self.polygons)
            if len(polys) != n:
                raise ValueError(f"{n} boxes but {len(polys)} polygon lists")
            object.__setattr__(self, "polygons", polys)
        if self.masks is not None:
            masks = np.asarray(self.masks)
            if masks.ndim != 3 or len(masks) != n:
                raise ValueError(f"masks must be (N, H, W) with N={n}, got shape {masks.shape}")
            object.__setattr__(self, "masks", (masks != 0).astype(np.uint8))
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float64)
            if kp.ndim == 2 and kp.shape[-1] in (2, 3):  # (K, c) for one object, or one point per object
                kp = kp.reshape(n, -1 if n else 0, kp.shape[-1])
            if kp.ndim != 3 or len(kp) != n or kp.shape[2] not in (2, 3):
                raise ValueError(f"keypoints must be (N, K, 2 or 3) with N={n}, got shape {kp.shape}")
            if kp.shape[2] == 2:
                kp = np.concatenate([kp, np.full(kp.shape[:2] + (1,), 2.0)], axis=2)
            object.__setattr__(self, "keypoints", kp)
        if self.keypoint_names is not None:
            names = tuple(self.keypoint_names)
            k = self.keypoints.shape[1] if self.keypoints is not None and n else None
            if k is not None and len(names) != k:
                raise ValueError(f"keypoint_names: {len(names)} names for {k} keypoints per object")
            object.__setattr__(self, "keypoint_names", names)
        extras = tuple(self.extras) if self.extras else tuple({} for _ in range(n))
        if len(extras) != n:
            raise ValueError(f"{n} boxes but {len(extras)} extras")
        object.__setattr__(self, "extras", extras)

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: list[int]) -> "Targets":
        """The objects at ``keep`` (in that order); image-level fields unchanged."""
        idx = np.asarray(keep, dtype=np.int64)
        return replace(
            self,
            boxes=self.boxes[idx] if len(idx) else np.zeros((0, 4)),
            labels=tuple(self.labels[i] for i in keep),
            polygons=None if self.polygons is None else tuple(self.polygons[i] for i in keep),
            masks=None if self.masks is None else self.masks[idx] if len(idx) else self.masks[:0],
            keypoints=None if self.keypoints is None else self.keypoints[idx] if len(idx) else self.keypoints[:0],
            extras=tuple(self.extras[i] for i in keep) or tuple(),
        )


@dataclass
class TargetReport:
    """What the box rules did over a whole pipeline: per class, objects in, kept, clipped and dropped."""

    objects_in: int = 0
    kept: dict = field(default_factory=dict)
    clipped: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    box_source: str = "none"

    def as_dict(self) -> dict:
        return {
            "objects_in": self.objects_in,
            "kept": dict(sorted(self.kept.items())),
            "clipped": dict(sorted(self.clipped.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "box_source": self.box_source,
        }


@dataclass
class StepLog:
    """What one op did to the objects it got, by their index in its input."""

    clipped: set = field(default_factory=set)
    dropped: list = field(default_factory=list)
    source: str | None = None


def _count(d: dict, label) -> None:
    key = str(label)
    d[key] = d.get(key, 0) + 1


# --- point maps -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Map:
    """What one geometric op does to coordinates and to label images."""

    points: Callable[[np.ndarray], np.ndarray]  # (M, 2) continuous xy -> (M, 2)
    warp: Callable[[np.ndarray, int, str], np.ndarray]  # (H, W, C) uint8, fill, border -> (H', W', C)
    out_hw: tuple[int, int]
    straight: bool = True  # straight edges stay straight (no need to resample polygons)
    mirror: bool = False  # left and right swap (flip_pairs)


def _homography_points(matrix: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def fn(xy: np.ndarray) -> np.ndarray:
        if len(xy) == 0:
            return xy.copy()
        q = np.concatenate([xy - 0.5, np.ones((len(xy), 1))], axis=1) @ matrix.T
        w = q[:, 2:3]
        w = np.where(np.abs(w) < 1e-12, 1e-12, w)
        return q[:, :2] / w + 0.5

    return fn


def _in_chunks(label: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply an OpenCV warp to an (H, W, C) array four channels at a time (OpenCV's limit for some warps)."""
    parts = []
    for i in range(0, label.shape[2], 4):
        out = fn(np.ascontiguousarray(label[:, :, i : i + 4]))
        parts.append(out if out.ndim == 3 else out[:, :, None])
    return np.concatenate(parts, axis=2) if parts else label.copy()


def _affine_map(h: int, w: int, matrix: np.ndarray, out_hw: tuple[int, int] | None = None,
                mirror: bool = False) -> _Map:
    oh, ow = out_hw or (h, w)

    def warp(label, fill, border):
        if label.shape[2] == 0:
            return np.zeros((oh, ow, 0), label.dtype)
        return _in_chunks(label, lambda x: cv2.warpAffine(
            x, matrix[:2], (ow, oh), flags=cv2.INTER_NEAREST, borderMode=_BORDER[border], borderValue=(fill,) * 4))

    return _Map(_homography_points(matrix), warp, (oh, ow), mirror=mirror)


def _remap_map(h: int, w: int, map_x: np.ndarray, map_y: np.ndarray, points) -> _Map:
    """A map that pulls pixels through remap maps, with ``points`` its inverse on continuous coordinates."""

    def warp(label, fill, border):
        if label.shape[2] == 0:
            return label.copy()
        return _in_chunks(label, lambda x: cv2.remap(
            x, map_x, map_y, cv2.INTER_NEAREST, borderMode=_BORDER[border], borderValue=(fill,) * 4))

    return _Map(points, warp, (h, w), straight=False)


def _native_map(name: str, drawn: dict, params: Any, h: int, w: int) -> _Map | None:
    """Maps of the ops of ``augment.ops.image_ops_geometry``."""
    if name in ("resize", "longest_max_size", "smallest_max_size"):
        return _crop_resize_map(h, w, 0, 0, h, w, gn.output_hw(name, drawn, params, h, w))
    if name in ("center_crop", "random_crop", "bbox_safe_random_crop"):
        oh, ow = gn.output_hw(name, drawn, params, h, w)
        return _crop_resize_map(h, w, drawn["top"], drawn["left"], oh, ow, (oh, ow))
    if name in ("pad_if_needed", "pad"):
        shift = np.array([[1.0, 0, drawn["left"]], [0, 1.0, drawn["top"]], [0, 0, 1.0]])
        return _affine_map(h, w, shift, gn.output_hw(name, drawn, params, h, w))
    if name in ("transpose", "rot90", "d4"):
        element = "t" if name == "transpose" else ("e", "r90", "r180", "r270")[drawn["k"]] if name == "rot90" \
            else drawn["element"]
        matrix, out_hw = gn.d4_matrix(element, h, w)
        # a reflection swaps left and right keypoints, as horizontal_flip does (vertical_flip's rule kept for v)
        return _affine_map(h, w, matrix, out_hw, mirror=element in ("h", "t", "hvt"))
    if name == "grid_distortion":
        sx, sy = drawn["steps_x"], drawn["steps_y"]
        return _remap_map(h, w, *gn.grid_maps(h, w, sx, sy), lambda xy: gn.grid_points(xy, h, w, sx, sy))
    if name == "optical_distortion":
        k = drawn["k"]
        return _remap_map(h, w, *gn.optical_maps(h, w, k), lambda xy: gn.optical_points(xy, h, w, k))
    return None


def _perspective_map(h: int, w: int, d: dict) -> _Map:
    if min(h, w) < 2:  # no perspective transform of a line exists; both backends leave such images alone
        return _Map(lambda xy: xy.copy(), lambda label, fill, border: label.copy(), (h, w))
    src, dst = perspective_points(h, w, d["corners"])
    matrix = cv2.getPerspectiveTransform(src, dst).astype(np.float64)

    def warp(label, fill, border):
        if label.shape[2] == 0:
            return label.copy()
        return _in_chunks(label, lambda x: cv2.warpPerspective(
            x, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=_BORDER[border], borderValue=(fill,) * 4))

    return _Map(_homography_points(matrix), warp, (h, w))


def _flip_map(h: int, w: int, axis: int) -> _Map:
    def points(xy):
        out = xy.copy()
        if axis == 1:
            out[:, 0] = w - out[:, 0]
        else:
            out[:, 1] = h - out[:, 1]
        return out

    return _Map(points, lambda label, fill, border: np.ascontiguousarray(np.flip(label, axis=axis)), (h, w),
                mirror=axis == 1)


def _crop_resize_map(h: int, w: int, top: int, left: int, ch: int, cw: int, out_hw: tuple[int, int]) -> _Map:
    oh, ow = out_hw
    sx, sy = ow / cw, oh / ch

    def points(xy):
        out = xy.copy()
        out[:, 0] = (out[:, 0] - left) * sx
        out[:, 1] = (out[:, 1] - top) * sy
        return out

    def warp(label, fill, border):
        crop = label[top : top + ch, left : left + cw]
        if (oh, ow) == (ch, cw) or crop.shape[2] == 0:
            return np.ascontiguousarray(crop) if crop.shape[2] else np.zeros((oh, ow, 0), np.uint8)
        return _in_chunks(crop, lambda x: cv2.resize(x, (ow, oh), interpolation=cv2.INTER_NEAREST_EXACT))

    return _Map(points, warp, (oh, ow))


def _sample_field(field: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear sample of a (2, H, W) field at pixel-index points (M, 2) -> (M, 2)."""
    _, h, w = field.shape
    x = np.clip(xy[:, 0], 0, w - 1)
    y = np.clip(xy[:, 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    out = np.empty((len(xy), 2))
    for c in range(2):
        f = field[c]
        out[:, c] = (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x1] * fx * (1 - fy)
                     + f[y1, x0] * (1 - fx) * fy + f[y1, x1] * fx * fy)
    return out


def _elastic_map(h: int, w: int, d: dict) -> _Map:
    field = ops.elastic_displacement(h, w, d["alpha"], d["sigma"], d["field_seed"]).astype(np.float64)

    def points(xy):
        # The image is pulled: out(q) = in(q + d(q)). A point p of the input lands where q + d(q) = p, found by
        # fixed-point iteration (the field is smooth, so q -> p - d(q) contracts).
        p = xy - 0.5
        q = p.copy()
        for _ in range(30):
            nq = p - _sample_field(field, q)
            if np.max(np.abs(nq - q), initial=0.0) < 1e-3:
                q = nq
                break
            q = nq
        return q + 0.5

    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = xs + field[0].astype(np.float32), ys + field[1].astype(np.float32)

    def warp(label, fill, border):
        if label.shape[2] == 0:
            return label.copy()
        return _in_chunks(label, lambda x: cv2.remap(
            x, map_x, map_y, cv2.INTER_NEAREST, borderMode=_BORDER[border], borderValue=(fill,) * 4))

    return _Map(points, warp, (h, w), straight=False)


def op_map(name: str, drawn: dict, params: Any, hw: tuple[int, int]) -> _Map | None:
    """The map of a geometric op with its drawn values on an image of size ``hw``; None for pixel ops."""
    h, w = hw
    if name == "horizontal_flip":
        return _flip_map(h, w, 1)
    if name == "vertical_flip":
        return _flip_map(h, w, 0)
    if name == "rotate":
        return _affine_map(h, w, affine_matrix(h, w, angle=drawn["angle"]))
    if name == "zoom":
        return _affine_map(h, w, affine_matrix(h, w, scale=drawn["scale"]))
    if name == "affine":
        return _affine_map(h, w, affine_matrix(h, w, **drawn))
    if name == "perspective":
        return _perspective_map(h, w, drawn)
    if name == "random_resized_crop":
        out = tuple(params.size) if params.size is not None else (h, w)
        return _crop_resize_map(h, w, drawn["top"], drawn["left"], drawn["height"], drawn["width"], out)
    if name == "crop":
        return _crop_resize_map(h, w, drawn["top"], drawn["left"], params.height, params.width,
                                (params.height, params.width))
    if name == "elastic":
        return _elastic_map(h, w, drawn)
    return _native_map(name, drawn, params, h, w)


# --- polygons ---------------------------------------------------------------------------------------------------


def polygon_area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def clip_polygon(poly: np.ndarray, w: float, h: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon to the rectangle [0, w] x [0, h]."""
    out = poly
    for axis, bound, keep_below in ((0, 0.0, False), (0, w, True), (1, 0.0, False), (1, h, True)):
        if len(out) == 0:
            break
        inp, res = out, []
        prev = inp[-1]
        prev_in = prev[axis] <= bound if keep_below else prev[axis] >= bound
        for cur in inp:
            cur_in = cur[axis] <= bound if keep_below else cur[axis] >= bound
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                res.append(prev + t * (cur - prev))
            if cur_in:
                res.append(cur)
            prev, prev_in = cur, cur_in
        out = np.asarray(res, dtype=np.float64).reshape(-1, 2)
    return out


def densify(poly: np.ndarray, step: float = _DENSIFY_STEP) -> np.ndarray:
    """The polygon with extra vertices on its edges, at most ``step`` apart (for maps that bend edges)."""
    if len(poly) < 2:
        return poly
    pts = []
    nxt = np.roll(poly, -1, axis=0)
    for a, b in zip(poly, nxt):
        n = max(1, int(math.ceil(float(np.hypot(*(b - a))) / step)))
        t = np.arange(n, dtype=np.float64)[:, None] / n
        pts.append(a + t * (b - a))
    return np.concatenate(pts, axis=0)


def _box_polygon(box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _tight_box(points: np.ndarray) -> np.ndarray:
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    ys = np.flatnonzero(mask.any(axis=1))
    if len(ys) == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=np.float64)


# --- applying an op ---------------------------------------------------------------------------------------------


def _params_rule(params: Any, key: str, default):
    return getattr(params, key, default) if params is not None else default


def _swap_pairs(keypoints: np.ndarray, names: tuple[str, ...] | None, pairs) -> np.ndarray:
    if not pairs or keypoints.shape[1] == 0:
        return keypoints
    out = keypoints.copy()
    index = {n: i for i, n in enumerate(names or ())}
    k = keypoints.shape[1]
    for a, b in pairs:
        ia = a if isinstance(a, int) else index.get(a)
        ib = b if isinstance(b, int) else index.get(b)
        if ia is None or ib is None:
            missing = a if ia is None else b
            raise ValueError(f"flip_pairs names keypoint {missing!r}, which the annotations do not have "
                             f"(keypoint names: {', '.join(names or ()) or 'none'})")
        if not (0 <= ia < k and 0 <= ib < k):
            raise ValueError(f"flip_pairs index out of range for {k} keypoints: {[a, b]}")
        out[:, [ia, ib]] = keypoints[:, [ib, ia]]
    return out


def apply_map(targets: Targets, m: _Map, params: Any, log: StepLog | None = None) -> Targets:
    """Move every annotation with ``m`` and apply the op's box rules (from ``params``)."""
    oh, ow = m.out_hw
    min_vis = float(_params_rule(params, "min_visibility", 0.0))
    min_area = float(_params_rule(params, "min_area", 1.0))
    n = len(targets)
    masks = None
    if targets.masks is not None:
        masks = np.moveaxis(m.warp(np.moveaxis(targets.masks, 0, 2), 0, "constant"), 2, 0)
        masks = masks.reshape(n, oh, ow)
    semantic = None
    if targets.semantic is not None:
        fill = targets.ignore_index if targets.ignore_index is not None else 0
        border = getattr(params, "border", "constant") if params is not None else "constant"
        semantic = m.warp(targets.semantic[:, :, None], fill, border)[:, :, 0]
    boxes, polygons, keep = [], [], []
    source = "none"
    for i in range(n):
        parts = targets.polygons[i] if targets.polygons is not None else ()
        parts = [p for p in parts if len(p) >= 3]
        if parts:
            mapped = [m.points(p if m.straight else densify(p)) for p in parts]
            before = sum(polygon_area(p) for p in mapped)
            clipped = [clip_polygon(p, ow, oh) for p in mapped]
            clipped = [p for p in clipped if len(p) >= 3 and polygon_area(p) > 0]
            visible = sum(polygon_area(p) for p in clipped)
            box = _tight_box(np.concatenate(clipped)) if clipped else None
            src = "polygon"
        else:
            region = _box_polygon(targets.boxes[i])
            mapped = m.points(region if m.straight else densify(region))
            before = polygon_area(mapped)
            clip = clip_polygon(mapped, ow, oh)
            visible = polygon_area(clip)
            box = _tight_box(clip) if len(clip) >= 3 and visible > 0 else None
            clipped = None
            src = "corners"
            if masks is not None:
                # Pixels that leave the image are gone from the warped mask: its area before the op, scaled by
                # how the op scales the object's box, stands for the unclipped area.
                old_area = float((targets.boxes[i, 2] - targets.boxes[i, 0]) * (targets.boxes[i, 3] - targets.boxes[i, 1]))
                scale = before / old_area if old_area > 0 else 1.0
                region_fraction = visible / before if before > 0 else 0.0
                box = mask_box(masks[i])
                visible = float(masks[i].sum()) if box is not None else 0.0
                before = float(targets.masks[i].sum()) * scale
                if region_fraction >= 1 - 1e-6 and visible > 0:
                    before = visible  # nothing left the image: differences are only resampling
                src = "mask"
        if box is not None:
            box = np.clip(box, [0, 0, 0, 0], [ow, oh, ow, oh])
        fraction = min(1.0, visible / before) if before > 0 else 0.0
        ok = (box is not None and box[2] > box[0] and box[3] > box[1] and visible >= min_area
              and fraction >= min_vis and visible > 0)
        if ok:
            keep.append(i)
            boxes.append(box)
            polygons.append(tuple(clipped) if clipped is not None else ())
            if log is not None and fraction < 1 - 1e-6:
                log.clipped.add(i)
            source = src if source in ("none", src) else "mixed"
        elif log is not None:
            log.dropped.append(i)
    keypoints = None
    if targets.keypoints is not None:
        kp = targets.keypoints.copy()
        if kp.shape[1]:
            flat = m.points(kp[:, :, :2].reshape(-1, 2)).reshape(kp.shape[0], kp.shape[1], 2)
            kp[:, :, :2] = flat
            # the image spans [0, W] x [0, H] (continuous coordinates: a flip maps x to W - x), edges included: a
            # visible point on the left edge stayed visible only until a flip put it on the right one
            outside = (flat[..., 0] < 0) | (flat[..., 0] > ow) | (flat[..., 1] < 0) | (flat[..., 1] > oh)
            kp[:, :, 2] = np.where(outside, 0.0, kp[:, :, 2])
        if m.mirror:
            pairs = _params_rule(params, "flip_pairs", ())
            if pairs or not targets.keypoint_flip or len(targets.keypoint_flip) != kp.shape[1]:
                kp = _swap_pairs(kp, targets.keypoint_names, pairs)
            else:  # the dataset's own left/right map (YOLO flip_idx), when the spec gives none
                kp = kp[:, list(targets.keypoint_flip)]
        keypoints = kp
    idx = np.asarray(keep, dtype=np.int64)
    out = replace(
        targets,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        labels=tuple(targets.labels[i] for i in keep),
        polygons=None if targets.polygons is None else tuple(polygons),
        masks=None if masks is None else masks[idx] if len(idx) else np.zeros((0, oh, ow), np.uint8),
        keypoints=None if keypoints is None else keypoints[idx] if len(idx) else keypoints[:0],
        semantic=semantic,
        extras=tuple(targets.extras[i] for i in keep),
    )
    if log is not None:
        log.source = source
    return out


def _holes(name: str, drawn: dict, hw: tuple[int, int]) -> list:
    return grid_boxes(hw[0], hw[1], drawn) if name == "grid_dropout" else drawn["boxes"]


def _fill_masks(targets: Targets, holes: list, params: Any) -> Targets:
    """A dropout's ``mask_fill``: semantic masks get the value under the holes, instance masks are erased there."""
    value = getattr(params, "mask_fill", None)
    if value is None or not holes:
        return targets
    masks, semantic = targets.masks, targets.semantic
    if masks is not None:
        masks = masks.copy()
    if semantic is not None:
        semantic = semantic.copy()
    for top, left, h, w in holes:
        if masks is not None:
            masks[:, top : top + h, left : left + w] = 0
        if semantic is not None:
            semantic[top : top + h, left : left + w] = value
    return replace(targets, masks=masks, semantic=semantic)


def _erase_covered(targets: Targets, drawn: dict, params: Any, log: StepLog) -> Targets:
    threshold = getattr(params, "erase_covered", None)
    if not threshold or not len(targets):
        return targets
    keep = []
    for i, (x0, y0, x1, y1) in enumerate(targets.boxes):
        area = max(0.0, (x1 - x0) * (y1 - y0))
        # union of the holes over the box, measured on the box's pixel grid
        bx0, by0, bx1, by1 = int(math.floor(x0)), int(math.floor(y0)), int(math.ceil(x1)), int(math.ceil(y1))
        grid = np.zeros((max(0, by1 - by0), max(0, bx1 - bx0)), dtype=bool)
        for top, left, h, w in drawn["boxes"]:
            grid[max(0, top - by0) : max(0, top + h - by0), max(0, left - bx0) : max(0, left + w - bx0)] = True
        covered = grid.sum()
        if area > 0 and covered / max(area, 1e-9) >= threshold:
            log.dropped.append(i)
            continue
        keep.append(i)
    return targets.select(keep) if len(keep) != len(targets) else targets


class TargetTracker:
    """Follows objects through a pipeline to report, per class, what was kept, clipped and dropped."""

    def __init__(self, targets: Targets) -> None:
        self.report = TargetReport(objects_in=len(targets))
        self.ids = list(range(len(targets)))  # original index of each current object
        self.labels = list(targets.labels)
        self.clipped: set[int] = set()
        self.sources: set[str] = set()

    def add_objects(self, labels) -> list[int]:
        """Register objects brought in by a multi-image op (a mosaic tile, pasted instances); their new ids."""
        start = len(self.labels)
        self.labels.extend(labels)
        self.report.objects_in += len(labels)
        return list(range(start, len(self.labels)))

    def step(self, name: str, drawn: dict, params: Any, image_hw: tuple[int, int], targets: Targets) -> Targets:
        m = op_map(name, drawn, params, image_hw)
        log = StepLog()
        if m is None:
            out = _erase_covered(targets, drawn, params, log) if name == "cutout" else targets
            if name in DROPOUT_OPS:
                holes = _holes(name, drawn, image_hw)
                out = _fill_masks(_erase_covered(targets, {"boxes": holes}, params, log), holes, params)
        else:
            out = apply_map(targets, m, params, log)
        self.record(log, list(self.ids), [])
        return out

    def record(self, log: StepLog, ids: list[int], kept_before: list[int]) -> list[int]:
        """Apply one op's log over the objects ``ids`` (tracker ids in the op's input order); the kept ids are
        appended to ``kept_before`` and become the current objects."""
        if log.source and log.source != "none":
            self.sources.add(log.source)
        dropped = set(log.dropped)
        for i in log.clipped:
            self.clipped.add(ids[i])
        kept_before.extend(oid for i, oid in enumerate(ids) if i not in dropped)
        self.ids = kept_before
        return kept_before

    def finish(self) -> TargetReport:
        rep = self.report
        alive = set(self.ids)
        for oid, label in enumerate(self.labels):
            if oid in alive:
                _count(rep.kept, label)
                if oid in self.clipped:
                    _count(rep.clipped, label)
            else:
                _count(rep.dropped, label)
        srcs = self.sources - {"none"}
        rep.box_source = "none" if not srcs else srcs.pop() if len(srcs) == 1 else "mixed"
        return rep


__all__ = [
    "Targets",
    "TargetReport",
    "StepLog",
    "op_map",
    "polygon_area",
    "clip_polygon",
    "densify",
    "mask_box",
    "apply_map",
    "TargetTracker",
]
