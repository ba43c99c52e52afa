"""Weather and light ops: fog, rain, snow, shadows and sun flare (pixel values only; annotations unchanged).

Drawn values are the effect's own geometry (shadow polygons, flare circles) or, where it has hundreds of particles,
a seed that ``fog_particles`` / ``rain_drops`` turn back into them, the same on every backend.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from augment.ops.params import FloatRange, IntRange, integer, uniform
from augment.ops.registry import OpDef, OpParams, list_as_tuple
from augment.seeding import child_seed

__all__ = [
    "FogParams", "RainParams", "SnowParams", "ShadowParams", "SunFlareParams", "fog_particles", "rain_drops",
    "rain_drop_count", "WEATHER_OPS",
]

_Colour = Annotated[tuple[Annotated[int, Field(ge=0, le=255)], Annotated[int, Field(ge=0, le=255)],
                          Annotated[int, Field(ge=0, le=255)]], BeforeValidator(list_as_tuple)]
_Roi = Annotated[tuple[float, float, float, float], BeforeValidator(list_as_tuple)]


def _check_roi(roi: tuple) -> None:
    x0, y0, x1, y1 = roi
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"roi must be [x_min, y_min, x_max, y_max] fractions with min < max, got {list(roi)}")


class FogParams(OpParams):
    fog_coef: FloatRange(ge=0, le=1) = Field((0.3, 1.0), description="fog intensity")
    alpha_coef: float = Field(0.08, ge=0, le=1, description="transparency of each fog particle")


def _sample_fog(p: FogParams, rng, ctx) -> dict:
    return {"intensity": uniform(rng, p.fog_coef), "particle_seed": child_seed(rng)}


def fog_particles(height: int, width: int, intensity: float, seed: int) -> tuple[list, list]:
    """Fog particle centres and radii (albumentations' recipe: denser towards the centre), from the seed."""
    g = np.random.default_rng(seed)
    region = max(1, int(width // 3 * intensity))
    cx, cy = width // 2, height // 2
    cw, ch = width, height
    positions = []
    for _ in range(10):
        if not (cw > region and ch > region):
            break
        n = int(cw * ch / (region * region) * intensity * 10)
        xs = g.integers(cx - cw // 2, cx + cw // 2 + 1, n)
        ys = g.integers(cy - ch // 2, cy + ch // 2 + 1, n)
        positions += [(int(x), int(y)) for x, y in zip(xs, ys)]
        cw, ch = int(cw * 0.9), int(ch * 0.9)
    top = max(2, int(min(height, width) * 0.1 * intensity))
    radii = [int(r) for r in g.integers(max(1, top // 2), top, len(positions))] if positions else []
    return positions, radii


class RainParams(OpParams):
    slant: FloatRange(ge=-45, le=45) = Field((-10.0, 10.0), description="slant of the drops in pixels per length")
    drop_length: int | None = Field(None, ge=1, le=1000, description="drop length in pixels; default height / 8")
    drop_width: int = Field(1, ge=1, le=5)
    drop_color: _Colour = (200, 200, 200)
    blur_value: int = Field(7, ge=1, le=19, description="blur of the rainy view (pixels)")
    brightness_coefficient: float = Field(0.7, gt=0, le=1, description="rain darkens the view by this factor")
    rain_type: Literal["default", "drizzle", "heavy", "torrential"] = "default"


def rain_drop_count(height: int, rain_type: str) -> int:
    return {"drizzle": height // 4, "heavy": height, "torrential": height * 2}.get(rain_type, height // 3)


def _sample_rain(p: RainParams, rng, ctx) -> dict:
    length = max(1, ctx.height // 8) if p.drop_length is None else p.drop_length
    return {"slant": uniform(rng, p.slant), "drop_length": length, "drops_seed": child_seed(rng)}


def rain_drops(height: int, width: int, d: dict, rain_type: str) -> np.ndarray:
    """(N, 2) int32 x, y of the drops' upper ends, from the recorded seed."""
    n = rain_drop_count(height, rain_type)
    g = np.random.default_rng(d["drops_seed"])
    return g.integers([0, 0], [width, max(1, height - d["drop_length"])], size=(n, 2), dtype=np.int32)


class SnowParams(OpParams):
    snow_point: FloatRange(ge=0, le=1) = Field((0.1, 0.3), description="share of the brightness range turned white")
    brightness_coeff: float = Field(2.5, gt=0, le=10, description="how much snowy areas are brightened")


def _sample_snow(p: SnowParams, rng, ctx) -> dict:
    return {"snow_point": uniform(rng, p.snow_point)}


class ShadowParams(OpParams):
    shadow_roi: _Roi = Field((0.0, 0.5, 1.0, 1.0), description="region the shadows fall in (fractions)")
    num_shadows: IntRange(ge=1, le=20) = Field((1, 2), description="number of shadow polygons")
    shadow_dimension: int = Field(5, ge=3, le=20, description="corners of each shadow polygon")
    shadow_intensity: FloatRange(ge=0, le=1) = Field((0.5, 0.5), description="darkening of a shadow")

    @model_validator(mode="after")
    def _roi(self):
        _check_roi(self.shadow_roi)
        return self


def _sample_shadow(p: ShadowParams, rng, ctx) -> dict:
    x0, y0, x1, y1 = p.shadow_roi
    xa, xb = int(x0 * ctx.width), max(int(x0 * ctx.width) + 1, int(x1 * ctx.width))
    ya, yb = int(y0 * ctx.height), max(int(y0 * ctx.height) + 1, int(y1 * ctx.height))
    shadows, intensities = [], []
    for _ in range(integer(rng, p.num_shadows)):
        xs, ys = rng.integers(xa, xb, p.shadow_dimension), rng.integers(ya, yb, p.shadow_dimension)
        shadows.append([[int(x), int(y)] for x, y in zip(xs, ys)])
        intensities.append(uniform(rng, p.shadow_intensity))
    return {"shadows": shadows, "intensities": intensities}


class SunFlareParams(OpParams):
    flare_roi: _Roi = Field((0.0, 0.0, 1.0, 0.5), description="region the sun's centre falls in (fractions)")
    angle: FloatRange(ge=0, le=1) = Field((0.0, 1.0), description="direction of the flare line (turns)")
    num_flare_circles: IntRange(ge=1, le=50) = Field((6, 10), description="number of lens-flare circles")
    src_radius: int = Field(100, ge=1, le=10000, description="radius of the sun in pixels")
    src_color: _Colour = (255, 255, 255)

    @model_validator(mode="after")
    def _roi(self):
        _check_roi(self.flare_roi)
        return self


def _sample_sun_flare(p: SunFlareParams, rng, ctx) -> dict:
    # albumentations' RandomSunFlare recipe, drawn from our generator
    h, w = ctx.height, ctx.width
    angle = 2 * math.pi * uniform(rng, p.angle)
    x0, y0, x1, y1 = p.flare_roi
    cx, cy = int(w * uniform(rng, (x0, x1))), int(h * uniform(rng, (y0, y1)))
    step = max(1, int(math.sqrt(h * h + w * w) * 0.01))
    max_radius = max(2, int(h * 0.01))
    colour_range = int(max(p.src_color) * 0.2)
    ts = list(range(-cx, w - cx, step)) or [0]
    circles = []
    for _ in range(integer(rng, p.num_flare_circles)):
        alpha = uniform(rng, (0.05, 0.2))
        t = ts[int(rng.integers(0, len(ts)))]
        x, y = int(cx + t * math.cos(angle)), int(cy + t * math.sin(angle))
        radius = integer(rng, (1, max_radius)) ** 3
        colour = [integer(rng, (max(c - colour_range, 0), c)) for c in p.src_color]
        circles.append([alpha, x, y, radius, *colour])
    return {"center": [cx, cy], "circles": circles}


WEATHER_OPS: list[OpDef] = [
    OpDef("random_fog", "image", FogParams, "fog (translucent particles, denser in the centre)", sample=_sample_fog),
    OpDef("random_rain", "image", RainParams, "rain streaks over a dimmed, blurred view", sample=_sample_rain),
    OpDef("random_snow", "image", SnowParams, "snow (bright areas bleached white)", sample=_sample_snow),
    OpDef("random_shadow", "image", ShadowParams, "polygonal shadows", sample=_sample_shadow),
    OpDef("random_sun_flare", "image", SunFlareParams, "sun and lens-flare circles", sample=_sample_sun_flare),
]
