"""Compiling specs into callable pipelines, and the backends that apply image ops.

The names below are imported on first use, so that importing one light submodule (``import_guard``, which a
run's forkserver start needs before any pipeline exists) does not build the op catalogue first (~0.7 s)."""

from __future__ import annotations

import importlib

__all__ = ["AugmentResult", "ImageInputError", "Pipeline", "load_pipeline"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'augment.compile' has no attribute {name!r}")
    value = getattr(importlib.import_module("augment.compile.pipeline"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
