"""The torchvision backend: applies drawn values with ``torchvision.transforms.v2.functional`` kernels.

With ``backend_torchvision_native`` (the kernels of the wider op set) the only modules that import torchvision. Geometric ops warp with the same matrices as the albumentations
backend (``augment.compile.geometry``); torchvision warps fill outside pixels with a constant only, so for
``reflect``/``replicate`` borders the image is padded with that mode first and cropped back afterwards.
Kernels get CxHxW uint8 tensors and never run in place; no torch global RNG is touched.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from torchvision.transforms import InterpolationMode

from augment.compile.backend_torchvision_native import KERNELS as NATIVE_KERNELS
from augment.compile.geometry import affine_matrix, perspective_points
from augment.ops import image_ops as ops

__all__ = ["NAME", "KERNELS", "INTO", "apply"]

NAME = "torchvision"

_INTERP = {"nearest": InterpolationMode.NEAREST, "linear": InterpolationMode.BILINEAR, "cubic": InterpolationMode.BICUBIC}
_PAD_MODE = {"reflect": "reflect", "replicate": "edge"}


def _with_border(t: torch.Tensor, p: Any, warp: Callable[[torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
    """Run ``warp(tensor, margin)`` on an image padded with the border mode, then crop the margin away."""
    if p.border == "constant":
        return warp(t, 0)
    h, w = t.shape[-2:]
    margin = max(1, min(h, w) - 1)  # reflect padding must be smaller than the side
    mode = _PAD_MODE[p.border]
    if mode == "reflect" and min(h, w) < 2:
        mode = "edge"  # a 1-pixel side reflects onto itself
    padded = F.pad(t, [margin] * 4, padding_mode=mode)
    return F.crop(warp(padded, margin), margin, margin, h, w)


def _matrix_warp(t: torch.Tensor, matrix: np.ndarray, p: Any) -> torch.Tensor:
    def warp(x: torch.Tensor, margin: int) -> torch.Tensor:
        # torchvision's perspective grid puts pixel centres at i + 0.5, the matrices (like OpenCV) at i: the
        # half-pixel shift goes into the conjugation, else a 90-degree turn lands a whole pixel off.
        shift = np.array([[1.0, 0, margin + 0.5], [0, 1.0, margin + 0.5], [0, 0, 1.0]])
        m = shift @ matrix @ np.linalg.inv(shift)
        inv = np.linalg.inv(m)
        inv = inv / inv[2, 2]
        coeffs = [float(v) for v in inv.reshape(-1)[:8]]  # output -> input, as torchvision expects
        fill = [float(p.fill)] * x.shape[0]
        return F.perspective(x, None, None, interpolation=_INTERP[p.interpolation], fill=fill, coefficients=coeffs)

    return _with_border(t, p, warp)


def _rotate(t, d, p):
    return _matrix_warp(t, affine_matrix(*t.shape[-2:], angle=d["angle"]), p)


def _zoom(t, d, p):
    return _matrix_warp(t, affine_matrix(*t.shape[-2:], scale=d["scale"]), p)


def _affine(t, d, p):
    return _matrix_warp(t, affine_matrix(*t.shape[-2:], **d), p)


def _perspective(t, d, p):
    import cv2

    h, w = t.shape[-2:]
    if min(h, w) < 2:  # the corners of a 1-pixel line are collinear: no perspective transform exists
        return t.clone()
    src, dst = perspective_points(h, w, d["corners"])
    return _matrix_warp(t, cv2.getPerspectiveTransform(src, dst), p)


def _random_resized_crop(t, d, p):
    size = list(p.size) if p.size is not None else list(t.shape[-2:])
    return F.resized_crop(t, d["top"], d["left"], d["height"], d["width"], size, _INTERP[p.interpolation], antialias=True)


def _crop(t, d, p):
    return F.crop(t, d["top"], d["left"], p.height, p.width)


def _elastic(t, d, p):
    h, w = t.shape[-2:]
    field = ops.elastic_displacement(h, w, d["alpha"], d["sigma"], d["field_seed"])

    def warp(x: torch.Tensor, margin: int) -> torch.Tensor:
        f = np.pad(field, ((0, 0), (margin, margin), (margin, margin)), mode="edge") if margin else field
        ph, pw = f.shape[1:]
        # torchvision wants the displacement in normalised [-1, 1] grid units, shape 1xHxWx2 (x, y)
        disp = np.stack([f[0] * 2.0 / pw, f[1] * 2.0 / ph], axis=-1)[None].astype(np.float32)
        return F.elastic(x, torch.from_numpy(disp), interpolation=_INTERP[p.interpolation], fill=[float(p.fill)] * x.shape[0])

    return _with_border(t, p, warp)


def _gaussian_noise(t, d, p):
    noise = ops.gaussian_noise_field((t.shape[1], t.shape[2], t.shape[0]), d["sigma"], d["noise_seed"], p.per_channel)
    out = t.to(torch.float32) + torch.from_numpy(noise).permute(2, 0, 1)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _salt_pepper(t, d, p):
    salt, pepper = ops.salt_pepper_masks(t.shape[1], t.shape[2], d["amount"], d["salt_vs_pepper"], d["noise_seed"])
    out = t.clone()
    out[:, torch.from_numpy(salt)] = 255
    out[:, torch.from_numpy(pepper)] = 0
    return out


def _brightness_contrast(t, d, p):
    return F.adjust_contrast(F.adjust_brightness(t, d["brightness"]), d["contrast"])


def _hsv(t, d, p):
    out = F.adjust_hue(t, d["hue"])
    out = F.adjust_saturation(out, d["saturation"])
    return F.adjust_brightness(out, d["value"])


def _gamma(t, d, p):
    return F.adjust_gamma(t, d["gamma"])


def _grayscale(t, d, p):
    return F.rgb_to_grayscale(t, num_output_channels=3 if p.keep_channels else 1)


def _gaussian_blur(t, d, p):
    k = d["kernel_size"]
    h, w = t.shape[-2:]
    if k // 2 >= min(h, w):  # torchvision pads with reflect, which needs the kernel radius below the side
        k = max(1, 2 * (min(h, w) - 1) - 1) if min(h, w) > 1 else 1
    return F.gaussian_blur(t, [k, k], [d["sigma"], d["sigma"]]) if k > 1 else t.clone()


def _motion_blur(t, d, p):
    kernel = torch.from_numpy(ops.motion_kernel(d["kernel_size"], d["angle"]))
    c = t.shape[0]
    weight = kernel.expand(c, 1, *kernel.shape).contiguous()
    pad = kernel.shape[-1] // 2
    x = t.to(torch.float32)[None]
    x = torch.nn.functional.pad(x, [pad] * 4, mode="replicate")
    out = torch.nn.functional.conv2d(x, weight, groups=c)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _sharpen(t, d, p):
    return F.adjust_sharpness(t, d["factor"])


def _jpeg(t, d, p):
    return F.jpeg(t, d["quality"])


def _cutout(t, d, p):
    out = t.clone()
    for top, left, h, w in d["boxes"]:
        out[:, top : top + h, left : left + w] = d["fill"]
    return out


KERNELS: dict[str, Callable[[torch.Tensor, dict, Any], torch.Tensor]] = {
    "horizontal_flip": lambda t, d, p: F.horizontal_flip(t),
    "vertical_flip": lambda t, d, p: F.vertical_flip(t),
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


INTO: dict[str, Callable] = {}  # no kernel here writes into a given array (see backend_albumentations.INTO)


def apply(op: str, image: np.ndarray, drawn: dict, params: Any) -> np.ndarray:
    # torch has no read-only tensors: decoded pixels (read-only) are copied, rather than warned about
    src = image if image.flags.writeable else image.copy()
    t = torch.from_numpy(np.ascontiguousarray(src)).permute(2, 0, 1)
    out = KERNELS[op](t, drawn, params)
    return np.ascontiguousarray(out.permute(1, 2, 0).numpy())
