"""The closed registry of ops.

Op names in a spec resolve here and nowhere else: a spec can never name an import path. The registry is
filled explicitly by ``augment.ops.catalog`` (no registration as a side effect of importing arbitrary modules),
so the listing printed by ``augment ops`` is exactly what the validator accepts.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from augment.text.result import TextOpResult  # noqa: F401 (re-exported: ops return it)

__all__ = ["Modality", "OpParams", "ImageContext", "ImageSampler", "TextOpResult", "TextApplier", "OpDef", "Registry"]

Modality = Literal["image", "text"]


class OpParams(BaseModel):
    """Base of every op's parameter schema: unknown keys are errors, values are immutable after validation,
    types are strict (``true`` is not 1, ``"0.5"`` is not 0.5, ``2.0`` is not 2) and floats are finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _lists_as_tuples(cls, data: Any) -> Any:
        # YAML and JSON have no tuples: a list given for a tuple-typed field (a range, a pair) is that tuple.
        # Only tuple fields: list fields (e.g. back-translation pivots) stay lists, and nothing else is coerced.
        if not isinstance(data, dict):
            return data
        fields = _TUPLE_FIELDS.get(cls)
        if fields is None:
            fields = _TUPLE_FIELDS[cls] = frozenset(
                name for name, info in cls.model_fields.items() if _wants_tuple(info.annotation))
        return {k: list_as_tuple(v) if k in fields else v for k, v in data.items()}


_TUPLE_FIELDS: dict[type, frozenset[str]] = {}


def _wants_tuple(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if annotation is tuple or origin is tuple:
        return True
    if origin is Annotated:
        return _wants_tuple(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_wants_tuple(arg) for arg in get_args(annotation))
    return False


def list_as_tuple(value: Any) -> Any:
    """Before-validator for tuple fields of strict models: YAML and JSON give lists, strict mode wants tuples
    (nested too: ``flip_pairs: [[left, right]]``)."""
    return tuple(list_as_tuple(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class ImageContext:
    """What an image op may know about its input when drawing parameters."""

    height: int
    width: int
    channels: int
    boxes: tuple = ()  # annotated images: the objects' (x_min, y_min, x_max, y_max), for ops that keep them whole


# sample(params, rng, ctx) -> JSON-serialisable dict of drawn values (what the manifest records)
ImageSampler = Callable[[Any, np.random.Generator, ImageContext], dict]


# apply(text, params, rng) -> TextOpResult. Text ops choose positions from the text itself, so drawing
# and applying cannot be separated; the change log is what gets recorded, and replay re-runs from the seed.
TextApplier = Callable[[str, Any, np.random.Generator], TextOpResult]


@dataclass(frozen=True)
class OpDef:
    name: str
    modality: Modality
    params: type[OpParams]
    summary: str
    sample: ImageSampler | None = None  # image ops
    apply_text: TextApplier | None = None  # text ops
    batch_text: Callable[[list[str], Any, list[np.random.Generator]], list[TextOpResult]] | None = None
    uses_labels: bool = False  # text ops that read each text's label: called with labels=[...] (label= alone)
    # composite image ops (presets): compose(image, drawn, params, apply_sub) applies recorded sub-ops, where
    # apply_sub(op_name, image, drawn) runs one registered op with its default settings on the active backend
    compose: Callable[[np.ndarray, dict, Any, Callable[[str, np.ndarray, dict], np.ndarray]], np.ndarray] | None = None
    # ops from outside the built-in catalog (plugins, library transforms; augment.ops.plugins / library_ops):
    # apply_image(image, drawn, params) runs the op's own implementation on every backend;
    draw_image: Callable[[Any, np.random.Generator, np.ndarray], dict] | None = None  # draws from the pixels too
    apply_image: Callable[[np.ndarray, dict, Any], np.ndarray] | None = None
    # annotations: "builtin" (rules by name), "pixel" (unchanged), "geometric" (geometry gives the point map
    # and mask warp of a draw), or a one-line reason the op cannot move them
    annotations: str = "builtin"
    geometry: Callable[[dict, Any, tuple[int, int]], Any] | None = None
    check_record: Callable[[Any, Any, ImageContext], None] | None = None  # a recorded draw, before replaying it
    origin: dict | None = None  # {"distribution": ..., "version": ..., "module": ...}: what provides the op
    extra: str | None = None  # the optional dependency (augment.extras) the op needs whatever its params
    # what the op needs for these params (a system backend, an extra only some params use), checked when a
    # pipeline is compiled: raises MissingExtraError or BackendUnavailableError, so a missing backend is one
    # line per run instead of an error per row
    preflight: Callable[[Any], None] | None = None


class Registry:
    def __init__(self, resolve: Callable[[str], OpDef] | None = None) -> None:
        self._ops: dict[str, OpDef] = {}
        # dotted names not listed here (plugins not loaded yet, library transforms): resolve(name) finds them
        # or raises LookupError with the one-line reason
        self._resolve = resolve

    def add(self, op: OpDef) -> OpDef:
        if op.name in self._ops:
            raise ValueError(f"op {op.name!r} registered twice")
        if op.modality == "image" and op.sample is None:
            raise ValueError(f"image op {op.name!r} needs a sampler")
        if op.modality == "text" and op.apply_text is None:
            raise ValueError(f"text op {op.name!r} needs an apply_text function")
        self._ops[op.name] = op
        return op

    def get(self, name: str) -> OpDef:
        op = self._ops.get(name)
        if op is not None:
            return op
        if self._resolve is not None and isinstance(name, str) and "." in name:
            try:
                return self._resolve(name)
            except LookupError as exc:
                raise KeyError(str(exc.args[0]) if exc.args else name) from None
        raise KeyError(name)

    def why_missing(self, name: str) -> str | None:
        """The one-line reason a dotted name resolves to no op (None for plain names)."""
        try:
            self.get(name)
        except KeyError as exc:
            return str(exc.args[0]) if "." in str(name) and exc.args and exc.args[0] != name else None
        return None

    def __contains__(self, name: object) -> bool:
        try:
            self.get(name)  # type: ignore[arg-type]
        except KeyError:
            return False
        return True

    def names(self, modality: Modality | None = None) -> list[str]:
        return sorted(n for n, op in self._ops.items() if modality is None or op.modality == modality)

    def ops(self, modality: Modality | None = None) -> list[OpDef]:
        return [self._ops[n] for n in self.names(modality)]
