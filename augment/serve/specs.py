"""Specs sent to the service: a mapping or YAML/JSON text, validated by ``augment.spec`` and compiled once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from augment.compile.pipeline import Pipeline
from augment.extras import MissingExtraError
from augment.serve.deps import ApiError
from augment.serve.endpoints import check_endpoints
from augment.spec import PipelineSpec, SpecError, dump_spec, parse_spec
from augment.spec.errors import SpecIssue
from augment.spec.load import parse_text
from augment.text.backtranslate import BackendUnavailableError


def parse_any(spec: Any, seed: int | None = None, copies: int | None = None) -> PipelineSpec:
    """A spec given as a mapping or as YAML/JSON text (with optional seed/copies overrides, as the CLI flags)."""
    if isinstance(spec, str):
        spec = parse_text(spec, None)
    if spec is None:
        raise SpecError([SpecIssue("", "the spec is empty")])
    parsed = parse_spec(spec)
    check_endpoints(parsed)  # every spec the service runs comes through here
    if seed is not None or copies is not None:
        parsed = parsed.with_overrides(seed=seed, copies=copies)
    return parsed


def validation_report(spec: Any) -> dict:
    """What /v1/validate answers: every problem with its key path, or the canonical spec, YAML and hash."""
    try:
        parsed = parse_any(spec)
    except SpecError as exc:
        return {"valid": False, "errors": [{"path": i.path, "message": i.message} for i in exc.issues]}
    pipe = compiled(parsed)
    return {"valid": True, "errors": [], "name": parsed.name, "modality": parsed.modality, "hash": pipe.spec_hash,
            "spec": parsed.to_dict(), "yaml": dump_spec(parsed)}


_CACHE: OrderedDict[str, Pipeline] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 32


def compiled(spec: PipelineSpec) -> Pipeline:
    """One compiled pipeline per canonical spec (compiling per request would dominate small images).

    Pipelines are shared between request threads: calls with an explicit seed keep no state between them (each
    step draws from a generator made from the seed), which the concurrency test checks byte for byte.
    """
    try:
        pipe = Pipeline(spec)
    except (MissingExtraError, BackendUnavailableError) as exc:  # a backend this server lacks: say which
        raise ApiError(503, str(exc)) from None
    with _LOCK:
        cached = _CACHE.get(pipe.spec_hash)
        if cached is not None:
            _CACHE.move_to_end(pipe.spec_hash)
            return cached
        _CACHE[pipe.spec_hash] = pipe
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return pipe


__all__ = ["parse_any", "validation_report", "compiled"]
