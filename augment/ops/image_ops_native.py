"""The image ops of ``image_ops_geometry``, ``_colour``, ``_degrade`` and ``_weather`` as one list, their traits
(pixel-only, colour-only, dropout) and the description of their drawn values (``drawn.check_drawn`` uses it).

Drawn-value rules take the checks as an argument (``drawn`` passes its own), so this module does not import
``augment.ops.drawn`` and the flow stays acyclic.
"""

from __future__ import annotations

from typing import Any, Callable

from augment.ops.image_ops_colour import COLOUR_OPS, colour_channels
from augment.ops.image_ops_degrade import DEGRADE_OPS
from augment.ops.image_ops_geometry import D4_ELEMENTS, GEOMETRY_OPS, pad_sides
from augment.ops.image_ops_weather import WEATHER_OPS
from augment.ops.registry import ImageContext, OpDef

__all__ = ["NATIVE_IMAGE_OPS", "NATIVE_PIXEL_OPS", "NATIVE_COLOUR_ONLY", "DROPOUT_OPS", "NATIVE_GEOMETRIC",
           "native_rules"]

NATIVE_IMAGE_OPS: list[OpDef] = GEOMETRY_OPS + COLOUR_OPS + DEGRADE_OPS + WEATHER_OPS

NATIVE_GEOMETRIC = frozenset(op.name for op in GEOMETRY_OPS)
DROPOUT_OPS = frozenset({"coarse_dropout", "grid_dropout"})  # erase like cutout: all channels, alpha included
# Pixel values only: an alpha channel is set aside while they run.
NATIVE_PIXEL_OPS = frozenset(op.name for op in COLOUR_OPS + DEGRADE_OPS + WEATHER_OPS) - DROPOUT_OPS - {"normalize",
                                                                                                    "to_dtype"}
# Need colour: a gray image passes through unchanged.
NATIVE_COLOUR_ONLY = frozenset({"rgb_shift", "to_sepia", "fancy_pca", "iso_noise", "random_fog", "random_rain",
                                "random_snow", "random_shadow", "random_sun_flare"})


