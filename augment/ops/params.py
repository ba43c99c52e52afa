"""Reusable, validated parameter types for op schemas.

A range is written in a spec as ``[low, high]`` (drawn uniformly) or as a single number (a fixed value). Bounds are
checked when the spec is loaded, so a bad value never reaches a backend.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
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
    """A value drawn uniformly from ``bounds``: ``rng.uniform(lo, hi)``, the same value and the same stream.

    numpy computes ``lo + (hi - lo) * next_double`` in C; a scalar ``Generator.uniform`` call spends most of its
    time converting arguments (~3 us, several per step), while ``rng.random()`` returns that ``next_double``
    cheaply. The arithmetic is done here only where it rounds as numpy's C does: a C compiler may fuse the
    multiply-add (one rounding instead of two; clang does by default on arm64), so the first use compares the two
    on probe values and keeps ``rng.uniform`` if any differs (``_python_uniform_matches_numpy``)."""
    lo, hi = bounds
    if lo == hi:
        return float(lo)
    if type(rng) is _Generator and (_SAME_ARITHMETIC or _SAME_ARITHMETIC is None and _python_uniform_matches_numpy()):
        low = float(lo)
        span = float(hi) - low
        if span - span == 0.0:  # finite; numpy raises OverflowError otherwise, which the fallback keeps
            return low + span * rng.random()
    return float(rng.uniform(lo, hi))


_Generator = np.random.Generator
_SAME_ARITHMETIC: bool | None = None


def _python_uniform_matches_numpy(count: int = 256, generator: type = np.random.Generator) -> bool:
    """Whether ``lo + (hi - lo) * rng.random()`` in Python gives numpy's ``rng.uniform(lo, hi)`` exactly, on
    ``count`` probes of assorted magnitudes (a fused multiply-add would differ on about a third of them)."""
    global _SAME_ARITHMETIC
    probe = np.random.Generator(np.random.PCG64(20261207))
    scale = 10.0 ** probe.integers(-12, 13, size=(count, 2))
    pairs = np.sort(probe.standard_normal((count, 2)) * scale, axis=1).tolist()
    a, b = (generator(np.random.PCG64(7)) for _ in range(2))
    same = all(float(a.uniform(lo, hi)) == lo + (hi - lo) * b.random() for lo, hi in pairs)
    _SAME_ARITHMETIC = same and a.bit_generator.state == b.bit_generator.state
    return _SAME_ARITHMETIC


def integer(rng, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    return int(lo) if lo == hi else int(rng.integers(lo, hi + 1))
