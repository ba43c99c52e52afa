"""Colour and tone image ops beyond the core set, and ``normalize`` (the finishing op of a training transform).

All of them change pixel values only (annotations unchanged; an alpha channel is left alone). ``normalize`` is the
one op whose output is float32: it must be the last op of a pipeline.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from augment.ops.image_ops import NoParams
from augment.ops.params import FloatRange, IntRange, integer, uniform
from augment.ops.registry import OpDef, OpParams, list_as_tuple

__all__ = [
    "ColorJitterParams", "ClaheParams", "PosterizeParams", "SolarizeParams", "RGBShiftParams", "FancyPCAParams",
    "NormalizeParams", "ToDtypeParams", "to_dtype", "SEPIA", "colour_channels", "normalize_values", "COLOUR_OPS",
]

SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


def colour_channels(channels: int) -> int:
    """Channels a pixel op sees: an alpha channel (2 or 4 channels) is set aside before it runs."""
    return channels - 1 if channels in (2, 4) else channels


class ColorJitterParams(OpParams):
    brightness: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="brightness factor; 1 keeps the image")
    contrast: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="contrast factor; 1 keeps the image")
    saturation: FloatRange(ge=0, le=10) = Field((0.8, 1.2), description="saturation factor (colour images)")
    hue: FloatRange(ge=-0.5, le=0.5) = Field((-0.1, 0.1), description="hue shift as a fraction of the colour circle")


def _sample_color_jitter(p: ColorJitterParams, rng, ctx) -> dict:
    # torchvision's ColorJitter: the four adjustments in a random order
    return {"order": [int(i) for i in rng.permutation(4)], "brightness": uniform(rng, p.brightness),
            "contrast": uniform(rng, p.contrast), "saturation": uniform(rng, p.saturation), "hue": uniform(rng, p.hue)}


class ClaheParams(OpParams):
    clip_limit: FloatRange(ge=1, le=100) = Field((1.0, 4.0), description="contrast limit of each tile's histogram")
    tile_grid_size: Annotated[tuple[int, int], BeforeValidator(list_as_tuple)] = Field(
        (8, 8), description="tiles [rows, columns] the image is equalised in")

    @model_validator(mode="after")
    def _tiles(self):
        if not all(1 <= t <= 256 for t in self.tile_grid_size):
            raise ValueError(f"tile_grid_size must be two integers in 1..256, got {list(self.tile_grid_size)}")
        return self


def _sample_clahe(p: ClaheParams, rng, ctx) -> dict:
    return {"clip_limit": uniform(rng, p.clip_limit)}


class PosterizeParams(OpParams):
    bits: IntRange(ge=1, le=8) = Field((4, 8), description="bits kept per channel (8 keeps the image)")


def _sample_posterize(p: PosterizeParams, rng, ctx) -> dict:
    return {"bits": integer(rng, p.bits)}


class SolarizeParams(OpParams):
    threshold: FloatRange(ge=0, le=1) = Field(
        (0.4, 0.6), description="pixels at or above this fraction of white are inverted")


def _sample_solarize(p: SolarizeParams, rng, ctx) -> dict:
    return {"threshold": uniform(rng, p.threshold)}


def _nothing(p, rng, ctx) -> dict:
    return {}


def _sample_channel_shuffle(p, rng, ctx) -> dict:
    return {"order": [int(i) for i in rng.permutation(colour_channels(ctx.channels))]}


class RGBShiftParams(OpParams):
    r_shift: FloatRange(ge=-255, le=255) = Field((-20.0, 20.0), description="added to the red channel")
    g_shift: FloatRange(ge=-255, le=255) = Field((-20.0, 20.0), description="added to the green channel")
    b_shift: FloatRange(ge=-255, le=255) = Field((-20.0, 20.0), description="added to the blue channel")


def _sample_rgb_shift(p: RGBShiftParams, rng, ctx) -> dict:
    return {"shift": [uniform(rng, p.r_shift), uniform(rng, p.g_shift), uniform(rng, p.b_shift)]}


class FancyPCAParams(OpParams):
    alpha: float = Field(0.1, ge=0, le=10, description="standard deviation of the weights of the colour PCA axes")


def _sample_fancy_pca(p: FancyPCAParams, rng, ctx) -> dict:
    return {"alpha_vector": [float(v) for v in rng.normal(0.0, p.alpha, 3)] if p.alpha > 0 else [0.0, 0.0, 0.0]}


_Floats = Annotated[tuple[float, ...], BeforeValidator(list_as_tuple)]


class NormalizeParams(OpParams):
    mean: _Floats = Field((0.485, 0.456, 0.406), description="per-channel mean, in units of max_pixel_value")
    std: _Floats = Field((0.229, 0.224, 0.225), description="per-channel standard deviation, same units")
    max_pixel_value: float = Field(255.0, gt=0, le=65535, description="pixel value that stands for 1.0")

    @model_validator(mode="after")
    def _check(self):
        if not 1 <= len(self.mean) <= 4 or len(self.mean) != len(self.std):
            raise ValueError(f"mean and std need the same number of values (1 to 4), got {len(self.mean)} and "
                             f"{len(self.std)}")
        if any(not np.isfinite(v) for v in self.mean + self.std) or min(self.std) <= 0:
            raise ValueError(f"std values must be > 0 and all values finite, got std {list(self.std)}")
        return self


def normalize_values(p: NormalizeParams, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std) in pixel units: one value serves every channel; with an alpha channel beyond the
    values given, alpha is only scaled (mean 0, std 1)."""
    mean, std = np.array(p.mean, np.float64), np.array(p.std, np.float64)
    if len(mean) == 1:
        mean, std = np.repeat(mean, channels), np.repeat(std, channels)
    elif len(mean) == channels - 1 and channels in (2, 4):
        mean, std = np.append(mean, 0.0), np.append(std, 1.0)
    elif len(mean) != channels:
        raise ValueError(f"normalize has {len(mean)} mean/std values but the image has {channels} channels: "
                         "give one value or one per channel")
    return mean * p.max_pixel_value, std * p.max_pixel_value


