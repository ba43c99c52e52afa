"""What an image op's drawn values may be, so a recorded draw (a manifest record) is checked before it is applied.

A manifest is a file on disk: it can be edited, truncated or corrupted. Applying what it says without a check
handed OpenCV a NaN angle (a 10-minute spin), an infinite kernel or a box outside the image. Each op's draws are
described here as the keys its sampler returns and, for each key, what the sampler can produce for the spec's
params and the image in hand (``ImageContext``): a number within the op's range, a box inside the image, a
32-bit seed. ``check_drawn`` accepts exactly that and raises ``DrawnValueError`` (one line naming the key) for
anything else: a missing or extra key, a wrong type, a boolean, NaN or infinity, a value out of bounds.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from augment.ops.image_ops_native import native_rules
from augment.ops.registry import ImageContext

_SEED_LIMIT = 2**32  # child_seed draws 32-bit seeds


class DrawnValueError(ValueError):
    """A recorded value this op could not have drawn; the message is one line naming the key."""


Check = Callable[[str, Any], None]


def _fail(key: str, message: str, value: Any) -> None:
    text = repr(value)
    raise DrawnValueError(f"{key}: {message} (recorded {text if len(text) <= 60 else text[:57] + '...'})")


def real(lo: float, hi: float) -> Check:
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(key, "expected a number", value)
        if not math.isfinite(value):
            _fail(key, "expected a finite number", value)
        if not lo <= value <= hi:
            _fail(key, f"outside [{lo}, {hi}], the range this op draws from", value)

    return check


def integer(lo: int, hi: int, odd: bool = False) -> Check:
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(key, "expected an integer", value)
        if not lo <= value <= hi:
            _fail(key, f"outside [{lo}, {hi}]", value)
        if odd and value % 2 == 0:
            _fail(key, "expected an odd integer", value)

    return check


def equal(expected: Any) -> Check:
    def check(key: str, value: Any) -> None:
        if isinstance(value, bool) != isinstance(expected, bool) or value != expected:
            _fail(key, f"expected {expected!r} (the spec's value)", value)

    return check


SEED = integer(0, _SEED_LIMIT - 1)


def one_of(choices: tuple) -> Check:
    def check(key: str, value: Any) -> None:
        if not isinstance(value, str) or value not in choices:
            _fail(key, f"expected one of {', '.join(map(str, choices))}", value)

    return check


def permutation(n: int) -> Check:
    def check(key: str, value: Any) -> None:
        listing(integer(0, max(0, n - 1)), n, n)(key, value)
        if sorted(value) != list(range(n)):
            _fail(key, f"expected a permutation of 0..{n - 1}", value)

    return check


def listing(item: Check, min_len: int, max_len: int) -> Check:
    def check(key: str, value: Any) -> None:
        if not isinstance(value, list):
            _fail(key, "expected a list", value)
        if not min_len <= len(value) <= max_len:
            _fail(key, f"expected {min_len}..{max_len} entries", value)
        for i, entry in enumerate(value):
            item(f"{key}[{i}]", entry)

    return check


def box_in(ctx: ImageContext) -> Check:
    """``[top, left, height, width]`` of a box inside the image."""

    def check(key: str, value: Any) -> None:
        listing(integer(0, max(ctx.height, ctx.width)), 4, 4)(key, value)
        top, left, h, w = value
        if h < 1 or w < 1 or top + h > ctx.height or left + w > ctx.width:
            _fail(key, f"box is not inside the {ctx.height}x{ctx.width} image", value)

    return check


def _window(ctx: ImageContext, height: int | None = None, width: int | None = None) -> dict:
    """A crop's top-left corner (and size, when the op draws it) within the image."""
    return {
        "top": integer(0, ctx.height - (height or 1)), "left": integer(0, ctx.width - (width or 1)),
        **({} if height is not None else {"height": integer(1, ctx.height), "width": integer(1, ctx.width)}),
    }


def _sub_op() -> Check:
    """One recorded sub-op of a preset: ``{"op", "as", "params"}`` with the values its magnitude can give (each
    value is linear in the signed magnitude, so the values at -1 and +1 bound it)."""
    from augment.ops.presets import _SUB_OPS

    def check(key: str, value: Any) -> None:
        if not isinstance(value, dict) or set(value) != {"op", "as", "params"}:
            _fail(key, "expected a sub-op record with op, as and params", value)
        if not isinstance(value["as"], str) or value["as"] not in _SUB_OPS:
            _fail(f"{key}.as", f"expected one of {', '.join(_SUB_OPS)}", value["as"])
        op, values = _SUB_OPS[value["as"]]
        if value["op"] != op:
            _fail(f"{key}.op", f"expected {op!r} for {value['as']}", value["op"])
        low, high = values(-1.0), values(1.0)
        params = value["params"]
        if not isinstance(params, dict) or set(params) != set(low):
            _fail(f"{key}.params", f"expected keys {', '.join(low) or 'none'}", params)
        for k in low:
            real(min(low[k], high[k]), max(low[k], high[k]))(f"{key}.params.{k}", params[k])

    return check


def _check_window(name: str, drawn: dict, ctx: ImageContext) -> None:
    if drawn["top"] + drawn["height"] > ctx.height or drawn["left"] + drawn["width"] > ctx.width:
        raise DrawnValueError(f"{name}: the crop box is not inside the {ctx.height}x{ctx.width} image")


