"""Spec errors that name the exact key, what was given and what is allowed."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

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
