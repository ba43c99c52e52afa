"""Search space files: which pipelines ``augment search`` may try.

A space is a YAML file validated like a spec (unknown keys are errors with a did-you-mean, every problem names
its key path, op parameters are checked against the op's own schema)::

    name: digits-space
    modality: image                  # image | text
    backend: albumentations          # as in a spec
    candidates: 12                   # random pipelines drawn from `ops`
    copies: [1, 2]                   # augmented copies per example tried (one per candidate)
    structure: some_of               # sequence | one_of | some_of: how the drawn ops are grouped
    n: [1, 2]                        # some_of only: how many of the drawn ops run per output
    ops:                             # each drawn candidate includes an op or leaves it out (optional: false keeps it)
      - op: rotate
        p: [0.2, 0.8]                # a number, or a [low, high] range the search draws from
        params:
          degrees: {choices: [[-10, 10], [-25, 25]]}   # one of these values
          fill: 0                                      # a plain value, as in a spec
      - op: gaussian_noise
        params:
          sigma: {range: [2, 20]}    # a number drawn from [low, high] (integers if both ends are)
    pipelines:                       # fixed candidates: steps written as in a spec, or a spec file
      - {name: flip, steps: [{op: horizontal_flip, p: 0.5}]}
      - {file: pipelines/digits_safe.yaml}
    presets: [trivial_augment, {op: rand_augment, params: {n: 2, magnitude: 0.5}}]

Text spaces use the same keys with text ops (EDA rates ``{range: ...}`` per op, back-translation pivots as
``{choices: [de, fr]}``, char-noise levels).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from augment.ops.catalog import registry
from augment.spec import PipelineSpec, SpecError, load_spec, parse_spec
from augment.spec.errors import SpecIssue, did_you_mean, show
from augment.spec.errors import issue_from_pydantic, validate_model
from augment.spec.load import _odd_keys
from augment.spec.text import parse_text, read_text

MAX_CANDIDATES = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pair(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number or a [low, high] pair, got a boolean")
    if isinstance(value, (int, float)):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) != 2:
        raise ValueError(f"expected a [low, high] pair, got {len(value)} values")
    return value


class Choices(_Strict):
    choices: list[Any] = Field(..., min_length=1, max_length=100)


class Range(_Strict):
    range: tuple[float, float]

    @field_validator("range")
    @classmethod
    def _ordered(cls, v):
        if v[0] > v[1]:
            raise ValueError(f"low must not exceed high, got [{v[0]}, {v[1]}]")
        return v


class OpChoice(_Strict):
    op: str
    p: tuple[float, float] = (1.0, 1.0)
    optional: bool = True
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("p", mode="before")
    @classmethod
    def _p_pair(cls, v):
        return _pair(v)

    @field_validator("p")
    @classmethod
    def _p_bounds(cls, v):
        if not (0.0 <= v[0] <= v[1] <= 1.0):
            raise ValueError(f"p must satisfy 0 <= low <= high <= 1, got [{v[0]}, {v[1]}]")
        return v


class FixedPipeline(_Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    steps: list[Any] | None = Field(None, min_length=1)
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.steps is None) == (self.file is None):
            raise ValueError("a fixed pipeline has either 'steps' or 'file'")
        return self


class SpaceFields(_Strict):
    version: Literal[1] = 1
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    modality: Literal["image", "text"]
    backend: Literal["albumentations", "torchvision", "native"] | None = None
    seed: int = Field(0, ge=0, lt=2**63)
    candidates: int | None = Field(None, ge=0, le=MAX_CANDIDATES, description="default: 8 with ops, else 0")
    copies: list[int] = Field(default_factory=lambda: [1], min_length=1, max_length=10)
    structure: Literal["sequence", "one_of", "some_of"] = "sequence"
    n: int | tuple[int, int] | None = None
    ops: list[Any] = Field(default_factory=list)
    pipelines: list[Any] = Field(default_factory=list)
    presets: list[Any] = Field(default_factory=list)

    @field_validator("copies", mode="before")
    @classmethod
    def _copies(cls, v):
        return [v] if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("copies")
    @classmethod
    def _copies_range(cls, v):
        if any(c < 1 or c > 100 for c in v):
            raise ValueError(f"copies must be integers from 1 to 100, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.candidates is None:
            object.__setattr__(self, "candidates", 8 if self.ops else 0)
        if self.n is not None and self.structure != "some_of":
            raise ValueError(f"'n' is only allowed with structure some_of, not {self.structure}")
        if self.candidates and not self.ops:
            raise ValueError(f"candidates: {self.candidates} random candidates need a list of 'ops' to draw from")
        if not self.ops and not self.pipelines and not self.presets:
            raise ValueError("a space needs at least one of 'ops', 'pipelines' or 'presets'")
        return self


class Candidate(BaseModel):
    """One pipeline the search may evaluate: its spec, where it came from and the copies it is run with."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str
    kind: Literal["drawn", "pipeline", "preset"]
    spec: PipelineSpec
    copies: int

    def ops(self) -> list[str]:
        names: list[str] = []

        def walk(steps):
            for s in steps:
                if hasattr(s, "op"):
                    names.append(s.op)
                else:
                    walk(s.steps)

        walk(self.spec.steps)
        return names