def _rules(name: str, p: Any, ctx: ImageContext) -> dict[str, Check]:
    """The keys ``name``'s sampler returns for params ``p`` and this image, each with its check."""
    if name in ("horizontal_flip", "vertical_flip", "grayscale"):
        return {}
    if name == "rotate":
        return {"angle": real(*p.degrees)}
    if name == "zoom":
        return {"scale": real(*p.scale)}
    if name == "affine":
        return {"angle": real(*p.degrees), "translate_x": real(*p.translate), "translate_y": real(*p.translate),
                "scale": real(*p.scale), "shear": real(*p.shear)}
    if name == "perspective":
        hi = p.distortion[1]
        return {"corners": listing(listing(real(-hi, hi), 2, 2), 4, 4)}
    if name == "random_resized_crop":
        return _window(ctx)
    if name == "crop":
        return _window(ctx, p.height, p.width)
    if name == "elastic":
        return {"alpha": real(*p.alpha), "sigma": real(*p.sigma), "field_seed": SEED}
    if name == "gaussian_noise":
        return {"sigma": real(*p.sigma), "noise_seed": SEED}
    if name == "salt_pepper":
        return {"amount": real(*p.amount), "salt_vs_pepper": real(0.0, 1.0), "noise_seed": SEED}
    if name == "brightness_contrast":
        return {"brightness": real(*p.brightness), "contrast": real(*p.contrast)}
    if name == "hsv":
        return {"hue": real(*p.hue), "saturation": real(*p.saturation), "value": real(*p.value)}
    if name == "gamma":
        return {"gamma": real(*p.gamma)}
    if name == "gaussian_blur":
        from augment.ops.image_ops import gaussian_kernel_size

        lo, hi = p.sigma
        return {"sigma": real(lo, hi), "kernel_size": integer(gaussian_kernel_size(lo), gaussian_kernel_size(hi), odd=True)}
    if name == "motion_blur":
        lo, hi = p.kernel_size
        return {"kernel_size": integer(lo, hi + 1, odd=True), "angle": real(*p.angle)}
    if name == "sharpen":
        return {"factor": real(*p.factor)}
    if name == "jpeg":
        return {"quality": integer(*p.quality)}
    if name == "cutout":
        return {"boxes": listing(box_in(ctx), p.holes[0], p.holes[1]), "fill": integer(0, 255)}
    if name == "trivial_augment":
        return {"ops": listing(_sub_op(), 1, 1), "magnitude": real(0.0, p.max_magnitude)}
    if name == "rand_augment":
        return {"ops": listing(_sub_op(), p.n, p.n)}
    if name == "augmix":
        chain = listing(_sub_op(), p.depth[0], p.depth[1])
        return {"chains": listing(chain, p.width, p.width), "weights": listing(real(0.0, 1.0), p.width, p.width),
                "mix": real(0.0, 1.0)}
    if name == "mosaic":
        return {"center_x": real(*p.center), "center_y": real(*p.center), "partner_draws": listing(real(0.0, 1.0), 3, 3)}
    if name == "copy_paste":
        return {"partner_draws": listing(real(0.0, 1.0), 1, 1), "pick_seed": SEED}
    native = native_rules(name, p, ctx, _CHECKS)
    if native is not None:
        return native
    raise DrawnValueError(f"op {name!r} has no description of its drawn values")


class _Checks:
    real, integer, equal, listing, box_in, one_of, permutation = (
        staticmethod(real), staticmethod(integer), staticmethod(equal), staticmethod(listing), staticmethod(box_in),
        staticmethod(one_of), staticmethod(permutation))
    SEED = staticmethod(SEED)


_CHECKS = _Checks()


# Recorded by a run, not drawn: the partner images a multi-image op used (their paths in INPUT).
_RUN_KEYS = {"mosaic": {"partners"}, "copy_paste": {"partners"}}


def _partner_names(key: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\x00" not in v for v in value):
        _fail(key, "expected a list of partner image paths", value)


def check_drawn(name: str, params: Any, drawn: Any, ctx: ImageContext) -> None:
    """Raise ``DrawnValueError`` unless ``drawn`` is something op ``name`` could have drawn with ``params`` on an
    image of ``ctx``'s size."""
    if not isinstance(drawn, dict):
        raise DrawnValueError(f"expected a mapping of drawn values, got {type(drawn).__name__}")
    rules = _rules(name, params, ctx)
    for key in _RUN_KEYS.get(name, ()):
        if key in drawn:
            rules[key] = _partner_names
    missing = sorted(set(rules) - set(drawn) - _RUN_KEYS.get(name, set()))
    extra = sorted(set(map(str, drawn)) - set(rules))
    if missing or extra:
        # repr: a tampered key may hold a newline or be huge, and the error must stay one short line
        shown = [repr(k) if len(repr(k)) <= 40 else repr(k)[:37] + "..." for k in extra[:5]]
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(shown)}"] if extra else [])
        raise DrawnValueError(f"{'; '.join(parts)} (this op records: {', '.join(rules) or 'nothing'})")
    for key, check in rules.items():
        check(key, drawn[key])
    if name in ("random_resized_crop", "crop", "bbox_safe_random_crop", "center_crop", "random_crop"):
        window = dict(drawn)
        if name in ("crop", "center_crop", "random_crop"):
            window.update(height=params.height, width=params.width)
        _check_window(name, window, ctx)
    if name == "pad_if_needed":  # the pads add up to what the image lacks
        for a, b, need in (("top", "bottom", params.min_height - ctx.height), ("left", "right", params.min_width - ctx.width)):
            if drawn[a] + drawn[b] != max(0, need):
                raise DrawnValueError(f"{a} + {b}: expected {max(0, need)} pixels of padding for this image")


__all__ = ["DrawnValueError", "SEED", "check_drawn"]
