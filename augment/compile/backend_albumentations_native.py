"""Albumentations kernels of the ops of ``augment.ops.image_ops_geometry``, ``_colour``, ``_degrade`` and
``_weather``: each calls albumentations' functional kernel with the values the pipeline drew (never its
transforms' own ``get_params``), or OpenCV where albumentations has no kernel for the op as we define it.

With ``backend_albumentations`` the only modules that import albumentations. HxWxC uint8 in, never modified.
"""

from __future__ import annotations

from typing import Any, Callable

import albucore  # albumentations' array library: importing it does not import albumentations
import cv2
import numpy as np

from augment.compile import colour_kernels
from augment.compile import geometry_native as gn
from augment.compile.import_guard import LazyKernels
from augment.ops import image_ops_colour as colour
from augment.ops import image_ops_degrade as degrade
from augment.ops import image_ops_weather as weather

# albumentations' kernels, imported when an op first calls one (LazyKernels: the package costs ~0.8 s to import)
fblur = LazyKernels("albumentations.augmentations.blur.functional", globals(), "fblur")
fcrops = LazyKernels("albumentations.augmentations.crops.functional", globals(), "fcrops")
fdropout = LazyKernels("albumentations.augmentations.dropout.functional", globals(), "fdropout")
fgeometric = LazyKernels("albumentations.augmentations.geometric.functional", globals(), "fgeometric")
fpixel = LazyKernels("albumentations.augmentations.pixel.functional", globals(), "fpixel")

__all__ = ["KERNELS", "INTO"]

_BORDER = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}
_INTERP = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
_ROT = ("e", "r90", "r180", "r270")


def _resize(img, d, p, name):
    oh, ow = gn.output_hw(name, d, p, *img.shape[:2])
    if (oh, ow) == img.shape[:2]:
        return img.copy()
    return fgeometric.resize(img, (oh, ow), _INTERP[p.interpolation])


def _pad(img, d, p):
    # one fill value per channel: OpenCV reads a scalar as (fill, 0, 0, 0), which filled only the first channel
    fill = (p.fill,) * img.shape[2] if img.ndim == 3 else p.fill
    return fgeometric.pad_with_params(img, d["top"], d["bottom"], d["left"], d["right"], _BORDER[p.border], fill)


def _crop(img, d, p, name):
    oh, ow = gn.output_hw(name, d, p, *img.shape[:2])
    return fcrops.crop(img, d["left"], d["top"], d["left"] + ow, d["top"] + oh)


def _remap(img, maps, p):
    return fgeometric.remap(img, maps[0], maps[1], _INTERP[p.interpolation], _BORDER[p.border], p.fill)


# albumentations' torchvision-style colour kernels: augment.compile.colour_kernels computes the same bytes without
# albucore's per-call wrappers for uint8 gray and RGB images; anything else goes to albumentations' own function.
def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    if colour_kernels.covers(img):
        return colour_kernels.brightness(img, factor)
    return fpixel.adjust_brightness_torchvision(img, np.array([factor]))


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    if colour_kernels.covers(img):
        return colour_kernels.contrast(img, factor)
    return fpixel.adjust_contrast_torchvision(img, factor)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    if colour_kernels.covers(img):
        return colour_kernels.saturation(img, factor)
    return fpixel.adjust_saturation_torchvision(img, factor)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    if colour_kernels.covers(img):
        return colour_kernels.hue(img, factor)
    return fpixel.adjust_hue_torchvision(img, factor)


def _color_jitter(img, d, p):
    out = img
    for i in d["order"]:
        if i == 0:
            out = adjust_brightness(out, d["brightness"])
        elif i == 1:
            out = adjust_contrast(out, d["contrast"])
        elif i == 2 and out.shape[2] == 3:
            out = adjust_saturation(out, d["saturation"])
        elif i == 3 and out.shape[2] == 3:
            out = adjust_hue(out, d["hue"])
    return out.copy() if out is img else out


def _colour_chain(img: np.ndarray, steps: list, pool, final: bool) -> np.ndarray:
    """``colour_kernels`` functions ``(kernel, factor, identity factor)`` in turn, their outputs and temporaries in
    the pool's buffers, the last output a fresh array when ``final``. Identity steps (which return their input) are
    skipped, as the kernels would skip them."""
    steps = [(fn, f) for fn, f, same in steps if f != same]
    cur = img
    for k, (fn, factor) in enumerate(steps):
        out = None if final and k == len(steps) - 1 else pool.like(cur)
        cur = fn(cur, factor, out, pool.uint8)
    return cur