class SearchSpace(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    fields: SpaceFields
    ops: tuple[OpChoice, ...]
    pipelines: tuple[PipelineSpec, ...]
    presets: tuple[dict, ...]

    @property
    def name(self) -> str:
        return self.fields.name

    @property
    def modality(self) -> str:
        return self.fields.modality

    def candidates(self, seed: int | None = None) -> list[Candidate]:
        """Every candidate, deterministic for the seed: fixed pipelines, presets, then random draws (duplicates
        by spec content are dropped, so a draw never costs twice)."""
        return _candidates(self, self.fields.seed if seed is None else seed)


# --------------------------------------------------------------------------------------------- loading


def load_space(path: str | Path) -> SearchSpace:
    path = Path(path)
    return parse_space(parse_text(read_text(path), str(path)), source=str(path), base=path.parent)


def parse_space(data: Any, source: str | None = None, base: Path | None = None) -> SearchSpace:
    """Validate parsed data; raises ``SpecError`` listing every problem with its key path."""
    issues: list[SpecIssue] = []
    if not isinstance(data, dict):
        raise SpecError([SpecIssue("", f"a search space must be a mapping of keys, got {type(data).__name__}")],
                        source)
    _odd_keys(data, "", issues)
    if "steps" in data and not {"ops", "pipelines", "presets"} & set(data):
        issues.append(SpecIssue("steps", "this is a pipeline spec, not a search space; list it in a space as "
                                         "pipelines: [{file: PATH}] (see pipelines/spaces/)"))
    if issues:
        raise SpecError(issues, source)
    top = validate_model(SpaceFields, data, "", issues)
    if top is None:
        raise SpecError(issues, source)
    if top.n is not None and top.ops:
        lo, hi = (top.n, top.n) if isinstance(top.n, int) else top.n
        if not 1 <= lo <= hi:
            issues.append(SpecIssue("n", f"n must satisfy 1 <= low <= high, got {show(top.n)}"))
    if top.modality == "text" and top.backend not in (None, "native"):
        issues.append(SpecIssue("backend", f"backend {top.backend!r} is for images; text spaces use 'native'"))
    if top.modality == "image" and top.backend == "native":
        issues.append(SpecIssue("backend", "image spaces use backend 'albumentations' or 'torchvision'"))
    backend = top.backend or ("native" if top.modality == "text" else "albumentations")
    ops = [_parse_choice(raw, f"ops[{i}]", top.modality, issues) for i, raw in enumerate(top.ops)]
    pipelines = [_parse_fixed(raw, f"pipelines[{i}]", top, backend, base, issues)
                 for i, raw in enumerate(top.pipelines)]
    presets = [_parse_preset(raw, f"presets[{i}]", top, backend, issues) for i, raw in enumerate(top.presets)]
    if issues:
        raise SpecError(issues, source)
    return SearchSpace(fields=top.model_copy(update={"backend": backend}), ops=tuple(ops),
                       pipelines=tuple(pipelines), presets=tuple(presets))


def _parse_choice(raw: Any, path: str, modality: str, issues: list) -> OpChoice | None:
    choice = validate_model(OpChoice, raw, path, issues)
    if choice is None:
        return None
    reg = registry()
    if choice.op not in reg or reg.get(choice.op).modality != modality:
        names = reg.names(modality)
        issues.append(SpecIssue(f"{path}.op", f"unknown {modality} op {choice.op!r}{did_you_mean(choice.op, names)} "
                                              f"(`augment ops --modality {modality}` lists them all)"))
        return None
    schema = reg.get(choice.op).params
    before = len(issues)
    # Each searched value is checked in place against the op's schema, so a bad choice names its own index.
    for key, value in choice.params.items():
        if not isinstance(value, dict) or not ({"choices", "range"} & set(value)):
            continue
        where = f"{path}.params.{key}"
        if key not in schema.model_fields:
            allowed = list(schema.model_fields)
            issues.append(SpecIssue(where, f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed keys: "
                                           f"{', '.join(allowed) or 'none'}"))
            continue
        if "choices" in value:
            spec = validate_model(Choices, value, where, issues)
            values = spec.choices if spec else []
            paths = [f"{where}.choices[{j}]" for j in range(len(values))]
        else:
            spec = validate_model(Range, value, where, issues)
            values = list(value["range"]) if spec else []  # as written: an int range stays ints (strict params)
            paths = [f"{where}.range[{j}]" for j in range(len(values))]
        for v, vpath in zip(values, paths):
            trial = {**_fixed_params(choice.params), key: v}
            _check_params(schema, trial, key, vpath, issues)
    if len(issues) == before:
        trial = _fixed_params(choice.params)
        try:
            schema.model_validate({**trial, **_first_values(choice.params)})
        except Exception as exc:  # noqa: BLE001 - pydantic ValidationError; reported with key paths below
            for err in getattr(exc, "errors", lambda **_: [])(include_url=False):
                issues.append(issue_from_pydantic(schema, err, f"{path}.params", {}))
    return choice if len(issues) == before else None


def _check_params(schema, params: dict, key: str, vpath: str, issues: list) -> None:
    from pydantic import ValidationError

    try:
        schema.model_validate(params)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if err["loc"] and err["loc"][0] == key:
                issue = issue_from_pydantic(schema, err, "", {})
                issues.append(SpecIssue(vpath, issue.message))


def _fixed_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if not (isinstance(v, dict) and {"choices", "range"} & set(v))}


