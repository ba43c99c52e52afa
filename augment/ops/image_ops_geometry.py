"""Geometric image ops beyond the core set: resizing, padding, crops, right-angle turns and grid/lens distortion.

Every one moves annotations (``augment.compile.targets`` maps boxes, masks and keypoints with the same drawn
values). Sizes that follow from the params and the image (resize targets, centre positions) are still recorded,
so a manifest says exactly what happened to each output.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field, field_validator

from augment.ops.image_ops import Border, BoxRules, FlipParams, Interpolation, NoParams
from augment.ops.params import FloatRange, IntRange, integer, uniform
from augment.ops.registry import OpDef

__all__ = [
    "ResizeParams", "MaxSizeParams", "PadIfNeededParams", "PadParams", "pad_sides", "CenterCropParams", "RandomCropParams",
    "BBoxSafeRandomCropParams", "Rot90Params", "GridDistortionParams", "OpticalDistortionParams",
    "max_size_hw", "D4_ELEMENTS", "GEOMETRY_OPS",
]

class ResizeParams(BoxRules):
    height: int = Field(..., ge=1, le=65535, description="output height in pixels")
    width: int = Field(..., ge=1, le=65535, description="output width in pixels")
    interpolation: Interpolation = "linear"


def _no_draw(p, rng, ctx) -> dict:
    return {}


class MaxSizeParams(BoxRules):
    max_size: int = Field(..., ge=1, le=65535, description="target length of the side, in pixels")
    interpolation: Interpolation = "linear"


def max_size_hw(h: int, w: int, max_size: int, longest: bool) -> tuple[int, int]:
    """Output size of longest_max_size / smallest_max_size: the aspect ratio kept, that side at ``max_size``."""
    scale = max_size / (max(h, w) if longest else min(h, w))
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


class PadIfNeededParams(BoxRules):
    min_height: int = Field(..., ge=1, le=65535, description="pad until the image is at least this high")
    min_width: int = Field(..., ge=1, le=65535, description="pad until the image is at least this wide")
    position: Literal["center", "top_left", "top_right", "bottom_left", "bottom_right", "random"] = Field(
        "center", description="where the image sits in the padded canvas")
    border: Border = "constant"
    fill: int = Field(0, ge=0, le=255)


def _split(total: int, where: str, rng) -> tuple[int, int]:
    if total <= 0:
        return 0, 0
    first = {"center": total // 2, "start": 0, "end": total}.get(where)
    if first is None:
        first = integer(rng, (0, total))
    return first, total - first


def _sample_pad_if_needed(p: PadIfNeededParams, rng, ctx) -> dict:
    dh, dw = max(0, p.min_height - ctx.height), max(0, p.min_width - ctx.width)
    pos = p.position
    vertical = "random" if pos == "random" else "center" if pos == "center" else "start" if pos.startswith("top") else "end"
    horizontal = "random" if pos == "random" else "center" if pos == "center" else "start" if pos.endswith("left") else "end"
    top, bottom = _split(dh, vertical, rng)
    left, right = _split(dw, horizontal, rng)
    return {"top": top, "bottom": bottom, "left": left, "right": right}


_Side = Annotated[int, Field(ge=0, le=65535)]


def _edge_is_replicate(value):
    return "replicate" if value == "edge" else value  # numpy's and torchvision's name for the same border


class PadParams(BoxRules):
    padding: Union[_Side, tuple[_Side, _Side], tuple[_Side, _Side, _Side, _Side]] = Field(
        ..., description="pixels to add: one value for every side, [left/right, top/bottom], or [left, top, right, "
                         "bottom] (torchvision's order)")
    border: Annotated[Border, BeforeValidator(_edge_is_replicate)] = Field(
        "constant", description="constant (fill), reflect, or replicate (also written edge)")
    fill: int = Field(0, ge=0, le=255)

    @field_validator("padding", mode="before")
    @classmethod
    def _list_as_tuple(cls, value):
        return tuple(value) if isinstance(value, list) else value


def pad_sides(p: PadParams) -> dict:
    """The pads of ``pad`` as pad_if_needed records them: {top, bottom, left, right}."""
    pad = (p.padding,) * 4 if isinstance(p.padding, int) else p.padding * 2 if len(p.padding) == 2 else p.padding
    left, top, right, bottom = pad
    return {"top": top, "bottom": bottom, "left": left, "right": right}


def _sample_pad(p: PadParams, rng, ctx) -> dict:
    return pad_sides(p)


class CenterCropParams(BoxRules):
    height: int = Field(..., ge=1, le=65535, description="crop height in pixels")
    width: int = Field(..., ge=1, le=65535, description="crop width in pixels")


def _fits(name: str, p, ctx) -> None:
    if p.height > ctx.height or p.width > ctx.width:
        raise ValueError(f"{name} {p.height}x{p.width} is larger than the image ({ctx.height}x{ctx.width}): "
                         "resize or pad_if_needed first")


def _sample_center_crop(p: CenterCropParams, rng, ctx) -> dict:
    _fits("center_crop", p, ctx)
    return {"top": (ctx.height - p.height) // 2, "left": (ctx.width - p.width) // 2}


class RandomCropParams(BoxRules):
    height: int = Field(..., ge=1, le=65535, description="crop height in pixels")
    width: int = Field(..., ge=1, le=65535, description="crop width in pixels")


def _sample_random_crop(p: RandomCropParams, rng, ctx) -> dict:
    _fits("random_crop", p, ctx)
    return {"top": integer(rng, (0, ctx.height - p.height)), "left": integer(rng, (0, ctx.width - p.width))}


class BBoxSafeRandomCropParams(BoxRules):
    erosion_rate: float = Field(
        0.0, ge=0, lt=1, description="how far the crop may cut into the union of the boxes (fraction of its size)")


def _sample_bbox_safe_random_crop(p: BBoxSafeRandomCropParams, rng, ctx) -> dict:
    h, w = ctx.height, ctx.width
    boxes = [b for b in ctx.boxes if b[2] > b[0] and b[3] > b[1]]
    if not boxes:  # no objects to keep: a crop of random size, at least (1 - erosion_rate) of each side
        ch = integer(rng, (max(1, int(math.ceil(h * (1 - p.erosion_rate)))), h))
        cw = integer(rng, (max(1, int(math.ceil(w * (1 - p.erosion_rate)))), w))
        return {"top": integer(rng, (0, h - ch)), "left": integer(rng, (0, w - cw)), "height": ch, "width": cw}
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    ex, ey = (x1 - x0) * p.erosion_rate / 2, (y1 - y0) * p.erosion_rate / 2
    x0, x1 = min(max(0.0, x0 + ex), w - 1.0), max(1.0, min(float(w), x1 - ex))
    y0, y1 = min(max(0.0, y0 + ey), h - 1.0), max(1.0, min(float(h), y1 - ey))
    left, top = integer(rng, (0, int(math.floor(x0)))), integer(rng, (0, int(math.floor(y0))))
    right = integer(rng, (max(left + 1, int(math.ceil(x1))), w))
    bottom = integer(rng, (max(top + 1, int(math.ceil(y1))), h))
    return {"top": top, "left": left, "height": bottom - top, "width": right - left}


class Rot90Params(NoParams):
    turns: IntRange(ge=0, le=3) = Field((0, 3), description="quarter turns counter-clockwise, drawn from this range")


def _sample_rot90(p: Rot90Params, rng, ctx) -> dict:
    return {"k": integer(rng, p.turns)}


# The eight symmetries of the square, with albumentations' names: e identity, r90/r180/r270 counter-clockwise
# turns, h/v horizontal/vertical flips, t transpose, hvt anti-transpose.
D4_ELEMENTS = ("e", "r90", "r180", "r270", "v", "hvt", "h", "t")


def _sample_d4(p: FlipParams, rng, ctx) -> dict:
    return {"element": D4_ELEMENTS[int(rng.integers(0, 8))]}


class GridDistortionParams(BoxRules):
    num_steps: int = Field(5, ge=1, le=50, description="grid cells along each side")
    distort_limit: FloatRange(gt=-1, le=1) = Field(
        (-0.3, 0.3), description="how much each cell grows or shrinks (its size is multiplied by 1 + the draw)")
    border: Border = "constant"
    fill: int = Field(0, ge=0, le=255)
    interpolation: Interpolation = "linear"


def _sample_grid_distortion(p: GridDistortionParams, rng, ctx) -> dict:
    return {"steps_x": [1.0 + uniform(rng, p.distort_limit) for _ in range(p.num_steps)],
            "steps_y": [1.0 + uniform(rng, p.distort_limit) for _ in range(p.num_steps)]}


class OpticalDistortionParams(BoxRules):
    distort_limit: FloatRange(ge=-0.5, le=0.5) = Field(
        (-0.05, 0.05), description="radial lens coefficient k: > 0 barrel, < 0 pincushion")
    border: Border = "constant"
    fill: int = Field(0, ge=0, le=255)
    interpolation: Interpolation = "linear"


def _sample_optical_distortion(p: OpticalDistortionParams, rng, ctx) -> dict:
    return {"k": uniform(rng, p.distort_limit)}


GEOMETRY_OPS: list[OpDef] = [
    OpDef("resize", "image", ResizeParams, "resize to a fixed height and width", sample=_no_draw),
    OpDef("longest_max_size", "image", MaxSizeParams, "resize so the longest side is max_size, keeping the aspect",
          sample=_no_draw),
    OpDef("smallest_max_size", "image", MaxSizeParams,
          "resize so the shortest side is max_size, keeping the aspect", sample=_no_draw),
    OpDef("pad_if_needed", "image", PadIfNeededParams, "pad to at least min_height x min_width",
          sample=_sample_pad_if_needed),
    OpDef("pad", "image", PadParams, "add pixels on each side (constant fill, reflect or replicate)",
          sample=_sample_pad),
    OpDef("center_crop", "image", CenterCropParams, "cut the central height x width window",
          sample=_sample_center_crop),
    OpDef("random_crop", "image", RandomCropParams, "cut a height x width window at a random place",
          sample=_sample_random_crop),
    OpDef("bbox_safe_random_crop", "image", BBoxSafeRandomCropParams,
          "random crop that keeps every box whole (annotated images)", sample=_sample_bbox_safe_random_crop),
    OpDef("transpose", "image", FlipParams, "swap rows and columns (mirror in the main diagonal)", sample=_no_draw),
    OpDef("rot90", "image", Rot90Params, "turn by a random number of quarter turns", sample=_sample_rot90),
    OpDef("d4", "image", FlipParams, "one of the 8 flips and quarter turns of the square, at random", sample=_sample_d4),
    OpDef("grid_distortion", "image", GridDistortionParams, "stretch and squeeze the cells of a grid",
          sample=_sample_grid_distortion),
    OpDef("optical_distortion", "image", OpticalDistortionParams, "radial lens (barrel / pincushion) distortion",
          sample=_sample_optical_distortion),
]
