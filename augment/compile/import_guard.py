"""Importing albumentations without changing the importing process.

albumentations asks PyPI for a newer version when it is imported (2 s timeout) unless
``NO_ALBUMENTATIONS_UPDATE`` is set, and imports all of torch (2 s, ~470 MB) for its optional
``albumentations.pytorch`` helpers whenever torch is installed. Both are handled here for the length of an
import only: the variable is put back and the marker that hides ``albumentations.pytorch`` is removed afterwards,
so a user's process keeps its environment and can still ``import albumentations.pytorch`` itself.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

UPDATE_CHECK_VAR = "NO_ALBUMENTATIONS_UPDATE"
TORCH_HELPERS = "albumentations.pytorch"


@contextmanager
def no_update_check() -> Iterator[None]:
    """albumentations imported inside this block never phones home; the environment is restored after."""
    previous = os.environ.get(UPDATE_CHECK_VAR)
    os.environ[UPDATE_CHECK_VAR] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(UPDATE_CHECK_VAR, None)
        else:
            os.environ[UPDATE_CHECK_VAR] = previous


@contextmanager
def without_torch_helpers() -> Iterator[None]:
    """albumentations first imported inside this block skips ``albumentations.pytorch`` (and torch): it guards
    that import, and a ``None`` entry in ``sys.modules`` makes it fail. The entry is removed on exit."""
    if "albumentations" in sys.modules or TORCH_HELPERS in sys.modules:
        yield  # already decided by an earlier import
        return
    sys.modules[TORCH_HELPERS] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if TORCH_HELPERS in sys.modules and sys.modules[TORCH_HELPERS] is None:
            del sys.modules[TORCH_HELPERS]


__all__ = ["UPDATE_CHECK_VAR", "TORCH_HELPERS", "no_update_check", "without_torch_helpers"]
