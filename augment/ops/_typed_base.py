"""The base classes behind the generated typed ops (``augment.ops.typed``) and their drawn values.

A typed op is a thin, checked front for one registry entry: its keyword arguments are exactly the op's parameter
schema, validated by that schema at construction (a bad value raises at once, like torchvision), and it turns
into the same spec step a YAML file would hold. Drawn values (what the manifest records as plain JSON) are turned
into the op's ``...Drawn`` named tuple by ``typed_values``; the manifest itself keeps the plain form.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, ClassVar, NamedTuple

from pydantic import ValidationError

from augment.ops.catalog import registry
from augment.ops.registry import OpParams

__all__ = ["Op", "OpParamError", "TextChange", "AppliedOp", "DrawnValues", "op_class", "typed_values", "typed_applied"]


class OpParamError(ValueError):
    """A typed op was given a parameter its schema refuses; the message names the op and the key."""


class Op:
    """One op of a pipeline: ``p`` is the probability it runs, the other arguments are its parameters."""

    op_name: ClassVar[str]
    modality: ClassVar[str]
    drawn_type: ClassVar[type]
    p: float
    params: OpParams  # the validated parameter model of the registry op

    def __init__(self, p: float = 1.0, **params: Any) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
            raise OpParamError(f"{type(self).__name__}: p must be a number in [0, 1], got {p!r}")
        schema = registry().get(self.op_name).params
        _check_keywords(type(self), params)
        try:
            validated = schema.model_validate(params)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(part) for part in err["loc"] if not (isinstance(part, str) and "[" in part))
            msg = err["msg"].removeprefix("Value error, ")
            raise OpParamError(f"{type(self).__name__}: {key or 'params'}: {msg}") from None
        object.__setattr__(self, "p", float(p))
        object.__setattr__(self, "params", validated)
        for name in type(validated).model_fields:
            object.__setattr__(self, name, getattr(validated, name))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; build a new one")

    def to_step(self) -> dict:
        """The spec step this op stands for (what a YAML file would hold)."""
        return {"op": self.op_name, "p": self.p, "params": self.params.model_dump(mode="json")}

    @classmethod
    def from_params(cls, p: float, params: OpParams) -> "Op":
        return cls(p=p, **params.model_dump())

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_step() == other.to_step()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.op_name, self.p, self.params))

    def __repr__(self) -> str:
        defaults = type(self.params)() if not _has_required(type(self.params)) else None
        shown = [
            f"{name}={getattr(self.params, name)!r}" for name in type(self.params).model_fields
            if defaults is None or getattr(self.params, name) != getattr(defaults, name)
        ]
        if self.p != 1.0:
            shown.append(f"p={self.p!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _has_required(model: type[OpParams]) -> bool:
    return any(f.is_required() for f in model.model_fields.values())


class TextChange(NamedTuple):
    """One token-level change a text op made (the manifest's ``changes`` entries)."""

    action: str  # substitute, insert, swap, delete, split
    position: int
    before: str | None
    after: str | None
    other: int | None = None  # swap: the position swapped with
    scope: str | None = None  # "text" when the change covers the whole text (back-translation)

    @classmethod
    def from_dict(cls, d: dict) -> "TextChange":
        return cls(d["action"], d["position"], d.get("before"), d.get("after"), d.get("other"), d.get("scope"))


class AppliedOp(NamedTuple):
    """One applied op with typed drawn values (``values``) and, for text ops, its changes."""

    op: str
    path: str
    values: Any  # the op's ...Drawn named tuple
    changes: tuple[TextChange, ...] = ()

    def to_dict(self) -> dict:
        """The manifest form (plain JSON values), as ``AugmentResult.applied`` holds it."""
        out: dict[str, Any] = {"op": self.op, "path": self.path, "params": dict(self.values._asdict())}
        if registry().get(self.op).modality == "text":
            out["changes"] = [
                {k: v for k, v in c._asdict().items() if v is not None or k in ("before", "after")}
                for c in self.changes
            ]
        return out


_BY_NAME: dict[str, type[Op]] = {}


def _check_keywords(cls: type[Op], given) -> None:
    opdef = registry().get(cls.op_name)
    if (opdef.origin or {}).get("library"):
        return  # a library transform's keywords are its constructor's, checked (with did-you-mean) at validation
    fields = list(opdef.params.model_fields)
    unknown = sorted(set(given) - set(fields) - {"p"})
    if unknown:
        match = difflib.get_close_matches(unknown[0], fields + ["p"], n=1, cutoff=0.6)
        hint = f" (did you mean {match[0]!r}?)" if match else f" (it takes {', '.join(fields + ['p'])})"
        raise OpParamError(f"{cls.__name__}: unknown parameter {unknown[0]!r}{hint}")


def _register(cls: type[Op]) -> type[Op]:
    _BY_NAME[cls.op_name] = cls
    init = cls.__init__

    # A misspelt keyword gets the spec validator's did-you-mean instead of Python's bare TypeError; the wrapper
    # keeps the generated signature (functools.wraps), so help() and the API snapshot still show the parameters.
    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _check_keywords(type(self), kwargs)
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


class DrawnValues(dict):
    """The drawn values of a plugin or library op: a dict (what the manifest records) that reads as attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def _asdict(self) -> dict:
        return dict(self)


_OUTSIDE: dict[str, type[Op]] = {}


def op_class(name: str) -> type[Op]:
    """The typed op class of a registry op name (``"zoom"`` -> ``Zoom``; a plugin op: the class it was registered
    from; a library transform: a class made for it, ``op_class("albumentations.CLAHE")(clip_limit=2.0)``)."""
    from augment.ops.plugins import plugin_class

    cls = _BY_NAME.get(name) or plugin_class(name) or _OUTSIDE.get(name)
    if cls is not None:
        return cls
    try:
        opdef = registry().get(name) if "." in name else None
    except KeyError:
        opdef = None
    if opdef is None:
        raise KeyError(f"no typed op for {name!r}")
    cls = _OUTSIDE[name] = type(name.rsplit(".", 1)[-1], (Op,), {
        "op_name": name, "modality": opdef.modality, "drawn_type": DrawnValues, "__module__": __name__})
    return cls


def typed_values(op: str, values: dict) -> Any:
    """Drawn values of ``op`` as its ``...Drawn`` named tuple (from ``AugmentResult.applied`` or a manifest)."""
    return op_class(op).drawn_type(**values)


def typed_applied(entry: dict) -> AppliedOp:
    """One ``applied`` / manifest ``ops`` entry as an ``AppliedOp``."""
    changes = tuple(TextChange.from_dict(c) for c in entry.get("changes") or ())
    return AppliedOp(entry["op"], entry["path"], typed_values(entry["op"], entry.get("params") or {}), changes)