def _first_values(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, dict) and "choices" in v:
            out[k] = v["choices"][0]
        elif isinstance(v, dict) and "range" in v:
            out[k] = v["range"][0]
    return out


def _parse_fixed(raw: Any, path: str, top: SpaceFields, backend: str, base: Path | None,
                 issues: list) -> PipelineSpec | None:
    fixed = validate_model(FixedPipeline, raw, path, issues)
    if fixed is None:
        return None
    if fixed.file is not None:
        file = fixed.file if fixed.file.is_absolute() or base is None else base / fixed.file
        if not file.exists() and Path.cwd().joinpath(fixed.file).exists():
            file = Path.cwd() / fixed.file  # paths relative to where the user runs, like other CLI paths
        try:
            spec = load_spec(file)
        except SpecError as exc:
            issues.extend(SpecIssue(f"{path}.file", f"{file}: {i}") for i in exc.issues)
            return None
        if spec.modality != top.modality:
            issues.append(SpecIssue(f"{path}.file",
                                    f"{file} is a {spec.modality} pipeline; this space is {top.modality}"))
            return None
        return spec.with_overrides(backend=backend, copies=1)
    name = fixed.name or f"{top.name}-pipeline-{path[10:-1]}"
    return _as_spec({"name": name, "modality": top.modality, "backend": backend, "seed": top.seed,
                     "steps": fixed.steps}, path, issues)


