"""Backend-neutral geometry of the resize, pad, crop, right-angle and distortion ops: output sizes, the exact
pixel-index matrices of the eight symmetries of the square and the remap fields of grid and lens distortion.

Both backends and the annotation maps (``augment.compile.targets``) use these, so a drawn value means the same
move of pixels and of boxes, masks and keypoints everywhere.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from augment.ops.image_ops_geometry import max_size_hw

__all__ = ["output_hw", "d4_matrix", "grid_axes", "grid_maps", "grid_points", "optical_maps", "optical_points"]


def output_hw(name: str, drawn: dict, params: Any, h: int, w: int) -> tuple[int, int]:
    """Output (height, width) of a resize, pad or crop op."""
    if name == "resize":
        return params.height, params.width
    if name in ("longest_max_size", "smallest_max_size"):
        return max_size_hw(h, w, params.max_size, name == "longest_max_size")
    if name in ("pad_if_needed", "pad"):
        return h + drawn["top"] + drawn["bottom"], w + drawn["left"] + drawn["right"]
    if name in ("center_crop", "random_crop"):
        return params.height, params.width
    if name == "bbox_safe_random_crop":
        return drawn["height"], drawn["width"]
    raise KeyError(name)


def d4_matrix(element: str, h: int, w: int) -> tuple[np.ndarray, tuple[int, int]]:
    """3x3 matrix (input pixel index -> output pixel index) and output size of a symmetry of the square, named as
    albumentations names them (``rot90`` with k quarter turns is ``e``, ``r90``, ``r180``, ``r270``)."""
    a, b = w - 1, h - 1
    rows = {
        "e": ([[1, 0, 0], [0, 1, 0]], (h, w)),
        "r90": ([[0, 1, 0], [-1, 0, a]], (w, h)),
        "r180": ([[-1, 0, a], [0, -1, b]], (h, w)),
        "r270": ([[0, -1, b], [1, 0, 0]], (w, h)),
        "h": ([[-1, 0, a], [0, 1, 0]], (h, w)),
        "v": ([[1, 0, 0], [0, -1, b]], (h, w)),
        "t": ([[0, 1, 0], [1, 0, 0]], (w, h)),
        "hvt": ([[0, -1, b], [-1, 0, a]], (w, h)),
    }[element]
    return np.array(rows[0] + [[0, 0, 1]], dtype=np.float64), rows[1]


def grid_axes(n: int, steps: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Cell bounds along one side in the output and where they come from in the input (continuous pixels, both
    from 0 to ``n``): cell i is stretched by steps[i], then the whole side is scaled back to ``n``."""
    s = len(steps)
    out = np.round(np.arange(s + 1) * n / s)
    src = np.concatenate([[0.0], np.cumsum(np.diff(out) * np.asarray(steps, dtype=np.float64))])
    src = src * (n / src[-1]) if src[-1] > 0 else out.copy()
    return out, src


def grid_maps(h: int, w: int, steps_x: list[float], steps_y: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """float32 remap maps (input pixel index sampled by each output pixel) of a grid distortion."""
    bx, cx = grid_axes(w, steps_x)
    by, cy = grid_axes(h, steps_y)
    xs = np.interp(np.arange(w) + 0.5, bx, cx) - 0.5
    ys = np.interp(np.arange(h) + 0.5, by, cy) - 0.5
    map_x, map_y = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    return map_x, map_y


def grid_points(xy: np.ndarray, h: int, w: int, steps_x: list[float], steps_y: list[float]) -> np.ndarray:
    """Continuous input points -> output points of a grid distortion (the exact inverse of its maps)."""
    bx, cx = grid_axes(w, steps_x)
    by, cy = grid_axes(h, steps_y)
    out = np.asarray(xy, dtype=np.float64).copy()
    out[:, 0] = np.interp(out[:, 0], cx, bx, left=-1e9, right=1e9) if len(out) else out[:, 0]
    out[:, 1] = np.interp(out[:, 1], cy, by, left=-1e9, right=1e9) if len(out) else out[:, 1]
    return out


def _camera(h: int, w: int, k: float) -> tuple[np.ndarray, np.ndarray]:
    # albumentations' OpticalDistortion (camera mode): focal lengths the image size, centre the image centre
    matrix = np.array([[w, 0, w / 2], [0, h, h / 2], [0, 0, 1]], dtype=np.float32)
    return matrix, np.array([k, k, 0, 0, 0], dtype=np.float32)


def optical_maps(h: int, w: int, k: float) -> tuple[np.ndarray, np.ndarray]:
    matrix, dist = _camera(h, w, k)
    return cv2.initUndistortRectifyMap(matrix, dist, None, None, (w, h), cv2.CV_32FC1)


def optical_points(xy: np.ndarray, h: int, w: int, k: float) -> np.ndarray:
    """Continuous input points -> output points: the output pixel q shows the input at distort(q), so a point p
    lands at undistort(p)."""
    if len(xy) == 0:
        return np.asarray(xy, dtype=np.float64).copy()
    matrix, dist = _camera(h, w, k)
    pts = (np.asarray(xy, dtype=np.float64) - 0.5).reshape(-1, 1, 2)
    und = cv2.undistortPoints(pts, matrix, dist, None, None, matrix,
                                  (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-6))
    return und.reshape(-1, 2) + 0.5
