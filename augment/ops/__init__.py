"""Op definitions: what each op is called, what parameters it takes, and how its randomness is drawn.

Backends (``augment.compile``) turn the drawn parameters into pixels or text; nothing in this package applies
an op to data except the text ops, whose random choices depend on the text itself.

The typed op classes (``augment.ops.Zoom(scale=(0.9, 1.1))``, generated from the registry into
``augment.ops.typed``) are re-exported here for ``augment.Compose``. They load on first use (PEP 562): a run,
a worker or the registry alone never pays for building the ~60 generated pydantic models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time ``__getattr__`` below loads these
    from augment.ops._typed_base import (AppliedOp, Op, OpParamError, TextChange, op_class, typed_applied,
                                         typed_values)
    from augment.ops.registry import TextOpResult
    from augment.ops.typed import *  # noqa: F401,F403

_FROM_BASE = ("Op", "OpParamError", "AppliedOp", "TextChange", "op_class", "typed_applied", "typed_values")
_FIXED = [*_FROM_BASE, "TextOpResult"]


def _typed_names() -> list[str]:
    return list(importlib.import_module("augment.ops.typed").__all__)


def __getattr__(name: str):
    if name == "__all__":
        names = [*_FIXED, *_typed_names()]
        globals()["__all__"] = names
        return names
    if name in _FROM_BASE:
        if name in ("op_class", "typed_values", "typed_applied"):  # they look up the built-in classes, which
            importlib.import_module("augment.ops.typed")  # register as their module is imported
        value = getattr(importlib.import_module("augment.ops._typed_base"), name)
    elif name == "TextOpResult":
        value = importlib.import_module("augment.ops.registry").TextOpResult
    elif not name[:1].isupper():
        # submodules are lowercase: ``from augment.ops import plugins`` asks here first, then imports it
        raise AttributeError(f"module 'augment.ops' has no attribute {name!r}")
    else:  # the generated classes are CamelCase
        typed = importlib.import_module("augment.ops.typed")
        if name not in typed.__all__:
            raise AttributeError(f"module 'augment.ops' has no attribute {name!r}")
        value = getattr(typed, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__getattr__("__all__")})
