"""Loading, validating, dumping and hashing specs.

Loading is defensive because specs come from other people: YAML is read with a safe loader that also refuses
aliases (no "billion laughs"), files are capped in size, nesting is capped in depth, and op names resolve only
through the closed registry. Every problem is reported with its full key path, e.g. ``steps[2].params.scale``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from augment.ops.catalog import registry
from augment.spec.errors import SpecError, SpecIssue, did_you_mean, join_path, show
from augment.spec.errors import validate_model as _validate
from augment.spec.finishing import check_finishing_order
from augment.spec.schema import (
    MAX_DEPTH,
    MAX_STEPS,
    STEP_KINDS,
    GroupFields,
    GroupStep,
    OpFields,
    OpStep,
    PipelineSpec,
    Step,
    TopFields,
)
from augment.spec.text import MAX_SPEC_BYTES, parse_text, read_text

__all__ = ["MAX_SPEC_BYTES", "DEFAULT_BACKEND", "parse_text", "load_spec", "parse_spec", "dump_spec", "spec_hash"]

DEFAULT_BACKEND = {"image": "albumentations", "text": "native"}


def load_spec(path: str | Path) -> PipelineSpec:
    """Read, parse and validate a spec file (YAML or JSON)."""
    path = Path(path)
    return parse_spec(parse_text(read_text(path), str(path)), source=str(path))


def parse_spec(data: Any, source: str | None = None) -> PipelineSpec:
    """Validate already-parsed data; raises ``SpecError`` listing every problem with its key path."""
    issues: list[SpecIssue] = []
    if not isinstance(data, dict):
        raise SpecError([SpecIssue("", f"a spec must be a mapping of keys, got {type(data).__name__}")], source)
    _odd_keys(data, "", issues)
    if issues:
        raise SpecError(issues, source)
    top = _validate(TopFields, data, "", issues)
    modality = top.modality if top else data.get("modality")
    raw_steps = top.steps if top else data.get("steps")
    counter = [0]
    steps = []
    if modality in ("image", "text") and isinstance(raw_steps, list):
        # Check the steps even when a top-level key is wrong, so one run of `validate` shows every problem.
        steps = [_parse_step(raw, f"steps[{i}]", modality, 1, counter, issues) for i, raw in enumerate(raw_steps)]
    if issues:
        raise SpecError(issues, source)
    if modality == "image":
        check_finishing_order(tuple(steps), source)  # normalize and to_dtype, on every path a seed can take
    return PipelineSpec(
        version=top.version,
        name=top.name,
        description=top.description,
        modality=top.modality,
        backend=top.backend or DEFAULT_BACKEND[top.modality],
        seed=top.seed,
        copies=top.copies,
        steps=tuple(steps),
        filter=top.filter,
    )


def _odd_keys(node: Any, path: str, issues: list, depth: int = 0) -> None:
    """Every mapping key must be a string: YAML allows numbers, nulls and lists as keys, a spec does not."""
    if depth > 2 * MAX_DEPTH + 4:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                _odd_keys(value, join_path(path, [key]), issues, depth + 1)
            else:
                issues.append(SpecIssue(path, f"keys must be strings; got {show(key)}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _odd_keys(value, join_path(path, [i]), issues, depth + 1)


def _parse_step(raw: Any, path: str, modality: str, depth: int, counter: list[int], issues: list) -> Step | None:
    counter[0] += 1
    if counter[0] > MAX_STEPS:
        if counter[0] == MAX_STEPS + 1:
            issues.append(SpecIssue(path, f"too many steps: a spec may hold at most {MAX_STEPS}"))
        return None
    if depth > MAX_DEPTH:
        issues.append(SpecIssue(path, f"groups nested more than {MAX_DEPTH} deep"))
        return None
    if not isinstance(raw, dict):
        issues.append(SpecIssue(path, f"a step must be a mapping with one of the keys {', '.join(STEP_KINDS)}; "
                                      f"got {show(raw)}"))
        return None
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        if kinds:
            issues.append(SpecIssue(path, f"a step has exactly one of {', '.join(STEP_KINDS)}; got {', '.join(kinds)}"))
        else:
            keys = ", ".join(map(str, raw)) or "none"
            hint = next((did_you_mean(k, STEP_KINDS) for k in map(str, raw) if did_you_mean(k, STEP_KINDS)), "")
            issues.append(SpecIssue(path, f"a step needs one of the keys {', '.join(STEP_KINDS)}; got keys: {keys}{hint}"))
        return None
    if kinds[0] == "op":
        return _parse_op(raw, path, modality, issues)
    kind = kinds[0]
    fields = dict(raw)
    fields["steps"] = fields.pop(kind)
    fields["kind"] = kind
    group = _validate(GroupFields, fields, path, issues, rename={"steps": kind})
    if group is None:
        return None
    children = [
        _parse_step(child, f"{path}.{kind}[{i}]", modality, depth + 1, counter, issues)
        for i, child in enumerate(group.steps)
    ]
    if any(c is None for c in children):
        return None
    n = None
    if kind == "some_of":
        n = tuple(group.n or (1, len(children)))
    return GroupStep(
        kind=kind, steps=tuple(children), p=group.p,
        weights=tuple(group.weights) if group.weights is not None else None, n=n,
    )


def _parse_op(raw: dict, path: str, modality: str, issues: list) -> OpStep | None:
    fields = _validate(OpFields, raw, path, issues)
    if fields is None:
        return None
    reg = registry()
    if fields.op not in reg:
        names = reg.names(modality)
        reason = reg.why_missing(fields.op)  # a plugin or library op: what is missing and what to do
        if reason:
            issues.append(SpecIssue(f"{path}.op", reason))
        elif fields.op in reg.names():
            issues.append(SpecIssue(f"{path}.op", f"op {fields.op!r} is a {reg.get(fields.op).modality} op; "
                                                  f"this is a {modality} pipeline"))
        else:
            issues.append(SpecIssue(f"{path}.op", f"unknown op {fields.op!r}{did_you_mean(fields.op, names)} "
                                                  f"(`augment ops --modality {modality}` lists them all)"))
        return None
    opdef = reg.get(fields.op)
    if opdef.modality != modality:
        issues.append(SpecIssue(f"{path}.op", f"op {fields.op!r} is a {opdef.modality} op; this is a {modality} pipeline"))
        return None
    params = _validate(opdef.params, fields.params, f"{path}.params", issues)
    if params is None:
        return None
    return OpStep(op=fields.op, p=fields.p, params=params)


def dump_spec(spec: PipelineSpec, fmt: str = "yaml") -> str:
    """The canonical text of a spec; loading it gives an equal spec with the same hash."""
    data = spec.to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def spec_hash(spec: PipelineSpec) -> str:
    """A canonical hash: the same for every file that validates to the same spec (defaults filled in)."""
    canonical = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
