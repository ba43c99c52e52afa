"""Pixel arrays in and out of PIL images: the conversions the library and the file decoder share (below both,
so that neither imports the other)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

__all__ = ["ImageInputError", "pil_to_array", "array_to_pil"]


class ImageInputError(ValueError):
    """The array or picture handed to an image pipeline is not an image it can work on."""


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Convert to one of L, RGB, RGBA (see the module notes) and return HxWxC uint8."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # NaN/inf (float TIFFs) would make the uint8 cast undefined: NaN and -inf become black, +inf white
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=65535.0, neginf=0.0)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return arr[:, :, None]
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "PA", "La"):
        img = img.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


def array_to_pil(arr: np.ndarray, mode_hint: str | None = None) -> Image.Image:
    channels = arr.shape[2] if arr.ndim == 3 else 1
    data = arr[:, :, 0] if arr.ndim == 3 and channels == 1 else arr
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    return Image.fromarray(np.ascontiguousarray(data), mode=mode)



def _to_array(x: Any):
    """Normalise an input image to HxWxC uint8 and return a function that gives the caller's type back."""
    if type(x) is np.ndarray and x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] in (1, 3, 4) and x.size:
        return np.ascontiguousarray(x), lambda arr, applied=None: _detached(arr, x)  # the common case, unchecked
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(x, Image.Image):
        from PIL import ImageOps

        mode = x.mode
        # As the CLI does when it decodes a file: the pixels the user sees, not the sensor's (orientation 6 is
        # stored sideways). The output is upright and carries no orientation tag, like the CLI's outputs.
        return pil_to_array(ImageOps.exif_transpose(x)), lambda arr, applied=None: array_to_pil(arr, mode)
    if not isinstance(x, np.ndarray):
        raise ImageInputError(f"image pipelines take a numpy array or PIL image, got {type(x).__name__}")
    if x.dtype != np.uint8:
        raise ImageInputError(f"images must be uint8 arrays (0-255), got dtype {x.dtype}")
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 3, 4)):
        raise ImageInputError(f"images must be HxW or HxWxC with C in 1, 3, 4; got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ImageInputError(f"image has no pixels (shape {x.shape})")
    if x.ndim == 2:
        return np.ascontiguousarray(x[:, :, None]), \
            lambda arr, applied=None: _detached(arr[:, :, 0] if arr.shape[2] == 1 else arr, x)
    return np.ascontiguousarray(x), lambda arr, applied=None: _detached(arr, x)


def _detached(arr: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``arr``, copied if it may share memory with the caller's ``source``. When no step changes the pixels (every
    ``p`` missed) the output was the caller's own array, or a view of it: writing into the output then changed
    the dataset the image came from, and only for the images whose draws missed."""
    return arr.copy() if np.may_share_memory(arr, source) else arr
