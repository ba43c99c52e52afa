"""Annotations through a plugin op's geometric hooks (``map_points``, ``map_mask``, ``output_size``), or through
a library transform's own target handling (``library_adapter.geometry``: albumentations' target functions,
torchvision's tv_tensors kernels).

The hooks become the same point map and mask warp the built-in geometric ops use, so boxes (through their
densified outlines), polygons and keypoints follow ``map_points``, masks follow ``map_mask``, and the op's box
rules (``min_visibility``, ``min_area`` when its params have them) apply as for a built-in op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augment.compile.targets import StepLog, Targets, TargetTracker, _Map, apply_map
from augment.ops.plugins import op_code
from augment.ops.registry import OpDef

__all__ = ["step_plugin"]


def step_plugin(tracker: TargetTracker, op: OpDef, drawn: dict, params: Any, hw: tuple[int, int],
                targets: Targets, image_out_hw: tuple[int, int] | None = None) -> Targets:
    """Move ``targets`` by one plugin or library op. The hooks are the op author's code, checked as ``apply``'s
    output is: a size that is not the image's, a mask of another shape or type, or points that are not finite
    moved annotations somewhere else than the pixels, silently (``image_out_hw``: the size ``apply`` gave)."""
    library = bool(op.origin is not None and op.origin.get("library"))
    if library:
        from augment.compile.library_adapter import geometry

        inst, values, image_hw = geometry(op, params, drawn, hw), drawn, hw
        # the library fills what its warp cannot see with 0 (a class) unless the spec chose a mask fill
        lift = not ({"fill_mask", "fill"} & set(params.keywords()))
    else:
        inst, values, image_hw = op.geometry(drawn, params, hw)
        lift = False
    with op_code(op.name, "output_size()"):
        size = inst.output_size(values, tuple(image_hw))
    out_hw = _size(op.name, size)
    if image_out_hw is not None and out_hw != tuple(image_out_hw):
        raise ValueError(f"op {op.name}: output_size() gives {out_hw[0]}x{out_hw[1]} but apply() returned a "
                         f"{image_out_hw[0]}x{image_out_hw[1]} image: the op's output_size must match its apply")

    def points(xy: np.ndarray) -> np.ndarray:
        with op_code(op.name, "map_points()"):
            out = np.asarray(inst.map_points(np.array(xy, dtype=np.float64), values, tuple(image_hw)), dtype=np.float64)
        if out.shape != np.shape(xy):
            raise ValueError(f"op {op.name}: map_points returned shape {out.shape} for points of shape {np.shape(xy)}")
        if not np.isfinite(out).all():
            raise ValueError(f"op {op.name}: map_points returned coordinates that are not finite (NaN or inf)")
        return out

    def moved(mask: np.ndarray) -> np.ndarray:
        try:
            with op_code(op.name, "map_mask()"):
                out = np.asarray(inst.map_mask(mask, values))
        except NotImplementedError:
            raise ValueError(f"op {op.name} has no map_mask hook, so it cannot move masks: use it on boxes, "
                             "polygons or keypoints only") from None
        out = out[:, :, None] if out.ndim == 2 and mask.ndim == 3 else out
        if out.dtype != mask.dtype or out.shape != (*out_hw, *mask.shape[2:]):
            raise ValueError(f"op {op.name}: map_mask returned a {out.dtype} mask of shape {out.shape} for a "
                             f"{mask.dtype} mask of shape {mask.shape}; expected {mask.dtype} of shape "
                             f"{(*out_hw, *mask.shape[2:])} (the output image's size, nearest-neighbour labels)")
        return out

    def warp(label: np.ndarray, fill: int, border: str) -> np.ndarray:
        # a class-id map whose unseen pixels get the ignore index (``fill``). A library's labels travel one up, so
        # its 0 marks exactly what it could not see; a plugin's map_mask keeps its uint8 contract, and what it
        # could not see is where a mask of ones comes back 0
        lifted = lift and fill != 0 and label.dtype == np.uint8
        out = moved(label.astype(np.uint16) + 1 if lifted else label.copy())
        if lifted:
            out = np.where(out == 0, fill, out.astype(np.int32) - 1).astype(label.dtype)
        elif not library and fill != 0:
            out = np.where(moved(np.ones_like(label)) == 0, np.asarray(fill, label.dtype), out)
        return out[:, :, None] if out.ndim == 2 else out

    log = StepLog()
    straight = not library and getattr(inst, "straight_lines", False) is True  # the author says its map keeps lines
    out = apply_map(targets, _Map(points, warp, out_hw, straight=straight), params, log)
    tracker.record(log, list(tracker.ids), [])
    return out


def _size(name: str, hw: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in hw)
    except (TypeError, ValueError):
        raise ValueError(f"op {name}: output_size() must return (height, width), got {hw!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"op {name}: output_size() returned {h}x{w}")
    return h, w
