"""Op definitions: what each op is called, what parameters it takes, and how its randomness is drawn.

Backends (``augment.compile``) turn the drawn parameters into pixels or text; nothing in this package applies
an op to data except the text ops, whose random choices depend on the text itself.

The typed op classes (``augment.ops.Zoom(scale=(0.9, 1.1))``, generated from the registry into
``augment.ops.typed``) are re-exported here for ``augment.Compose``.
"""

from augment.ops import typed as _typed
from augment.ops._typed_base import AppliedOp, Op, OpParamError, TextChange, op_class, typed_applied, typed_values
from augment.ops.registry import TextOpResult
from augment.ops.typed import *  # noqa: F401,F403 - the generated classes, listed in typed.__all__

__all__ = [
    "Op",
    "OpParamError",
    "AppliedOp",
    "TextChange",
    "TextOpResult",
    "op_class",
    "typed_applied",
    "typed_values",
    *_typed.__all__,
]
