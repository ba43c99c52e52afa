"""Semantic masks: one class-index PNG per image, named like it (found by ``mask_pairs``: ``masks/foo.png``,
``SegmentationClass/foo.png``, ``foo_mask.png`` ...).

A mask is a palette (P) or gray (L) PNG whose values are class indices; it is resampled nearest-neighbour with the
image, and pixels the op cannot see (outside a rotated or zoomed-out source) get the ignore index (255). The
output mask keeps the source's mode and palette.
"""

from __future__ import annotations

import io
import posixpath

import numpy as np
from PIL import Image, UnidentifiedImageError

from augment.compile.targets import Targets
from augment.io.annotations.base import AnnotationError, Layout, Repairs


def annotation_for(layout: Layout, image_rel: str) -> str:
    rest = posixpath.relpath(image_rel, layout.images) if layout.images else image_rel
    return posixpath.join(layout.annotations, posixpath.splitext(rest)[0] + ".png")


def read(data: bytes | None, layout: Layout, hw: tuple[int, int], where: str) -> tuple[Targets, Repairs]:
    if data is None:  # an image of a mask dataset without its mask: unlabelled, so every pixel is ignored (never
        repairs = Repairs()  # read as background, which would teach a model that the objects in it are not there)
        repairs.add("no_mask_file_all_ignored")
        semantic = np.full(tuple(hw), layout.ignore_index, np.uint8)
        return Targets(boxes=np.zeros((0, 4)), labels=(), semantic=semantic, ignore_index=layout.ignore_index), repairs
    try:
        img = Image.open(io.BytesIO(data))
        if (img.size[1], img.size[0]) != tuple(hw):  # checked on the header, before a bomb is decoded
            raise AnnotationError(f"{where}: mask is {img.size[0]}x{img.size[1]}, its image {hw[1]}x{hw[0]}")
        img.load()
    except Image.DecompressionBombError as exc:  # a header declaring billions of pixels: never decoded
        raise AnnotationError(f"{where}: mask declares too many pixels (possible decompression bomb): {exc}") \
            from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AnnotationError(f"{where}: not a readable mask image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if img.mode not in ("P", "L"):
        raise AnnotationError(f"{where}: a mask must be a palette or gray PNG of class indices, got mode {img.mode}")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.shape != tuple(hw):
        raise AnnotationError(f"{where}: mask is {arr.shape[1]}x{arr.shape[0]}, its image {hw[1]}x{hw[0]}")
    return Targets(boxes=np.zeros((0, 4)), labels=(), semantic=arr, ignore_index=layout.ignore_index), Repairs()


def mask_info(data: bytes | None) -> dict:
    if data is None:  # written for an image that had no mask: gray class indices
        return {"mode": "L", "palette": None}
    img = Image.open(io.BytesIO(data))  # the source mask, already read (and size-checked) by read()
    return {"mode": img.mode, "palette": img.getpalette() if img.mode == "P" else None}


def encode(targets: Targets, source: bytes | None) -> bytes:
    info = mask_info(source)
    arr = np.ascontiguousarray(targets.semantic)
    img = Image.frombytes(info["mode"], (arr.shape[1], arr.shape[0]), arr.tobytes())
    if info["mode"] == "P" and info["palette"] is not None:
        img.putpalette(info["palette"])
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


__all__ = ["annotation_for", "read", "mask_info", "encode"]
