"""Base classes for your own ops: ``augment.ImageOp`` and ``augment.TextOp``.

An op is a class with a typed parameter model and the same sample/apply split the built-in ops use::

    class StainJitterParams(augment.OpParams):
        strength: FloatRange(ge=0, le=1) = (0.0, 0.05)

    class StainJitter(augment.ImageOp):
        '''Jitter the haematoxylin and eosin stain intensities.'''
        name = "stain_jitter"            # registered as "<your package>.stain_jitter"
        Params = StainJitterParams
        pixel_only = True                # annotations are unchanged; or define map_points (+ map_mask)

        def sample(self, params, rng, ctx) -> dict:     # JSON values: what the manifest records
            return {"scale": uniform(rng, params.strength)}

        def apply(self, image, drawn):                  # uint8 HxWxC in, uint8 HxWxC out; never edit `image`
            ...

    augment.register_op(StainJitter)   # or an entry point in the group "augment.ops", or --plugin MODULE

The class is also the op's typed front: ``StainJitter(strength=(0, 0.1), p=0.5)`` goes into ``augment.Compose``
like the built-in ``augment.ops`` classes. ``apply`` only sees the drawn values and ``self.params``; it must not
draw anything itself, so a replay from the manifest gives the same bytes. It runs as it is on either backend.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from augment.ops._typed_base import DrawnValues, Op, OpParamError
from augment.ops.registry import ImageContext, OpParams, TextOpResult

__all__ = ["ImageOp", "TextOp", "DrawnValues"]


class _NoParams(OpParams):
    pass


class _PluginOp(Op):
    name: ClassVar[str]  # the op's name inside its package
    namespace: ClassVar[str | None] = None  # the package prefix; default: the top-level module of the class
    Params: ClassVar[type[OpParams]] = _NoParams
    drawn_type: ClassVar[type] = DrawnValues

    def __init__(self, p: float = 1.0, **params: Any) -> None:
        from augment.ops.plugins import full_name

        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
            raise OpParamError(f"{type(self).__name__}: p must be a number in [0, 1], got {p!r}")
        try:
            validated = self.Params.model_validate(params)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(part) for part in err["loc"] if not (isinstance(part, str) and "[" in part))
            raise OpParamError(f"{type(self).__name__}: {key or 'params'}: "
                               f"{err['msg'].removeprefix('Value error, ')}") from None
        object.__setattr__(self, "p", float(p))
        object.__setattr__(self, "params", validated)
        type.__setattr__(type(self), "op_name", full_name(type(self)))

    def to_step(self) -> dict:
        # using the class in a pipeline is registering it (the same class again is a no-op)
        from augment.ops.plugins import register_op

        register_op(type(self))
        return super().to_step()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, p={self.p!r})"


class ImageOp(_PluginOp):
    """Base class of your own image ops (see the module docstring)."""

    _augment_kind: ClassVar[str] = "image"
    modality: ClassVar[str] = "image"
    pixel_only: ClassVar[bool] = False  # True: pixel values change, geometry does not (annotations unchanged)
    # True: map_points keeps straight lines straight (flips, shifts, rotations, affine and perspective maps), so
    # polygons keep their vertices; False: polygons and boxes move through densified outlines (a map may bend them)
    straight_lines: ClassVar[bool] = False

    def sample(self, params: Any, rng: np.random.Generator, ctx: ImageContext) -> dict:
        """Draw this op's random values from ``rng`` (and nothing else) as a dict of JSON values."""
        raise NotImplementedError

    def apply(self, image: np.ndarray, drawn: dict) -> np.ndarray:
        """The op on a uint8 HxWxC array with the drawn values; return a new array."""
        raise NotImplementedError

    # geometric hooks: define map_points to move boxes, polygons and keypoints; map_mask to move masks
    def map_points(self, xy: np.ndarray, drawn: dict, image_hw: tuple[int, int]) -> np.ndarray:
        """(N, 2) float x, y pixel coordinates of the input -> where they land in the output."""
        raise NotImplementedError

    def map_mask(self, mask: np.ndarray, drawn: dict) -> np.ndarray:
        """An HxWxC uint8 label image (instance or class masks) moved like the image, nearest neighbour."""
        raise NotImplementedError

    def output_size(self, drawn: dict, image_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) of the output; the input's size unless the op changes it."""
        return image_hw


class TextOp(_PluginOp):
    """Base class of your own text ops: ``apply(text, rng)`` returns the new text (or a ``TextOpResult`` with
    its change log). Text ops choose positions from the text itself, so a text output replays from its seed."""

    _augment_kind: ClassVar[str] = "text"
    modality: ClassVar[str] = "text"

    def apply(self, text: str, rng: np.random.Generator) -> "str | TextOpResult":
        raise NotImplementedError


ImageOp._augment_base = ImageOp
TextOp._augment_base = TextOp
