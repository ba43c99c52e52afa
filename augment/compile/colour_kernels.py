"""albumentations' torchvision-style colour kernels (brightness, contrast, saturation, hue) for uint8 images with one
or three channels, without its per-call wrappers.

albumentations 2.0.8 reaches these through albucore's dispatch (value conversion, channel-dim and contiguity
decorators, a copy before every lookup-table pass): at 32x32 that costs more than the pixels. Here stringzilla
translates straight into the output buffer, without albucore's copy. The lookup tables and OpenCV calls here are
the same expressions in the same float32/float64 arithmetic, so every output byte is the same;
``tests/test_colour_kernels.py`` holds each function to albumentations' own on generated images and factors (0, 1,
and drawn values). The backend uses them for the shapes they cover and albumentations' functions for everything
else.
"""

from __future__ import annotations

import cv2
import numpy as np
import stringzilla as sz

__all__ = ["covers", "brightness", "contrast", "saturation", "hue"]

_LEVELS_F32 = np.arange(256, dtype=np.float32)
_LEVELS_I16 = np.arange(256, dtype=np.int16)


def covers(img: np.ndarray) -> bool:
    """Whether these kernels take ``img``: non-empty HxWx1 or HxWx3 uint8 (the backend's other inputs go to
    albumentations)."""
    return img.dtype == np.uint8 and img.ndim == 3 and (img.shape[2] == 3 or img.shape[2] == 1) and img.size > 0


def _lut(img: np.ndarray, table: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # A byte-for-byte table lookup, as albucore's stringzilla translate is. stringzilla writing straight into the
    # output (``out=``) costs 1.5-3x less CPU than cv2.LUT at every size from 32x32 to 1024x1024 RGB (cv2.LUT also
    # spreads large images over its threads, so its wall time hides part of that); without ``out=`` (older
    # stringzilla) a copy then an in-place pass pays only from about 300x300 RGB up.
    if img.flags.c_contiguous and (out is None or (out.flags.c_contiguous and not np.may_share_memory(out, img))):
        if _SZ_OUT:
            if out is None:
                out = np.empty_like(img)
            sz.translate(memoryview(img.reshape(-1)), _table_bytes(table), out=memoryview(out.reshape(-1)))
            return out
        if img.size > _LARGE:
            if out is None:
                out = img.copy()
            else:
                np.copyto(out, img)
            sz.translate(memoryview(out.reshape(-1)), _table_bytes(table), inplace=True)
            return out
    return cv2.LUT(img, table, dst=out).reshape(img.shape)  # cv2 drops a single channel axis: put it back


def _table_bytes(table: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(table, dtype=np.uint8).reshape(-1))


def _translates_into_out() -> bool:
    """Whether this stringzilla's translate writes into a given buffer (``out=``; 5.3 does, older releases may
    not), checked on a few bytes against numpy's own lookup."""
    src = np.arange(256, dtype=np.uint8)
    table = (255 - src).astype(np.uint8)
    dst = np.zeros(256, dtype=np.uint8)
    try:
        sz.translate(memoryview(src), memoryview(table), out=memoryview(dst))
    except TypeError:
        return False
    return bool((dst == table[src]).all())


_SZ_OUT = _translates_into_out()
_LARGE = 1 << 18  # bytes


def _to_uint8(levels: np.ndarray) -> np.ndarray:
    # albucore's clip: np.clip to [0, 255] (which is maximum then minimum, NaN kept) then a truncating cast
    return np.minimum(np.maximum(levels, 0), 255).astype(np.uint8)


# Every kernel takes ``out`` (an array of the input's shape to write the result into, None for a fresh one) and
# ``alloc`` (``alloc(shape, *live) -> array`` sharing no memory with the live arrays, for temporaries; None for fresh
# ones): the pipeline passes reused buffers for intermediates (augment.compile.scratch). The bytes do not change.
def _temp(alloc, shape: tuple, *live: np.ndarray) -> np.ndarray | None:
    return alloc(shape, *live) if alloc is not None else None


def brightness(img: np.ndarray, factor: float, out: np.ndarray | None = None, alloc=None) -> np.ndarray:
    """``adjust_brightness_torchvision(img, np.array([factor]))``: the input itself for a factor of 1."""
    if factor == 0:
        return np.zeros_like(img)
    if factor == 1:
        return img
    # albucore's create_lut_array: the factor as float32 times the float32 levels
    return _lut(img, _to_uint8(_LEVELS_F32 * np.float32(float(factor))), out)


def contrast(img: np.ndarray, factor: float, out: np.ndarray | None = None, alloc=None) -> np.ndarray:
    """``adjust_contrast_torchvision(img, factor)``: the input itself for a factor of 1."""
    if factor == 1:
        return img
    gray = img if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY,
                                                      dst=_temp(alloc, img.shape[:2], img, out))
    # numpy's mean of uint8 pixels: a float64 sum of integers (exact below 2**53) divided by the count, the one
    # rounding; OpenCV's sum of 8-bit pixels is exact too, and faster
    mean = cv2.sumElems(gray)[0] / gray.size
    if factor == 0:
        return np.full_like(img, int(mean + 0.5))
    # albucore's multiply_add_lut after its convert_value made both Python floats: float32 levels * factor +
    # offset stay float32 (a numpy float64 offset would promote the table to float64)
    return _lut(img, _to_uint8(_LEVELS_F32 * float(factor) + float(mean * (1 - factor))), out)


def saturation(img: np.ndarray, factor: float, out: np.ndarray | None = None, alloc=None) -> np.ndarray:
    """``adjust_saturation_torchvision(img, factor)``: the input itself for a factor of 1 or a gray image."""
    if factor == 1 or img.shape[2] == 1:
        return img
    one = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY, dst=_temp(alloc, img.shape[:2], img, out))
    if factor == 0:
        return cv2.cvtColor(one, cv2.COLOR_GRAY2RGB, dst=out)
    gray = cv2.cvtColor(one, cv2.COLOR_GRAY2RGB, dst=_temp(alloc, img.shape, img, out, one))
    return cv2.addWeighted(img, factor, gray, 1 - factor, 0, dst=out)


def hue(img: np.ndarray, factor: float, out: np.ndarray | None = None, alloc=None) -> np.ndarray:
    """``adjust_hue_torchvision(img, factor)``: the input itself for a factor of 0 or a gray image."""
    if factor == 0 or img.shape[2] == 1:
        return img
    shifted = np.mod(_LEVELS_I16 + 180 * factor, 180).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV, dst=_temp(alloc, img.shape, img, out))
    hsv[..., 0] = cv2.LUT(hsv[..., 0], shifted)  # the hue channel only (a table over all three bytes costs more)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB, dst=out)
