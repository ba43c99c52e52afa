"""The pipeline spec: its schema, loading with precise errors, canonical dumping and hashing.

The names below are imported on first use: reading a spec's text (``augment.spec.text``) does not build the op
catalogue (~0.7 s) that validating it needs."""

from __future__ import annotations

import importlib

_WHERE = {
    "SpecError": "augment.spec.errors",
    "PipelineSpec": "augment.spec.schema",
    "OpStep": "augment.spec.schema",
    "GroupStep": "augment.spec.schema",
    "Step": "augment.spec.schema",
    "load_spec": "augment.spec.load",
    "parse_spec": "augment.spec.load",
    "dump_spec": "augment.spec.load",
    "spec_hash": "augment.spec.load",
}

__all__ = ["SpecError", "PipelineSpec", "OpStep", "GroupStep", "Step", "load_spec", "parse_spec", "dump_spec", "spec_hash"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'augment.spec' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
