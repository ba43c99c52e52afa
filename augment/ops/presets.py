"""Ready-made policies as ops: ``trivial_augment``, ``rand_augment`` and ``augmix``.

Each preset is an ordinary image op: its sampler draws which sub-ops run and with what values, and returns them as
plain JSON (``{"ops": [{"op": "rotate", "as": "rotate", "params": {"angle": 12.5}}, ...]}``). That dict is what the
manifest records, so ``augment replay`` reproduces a preset's output exactly like any other op's. Applying walks
the recorded sub-ops through the backend's own kernels (the existing ops, with their default settings); nothing
here is random after sampling.

The sub-op list follows TrivialAugment's "wide" set as far as our ops cover it (identity, rotate, shear,
translate x/y, brightness, contrast, colour, sharpness); there is deliberately no flip, since flips change the
meaning of some data (hand signs, text) and belong in a pipeline only when the user asks for them. Magnitude
``m`` in [0, 1] maps to: rotate 30 m degrees, shear 17 m degrees, translate 0.3 m of the side, and factors
1 +- 0.9 m for brightness, contrast, saturation and sharpness; each sub-op's sign is drawn.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import Field

from augment.ops.params import IntRange, integer
from augment.ops.registry import OpDef, OpParams

def _affine(**values: float) -> dict:
    return {"angle": 0.0, "translate_x": 0.0, "translate_y": 0.0, "scale": 1.0, "shear": 0.0, **values}


# sub-op name -> (the op that applies it, its drawn values for a signed magnitude m in [-1, 1])
_SUB_OPS: dict[str, tuple[str, Callable[[float], dict]]] = {
    "identity": ("", lambda m: {}),
    "rotate": ("rotate", lambda m: {"angle": 30.0 * m}),
    "shear": ("affine", lambda m: _affine(shear=17.0 * m)),
    "translate_x": ("affine", lambda m: _affine(translate_x=0.3 * m)),
    "translate_y": ("affine", lambda m: _affine(translate_y=0.3 * m)),
    "brightness": ("brightness_contrast", lambda m: {"brightness": 1.0 + 0.9 * m, "contrast": 1.0}),
    "contrast": ("brightness_contrast", lambda m: {"brightness": 1.0, "contrast": 1.0 + 0.9 * m}),
    "color": ("hsv", lambda m: {"hue": 0.0, "saturation": 1.0 + 0.9 * m, "value": 1.0}),
    "sharpness": ("sharpen", lambda m: {"factor": 1.0 + 0.9 * m}),
}
SUB_OPS = tuple(_SUB_OPS)
# presets that run one chain of ordinary sub-ops on the image (annotations can follow each sub-op); augmix blends
# several chains instead
CHAIN_PRESETS = ("trivial_augment", "rand_augment")
# ImageNet-C overlap is why AugMix leaves out colour ops that resemble test corruptions; ours have none such.
_AUGMIX_OPS = ("identity", "rotate", "shear", "translate_x", "translate_y", "brightness", "contrast", "color",
               "sharpness")


def _draw_sub(rng: np.random.Generator, names: tuple[str, ...], magnitude: float) -> dict:
    name = names[int(rng.integers(len(names)))]
    signed = magnitude if rng.random() < 0.5 else -magnitude
    op, values = _SUB_OPS[name]
    return {"op": op, "as": name, "params": {k: round(float(v), 6) for k, v in values(signed).items()}}


def _apply_chain(image: np.ndarray, ops: list[dict], apply_sub) -> np.ndarray:
    out = image
    for sub in ops:
        if sub["op"]:
            out = apply_sub(sub["op"], out, sub["params"])
    return out.copy() if out is image else out


# --- trivial_augment -----------------------------------------------------------------------------------------


class TrivialAugmentParams(OpParams):
    max_magnitude: float = Field(1.0, gt=0, le=1, description="strongest magnitude drawn (uniform in [0, max])")


def _sample_trivial(p: TrivialAugmentParams, rng, ctx) -> dict:
    magnitude = float(rng.uniform(0.0, p.max_magnitude))
    return {"ops": [_draw_sub(rng, SUB_OPS, magnitude)], "magnitude": magnitude}


def _compose_chain(image, drawn, params, apply_sub):
    return _apply_chain(image, drawn["ops"], apply_sub)


# --- rand_augment --------------------------------------------------------------------------------------------


class RandAugmentParams(OpParams):
    n: int = Field(2, ge=1, le=10, description="sub-ops applied in a row (drawn with replacement)")
    magnitude: float = Field(0.5, ge=0, le=1, description="strength of every sub-op, 0-1 (RandAugment's M/30)")


def _sample_rand(p: RandAugmentParams, rng, ctx) -> dict:
    return {"ops": [_draw_sub(rng, SUB_OPS, p.magnitude) for _ in range(p.n)]}


# --- augmix --------------------------------------------------------------------------------------------------


class AugMixParams(OpParams):
    width: int = Field(3, ge=1, le=10, description="augmentation chains mixed")
    depth: IntRange(ge=1, le=10) = Field((1, 3), description="sub-ops per chain")
    severity: float = Field(0.3, ge=0, le=1, description="largest sub-op magnitude (drawn uniform in [0, severity])")
    alpha: float = Field(1.0, gt=0, le=100, description="Dirichlet (chain weights) and Beta (mix) concentration")


def _sample_augmix(p: AugMixParams, rng, ctx) -> dict:
    weights = rng.dirichlet([p.alpha] * p.width).tolist()
    mix = float(rng.beta(p.alpha, p.alpha))
    chains = []
    for _ in range(p.width):
        chains.append([_draw_sub(rng, _AUGMIX_OPS, float(rng.uniform(0.0, p.severity)))
                       for _ in range(integer(rng, p.depth))])
    return {"chains": chains, "weights": weights, "mix": mix}


def _compose_augmix(image, drawn, params, apply_sub):
    mixed = np.zeros(image.shape, dtype=np.float32)
    for w, chain in zip(drawn["weights"], drawn["chains"]):
        out = _apply_chain(image, chain, apply_sub)
        if out.shape != image.shape:  # a sub-op that drops channels (none today) must not break the mix
            raise ValueError(f"augmix chain changed the image shape from {image.shape} to {out.shape}")
        mixed += np.float32(w) * out.astype(np.float32)
    m = np.float32(drawn["mix"])
    result = (1.0 - m) * image.astype(np.float32) + m * mixed
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


PRESET_OPS: list[OpDef] = [
    OpDef("trivial_augment", "image", TrivialAugmentParams,
          "TrivialAugment: one random sub-op at a random magnitude (no tuning)", sample=_sample_trivial,
          compose=_compose_chain),
    OpDef("rand_augment", "image", RandAugmentParams, "RandAugment: n random sub-ops at one magnitude",
          sample=_sample_rand, compose=_compose_chain),
    OpDef("augmix", "image", AugMixParams, "AugMix: a random mix of augmentation chains with the original",
          sample=_sample_augmix, compose=_compose_augmix),
]


__all__ = ["SUB_OPS", "CHAIN_PRESETS", "TrivialAugmentParams", "RandAugmentParams", "AugMixParams", "PRESET_OPS"]
