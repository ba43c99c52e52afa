"""Three small ops showing the plugin API: a pixel-only image op, a geometric image op with annotation hooks, and a
text op. Each draws only from the generator it is given and records plain JSON values."""

from __future__ import annotations

import numpy as np
from pydantic import Field

import augment
from augment.ops.params import FloatRange, IntRange, integer, uniform

__all__ = ["StainJitterParams", "StainJitter", "TranslateParams", "Translate", "ShoutWordParams", "ShoutWord"]


class StainJitterParams(augment.OpParams):
    scale: FloatRange(ge=-0.9, le=1.0) = Field((-0.05, 0.05), description="relative change of each channel's stain density")
    shift: FloatRange(ge=-1.0, le=1.0) = Field((-0.02, 0.02), description="added optical density per channel")


class StainJitter(augment.ImageOp):
    """Jitter stain intensities in optical-density space (histology H&E colour variation)."""

    name = "stain_jitter"
    Params = StainJitterParams
    pixel_only = True

    def sample(self, params, rng, ctx):
        channels = min(ctx.channels, 3)
        return {"scale": [uniform(rng, params.scale) for _ in range(channels)],
                "shift": [uniform(rng, params.shift) for _ in range(channels)]}

    def apply(self, image, drawn):
        out = image.copy()
        n = len(drawn["scale"])
        od = -np.log((image[:, :, :n].astype(np.float64) + 1.0) / 256.0)
        od = od * (1.0 + np.asarray(drawn["scale"])) + np.asarray(drawn["shift"])
        out[:, :, :n] = np.clip(np.rint(256.0 * np.exp(-od) - 1.0), 0, 255).astype(np.uint8)
        return out


class TranslateParams(augment.OpParams):
    max_shift: IntRange(ge=-64, le=64) = Field((-4, 4), description="shift in pixels, drawn per axis")
    fill: int = Field(0, ge=0, le=255)


class Translate(augment.ImageOp):
    """Shift the image by whole pixels (borders filled); boxes, polygons, keypoints and masks follow."""

    name = "translate"
    Params = TranslateParams
    straight_lines = True  # a shift: polygons keep their vertices

    def sample(self, params, rng, ctx):
        return {"dx": integer(rng, params.max_shift), "dy": integer(rng, params.max_shift)}

    @staticmethod
    def _shift(a, dx, dy, fill):
        h, w = a.shape[:2]
        out = np.full_like(a, fill)
        xs, xd = (slice(0, max(w - dx, 0)), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        ys, yd = (slice(0, max(h - dy, 0)), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        if abs(dx) < w and abs(dy) < h:
            out[yd, xd] = a[ys, xs]
        return out

    def apply(self, image, drawn):
        return self._shift(image, drawn["dx"], drawn["dy"], self.params.fill)

    def map_points(self, xy, drawn, image_hw):
        return xy + np.array([drawn["dx"], drawn["dy"]], dtype=np.float64)

    def map_mask(self, mask, drawn):
        return self._shift(mask, drawn["dx"], drawn["dy"], 0)


class ShoutWordParams(augment.OpParams):
    words: int = Field(1, ge=1, le=100, description="how many words to upper-case")


class ShoutWord(augment.TextOp):
    """Upper-case a few randomly chosen words."""

    name = "shout_word"
    Params = ShoutWordParams

    def apply(self, text, rng):
        tokens = text.split(" ")
        picks = rng.choice(len(tokens), size=min(self.params.words, len(tokens)), replace=False)
        changes = []
        for i in sorted(int(i) for i in picks):
            if tokens[i].upper() != tokens[i]:
                changes.append({"action": "substitute", "position": i, "before": tokens[i], "after": tokens[i].upper()})
                tokens[i] = tokens[i].upper()
        return augment.ops.TextOpResult(" ".join(tokens), changes)
