"""augment: declarative data augmentation for images and text.

>>> import augment
>>> from augment import ops
>>> pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Zoom(scale=(0.9, 1.1))], seed=0)
>>> pipe = augment.load_pipeline("pipelines/flip_zoom_noise.yaml")   # or from a spec file
>>> out = pipe(image, seed=0)   # numpy HxWxC uint8 or PIL image in, the same kind out
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from augment._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time ``__getattr__`` below loads these
    from augment import ops
    from augment.compile.annotated import detection_collate
    from augment.compile.pipeline import AugmentResult, ImageInputError, Pipeline, load_pipeline
    from augment.compose import Compose, OneOf, Sequence, SomeOf
    from augment.ops.custom import ImageOp, TextOp
    from augment.ops.plugins import PluginError, register_op
    from augment.ops.registry import OpParams
    from augment.seeding import derive_seed
    from augment.spec import PipelineSpec, SpecError, dump_spec, load_spec, parse_spec

# Each public name and the module that defines it. They load on first use (PEP 562): ``import augment.cli``,
# a run's worker or the forkserver import this package too, and must not pay for the typed ops (generated
# pydantic models) or the compile layer that they may never use.
_LAZY = {
    "AugmentResult": "augment.compile.pipeline",
    "Compose": "augment.compose",
    "ImageInputError": "augment.compile.pipeline",
    "ImageOp": "augment.ops.custom",
    "OneOf": "augment.compose",
    "OpParams": "augment.ops.registry",
    "Pipeline": "augment.compile.pipeline",
    "PipelineSpec": "augment.spec",
    "PluginError": "augment.ops.plugins",
    "Sequence": "augment.compose",
    "SomeOf": "augment.compose",
    "SpecError": "augment.spec",
    "TextOp": "augment.ops.custom",
    "derive_seed": "augment.seeding",
    "detection_collate": "augment.compile.annotated",
    "dump_spec": "augment.spec",
    "load_pipeline": "augment.compile.pipeline",
    "load_spec": "augment.spec",
    "ops": None,  # the subpackage itself
    "parse_spec": "augment.spec",
    "register_op": "augment.ops.plugins",
}

__all__ = [
    "__version__",
    "AugmentResult",
    "Compose",
    "ImageInputError",
    "ImageOp",
    "OneOf",
    "OpParams",
    "Pipeline",
    "PipelineSpec",
    "PluginError",
    "Sequence",
    "SomeOf",
    "SpecError",
    "TextOp",
    "derive_seed",
    "detection_collate",
    "dump_spec",
    "load_pipeline",
    "load_spec",
    "ops",
    "parse_spec",
    "register_op",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'augment' has no attribute {name!r}")
    where = _LAZY[name]
    value = importlib.import_module("augment.ops") if where is None else getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