def _brightness_contrast_into(img, d, p, pool, final):
    if not colour_kernels.covers(img):
        return KERNELS["brightness_contrast"](img, d, p)
    return _colour_chain(img, [(colour_kernels.brightness, d["brightness"], 1),
                               (colour_kernels.contrast, d["contrast"], 1)], pool, final)


def _hsv_into(img, d, p, pool, final):
    if not colour_kernels.covers(img):
        return KERNELS["hsv"](img, d, p)
    return _colour_chain(img, [(colour_kernels.hue, d["hue"], 0), (colour_kernels.saturation, d["saturation"], 1),
                               (colour_kernels.brightness, d["value"], 1)], pool, final)


def _color_jitter_into(img, d, p, pool, final):
    if not colour_kernels.covers(img):
        return KERNELS["color_jitter"](img, d, p)
    kernels = [(colour_kernels.brightness, d["brightness"], 1), (colour_kernels.contrast, d["contrast"], 1),
               (colour_kernels.saturation, d["saturation"], 1), (colour_kernels.hue, d["hue"], 0)]
    steps = [kernels[i] for i in d["order"] if i < 2 or img.shape[2] == 3]
    out = _colour_chain(img, steps, pool, final)
    return out.copy() if out is img else out


def _posterize(img, d, p):
    return img.copy() if d["bits"] >= 8 else fpixel.posterize(img, d["bits"])


def _rgb_shift(img, d, p):
    return fpixel.add_noise(img, np.broadcast_to(np.array(d["shift"], np.float32), img.shape))


def _fancy_pca(img, d, p):
    if img.shape[0] * img.shape[1] < 2:  # no colour covariance from one pixel
        return img.copy()
    return fpixel.fancy_pca(img, np.array(d["alpha_vector"]))


def _normalize(img, d, p):
    mean, std = colour.normalize_values(p, img.shape[2])
    out = albucore.normalize(img, mean.astype(np.float32), (1.0 / std).astype(np.float32))
    return np.asarray(out, dtype=np.float32).reshape(img.shape)


def _compression(img, d, p):
    if p.format == "webp" and max(img.shape[:2]) > degrade.WEBP_MAX_SIDE:
        raise ValueError(f"image_compression cannot encode a {img.shape[1]}x{img.shape[0]} image as WebP: it "
                         f"allows at most {degrade.WEBP_MAX_SIDE} pixels a side (use format: jpeg)")
    return fpixel.image_compression(img, d["quality"], ".webp" if p.format == "webp" else ".jpg")


def _multiplicative(img, d, p):
    field = degrade.multiplier_field(img.shape, p, d["noise_seed"])
    out = img.astype(np.float32) * field
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _holes(boxes) -> np.ndarray:
    return np.array([[left, top, left + w, top + h] for top, left, h, w in boxes], dtype=np.int32).reshape(-1, 4)


def _coarse_dropout(img, d, p):
    holes = _holes(d["boxes"])
    if len(holes) == 0:
        return img.copy()
    if isinstance(p.fill, str) and p.fill.startswith("inpaint") and img.shape[2] in (2, 4):
        # OpenCV inpaints gray or RGB only: the colour is inpainted, alpha kept
        colour = _coarse_dropout(np.ascontiguousarray(img[:, :, :-1]), d, p)
        return np.concatenate([colour.reshape(img.shape[:2] + (-1,)), img[:, :, -1:]], axis=2)
    return fdropout.cutout(img, holes, p.fill, np.random.default_rng(d["fill_seed"]))


def _grid_dropout(img, d, p):
    holes = _holes(degrade.grid_boxes(img.shape[0], img.shape[1], d))
    return fdropout.cutout(img, holes, p.fill, np.random.default_rng(0)) if len(holes) else img.copy()


def _pixel_dropout(img, d, p):
    mask = degrade.pixel_drop_mask(img.shape, p, d["noise_seed"])
    return np.where(mask, np.uint8(p.drop_value), img)


def _fog(img, d, p):
    positions, radii = weather.fog_particles(img.shape[0], img.shape[1], d["intensity"], d["particle_seed"])
    return fpixel.add_fog(img, d["intensity"], p.alpha_coef, positions, radii)


