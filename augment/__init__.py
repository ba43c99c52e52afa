"""augment: declarative data augmentation for images and text.

>>> import augment
>>> from augment import ops
>>> pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Zoom(scale=(0.9, 1.1))], seed=0)
>>> pipe = augment.load_pipeline("pipelines/flip_zoom_noise.yaml")   # or from a spec file
>>> out = pipe(image, seed=0)   # numpy HxWxC uint8 or PIL image in, the same kind out
"""

from augment import ops
from augment._version import __version__
from augment.compile.annotated import detection_collate
from augment.compile.pipeline import AugmentResult, ImageInputError, Pipeline, load_pipeline
from augment.compose import Compose, OneOf, Sequence, SomeOf
from augment.ops.custom import ImageOp, TextOp
from augment.ops.plugins import PluginError, register_op
from augment.ops.registry import OpParams
from augment.seeding import derive_seed
from augment.spec import PipelineSpec, SpecError, dump_spec, load_spec, parse_spec

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