def _parse_preset(raw: Any, path: str, top: SpaceFields, backend: str, issues: list) -> dict | None:
    step = {"op": raw} if isinstance(raw, str) else raw
    if not isinstance(step, dict) or "op" not in step:
        issues.append(SpecIssue(path, f"a preset is an op name or a mapping with 'op' (and 'params'); got {show(raw)}"))
        return None
    spec = _as_spec({"name": f"preset-{step['op']}", "modality": top.modality, "backend": backend,
                     "seed": top.seed, "steps": [step]}, path, issues, strip="steps[0]")
    return step if spec is not None else None


def _as_spec(data: dict, path: str, issues: list, strip: str = "") -> PipelineSpec | None:
    try:
        return parse_spec(data)
    except SpecError as exc:
        for i in exc.issues:
            sub = i.path
            if strip and sub.startswith(strip):
                sub = sub[len(strip):].lstrip(".")
            issues.append(SpecIssue(".".join(x for x in (path, sub) if x).replace(".[", "["), i.message))
        return None


# --------------------------------------------------------------------------------------------- drawing


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _draw_value(spec: dict, rng: np.random.Generator) -> Any:
    if "choices" in spec:
        return spec["choices"][int(rng.integers(len(spec["choices"])))]
    lo, hi = spec["range"]
    if float(lo).is_integer() and float(hi).is_integer() and all(isinstance(v, int) for v in spec["range"]):
        return int(rng.integers(int(lo), int(hi) + 1))
    return round(float(rng.uniform(lo, hi)), 3)


def _draw_steps(space: SearchSpace, rng: np.random.Generator) -> list[dict]:
    ops = space.ops
    keep = [not o.optional or rng.random() < 0.5 for o in ops]
    if not any(keep):
        keep[int(rng.integers(len(ops)))] = True
    steps = []
    for o, k in zip(ops, keep):
        if not k:
            continue
        p = o.p[0] if o.p[0] == o.p[1] else round(float(rng.uniform(*o.p)), 2)
        params = {key: (_draw_value(v, rng) if isinstance(v, dict) and {"choices", "range"} & set(v) else v)
                  for key, v in o.params.items()}
        steps.append({"op": o.op, "p": p, "params": params})
    f = space.fields
    if f.structure == "sequence" or len(steps) == 1:
        return steps
    if f.structure == "one_of":
        return [{"one_of": steps}]
    lo, hi = (f.n, f.n) if isinstance(f.n, int) else (f.n or (1, len(steps)))
    return [{"some_of": steps, "n": [min(lo, len(steps)), min(hi, len(steps))]}]


def _candidates(space: SearchSpace, seed: int) -> list[Candidate]:
    f = space.fields
    out: list[Candidate] = []
    seen: set[tuple[str, int]] = set()

    def add(kind: str, spec: PipelineSpec, copies: int) -> None:
        key = (json.dumps(spec.to_dict()["steps"], sort_keys=True), copies)  # names and seeds aside
        if key in seen:
            return
        seen.add(key)
        out.append(Candidate(id=f"c{len(out):03d}", kind=kind, spec=spec, copies=copies))

    for spec in space.pipelines:
        for c in f.copies:
            add("pipeline", spec.with_overrides(seed=seed), c)
    for step in space.presets:
        spec = parse_spec({"name": f"preset-{step['op']}", "modality": f.modality, "backend": f.backend,
                           "seed": seed, "steps": [step]})
        for c in f.copies:
            add("preset", spec, c)
    rng = np.random.default_rng(np.random.SeedSequence([seed, _stable("search/candidates")]))
    for i in range(f.candidates if space.ops else 0):
        steps = _draw_steps(space, rng)
        copies = f.copies[int(rng.integers(len(f.copies)))]
        spec = parse_spec({"name": f"{f.name}-draw{i:03d}", "modality": f.modality, "backend": f.backend,
                           "seed": seed, "steps": steps})
        add("drawn", spec, copies)
    return out


__all__ = ["Candidate", "SearchSpace", "load_space", "parse_space", "MAX_CANDIDATES"]
