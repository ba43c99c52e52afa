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
from augment.ops.registry import OpDef

__all__ = ["step_plugin"]


def step_plugin(tracker: TargetTracker, op: OpDef, drawn: dict, params: Any, hw: tuple[int, int],
                targets: Targets) -> Targets:
    lift = False
    if op.origin is not None and op.origin.get("library"):
        from augment.compile.library_adapter import geometry

        inst, values, image_hw = geometry(op, params, drawn, hw), drawn, hw
        # the library fills what its warp cannot see with 0 (a class) unless the spec chose a mask fill
        lift = not ({"fill_mask", "fill"} & set(params.keywords()))
    else:
        inst, values, image_hw = op.geometry(drawn, params, hw)
    out_hw = tuple(int(v) for v in inst.output_size(values, tuple(image_hw)))

    def points(xy: np.ndarray) -> np.ndarray:
        out = np.asarray(inst.map_points(np.array(xy, dtype=np.float64), values, tuple(image_hw)), dtype=np.float64)
        if out.shape != np.shape(xy):
            raise ValueError(f"op {op.name}: map_points returned shape {out.shape} for points of shape {np.shape(xy)}")
        return out

    def warp(label: np.ndarray, fill: int, border: str) -> np.ndarray:
        # a class-id map whose unseen pixels get the ignore index (``fill``): the labels travel one up, so the
        # library's 0 marks exactly what it could not see
        lifted = lift and fill != 0 and label.dtype == np.uint8
        try:
            out = inst.map_mask(label.astype(np.uint16) + 1 if lifted else label.copy(), values)
        except NotImplementedError:
            raise ValueError(f"op {op.name} has no map_mask hook, so it cannot move masks: use it on boxes, "
                             "polygons or keypoints only") from None
        out = np.asarray(out)
        if lifted:
            out = np.where(out == 0, fill, out.astype(np.int32) - 1).astype(label.dtype)
        return out[:, :, None] if out.ndim == 2 else out

    log = StepLog()
    out = apply_map(targets, _Map(points, warp, out_hw, straight=False), params, log)
    tracker.record(log, list(tracker.ids), [])
    return out
