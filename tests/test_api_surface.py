"""The public API is explicit: every public module lists its names in ``__all__``, and the user-facing surface
(names, signatures, public methods) matches the snapshot in ``tests/api_surface.txt``.

A change to the surface must be deliberate: regenerate the snapshot with
``AUGMENT_UPDATE_API_SNAPSHOT=1 python -m pytest tests/test_api_surface.py`` and commit it with the change.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil

import pytest

import augment
from conftest import REPO

# The modules users import; everything else is internal (see README "As a library").
PUBLIC = ["augment", "augment.ops", "augment.compose", "augment.spec", "augment.compile", "augment.hf",
          "augment.evaluate", "augment.text", "augment.torch"]
SNAPSHOT = REPO / "tests" / "api_surface.txt"


def _modules():
    yield "augment"
    for info in pkgutil.walk_packages(augment.__path__, "augment."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_public_module_declares_all(name):
    if any(part.startswith("_") for part in name.split(".")[1:]):
        return  # private by name
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), (list, tuple)), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(module.__all__)) == len(module.__all__), f"{name}.__all__ repeats a name"


def _describe(qual: str, obj) -> list[str]:
    if inspect.ismodule(obj):
        return [f"{qual}: module"]
    if inspect.isclass(obj):
        lines = [f"{qual}{_signature(obj)}: class"]
        for attr, value in sorted(vars(obj).items()):
            if attr.startswith("_") and attr not in ("__call__", "__init__"):
                continue
            if isinstance(value, property):
                lines.append(f"{qual}.{attr}: property")
            elif isinstance(value, (classmethod, staticmethod)):
                lines.append(f"{qual}.{attr}{_signature(value.__func__)}: {type(value).__name__}")
            elif inspect.isfunction(value) and attr != "__init__":
                lines.append(f"{qual}.{attr}{_signature(value)}")
        return lines
    if callable(obj):
        return [f"{qual}{_signature(obj)}"]
    return [f"{qual}: {type(obj).__name__}"]


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def surface() -> str:
    lines = []
    for name in PUBLIC:
        module = importlib.import_module(name)
        for attr in sorted(module.__all__):
            if name == "augment.ops" and attr != "Op" and hasattr(getattr(module, attr), "op_name"):
                lines.append(f"{name}.{attr}: generated op class")  # checked against the registry elsewhere
                continue
            if name == "augment.ops" and attr.endswith("Drawn"):
                lines.append(f"{name}.{attr}: generated drawn values")
                continue
            lines += _describe(f"{name}.{attr}", getattr(module, attr))
    return "\n".join(lines) + "\n"


def test_public_surface_matches_the_snapshot():
    current = surface()
    if os.environ.get("AUGMENT_UPDATE_API_SNAPSHOT"):
        SNAPSHOT.write_text(current, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8")
    if current != expected:
        import difflib

        diff = "\n".join(difflib.unified_diff(expected.splitlines(), current.splitlines(), "snapshot", "now",
                                              lineterm="", n=0))
        pytest.fail("the public API changed; if on purpose, regenerate tests/api_surface.txt "
                    f"(AUGMENT_UPDATE_API_SNAPSHOT=1):\n{diff}")
