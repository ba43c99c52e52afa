"""augment: declarative data augmentation for images and text.

>>> import augment
>>> pipe = augment.load_pipeline("pipelines/flip_zoom_noise.yaml")
>>> out = pipe(image, seed=0)   # numpy HxWxC uint8 or PIL image in, the same kind out
"""

from augment._version import __version__
from augment.compile.annotated import detection_collate
from augment.compile.pipeline import AugmentResult, ImageInputError, Pipeline, load_pipeline
from augment.seeding import derive_seed
from augment.spec import PipelineSpec, SpecError, dump_spec, load_spec, parse_spec

__all__ = [
    "__version__",
    "AugmentResult",
    "ImageInputError",
    "Pipeline",
    "PipelineSpec",
    "SpecError",
    "derive_seed",
    "detection_collate",
    "dump_spec",
    "load_pipeline",
    "load_spec",
    "parse_spec",
]
