"""Reusable, validated parameter types for op schemas.

A range is written in a spec as ``[low, high]`` (drawn uniformly) or as a single number (a fixed value). Bounds are
checked when the spec is loaded, so a bad value never reaches a backend.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

__all__ = ["FloatRange", "IntRange", "uniform", "integer"]


def _as_range(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number or a [low, high] pair, got a boolean")
    if isinstance(value, (int, float)):
        return (value, value)
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"expected a [low, high] pair, got {len(value)} values")
        return tuple(value)
    return value


def _ordered(value: tuple) -> tuple:
    if value[0] > value[1]:
        raise ValueError(f"low must not exceed high, got [{value[0]}, {value[1]}]")
    return value


def FloatRange(ge: float | None = None, le: float | None = None, gt: float | None = None):
    """A [low, high] float range with bounds on both ends."""
    item = Annotated[float, Field(ge=ge, le=le, gt=gt, allow_inf_nan=False)]
    return Annotated[
        tuple[item, item],
        BeforeValidator(_as_range),
        AfterValidator(_ordered),
        Field(json_schema_extra={"range": True}),
        PlainSerializer(lambda v: list(v), return_type=list),
    ]


def IntRange(ge: int | None = None, le: int | None = None):
    item = Annotated[int, Field(ge=ge, le=le)]
    return Annotated[
        tuple[item, item],
        BeforeValidator(_as_range),
        AfterValidator(_ordered),
        Field(json_schema_extra={"range": True}),
        PlainSerializer(lambda v: list(v), return_type=list),
    ]


def uniform(rng, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def integer(rng, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    return int(lo) if lo == hi else int(rng.integers(lo, hi + 1))