class ToDtypeParams(OpParams):
    dtype: Literal["float32", "uint8"] = Field("float32", description="pixel type to convert to")
    scale: bool = Field(True, description="map 0-255 to 0.0-1.0 (and back, rounding); else keep the values")


def _sample_to_dtype(p: ToDtypeParams, rng, ctx) -> dict:
    return {"dtype": p.dtype}  # recorded so that a tensor caller gets this dtype back (no draw)


def to_dtype(image: np.ndarray, p: ToDtypeParams) -> np.ndarray:
    """``image`` as ``p.dtype``: uint8 -> float32 divides by 255 (``scale``), float -> uint8 multiplies by 255,
    rounds and clips; the same dtype is a copy."""
    if image.dtype == np.dtype(p.dtype):
        return image.copy()
    if p.dtype == "float32":
        out = image.astype(np.float32)
        return out / np.float32(255.0) if p.scale and image.dtype == np.uint8 else out
    values = image.astype(np.float64) * (255.0 if p.scale else 1.0)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


COLOUR_OPS: list[OpDef] = [
    OpDef("color_jitter", "image", ColorJitterParams, "brightness, contrast, saturation and hue in random order",
          sample=_sample_color_jitter),
    OpDef("clahe", "image", ClaheParams, "contrast-limited adaptive histogram equalisation", sample=_sample_clahe),
    OpDef("equalize", "image", NoParams, "histogram equalisation per channel", sample=_nothing),
    OpDef("posterize", "image", PosterizeParams, "keep only the top bits of each channel", sample=_sample_posterize),
    OpDef("solarize", "image", SolarizeParams, "invert the pixels above a threshold", sample=_sample_solarize),
    OpDef("invert", "image", NoParams, "negative image", sample=_nothing),
    OpDef("channel_shuffle", "image", NoParams, "permute the colour channels", sample=_sample_channel_shuffle),
    OpDef("rgb_shift", "image", RGBShiftParams, "add a value to each of R, G and B", sample=_sample_rgb_shift),
    OpDef("to_sepia", "image", NoParams, "sepia tone", sample=_nothing),
    OpDef("fancy_pca", "image", FancyPCAParams, "AlexNet colour augmentation along the image's PCA axes",
          sample=_sample_fancy_pca),
    OpDef("normalize", "image", NormalizeParams, "(pixel / max_pixel_value - mean) / std as float32; the last op",
          sample=_nothing),
    OpDef("to_dtype", "image", ToDtypeParams, "uint8 <-> float32 (0-255 <-> 0.0-1.0); ends a training transform",
          sample=_sample_to_dtype),
]