def _rain(img, d, p):
    drops = weather.rain_drops(img.shape[0], img.shape[1], d, p.rain_type)
    return fpixel.add_rain(img, d["slant"], d["drop_length"], p.drop_width, tuple(p.drop_color), p.blur_value,
                           p.brightness_coefficient, drops)


def _shadow(img, d, p):
    vertices = [np.array(s, dtype=np.int32) for s in d["shadows"]]
    return fpixel.add_shadow(img, vertices, np.array(d["intensities"], dtype=np.float64))


def _sun_flare(img, d, p):
    circles = [(a, (int(x), int(y)), int(r), (int(cr), int(cg), int(cb))) for a, x, y, r, cr, cg, cb in d["circles"]]
    return fpixel.add_sun_flare_overlay(img, tuple(d["center"]), p.src_radius, tuple(p.src_color), circles)


KERNELS: dict[str, Callable[[np.ndarray, dict, Any], np.ndarray]] = {
    "resize": lambda img, d, p: _resize(img, d, p, "resize"),
    "longest_max_size": lambda img, d, p: _resize(img, d, p, "longest_max_size"),
    "smallest_max_size": lambda img, d, p: _resize(img, d, p, "smallest_max_size"),
    "pad_if_needed": _pad,
    "pad": _pad,
    "to_dtype": lambda img, d, p: colour.to_dtype(img, p),
    "center_crop": lambda img, d, p: _crop(img, d, p, "center_crop"),
    "random_crop": lambda img, d, p: _crop(img, d, p, "random_crop"),
    "bbox_safe_random_crop": lambda img, d, p: _crop(img, d, p, "bbox_safe_random_crop"),
    "transpose": lambda img, d, p: fgeometric.transpose(img),
    "rot90": lambda img, d, p: fgeometric.d4(img, _ROT[d["k"]]),
    "d4": lambda img, d, p: fgeometric.d4(img, d["element"]),
    "grid_distortion": lambda img, d, p: _remap(img, gn.grid_maps(*img.shape[:2], d["steps_x"], d["steps_y"]), p),
    "optical_distortion": lambda img, d, p: _remap(img, gn.optical_maps(*img.shape[:2], d["k"]), p),
    "color_jitter": _color_jitter,
    "clahe": lambda img, d, p: fpixel.clahe(img, d["clip_limit"], tuple(p.tile_grid_size)),
    "equalize": lambda img, d, p: fpixel.equalize(img.copy(), mode="pil"),  # PIL, as torchvision; it writes a gray input in place
    "posterize": _posterize,
    "solarize": lambda img, d, p: fpixel.solarize(img, d["threshold"]),
    "invert": lambda img, d, p: fpixel.invert(img),
    "channel_shuffle": lambda img, d, p: fpixel.channel_shuffle(img, d["order"]),
    "rgb_shift": _rgb_shift,
    "to_sepia": lambda img, d, p: fpixel.linear_transformation_rgb(img, colour.SEPIA),
    "fancy_pca": _fancy_pca,
    "normalize": _normalize,
    "median_blur": lambda img, d, p: fblur.median_blur(img, d["kernel_size"]),
    "defocus": lambda img, d, p: fblur.defocus(img, d["radius"], d["alias_blur"]),
    "zoom_blur": lambda img, d, p: fblur.zoom_blur(img, np.array(d["zoom_factors"])),
    "iso_noise": lambda img, d, p: fpixel.iso_noise(img, d["color_shift"], d["intensity"],
                                                    np.random.default_rng(d["noise_seed"])),
    "multiplicative_noise": _multiplicative,
    "downscale": lambda img, d, p: fpixel.downscale(img, degrade.downscale_factor(*img.shape[:2], d["scale"]),
                                                    _INTERP[p.interpolation_down], _INTERP[p.interpolation_up]),
    "image_compression": _compression,
    "coarse_dropout": _coarse_dropout,
    "grid_dropout": _grid_dropout,
    "pixel_dropout": _pixel_dropout,
    "random_fog": _fog,
    "random_rain": _rain,
    "random_snow": lambda img, d, p: fpixel.add_snow_bleach(img, d["snow_point"], p.brightness_coeff),
    "random_shadow": _shadow,
    "random_sun_flare": _sun_flare,
}

# kernels that may keep intermediates in reused buffers (see backend_albumentations.INTO)
INTO: dict[str, Callable] = {
    "brightness_contrast": _brightness_contrast_into,
    "hsv": _hsv_into,
    "color_jitter": _color_jitter_into,
}
