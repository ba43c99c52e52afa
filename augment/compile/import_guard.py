"""Importing albumentations without changing the importing process.

albumentations asks PyPI for a newer version when it is imported (2 s timeout) unless
``NO_ALBUMENTATIONS_UPDATE`` is set, and imports all of torch (2 s, ~470 MB) for its optional
``albumentations.pytorch`` helpers whenever torch is installed. Both are handled here for the length of an
import only: the variable is put back and the marker that hides ``albumentations.pytorch`` is removed afterwards,
so a user's process keeps its environment and can still ``import albumentations.pytorch`` itself.
"""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

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


class LazyKernels:
    """Stands in for one of albumentations' functional modules in a backend's namespace until a kernel needs it.

    Importing any albumentations module imports the whole package, and scipy with it: ~0.8 s of CPU and of wall
    clock before a run's workers could start, paid by every run although many specs (flips, affine, zoom, crops,
    colour) never call one of its kernels. The first attribute asked for imports the module (without the update
    check) and puts it in ``namespace`` under ``name`` in place of this stand-in, so later calls find the
    module itself. Which ops need it is ``WITHOUT_ALBUMENTATIONS``'s business (below): the run's forkserver
    imports albumentations up front when the spec has an op outside it, once for all its workers."""

    __slots__ = ("_module", "_namespace", "_name")

    def __init__(self, module: str, namespace: dict, name: str) -> None:
        self._module, self._namespace, self._name = module, namespace, name

    def load(self):
        with no_update_check():
            module = importlib.import_module(self._module)
        self._namespace[self._name] = module
        return module

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # copy, pickle and introspection probe the stand-in itself
            raise AttributeError(attr)
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        return f"<{self._module}, imported when first used>"


# Ops whose kernels on the albumentations backend never call into albumentations (OpenCV, albucore and our own
# kernels): a run whose spec has only these never imports it. tests/test_lazy_albumentations.py runs each on
# several shapes and seeds in a fresh process and checks; an op missing here only costs a run the import.
WITHOUT_ALBUMENTATIONS = frozenset({
    "affine", "brightness_contrast", "color_jitter", "copy_paste", "grayscale", "horizontal_flip", "hsv", "mosaic",
    "multiplicative_noise", "normalize", "pixel_dropout", "rotate", "to_dtype", "vertical_flip", "zoom",
})


_GROUPS = ("sequence", "one_of", "some_of")


def spec_needs_albumentations(spec: dict) -> bool:
    """Whether a run of ``spec`` (a spec as a dict) on the albumentations backend calls albumentations' kernels."""
    def needs(steps) -> bool:
        for step in steps or ():
            if not isinstance(step, dict):
                return True
            if "op" in step:
                if step["op"] not in WITHOUT_ALBUMENTATIONS:
                    return True
            elif not any(kind in step for kind in _GROUPS) or any(needs(step.get(kind)) for kind in _GROUPS):
                return True  # a group with such an op, or a step of a shape this does not know: as before
        return False

    return needs(spec.get("steps"))


__all__ = ["UPDATE_CHECK_VAR", "TORCH_HELPERS", "no_update_check", "without_torch_helpers", "LazyKernels",
           "WITHOUT_ALBUMENTATIONS", "spec_needs_albumentations"]
