"""Typed pipeline spec.

A spec is a tree: the top level holds the run settings and a list of steps; a step is either an op (``op``, ``p``,
``params``) or a group (``sequence``, ``one_of`` with optional ``weights``, ``some_of`` with ``n``), and groups nest.
Every model forbids unknown keys and is immutable once validated. Op parameters are validated against the op's own
schema from the registry (see ``augment.spec.load``), so the same spec cannot mean two things.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from augment.ops.registry import OpParams, list_as_tuple
from augment.spec.errors import SpecError, validate_model

__all__ = [
    "SPEC_VERSION",
    "MAX_DEPTH",
    "MAX_STEPS",
    "GROUP_KINDS",
    "STEP_KINDS",
    "OpStep",
    "GroupStep",
    "Step",
    "GroupFields",
    "OpFields",
    "TopFields",
    "PipelineSpec",
]

SPEC_VERSION = 1
MAX_DEPTH = 8
MAX_STEPS = 1000
GROUP_KINDS = ("sequence", "one_of", "some_of")
STEP_KINDS = ("op", *GROUP_KINDS)


class _Frozen(BaseModel):
    # strict: `copies: true`, `copies: 2.0`, `p: '0.5'` are errors, not silently coerced; no NaN or infinity
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, strict=True,
                              allow_inf_nan=False)


class OpStep(_Frozen):
    op: str
    p: float = Field(1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    params: OpParams

    def to_dict(self) -> dict:
        return {"op": self.op, "p": self.p, "params": self.params.model_dump(mode="json")}


class GroupStep(_Frozen):
    kind: Literal["sequence", "one_of", "some_of"]
    steps: tuple["Step", ...]
    p: float = Field(1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    weights: tuple[float, ...] | None = None
    n: tuple[int, int] | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {self.kind: [s.to_dict() for s in self.steps], "p": self.p}
        if self.weights is not None:
            out["weights"] = list(self.weights)
        if self.n is not None:
            out["n"] = list(self.n)
        return out


Step = Union[OpStep, GroupStep]


def _count_pair(value: Any) -> Any:
    """``n: 2`` means ``[2, 2]``; a boolean is not a count (strict types everywhere else say the same)."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer or a [low, high] pair of integers, got {str(value).lower()}")
    if isinstance(value, int):
        return (value, value)
    return list_as_tuple(value)


