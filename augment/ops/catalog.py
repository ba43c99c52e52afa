"""The one place where the registry is filled: every op the spec may name is listed here."""

from __future__ import annotations

from functools import lru_cache

from augment.ops.image_ops import IMAGE_OPS
from augment.ops.image_ops_native import NATIVE_IMAGE_OPS
from augment.ops.presets import PRESET_OPS
from augment.ops.text_ops import TEXT_OPS
from augment.ops.registry import Registry

__all__ = ["registry"]


@lru_cache(maxsize=1)
def registry() -> Registry:
    reg = Registry()
    for op in IMAGE_OPS + NATIVE_IMAGE_OPS + PRESET_OPS + TEXT_OPS:
        reg.add(op)
    return reg
