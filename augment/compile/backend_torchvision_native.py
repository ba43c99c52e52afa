"""torchvision kernels of the ops of ``augment.ops.image_ops_geometry``, ``_colour``, ``_degrade`` and
``_weather``, applying the same drawn values as the albumentations backend.

Where ``torchvision.transforms.v2.functional`` has a kernel it is used. Where it has none (CLAHE, median blur,
defocus, zoom blur, ISO noise, fancy PCA, sepia, WebP, dropout fill modes other than a value, and the weather
effects) the op runs the albumentations kernel (``augment.compile.backend_albumentations_native``) on the same
drawn values, so the two backends agree exactly for it; README's pixel agreement table says which is which.
CxHxW uint8 tensors in, never modified; no torch global RNG is touched.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from torchvision.transforms import InterpolationMode

from augment.compile import backend_albumentations_native as alb
from augment.compile import geometry_native as gn
from augment.ops import image_ops_colour as colour
from augment.ops import image_ops_degrade as degrade

__all__ = ["KERNELS", "ALBUMENTATIONS_KERNEL"]

_INTERP = {"nearest": InterpolationMode.NEAREST, "linear": InterpolationMode.BILINEAR, "cubic": InterpolationMode.BICUBIC}
_PAD_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
_ROT = ("e", "r90", "r180", "r270")


def _via_albumentations(name: str) -> Callable[[torch.Tensor, dict, Any], torch.Tensor]:
    kernel = alb.KERNELS[name]

    def run(t: torch.Tensor, d: dict, p: Any) -> torch.Tensor:
        out = kernel(np.ascontiguousarray(t.permute(1, 2, 0).numpy()), d, p)
        if out.ndim == 2:  # cv2 drops a single channel axis
            out = out[:, :, None]
        return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1)

    return run


def _resize(t, d, p, name):
    oh, ow = gn.output_hw(name, d, p, *t.shape[-2:])
    if (oh, ow) == tuple(t.shape[-2:]):
        return t.clone()
    return F.resize(t, [oh, ow], interpolation=_INTERP[p.interpolation], antialias=True)


def _pad(t, d, p):
    mode = _PAD_MODE[p.border]
    h, w = t.shape[-2:]
    if mode == "reflect" and (max(d["top"], d["bottom"]) >= h or max(d["left"], d["right"]) >= w):
        return _via_albumentations("pad")(t, d, p)  # torch reflects at most side - 1 pixels
    return F.pad(t, [d["left"], d["top"], d["right"], d["bottom"]], fill=p.fill, padding_mode=mode)


def _to_dtype(t, d, p):
    if t.dtype == getattr(torch, p.dtype):
        return t.clone()
    if p.dtype == "float32":  # the same float32 arithmetic as numpy's: x / 255
        out = t.to(torch.float32)
        return out / 255.0 if p.scale and t.dtype == torch.uint8 else out
    return (t.to(torch.float64) * (255.0 if p.scale else 1.0)).round().clamp(0, 255).to(torch.uint8)


def _crop(t, d, p, name):
    oh, ow = gn.output_hw(name, d, p, *t.shape[-2:])
    return F.crop(t, d["top"], d["left"], oh, ow)


def _d4(t: torch.Tensor, element: str) -> torch.Tensor:
    turns = {"e": 0, "r90": 1, "r180": 2, "r270": 3}
    if element in turns:
        return torch.rot90(t, turns[element], dims=(-2, -1)).contiguous()
    if element == "h":
        return F.horizontal_flip(t)
    if element == "v":
        return F.vertical_flip(t)
    if element == "t":
        return t.transpose(-1, -2).contiguous()
    return torch.rot90(t, 2, dims=(-2, -1)).transpose(-1, -2).contiguous()  # hvt: anti-transpose


def _remap(t, maps, p):
    """Pull pixels through remap maps with torchvision's elastic kernel (a displacement in grid units)."""
    map_x, map_y = maps
    h, w = t.shape[-2:]
    if p.border != "constant":
        return _via_albumentations_remap(t, maps, p)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    disp = np.stack([(map_x - xs) * 2.0 / w, (map_y - ys) * 2.0 / h], axis=-1)[None].astype(np.float32)
    return F.elastic(t, torch.from_numpy(disp), interpolation=_INTERP[p.interpolation], fill=[float(p.fill)] * t.shape[0])


def _via_albumentations_remap(t, maps, p):
    import cv2

    border = {"reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}[p.border]
    interp = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}[p.interpolation]
    img = np.ascontiguousarray(t.permute(1, 2, 0).numpy())
    out = cv2.remap(img, maps[0], maps[1], interp, borderMode=border)
    return torch.from_numpy(np.ascontiguousarray(out.reshape(img.shape))).permute(2, 0, 1)


def _color_jitter(t, d, p):
    out = t
    for i in d["order"]:
        if i == 0:
            out = F.adjust_brightness(out, d["brightness"])
        elif i == 1:
            out = F.adjust_contrast(out, d["contrast"])
        elif i == 2 and out.shape[0] == 3:
            out = F.adjust_saturation(out, d["saturation"])
        elif i == 3 and out.shape[0] == 3:
            out = F.adjust_hue(out, d["hue"])
    return out.clone() if out is t else out


