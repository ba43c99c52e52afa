"""Optional dependencies: which extra of the distribution provides which import, and the one-line error when one
is missing.

The core install (``pip install augment-pipelines``) holds what the spec, the compiler, the albumentations backend,
the dataset expander and the library path need. Everything else is an extra; a feature that needs one checks for
it with :func:`require` before any work starts, so a user gets ``pip install 'augment-pipelines[eval]'`` instead of
a traceback from deep inside a worker. The distribution is not called ``augment`` because that name on PyPI
belongs to an unrelated package; the import name and the command stay ``augment``.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["DISTRIBUTION", "EXTRAS", "MissingExtraError", "extra_for_module", "install_hint", "missing", "require"]

DISTRIBUTION = "augment-pipelines"

# extra -> the top-level modules it must make importable (kept in step with setup.cfg by tests/test_import_graph.py)
EXTRAS: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "torchvision"),
    "eval": ("torch", "torchvision", "matplotlib"),
    "serve": ("fastapi", "uvicorn", "starlette", "multipart"),
    "dask": ("dask", "distributed"),
    "hf": ("datasets", "pyarrow"),
    "coco": ("pycocotools",),
    "marian": ("transformers", "sentencepiece", "torch"),
}

# a module that several extras provide maps to the smallest one that names it first here
_PREFERRED = ("torch", "eval", "serve", "dask", "hf", "coco", "marian")


class MissingExtraError(ImportError):
    """A feature needs an optional dependency that is not installed; the message says which extra to install."""

    def __init__(self, message: str, extra: str):
        super().__init__(message)
        self.extra = extra


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _importable(module: str) -> bool:
    if module in sys.modules:  # None there means "blocked": importing it would fail
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [m for m in EXTRAS[extra] if not _importable(m)]


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` (one line, naming the extra) unless every module of ``extra`` imports."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"{feature} needs the '{extra}' extra ({', '.join(absent)} not installed): {install_hint(extra)}", extra)


def extra_for_module(name: str | None) -> str | None:
    """The extra that provides top-level module ``name`` (from a ModuleNotFoundError's ``name``), if any."""
    if not name:
        return None
    top = name.split(".")[0]
    for extra in _PREFERRED:
        if top in EXTRAS[extra]:
            return extra
    return None
