"""Blur, noise, resampling, compression and dropout ops beyond the core set.

Random fields (noise, dropped pixels) are recorded as a seed and regenerated from it by the helpers here, the same
on every backend; everything else is recorded as the values themselves.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from augment.ops.image_ops import AnnotationRules, Interpolation
from augment.ops.params import FloatRange, IntRange, integer, uniform
from augment.ops.registry import OpDef, OpParams
from augment.seeding import child_seed

__all__ = [
    "MedianBlurParams", "DefocusParams", "ZoomBlurParams", "ISONoiseParams", "MultiplicativeNoiseParams",
    "DownscaleParams", "ImageCompressionParams", "CoarseDropoutParams", "GridDropoutParams", "PixelDropoutParams",
    "downscale_factor", "multiplier_field", "grid_boxes", "pixel_drop_mask", "WEBP_MAX_SIDE", "DEGRADE_OPS",
]

WEBP_MAX_SIDE = 16383  # the WebP format's limit


class MedianBlurParams(OpParams):
    kernel_size: IntRange(ge=3, le=99) = Field((3, 7), description="side of the median window in pixels (odd)")


def _sample_median_blur(p: MedianBlurParams, rng, ctx) -> dict:
    size = integer(rng, p.kernel_size)
    return {"kernel_size": size if size % 2 else size + 1}


class DefocusParams(OpParams):
    radius: IntRange(ge=1, le=50) = Field((3, 10), description="radius of the out-of-focus disc in pixels")
    alias_blur: FloatRange(ge=0, le=10) = Field((0.1, 0.5), description="Gaussian softening of the disc's edge")


def _sample_defocus(p: DefocusParams, rng, ctx) -> dict:
    return {"radius": integer(rng, p.radius), "alias_blur": uniform(rng, p.alias_blur)}


class ZoomBlurParams(OpParams):
    max_factor: FloatRange(ge=1, le=5) = Field((1.0, 1.31), description="largest zoom of the averaged copies")
    step_factor: FloatRange(ge=0.01, le=1) = Field((0.01, 0.03), description="zoom step between copies")


def _sample_zoom_blur(p: ZoomBlurParams, rng, ctx) -> dict:
    step = uniform(rng, p.step_factor)
    top = max(1.0 + step, uniform(rng, p.max_factor))
    return {"zoom_factors": [float(v) for v in np.arange(1.0, top, step)]}


class ISONoiseParams(OpParams):
    color_shift: FloatRange(ge=0, le=1) = Field((0.01, 0.05), description="hue noise (fraction of the circle)")
    intensity: FloatRange(ge=0, le=10) = Field((0.1, 0.5), description="strength of the luminance noise")


def _sample_iso_noise(p: ISONoiseParams, rng, ctx) -> dict:
    return {"color_shift": uniform(rng, p.color_shift), "intensity": uniform(rng, p.intensity),
            "noise_seed": child_seed(rng)}


class MultiplicativeNoiseParams(OpParams):
    multiplier: FloatRange(ge=0, le=10) = Field((0.9, 1.1), description="pixels are multiplied by a draw from this")
    per_channel: bool = Field(False, description="one multiplier per channel instead of one for all")
    elementwise: bool = Field(False, description="one multiplier per pixel (a noise field) instead of one per image")


def _sample_multiplicative_noise(p: MultiplicativeNoiseParams, rng, ctx) -> dict:
    return {"noise_seed": child_seed(rng)}


def multiplier_field(shape: tuple[int, int, int], p: MultiplicativeNoiseParams, noise_seed: int) -> np.ndarray:
    """The float32 multipliers (broadcastable to ``shape``) regenerated from the recorded seed."""
    g = np.random.default_rng(noise_seed)
    h, w, c = shape
    size = ((h, w) if p.elementwise else (1, 1)) + ((c,) if p.per_channel else (1,))
    lo, hi = p.multiplier
    return g.uniform(lo, hi, size).astype(np.float32)


class DownscaleParams(OpParams):
    scale: FloatRange(gt=0, le=1) = Field((0.25, 0.5), description="size of the intermediate image (fraction)")
    interpolation_down: Interpolation = "nearest"
    interpolation_up: Interpolation = "linear"


def _sample_downscale(p: DownscaleParams, rng, ctx) -> dict:
    return {"scale": uniform(rng, p.scale)}


def downscale_factor(height: int, width: int, scale: float) -> float:
    """The drawn scale, raised where the intermediate image would lose a whole side (a 1-pixel side stays 1)."""
    return max(scale, 1.0 / min(height, width))


class ImageCompressionParams(OpParams):
    quality: IntRange(ge=1, le=100) = Field((50, 95), description="encoder quality")
    format: Literal["jpeg", "webp"] = Field("jpeg", description="codec of the simulated re-encoding")


def _sample_image_compression(p: ImageCompressionParams, rng, ctx) -> dict:
    return {"quality": integer(rng, p.quality)}


class _DropoutRules(AnnotationRules):
    erase_covered: float | None = Field(
        None, gt=0, le=1,
        description="annotations: drop an object when the holes cover at least this fraction of its box")
    mask_fill: int | None = Field(
        None, ge=0, le=255,
        description="annotations: write this into semantic masks under the holes and erase instance masks there")


_FILL_MODES = ("random", "random_uniform", "inpaint_telea", "inpaint_ns")


class CoarseDropoutParams(_DropoutRules):
    holes: IntRange(ge=1, le=100) = Field((1, 8), description="number of rectangles erased")
    height: FloatRange(gt=0, le=1) = Field((0.05, 0.2), description="hole height as a fraction of the image height")
    width: FloatRange(gt=0, le=1) = Field((0.05, 0.2), description="hole width as a fraction of the image width")
    fill: int | Literal["random", "random_uniform", "inpaint_telea", "inpaint_ns"] = Field(
        0, description="a value 0-255, per-pixel noise (random), one random colour per hole (random_uniform) or "
        "OpenCV inpainting")

    @field_validator("fill", mode="before")
    @classmethod
    def _fill(cls, value):
        # one message for the union, not one per member
        ok = (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255) or value in _FILL_MODES
        if not ok:
            raise ValueError(f"expected a value 0-255 or one of {', '.join(_FILL_MODES)}, got {value!r}")
        return value


def _sample_coarse_dropout(p: CoarseDropoutParams, rng, ctx) -> dict:
    boxes = []
    for _ in range(integer(rng, p.holes)):
        h = max(1, int(round(uniform(rng, p.height) * ctx.height)))
        w = max(1, int(round(uniform(rng, p.width) * ctx.width)))
        boxes.append([integer(rng, (0, ctx.height - h)), integer(rng, (0, ctx.width - w)), h, w])
    return {"boxes": boxes, "fill_seed": child_seed(rng)}


class GridDropoutParams(_DropoutRules):
    ratio: float = Field(0.5, gt=0, lt=1, description="hole side as a fraction of the grid unit")
    unit_size: IntRange(ge=2, le=65535) = Field((10, 20), description="grid unit (pixels), drawn per image")
    random_offset: bool = Field(True, description="shift the grid by a random offset")
    fill: int = Field(0, ge=0, le=255)


def _sample_grid_dropout(p: GridDropoutParams, rng, ctx) -> dict:
    unit = min(integer(rng, p.unit_size), max(2, min(ctx.height, ctx.width)))
    hole = max(1, min(unit - 1, int(round(unit * p.ratio))))
    oy = integer(rng, (0, unit - hole)) if p.random_offset else 0
    ox = integer(rng, (0, unit - hole)) if p.random_offset else 0
    return {"unit": unit, "hole": hole, "offset_y": oy, "offset_x": ox}


def grid_boxes(height: int, width: int, d: dict) -> list[list[int]]:
    """``[top, left, h, w]`` of every hole of a grid dropout, clipped to the image."""
    unit, hole, oy, ox = d["unit"], d["hole"], d["offset_y"], d["offset_x"]
    boxes = []
    for top in range(oy, height, unit):
        for left in range(ox, width, unit):
            boxes.append([top, left, min(hole, height - top), min(hole, width - left)])
    return boxes


class PixelDropoutParams(OpParams):
    dropout_prob: float = Field(0.01, ge=0, le=1, description="chance that a pixel is dropped")
    per_channel: bool = Field(False, description="drop channels of a pixel independently")
    drop_value: int = Field(0, ge=0, le=255, description="value written into dropped pixels")


def _sample_pixel_dropout(p: PixelDropoutParams, rng, ctx) -> dict:
    return {"noise_seed": child_seed(rng)}


def pixel_drop_mask(shape: tuple[int, int, int], p: PixelDropoutParams, noise_seed: int) -> np.ndarray:
    """Boolean (H, W, C) mask of the dropped pixels, regenerated from the recorded seed."""
    h, w, c = shape
    g = np.random.default_rng(noise_seed)
    if p.per_channel:
        return g.random((h, w, c)) < p.dropout_prob
    return np.repeat((g.random((h, w)) < p.dropout_prob)[:, :, None], c, axis=2)


DEGRADE_OPS: list[OpDef] = [
    OpDef("median_blur", "image", MedianBlurParams, "median filter", sample=_sample_median_blur),
    OpDef("defocus", "image", DefocusParams, "out-of-focus (disc) blur", sample=_sample_defocus),
    OpDef("zoom_blur", "image", ZoomBlurParams, "average of zoomed copies (radial blur)", sample=_sample_zoom_blur),
    OpDef("iso_noise", "image", ISONoiseParams, "camera sensor noise (hue and luminance)", sample=_sample_iso_noise),
    OpDef("multiplicative_noise", "image", MultiplicativeNoiseParams, "multiply pixels by random factors",
          sample=_sample_multiplicative_noise),
    OpDef("downscale", "image", DownscaleParams, "shrink and enlarge back (loss of detail)",
          sample=_sample_downscale),
    OpDef("image_compression", "image", ImageCompressionParams, "JPEG or WebP compression artefacts",
          sample=_sample_image_compression),
    OpDef("coarse_dropout", "image", CoarseDropoutParams, "erase random rectangles with a fill mode",
          sample=_sample_coarse_dropout),
    OpDef("grid_dropout", "image", GridDropoutParams, "erase squares on a regular grid", sample=_sample_grid_dropout),
    OpDef("pixel_dropout", "image", PixelDropoutParams, "set random pixels to a value", sample=_sample_pixel_dropout),
]
