"""The albumentations backend: applies drawn values with albumentations' own kernels.

This module and its companion ``backend_albumentations_native`` (the kernels of the wider op set) are the only
modules that import albumentations (pinned <2.1: the project is archived and its successor is
AGPL, so a swap must touch one file). Kernels receive the values the pipeline drew; nothing here is random.
Images are HxWxC uint8 numpy arrays; kernels never modify their input in place.
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

from albucore import hflip, vflip

from augment.compile.import_guard import LazyKernels

# albumentations' kernels, imported when an op first calls one (LazyKernels: the package costs ~0.8 s to import)
fblur = LazyKernels("albumentations.augmentations.blur.functional", globals(), "fblur")
fcrops = LazyKernels("albumentations.augmentations.crops.functional", globals(), "fcrops")
fdropout = LazyKernels("albumentations.augmentations.dropout.functional", globals(), "fdropout")
fgeometric = LazyKernels("albumentations.augmentations.geometric.functional", globals(), "fgeometric")
fpixel = LazyKernels("albumentations.augmentations.pixel.functional", globals(), "fpixel")

from augment.compile.backend_albumentations_native import INTO as NATIVE_INTO
from augment.compile.backend_albumentations_native import KERNELS as NATIVE_KERNELS
from augment.compile.backend_albumentations_native import (adjust_brightness, adjust_contrast, adjust_hue,
                                                         adjust_saturation)
from augment.compile.geometry import affine_matrix, perspective_points
from augment.ops import image_ops as ops

__all__ = ["NAME", "KERNELS", "INTO", "apply"]

NAME = "albumentations"

_BORDER = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}
_INTERP = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
# The smoothing kernel PIL and torchvision use for sharpness; blending away from it sharpens.
_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=np.float32) / 13.0


_EYE = np.eye(3)
_EYE_TOL = 1e-8 + 1e-5 * _EYE  # np.allclose(matrix, eye), without its per-call overhead


def _warp(img: np.ndarray, matrix: np.ndarray, p: Any, out: np.ndarray | None = None) -> np.ndarray:
    # albumentations' warp_affine, called directly: its identity test (np.allclose) cost more than the warp of a
    # small image, and it passed a scalar fill on as one value, which OpenCV applied to the first channel only.
    # ``out``: an array of img's shape to write into (OpenCV writes every pixel of it).
    if (np.abs(matrix - _EYE) <= _EYE_TOL).all():
        return img
    h, w = img.shape[:2]
    res = cv2.warpAffine(img, matrix[:2], (w, h), dst=out, flags=_INTERP[p.interpolation],
                         borderMode=_BORDER[p.border], borderValue=(p.fill,) * 4)
    return res[:, :, None] if res.ndim == 2 else res


def _rotate(img, d, p, out=None):
    return _warp(img, affine_matrix(*img.shape[:2], angle=d["angle"]), p, out)


def _zoom(img, d, p, out=None):
    return _warp(img, affine_matrix(*img.shape[:2], scale=d["scale"]), p, out)


def _affine(img, d, p, out=None):
    return _warp(img, affine_matrix(*img.shape[:2], **d), p, out)


def _perspective(img, d, p):
    h, w = img.shape[:2]
    src, dst = perspective_points(h, w, d["corners"])
    matrix = cv2.getPerspectiveTransform(src, dst)
    fill = (float(p.fill),) * img.shape[2]  # a scalar fill would reach the first channel only
    return fgeometric.perspective(img, matrix, w, h, fill, _BORDER[p.border], True, _INTERP[p.interpolation])


def _random_resized_crop(img, d, p):
    top, left = d["top"], d["left"]
    crop = fcrops.crop(img, left, top, left + d["width"], top + d["height"])
    size = tuple(p.size) if p.size is not None else img.shape[:2]
    return fgeometric.resize(crop, size, _INTERP[p.interpolation])


def _crop(img, d, p):
    return fcrops.crop(img, d["left"], d["top"], d["left"] + p.width, d["top"] + p.height)


def _elastic(img, d, p):
    h, w = img.shape[:2]
    dx, dy = ops.elastic_displacement(h, w, d["alpha"], d["sigma"], d["field_seed"])
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    fill = (float(p.fill),) * img.shape[2]  # a scalar fill would reach the first channel only
    return fgeometric.remap(img, xs + dx, ys + dy, _INTERP[p.interpolation], _BORDER[p.border], fill)


def _gaussian_noise(img, d, p):
    noise = ops.gaussian_noise_field(img.shape, d["sigma"], d["noise_seed"], p.per_channel)
    return fpixel.add_noise(img, noise)


def _salt_pepper(img, d, p):
    salt, pepper = ops.salt_pepper_masks(*img.shape[:2], d["amount"], d["salt_vs_pepper"], d["noise_seed"])
    return fpixel.apply_salt_and_pepper(img, salt, pepper)


def _brightness_contrast(img, d, p):
    return adjust_contrast(adjust_brightness(img, d["brightness"]), d["contrast"])


def _hsv(img, d, p):
    return adjust_brightness(adjust_saturation(adjust_hue(img, d["hue"]), d["saturation"]), d["value"])


def _gamma(img, d, p):
    return fpixel.gamma_transform(img, d["gamma"])


def _grayscale(img, d, p):
    # The same weighted average as albumentations' to_gray, which squeezes 1-pixel-high images away.
    gray = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).reshape(img.shape[0], img.shape[1], 1)
    return np.repeat(gray, 3, axis=2) if p.keep_channels else gray


def _gaussian_blur(img, d, p):
    return fpixel.convolve(img, fblur.create_gaussian_kernel(d["sigma"], d["kernel_size"]))


def _motion_blur(img, d, p):
    return fpixel.convolve(img, ops.motion_kernel(d["kernel_size"], d["angle"]))


def _sharpen(img, d, p):
    smooth = fpixel.convolve(img, _SMOOTH)
    factor = d["factor"]
    blended = smooth.astype(np.float32) + factor * (img.astype(np.float32) - smooth.astype(np.float32))
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _jpeg(img, d, p):
    return fpixel.image_compression(img, d["quality"], ".jpg")


def _cutout(img, d, p):
    holes = np.array([[left, top, left + w, top + h] for top, left, h, w in d["boxes"]], dtype=np.int32)
    if len(holes) == 0:
        return img.copy()
    # fill is a fixed value here, so the generator albumentations asks for is never drawn from.
    return fdropout.cutout(img, holes, d["fill"], np.random.default_rng(0))


KERNELS: dict[str, Callable[[np.ndarray, dict, Any], np.ndarray]] = {
    "horizontal_flip": lambda img, d, p: hflip(img),
    "vertical_flip": lambda img, d, p: vflip(img),
    "rotate": _rotate,
    "zoom": _zoom,
    "affine": _affine,
    "perspective": _perspective,
    "random_resized_crop": _random_resized_crop,
    "crop": _crop,
    "elastic": _elastic,
    "gaussian_noise": _gaussian_noise,
    "salt_pepper": _salt_pepper,
    "brightness_contrast": _brightness_contrast,
    "hsv": _hsv,
    "gamma": _gamma,
    "grayscale": _grayscale,
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "sharpen": _sharpen,
    "jpeg": _jpeg,
    "cutout": _cutout,
    **NATIVE_KERNELS,
}


# Kernels that may write intermediates into reused buffers (augment.compile.scratch):
# ``kernel(img, drawn, params, pool, final)``; with ``final`` the returned array must not be one of the pool's (it is
# the call's output), otherwise it may be. Same OpenCV calls as KERNELS (albucore's hflip/vflip are cv2.flip), so
# the same bytes; like KERNELS they may return their input (identity).
def _out(img: np.ndarray, pool, final: bool) -> np.ndarray | None:
    return None if final else pool.like(img)


INTO: dict[str, Callable[[np.ndarray, dict, Any, Any, bool], np.ndarray]] = {
    "horizontal_flip": lambda img, d, p, pool, final: cv2.flip(img, 1, dst=_out(img, pool, final)),
    "vertical_flip": lambda img, d, p, pool, final: cv2.flip(img, 0, dst=_out(img, pool, final)),
    "rotate": lambda img, d, p, pool, final: _rotate(img, d, p, _out(img, pool, final)),
    "zoom": lambda img, d, p, pool, final: _zoom(img, d, p, _out(img, pool, final)),
    "affine": lambda img, d, p, pool, final: _affine(img, d, p, _out(img, pool, final)),
    **NATIVE_INTO,
}


def apply(op: str, image: np.ndarray, drawn: dict, params: Any) -> np.ndarray:
    out = KERNELS[op](image, drawn, params)
    if out.ndim == 2:  # cv2 drops a single channel axis
        out = out[:, :, None]
    return np.ascontiguousarray(out)