def _posterize(t, d, p):
    return t.clone() if d["bits"] >= 8 else F.posterize(t, d["bits"])


def _solarize(t, d, p):
    # albumentations and we invert at value >= threshold * 255; torchvision's kernel takes the same rule
    return F.solarize(t, float(d["threshold"] * 255.0))


def _rgb_shift(t, d, p):
    shift = torch.tensor(d["shift"][: t.shape[0]], dtype=torch.float32)[:, None, None]
    return (t.to(torch.float32) + shift).clamp_(0, 255).to(torch.uint8)


def _normalize(t, d, p):
    mean, std = colour.normalize_values(p, t.shape[0])
    return F.normalize(t.to(torch.float32), mean.tolist(), std.tolist())


def _multiplicative(t, d, p):
    field = degrade.multiplier_field((t.shape[1], t.shape[2], t.shape[0]), p, d["noise_seed"])
    out = t.to(torch.float32) * torch.from_numpy(field).permute(2, 0, 1)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _downscale(t, d, p):
    h, w = t.shape[-2:]
    scale = degrade.downscale_factor(h, w, d["scale"])
    size = [max(1, int(round(h * scale))), max(1, int(round(w * scale)))]  # OpenCV's size for fx = fy = scale
    if p.interpolation_down == "nearest":
        # OpenCV picks source pixel floor(i / scale) (the scale as given, not the size ratio): the same pixels here
        ys = torch.clamp((torch.arange(size[0], dtype=torch.float64) / scale).floor().long(), max=h - 1)
        xs = torch.clamp((torch.arange(size[1], dtype=torch.float64) / scale).floor().long(), max=w - 1)
        small = t[:, ys][:, :, xs]
    else:
        small = F.resize(t, size, interpolation=_INTERP[p.interpolation_down], antialias=False)
    return F.resize(small, [h, w], interpolation=_INTERP[p.interpolation_up], antialias=False)


def _compression(t, d, p):
    if p.format == "webp":
        return _via_albumentations("image_compression")(t, d, p)
    return F.jpeg(t, d["quality"])


def _fill_boxes(t, boxes, fill):
    out = t.clone()
    for top, left, h, w in boxes:
        out[:, top : top + h, left : left + w] = fill
    return out


def _coarse_dropout(t, d, p):
    if not isinstance(p.fill, int):
        return _via_albumentations("coarse_dropout")(t, d, p)
    return _fill_boxes(t, d["boxes"], p.fill)


def _pixel_dropout(t, d, p):
    mask = degrade.pixel_drop_mask((t.shape[1], t.shape[2], t.shape[0]), p, d["noise_seed"])
    return torch.where(torch.from_numpy(mask).permute(2, 0, 1), torch.tensor(p.drop_value, dtype=torch.uint8), t)


# torchvision has no kernel for these: the albumentations kernel runs on the same drawn values
ALBUMENTATIONS_KERNEL = frozenset({
    "clahe", "to_sepia", "fancy_pca", "median_blur", "defocus", "zoom_blur", "iso_noise", "random_fog",
    "random_rain", "random_snow", "random_shadow", "random_sun_flare",
})

KERNELS: dict[str, Callable[[torch.Tensor, dict, Any], torch.Tensor]] = {
    "resize": lambda t, d, p: _resize(t, d, p, "resize"),
    "longest_max_size": lambda t, d, p: _resize(t, d, p, "longest_max_size"),
    "smallest_max_size": lambda t, d, p: _resize(t, d, p, "smallest_max_size"),
    "pad_if_needed": _pad,
    "pad": _pad,
    "to_dtype": _to_dtype,
    "center_crop": lambda t, d, p: _crop(t, d, p, "center_crop"),
    "random_crop": lambda t, d, p: _crop(t, d, p, "random_crop"),
    "bbox_safe_random_crop": lambda t, d, p: _crop(t, d, p, "bbox_safe_random_crop"),
    "transpose": lambda t, d, p: _d4(t, "t"),
    "rot90": lambda t, d, p: _d4(t, _ROT[d["k"]]),
    "d4": lambda t, d, p: _d4(t, d["element"]),
    "grid_distortion": lambda t, d, p: _remap(t, gn.grid_maps(*t.shape[-2:], d["steps_x"], d["steps_y"]), p),
    "optical_distortion": lambda t, d, p: _remap(t, gn.optical_maps(*t.shape[-2:], d["k"]), p),
    "color_jitter": _color_jitter,
    "equalize": lambda t, d, p: F.equalize(t),
    "posterize": _posterize,
    "solarize": _solarize,
    "invert": lambda t, d, p: F.invert(t),
    "channel_shuffle": lambda t, d, p: F.permute_channels(t, d["order"]),
    "rgb_shift": _rgb_shift,
    "normalize": _normalize,
    "multiplicative_noise": _multiplicative,
    "downscale": _downscale,
    "image_compression": _compression,
    "coarse_dropout": _coarse_dropout,
    "grid_dropout": lambda t, d, p: _fill_boxes(t, degrade.grid_boxes(t.shape[1], t.shape[2], d), p.fill),
    "pixel_dropout": _pixel_dropout,
    **{name: _via_albumentations(name) for name in ALBUMENTATIONS_KERNEL},
}