class GroupFields(_Frozen):
    """The keys a group accepts besides its list of steps (validated before the children)."""

    kind: Literal["sequence", "one_of", "some_of"]
    steps: list[Any] = Field(..., min_length=1)
    p: float = Field(1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    weights: list[float] | None = None
    n: Annotated[tuple[int, int] | None, BeforeValidator(_count_pair)] = None

    @field_validator("weights")
    @classmethod
    def _weights_positive(cls, value):
        # a finite sum too: [1e308, 1e308] sums to infinity, and every normalised weight would be 0 or NaN
        if value is not None and (any(w < 0 for w in value) or not 0 < sum(value) < math.inf):
            raise ValueError("weights must be finite and non-negative with a positive, finite sum")
        return value

    @model_validator(mode="after")
    def _kind_rules(self):
        if self.weights is not None:
            if self.kind != "one_of":
                raise ValueError(f"'weights' is only allowed in one_of, not in {self.kind}")
            if len(self.weights) != len(self.steps):
                raise ValueError(f"one_of has {len(self.steps)} steps but {len(self.weights)} weights")
        if self.n is not None and self.kind != "some_of":
            raise ValueError(f"'n' is only allowed in some_of, not in {self.kind}")
        if self.kind == "some_of":
            lo, hi = self.n or (1, len(self.steps))
            if not 0 <= lo <= hi <= len(self.steps):
                raise ValueError(
                    f"n must satisfy 0 <= low <= high <= {len(self.steps)} (the number of steps), got {self.n}"
                )
        return self


class OpFields(_Frozen):
    op: str
    p: float = Field(1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    params: dict[str, Any] = Field(default_factory=dict)


class TextFilterSpec(_Frozen):
    """Optional ``filter:`` block of a text spec: copies that drift too far from their source or whose label a
    cross-fitted classifier reads differently are redrawn, then dropped (augment.text.filter)."""

    label_confidence: float | None = Field(0.9, gt=0.5, le=1.0, allow_inf_nan=False)
    folds: int = Field(5, ge=2, le=20)
    min_similarity: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False)
    length_ratio: tuple[float, float] | None = None

    @field_validator("length_ratio", mode="before")
    @classmethod
    def _ratio_pair(cls, v):
        # YAML and JSON write a pair as a list; strict mode would refuse a list for a tuple
        if isinstance(v, list):
            if len(v) != 2:
                raise ValueError(f"length_ratio must be a pair [low, high], got {len(v)} values")
            return tuple(v)
        return v

    @model_validator(mode="after")
    def _ratio_order(self):
        if self.length_ratio is not None and not 0 <= self.length_ratio[0] <= 1 <= self.length_ratio[1]:
            raise ValueError("length_ratio must be [low, high] with 0 <= low <= 1 <= high")
        return self

    def to_dict(self) -> dict:
        return {"label_confidence": self.label_confidence, "folds": self.folds,
                "min_similarity": self.min_similarity,
                "length_ratio": list(self.length_ratio) if self.length_ratio is not None else None}


class TopFields(_Frozen):
    version: Literal[1] = 1
    name: str = Field("", max_length=200)  # optional: a Python-built pipeline needs no name
    description: str = ""
    modality: Literal["image", "text"]
    backend: Literal["albumentations", "torchvision", "native"] | None = None
    seed: int = Field(0, ge=0, lt=2**63)
    copies: int = Field(1, ge=1, le=10000)
    steps: list[Any] = Field(..., min_length=1)
    filter: TextFilterSpec | None = None

    @model_validator(mode="after")
    def _backend_fits_modality(self):
        if self.filter is not None and self.modality != "text":
            raise ValueError("filter: is for text pipelines")
        if self.modality == "text" and self.backend not in (None, "native"):
            raise ValueError(f"backend {self.backend!r} is for images; text pipelines use 'native' (or omit it)")
        if self.modality == "image" and self.backend == "native":
            raise ValueError("image pipelines use backend 'albumentations' or 'torchvision'")
        return self


class PipelineSpec(_Frozen):
    version: int = SPEC_VERSION
    name: str
    description: str = ""
    modality: Literal["image", "text"]
    backend: str
    seed: int
    copies: int
    steps: tuple[Step, ...]
    filter: TextFilterSpec | None = None

    def to_dict(self) -> dict:
        extra = {"filter": self.filter.to_dict()} if self.filter is not None else {}  # old specs hash as before
        return {
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "modality": self.modality,
            "backend": self.backend,
            "seed": self.seed,
            "copies": self.copies,
            "steps": [s.to_dict() for s in self.steps],
            **extra,
        }

    def model_dump(self, *, mode: str = "python", include=None, exclude=None, **kwargs) -> dict:
        """The canonical dict form, identical to what the file would hold (JSON-ready, so ``mode`` changes
        nothing). ``include`` / ``exclude`` select top-level keys; other pydantic options do not apply to the
        canonical form and are refused rather than ignored."""
        if kwargs:
            raise TypeError(f"PipelineSpec.model_dump() does not take {', '.join(sorted(kwargs))}: "
                            "it returns the canonical spec dict (options: mode, include, exclude)")
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', got {mode!r}")
        data = self.to_dict()
        if include is not None:
            data = {k: v for k, v in data.items() if k in include}
        if exclude is not None:
            data = {k: v for k, v in data.items() if k not in exclude}
        return data

    def with_overrides(self, *, seed: int | None = None, copies: int | None = None, backend: str | None = None):
        """A copy with run-time overrides applied (CLI flags); validated like the file itself."""
        overrides = {k: v for k, v in {"seed": seed, "copies": copies, "backend": backend}.items() if v is not None}
        if not overrides:
            return self
        top = {k: getattr(self, k) for k in ("version", "name", "description", "modality", "backend", "seed", "copies")}
        issues: list = []
        validate_model(TopFields, {**top, **overrides, "steps": [None]}, "", issues)
        if issues:
            raise SpecError(issues)
        return self.model_copy(update=overrides)


GroupStep.model_rebuild()
PipelineSpec.model_rebuild()