def native_rules(name: str, p: Any, ctx: ImageContext, c: Any) -> dict[str, Callable] | None:
    """The keys ``name``'s sampler returns, each with its check (``c`` holds real, integer, equal, listing, box_in, one_of, permutation and SEED);
    None when ``name`` is not one of these ops."""
    if name in ("resize", "longest_max_size", "smallest_max_size", "transpose", "equalize", "invert", "to_sepia",
                "normalize"):
        return {}
    if name == "pad_if_needed":
        dh, dw = max(0, p.min_height - ctx.height), max(0, p.min_width - ctx.width)
        return {"top": c.integer(0, dh), "bottom": c.integer(0, dh), "left": c.integer(0, dw),
                "right": c.integer(0, dw)}
    if name == "pad":
        return {k: c.equal(v) for k, v in pad_sides(p).items()}
    if name == "to_dtype":
        return {"dtype": c.equal(p.dtype)}
    if name == "center_crop":
        return {"top": c.equal((ctx.height - p.height) // 2), "left": c.equal((ctx.width - p.width) // 2)}
    if name == "random_crop":
        return {"top": c.integer(0, max(0, ctx.height - p.height)), "left": c.integer(0, max(0, ctx.width - p.width))}
    if name == "bbox_safe_random_crop":
        return {"top": c.integer(0, ctx.height - 1), "left": c.integer(0, ctx.width - 1),
                "height": c.integer(1, ctx.height), "width": c.integer(1, ctx.width)}
    if name == "rot90":
        return {"k": c.integer(*p.turns)}
    if name == "d4":
        return {"element": c.one_of(D4_ELEMENTS)}
    if name == "grid_distortion":
        step = c.real(1 + p.distort_limit[0], 1 + p.distort_limit[1])
        return {"steps_x": c.listing(step, p.num_steps, p.num_steps), "steps_y": c.listing(step, p.num_steps, p.num_steps)}
    if name == "optical_distortion":
        return {"k": c.real(*p.distort_limit)}
    if name == "color_jitter":
        return {"order": c.permutation(4), "brightness": c.real(*p.brightness), "contrast": c.real(*p.contrast),
                "saturation": c.real(*p.saturation), "hue": c.real(*p.hue)}
    if name == "clahe":
        return {"clip_limit": c.real(*p.clip_limit)}
    if name == "posterize":
        return {"bits": c.integer(*p.bits)}
    if name == "solarize":
        return {"threshold": c.real(*p.threshold)}
    if name == "channel_shuffle":
        return {"order": c.permutation(colour_channels(ctx.channels))}
    if name == "rgb_shift":
        lo = min(p.r_shift[0], p.g_shift[0], p.b_shift[0])
        hi = max(p.r_shift[1], p.g_shift[1], p.b_shift[1])
        return {"shift": c.listing(c.real(lo, hi), 3, 3)}
    if name == "fancy_pca":
        bound = 10 * p.alpha  # a normal draw beyond 10 sigma does not happen
        return {"alpha_vector": c.listing(c.real(-bound, bound), 3, 3)}
    if name == "median_blur":
        lo, hi = p.kernel_size
        return {"kernel_size": c.integer(lo, hi + 1, odd=True)}
    if name == "defocus":
        return {"radius": c.integer(*p.radius), "alias_blur": c.real(*p.alias_blur)}
    if name == "zoom_blur":
        top = max(p.max_factor[1], 1 + p.step_factor[1])
        return {"zoom_factors": c.listing(c.real(1.0, top), 1, int(round((top - 1) / p.step_factor[0])) + 2)}
    if name == "iso_noise":
        return {"color_shift": c.real(*p.color_shift), "intensity": c.real(*p.intensity), "noise_seed": c.SEED}
    if name in ("multiplicative_noise", "pixel_dropout"):
        return {"noise_seed": c.SEED}
    if name == "downscale":
        return {"scale": c.real(*p.scale)}
    if name == "image_compression":
        return {"quality": c.integer(*p.quality)}
    if name == "coarse_dropout":
        return {"boxes": c.listing(c.box_in(ctx), p.holes[0], p.holes[1]), "fill_seed": c.SEED}
    if name == "grid_dropout":
        cap = max(2, min(ctx.height, ctx.width))  # the sampler's cap on the unit
        lo, top = min(p.unit_size[0], cap), min(p.unit_size[1], cap)
        return {"unit": c.integer(lo, top), "hole": c.integer(1, top - 1), "offset_y": c.integer(0, top - 1),
                "offset_x": c.integer(0, top - 1)}
    if name == "random_fog":
        return {"intensity": c.real(*p.fog_coef), "particle_seed": c.SEED}
    if name == "random_rain":
        return {"slant": c.real(*p.slant), "drop_length": c.integer(1, max(1000, ctx.height)), "drops_seed": c.SEED}
    if name == "random_snow":
        return {"snow_point": c.real(*p.snow_point)}
    if name == "random_shadow":
        point = c.listing(c.integer(0, max(ctx.height, ctx.width)), 2, 2)
        polygon = c.listing(point, p.shadow_dimension, p.shadow_dimension)
        return {"shadows": c.listing(polygon, p.num_shadows[0], p.num_shadows[1]),
                "intensities": c.listing(c.real(*p.shadow_intensity), p.num_shadows[0], p.num_shadows[1])}
    if name == "random_sun_flare":
        side = 2 * max(ctx.height, ctx.width)
        fields = [c.real(0.05, 0.2), c.integer(-side, side), c.integer(-side, side),
                  c.integer(1, max(2, int(ctx.height * 0.01)) ** 3)] + [c.integer(0, 255)] * 3

        def circle(key: str, value: Any) -> None:  # [alpha, x, y, radius, r, g, b]
            if not isinstance(value, list) or len(value) != 7:
                c.listing(fields[0], 7, 7)(key, value)  # raises: not a list of seven values
            for i, (check, v) in enumerate(zip(fields, value)):
                check(f"{key}[{i}]", v)

        return {"center": c.listing(c.integer(0, max(ctx.height, ctx.width)), 2, 2),
                "circles": c.listing(circle, p.num_flare_circles[0], p.num_flare_circles[1])}
    return None



