"""Backend-neutral geometry: the matrices and corner points that drawn geometric values stand for.

Both backends warp with the same matrices, so a drawn ``angle`` means the same rotation on either of them.
Angles are counter-clockwise in degrees, image coordinates have y pointing down, and the centre of rotation and
scaling is the image centre.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["affine_matrix", "perspective_points"]


def affine_matrix(
    height: int, width: int, angle: float = 0.0, scale: float = 1.0, shear: float = 0.0,
    translate_x: float = 0.0, translate_y: float = 0.0,
) -> np.ndarray:
    """3x3 matrix mapping source pixels to output pixels."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    a = math.radians(angle)
    # Counter-clockwise on screen means clockwise in y-down coordinates.
    rot = np.array([[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    shr = np.array([[1.0, math.tan(math.radians(shear)), 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    scl = np.diag([scale, scale, 1.0])
    to_origin = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, cx + translate_x * width], [0.0, 1.0, cy + translate_y * height], [0.0, 0.0, 1.0]])
    return back @ rot @ shr @ scl @ to_origin


def perspective_points(height: int, width: int, corners: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Source corners and where they move to (pixels), from the drawn fractional corner offsets."""
    src = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    offsets = np.array(corners, dtype=np.float32) * np.array([width, height], dtype=np.float32)
    return src, src + offsets
