"""The typed Python API: build a pipeline from op objects instead of a dict.

>>> import augment
>>> from augment import ops
>>> pipe = augment.Compose([
...     ops.HorizontalFlip(p=0.5),
...     ops.Zoom(scale=(0.9, 1.1)),
...     augment.OneOf([ops.GaussianNoise(sigma=(3, 12)), ops.SaltPepper()], weights=[3, 1], p=0.5),
... ], seed=2024)
>>> out = pipe(image, seed=0)

A ``Compose`` is a ``Pipeline``: it is validated by the same spec rules (every problem with its key path) and
``to_yaml()`` writes the spec file that ``augment run`` takes; ``Compose.from_yaml`` reads one back (a path or
YAML text), with the steps as typed ops again (``pipe.transforms``).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from pathlib import Path
from typing import Iterable, Literal, Union

from augment.compile.pipeline import Pipeline
from augment.ops._typed_base import Op, op_class
from augment.spec import PipelineSpec, dump_spec, load_spec, parse_spec
from augment.spec.load import parse_text
from augment.spec.schema import GroupStep, OpStep

__all__ = ["Compose", "OneOf", "SomeOf", "Sequence", "Transform"]


def _keywords_checked(init):
    """A misspelled keyword (``Compose(sed=1)``, ``OneOf(weight=...)``) says which was meant, as the typed ops and
    the YAML validator do, instead of Python's bare "unexpected keyword argument"."""
    names = [n for n in inspect.signature(init).parameters if n != "self"]

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            match = difflib.get_close_matches(unknown[0], names, n=1, cutoff=0.6)
            hint = f" (did you mean {match[0]!r}?)" if match else f"; it takes {', '.join(names)}"
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}{hint}")
        return init(self, *args, **kwargs)

    return checked


class _Group:
    kind: str = ""

    @_keywords_checked
    def __init__(self, transforms: Iterable["Transform"], p: float = 1.0) -> None:
        self.transforms = list(transforms)
        self.p = p
        for t in self.transforms:
            if not isinstance(t, (Op, _Group)):
                raise TypeError(f"{type(self).__name__} takes ops and groups, got {type(t).__name__}")

    def to_step(self) -> dict:
        return {self.kind: [t.to_step() for t in self.transforms], "p": self.p}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_step() == other.to_step()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.transforms))
        extra = "".join(f", {k}={v!r}" for k, v in self._extra().items() if v is not None)
        return f"{type(self).__name__}([{inner}]{extra}{'' if self.p == 1.0 else f', p={self.p!r}'})"

    def _extra(self) -> dict:
        return {}


class Sequence(_Group):
    """All of ``transforms`` in order (useful inside ``OneOf`` / ``SomeOf``, or to give several ops one ``p``)."""

    kind = "sequence"


class OneOf(_Group):
    """Exactly one of ``transforms``, picked with ``weights`` (equal when omitted)."""

    kind = "one_of"

    @_keywords_checked
    def __init__(self, transforms: Iterable["Transform"], weights: Iterable[float] | None = None, p: float = 1.0):
        super().__init__(transforms, p)
        self.weights = list(weights) if weights is not None else None

    def to_step(self) -> dict:
        step = super().to_step()
        if self.weights is not None:
            step["weights"] = self.weights
        return step

    def _extra(self) -> dict:
        return {"weights": self.weights}


class SomeOf(_Group):
    """``n`` distinct transforms (a number, or ``(low, high)`` drawn per output), applied in the given order."""

    kind = "some_of"

    @_keywords_checked
    def __init__(self, transforms: Iterable["Transform"], n: int | tuple[int, int] | None = None, p: float = 1.0):
        super().__init__(transforms, p)
        self.n = n

    def to_step(self) -> dict:
        step = super().to_step()
        if self.n is not None:
            step["n"] = list(self.n) if isinstance(self.n, tuple) else self.n
        return step

    def _extra(self) -> dict:
        return {"n": self.n}


Transform = Union[Op, _Group]


class Compose(Pipeline):
    """A pipeline built from typed ops and groups. ``modality`` is taken from the ops when omitted."""

    @_keywords_checked
    def __init__(
        self,
        transforms: Iterable[Transform],
        *,
        seed: int = 0,
        copies: int = 1,
        modality: Literal["image", "text"] | None = None,
        backend: Literal["albumentations", "torchvision", "native"] | None = None,
        name: str = "",
        description: str = "",
    ) -> None:
        transforms = list(transforms)
        for t in transforms:
            if not isinstance(t, (Op, _Group)):
                raise TypeError(f"Compose takes ops (augment.ops.*) and groups (OneOf, SomeOf, Sequence), "
                                f"got {type(t).__name__}")
        found = {op.modality for op in _ops(transforms)}
        if modality is None:
            if len(found) != 1:
                raise ValueError(
                    "Compose mixes image and text ops" if found else "Compose needs at least one op")
            modality = found.pop()  # type: ignore[assignment]
        data = {"version": 1, "name": name, "description": description, "modality": modality, "seed": seed,
                "copies": copies, "steps": [t.to_step() for t in transforms]}
        if backend is not None:
            data["backend"] = backend
        super().__init__(parse_spec(data, source="Compose"))
        self.transforms = transforms

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> "Compose":
        return cls(
            [_typed(step) for step in spec.steps], seed=spec.seed, copies=spec.copies,
            modality=spec.modality, backend=spec.backend,  # type: ignore[arg-type]
            name=spec.name, description=spec.description,
        )

    @classmethod
    def from_yaml(cls, source: str | Path) -> "Compose":
        """Read a spec from a file path or from YAML/JSON text."""
        if isinstance(source, Path) or ("\n" not in source and Path(source).suffix in (".yaml", ".yml", ".json")):
            return cls.from_spec(load_spec(source))
        return cls.from_spec(parse_spec(parse_text(source), source="<yaml>"))

    def to_yaml(self) -> str:
        return dump_spec(self.spec)

    def __setstate__(self, state: dict) -> None:
        Pipeline.__setstate__(self, state)  # its plugin modules and op classes first (it skipped them)
        self.transforms = [_typed(step) for step in self.spec.steps]

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r}, seed={self.spec.seed}, modality={self.modality!r})"


def _ops(transforms: Iterable[Transform]):
    for t in transforms:
        if isinstance(t, Op):
            yield t
        else:
            yield from _ops(t.transforms)


def _typed(step) -> Transform:
    # the built-in classes register themselves as their module is imported, which ``augment.ops`` does on first
    # use (PEP 562): a Compose unpickled in a fresh process (a spawn or forkserver DataLoader worker) gets here
    # before anything else imported them
    import augment.ops.typed  # noqa: F401

    if isinstance(step, OpStep):
        return op_class(step.op).from_params(step.p, step.params)
    assert isinstance(step, GroupStep)
    children = [_typed(s) for s in step.steps]
    if step.kind == "one_of":
        return OneOf(children, weights=list(step.weights) if step.weights is not None else None, p=step.p)
    if step.kind == "some_of":
        return SomeOf(children, n=tuple(step.n) if step.n is not None else None, p=step.p)  # type: ignore[arg-type]
    return Sequence(children, p=step.p)
