"""The one place where the registry is filled: every op the spec may name is listed here.

Built-in ops are listed below; plugin ops (``augment.ops.plugins``, registered explicitly) and library
transforms by name (``albumentations.CLAHE``, ``augment.ops.library_ops``) are merged into the same view.
"""

from __future__ import annotations

from functools import lru_cache

from augment.ops import library_ops, plugins
from augment.ops.image_ops import IMAGE_OPS
from augment.ops.image_ops_native import NATIVE_IMAGE_OPS
from augment.ops.presets import PRESET_OPS
from augment.ops.text_ops import TEXT_OPS
from augment.ops.registry import Registry

__all__ = ["registry", "builtin_registry"]


@lru_cache(maxsize=1)
def builtin_registry() -> Registry:
    reg = Registry()
    for op in IMAGE_OPS + NATIVE_IMAGE_OPS + PRESET_OPS + TEXT_OPS:
        reg.add(op)
    return reg


_VIEW: list = [None, None]  # (plugins generation, merged registry)


def registry() -> Registry:
    """Built-in ops, registered plugin ops, and (by name, on demand) plugins not loaded yet and library transforms."""
    gen = plugins.generation()
    if _VIEW[0] != gen or _VIEW[1] is None:
        reg = Registry(resolve=_resolve)
        for op in builtin_registry().ops() + list(plugins.plugin_ops().values()):
            reg.add(op)
        _VIEW[0], _VIEW[1] = gen, reg
    return _VIEW[1]


def _resolve(name: str):
    prefix = name.split(".", 1)[0]
    if prefix in library_ops.LIBRARIES:
        return library_ops.resolve(name)
    op = plugins.resolve(name)
    if op is None:
        raise LookupError(f"no plugin provides op {name!r}: install the package that declares it (entry-point group "
                          f"{plugins.ENTRY_POINT_GROUP!r}) or pass --plugin MODULE (or set ${plugins.ENV_VAR})")
    return op
