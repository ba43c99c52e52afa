"""Loading, validating, dumping and hashing specs.

Loading is defensive because specs come from other people: YAML is read with a safe loader that also refuses
aliases (no "billion laughs"), files are capped in size, nesting is capped in depth, and op names resolve only
through the closed registry. Every problem is reported with its full key path, e.g. ``steps[2].params.scale``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from augment.ops.catalog import registry
from augment.spec.errors import SpecError, SpecIssue, did_you_mean, join_path, show
from augment.spec.errors import validate_model as _validate
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

__all__ = ["MAX_SPEC_BYTES", "DEFAULT_BACKEND", "parse_text", "load_spec", "parse_spec", "dump_spec", "spec_hash"]

MAX_SPEC_BYTES = 1_000_000
DEFAULT_BACKEND = {"image": "albumentations", "text": "native"}


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that rejects anchors/aliases: a spec has no use for them and they enable expansion bombs."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a spec", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        # A repeated key would silently keep the last value: a pasted-over key must be an error, not a no-op.
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep)


# YAML 1.1 (PyYAML) reads `1e-3` and `1e308` as strings; YAML 1.2 and JSON read them as numbers. Strict types
# would then refuse a number the user meant as one, so floats without a dot resolve as floats here.
_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpecError([SpecIssue("", f"cannot read spec: {exc.strerror or exc}")], str(path)) from None
    if size > MAX_SPEC_BYTES:
        raise SpecError([SpecIssue("", f"spec is {size} bytes; the limit is {MAX_SPEC_BYTES}")], str(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue("", f"spec is not UTF-8 text ({exc.reason} at byte {exc.start})")], str(path))
    except OSError as exc:
        raise SpecError([SpecIssue("", f"cannot read spec: {exc.strerror or exc}")], str(path)) from None


def parse_text(text: str, source: str | None = None) -> Any:
    """Parse YAML or JSON text (JSON is YAML) into plain data, safely."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError([SpecIssue("", f"spec is larger than {MAX_SPEC_BYTES} bytes")], source)
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([SpecIssue("", f"invalid YAML: {where}{problem}")], source) from None
    except RecursionError:
        raise SpecError([SpecIssue("", "invalid YAML: nested too deeply")], source) from None


def load_spec(path: str | Path) -> PipelineSpec:
    """Read, parse and validate a spec file (YAML or JSON)."""
    path = Path(path)
    return parse_spec(parse_text(_read_text(path), str(path)), source=str(path))


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
