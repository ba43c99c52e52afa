"""Spec errors that name the exact key, what was given and what is allowed."""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from pydantic import BaseModel, ValidationError

__all__ = ["SpecIssue", "SpecError", "join_path", "ALIASES", "did_you_mean", "show"]


@dataclass(frozen=True)
class SpecIssue:
    path: str  # e.g. "steps[2].params.scale"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A spec that cannot be used. ``issues`` lists every problem found, each naming its key."""

    def __init__(self, issues: Sequence[SpecIssue], source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        super().__init__(self.render())

    def __reduce__(self):
        # rebuilt from its issues, not from the rendered text (``Exception``'s default): an error raised in a
        # worker process and re-raised in the run's process rendered that text one character per line
        return type(self), (self.issues, self.source)

    def render(self, limit: int = 20) -> str:
        where = f"{self.source}: " if self.source else ""
        lines = [f"{where}{issue}" for issue in self.issues[:limit]]
        if len(self.issues) > limit:
            lines.append(f"... and {len(self.issues) - limit} more problems")
        return "\n".join(lines)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def join_path(prefix: str, loc: Iterable[Any]) -> str:
    """``steps[2].params.scale``; odd keys (empty, newlines, non-strings) are quoted so the path stays one line."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += f"[{str(part)!r}]"
    return path


# Names users bring from other libraries; difflib alone cannot see that "hflip" means "horizontal_flip".
ALIASES = {
    "hflip": "horizontal_flip", "fliplr": "horizontal_flip", "flip": "horizontal_flip",
    "vflip": "vertical_flip", "flipud": "vertical_flip", "coarse_dropout": "cutout", "erase": "cutout",
    "random_erasing": "cutout", "noise": "gaussian_noise", "gauss_noise": "gaussian_noise", "blur": "gaussian_blur",
    "color_jitter": "hsv", "hue_saturation_value": "hsv", "to_gray": "grayscale", "gray": "grayscale",
    "image_compression": "jpeg", "scale": "zoom", "resized_crop": "random_resized_crop", "random_crop": "crop",
    "elastic_transform": "elastic", "shift_scale_rotate": "affine", "synonym": "synonym_replace",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    norm = str(word).lower().replace("-", "_")
    alias = ALIASES.get(norm) or ALIASES.get(norm.replace("_", ""))
    if alias in choices:
        return f" (did you mean {alias!r}?)"
    matches = difflib.get_close_matches(norm, choices, n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_model(model: type[BaseModel], data: Any, path: str, issues: list, rename: dict | None = None):
    """``model.model_validate(data)``, or None with one ``SpecIssue`` per problem appended to ``issues``."""
    if not isinstance(data, dict):
        issues.append(SpecIssue(path, f"expected a mapping, got {show(data)}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # a value matching no member of a union fails once per member: one issue per key, from the member that
        # got furthest into the value (its loc is the longest)
        best: dict[tuple, dict] = {}
        for err in exc.errors(include_url=False):
            key = tuple(_real_loc(model, err["loc"])[2])
            if key not in best or len(err["loc"]) > len(best[key]["loc"]):
                best[key] = err
        for err in best.values():
            issues.append(issue_from_pydantic(model, err, path, rename or {}))
        return None


def _real_loc(model: type[BaseModel], loc: Sequence) -> tuple[list, type[BaseModel] | None, list]:
    """``loc`` without pydantic's union member tags (``amount.int``) and validator names; the nested model
    whose keys its last part is one of (None where the walk leaves models: a list, a dict, a plain value); and
    the key the error belongs to (``loc`` up to a union field: its members' errors are one issue)."""
    out: list = []
    key: list | None = None
    models: list = [model]  # the models the next part may be a key of
    owner: list = [model]  # those the last part kept was looked up in
    tagged = False  # the last key is a union of several members: pydantic names the member next
    for part in loc:
        if tagged and isinstance(part, str):
            tagged = False
            if not any(part in m.model_fields for m in models):  # a member's tag, not a key
                key = list(out) if key is None else key
                models = [m for m in models if m.__name__ == part] or models
                continue
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        out.append(part)
        owner = models
        field = next((m.model_fields[part] for m in models if isinstance(part, str) and part in m.model_fields), None)
        if field is None:
            models, tagged = [], False
            continue
        origin = typing.get_origin(field.annotation)
        members = ([a for a in typing.get_args(field.annotation) if a is not type(None)]
                   if origin in (typing.Union, types.UnionType) else [field.annotation])
        tagged = len(members) > 1  # Optional[X] is X to pydantic: no tag
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return out, (owner[0] if owner else None), out if key is None else key


def issue_from_pydantic(model: type[BaseModel], err: dict, prefix: str, rename: dict) -> SpecIssue:
    real, owner, _ = _real_loc(model, err["loc"])
    loc = [rename.get(part, part) if isinstance(part, str) else part for part in real]
    path = join_path(prefix, loc)
    kind = err["type"]
    keys_of = owner if owner is not None else model
    allowed = [rename.get(name, name) for name in keys_of.model_fields if name != "kind"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        return SpecIssue(path, f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed) or 'none'}")
    if kind == "missing":
        return SpecIssue(path, "required key is missing")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    given = "" if kind.startswith("value_error") or "input" not in err else f" (given {show(err['input'])})"
    return SpecIssue(path, f"{msg}{given}")
