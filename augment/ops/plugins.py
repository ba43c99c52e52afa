"""Ops from plugins: registered explicitly, never named by a spec's import path.

Three ways in, all explicit: an installed package declares its op classes under the entry-point group
``augment.ops``; Python code calls ``augment.register_op(MyOp)``; the CLI's ``--plugin MODULE`` (and
``$AUGMENT_PLUGINS``, whitespace-separated modules) imports a module and registers the ops it defines. A spec
only ever names a registered op (``mypkg.stain_jitter``); it can never make augment import something.

Registered names carry their package as a prefix, so a plugin cannot shadow a built-in op and two plugins cannot
silently replace each other: a second class under the same name is an error naming both. Each op remembers the
distribution (name and version) that provides it, for run.json, the manifest and replay's version check.

Entry points and ``$AUGMENT_PLUGINS`` are loaded on demand: the first time a spec names a dotted op that is not
registered yet (so worker processes, which start clean, find the ops their spec names), and by every CLI command.
"""

from __future__ import annotations

import copy

import contextlib
import importlib
import importlib.metadata as md
import inspect
import json
import os
import re
import sys
import threading
from typing import Any, Iterator

import numpy as np

from augment.ops.registry import ImageContext, OpDef, OpParams, TextOpResult

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "PluginError",
    "register_op",
    "load_module",
    "load_modules",
    "load_entry_points",
    "load_installed",
    "plugin_ops",
    "plugin_class",
    "resolve",
    "generation",
    "loaded_modules",
    "origins",
    "scoped",
]

ENTRY_POINT_GROUP = "augment.ops"
ENV_VAR = "AUGMENT_PLUGINS"
RESERVED = frozenset({"augment", "albumentations", "torchvision"})  # library transforms use these prefixes
_PART = re.compile(r"[a-z_][a-z0-9_]*")


class PluginError(ValueError):
    """A plugin that cannot be loaded or registered; the message is one line saying what to do."""


class _Store:
    def __init__(self) -> None:
        self.ops: dict[str, OpDef] = {}
        self.classes: dict[str, type] = {}
        self.modules: list[str] = []  # modules loaded by name (--plugin, $AUGMENT_PLUGINS): workers load them too
        self.entry_points_done = False
        self.env_done: str | None = None
        self.generation = 0


_STORE = _Store()
_LOCK = threading.RLock()


def generation() -> int:
    """Changes whenever an op is registered (the registry view is rebuilt then)."""
    return _STORE.generation


def plugin_ops() -> dict[str, OpDef]:
    with _LOCK:
        return dict(_STORE.ops)


def plugin_class(name: str) -> type | None:
    """The class a plugin op was registered from (its typed class: ``StainJitter(p=0.5)``)."""
    return _STORE.classes.get(name)


def loaded_modules() -> list[str]:
    return list(_STORE.modules)


def _where(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_DISTRIBUTIONS: dict[tuple[str, ...], dict] = {}  # sys.path -> importlib.metadata.packages_distributions()


def _packages_distributions() -> dict:
    """``packages_distributions()`` once per ``sys.path``: it reads every installed distribution's file list,
    seconds on a large environment, and was called once per plugin op before every command."""
    key = tuple(sys.path)
    if key not in _DISTRIBUTIONS:
        _DISTRIBUTIONS.clear()
        _DISTRIBUTIONS[key] = md.packages_distributions()
    return _DISTRIBUTIONS[key]


def origin_of(module: str) -> dict:
    """The distribution that provides ``module`` (its top-level package), with its version; a local module that
    no installed distribution provides is recorded by its name alone."""
    top = module.split(".")[0]
    dists = _packages_distributions().get(top) or []
    for dist in dists:
        try:
            return {"distribution": dist, "version": md.version(dist), "module": top}
        except md.PackageNotFoundError:
            continue
    return {"distribution": None, "version": None, "module": top}


def full_name(cls: type) -> str:
    short = getattr(cls, "name", None)
    namespace = getattr(cls, "namespace", None) or cls.__module__.split(".")[0]
    where = _where(cls)
    if not isinstance(short, str) or not _PART.fullmatch(short):
        raise PluginError(f"{where}: set name = 'snake_case_name' on the op class (lower-case letters, digits, _)")
    if not isinstance(namespace, str) or not _PART.fullmatch(namespace):
        raise PluginError(f"{where}: its package prefix {namespace!r} is not a plain lower-case name; set "
                          "namespace = 'yourpackage' on the class")
    if namespace in RESERVED:
        raise PluginError(f"{where}: the prefix {namespace!r} is reserved (library transforms use it); set "
                          "namespace = 'yourpackage' on the class")
    return f"{namespace}.{short}"


def _json_values(name: str, drawn: Any) -> dict:
    """A plugin's draw is what the manifest records and replay feeds back: it must be plain JSON."""
    if not isinstance(drawn, dict):
        raise ValueError(f"op {name}: sample() must return a dict of drawn values, got {type(drawn).__name__}")
    try:
        text = json.dumps(drawn, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"op {name}: sample() must return JSON values (numbers, strings, lists, dicts; use float() "
                         f"and .tolist() on numpy values): {exc}") from None
    # the record is what replay sees, so the run applies exactly that (a tuple comes back as a list)
    return json.loads(text)


def _check_record(drawn: Any, params: Any, ctx: ImageContext, name: str) -> None:
    from augment.ops.drawn import DrawnValueError

    if not isinstance(drawn, dict):
        raise DrawnValueError(f"expected a mapping of drawn values, got {type(drawn).__name__}")
    try:
        json.dumps(drawn, allow_nan=False)
    except (TypeError, ValueError):
        raise DrawnValueError("the recorded values are not plain JSON") from None


def _image_out(name: str, out: Any, image: np.ndarray) -> np.ndarray:
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim not in (2, 3):
        kind = f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"op {name}: apply() must return an HxW or HxWxC uint8 array, got {kind}")
    if out.ndim == 2:
        out = out[:, :, None]
    if out.shape[2] != image.shape[2]:
        raise ValueError(f"op {name}: apply() returned {out.shape[2]} channels for a {image.shape[2]}-channel image")
    return np.ascontiguousarray(out)


def _overrides(cls: type, method: str) -> bool:
    base = getattr(cls, "_augment_base", None)
    return base is not None and getattr(cls, method, None) is not getattr(base, method, None)


def _image_def(cls: type, name: str, params: type, origin: dict) -> OpDef:
    geometric = _overrides(cls, "map_points")
    pixel_only = bool(getattr(cls, "pixel_only", False))
    if geometric and pixel_only:
        raise PluginError(f"{_where(cls)}: an op is either pixel_only or geometric (map_points), not both")
    if pixel_only:
        annotations = "pixel"
    elif geometric:
        annotations = "geometric"
    else:
        annotations = (f"op {name} declares neither pixel_only = True nor geometric hooks (map_points), so it "
                       "cannot be used on annotated data: ask its author to declare one")

    def bound(p: Any):
        op = object.__new__(cls)
        object.__setattr__(op, "params", p)
        object.__setattr__(op, "p", 1.0)
        return op

    def sample(p, rng, ctx):
        with op_code(name, "sample()"):
            drawn = bound(p).sample(p, rng, ctx)
        return _json_values(name, drawn)

    def apply(image, drawn, p):
        # copies: an op must never change its input, and a plugin's in-place edit would reach the caller's array,
        # or the drawn values the manifest records after the step (replay then failed)
        with op_code(name, "apply()"):
            out = bound(p).apply(image.copy(), copy.deepcopy(drawn))
        return _image_out(name, out, image)

    def geometry(drawn, p, hw):
        return bound(p), copy.deepcopy(drawn), hw

    return OpDef(name=name, modality="image", params=params, summary=_summary(cls), sample=sample,
                 apply_image=apply, annotations=annotations, geometry=geometry if geometric else None,
                 check_record=lambda d, p, ctx: _check_record(d, p, ctx, name), origin=origin)


def _text_def(cls: type, name: str, params: type, origin: dict) -> OpDef:
    def apply_text(text, p, rng):
        op = object.__new__(cls)
        object.__setattr__(op, "params", p)
        object.__setattr__(op, "p", 1.0)
        with op_code(name, "apply()"):
            out = op.apply(text, rng)
        if isinstance(out, TextOpResult):
            return out
        if not isinstance(out, str):
            raise ValueError(f"op {name}: apply() must return a str or a TextOpResult, got {type(out).__name__}")
        changes = [] if out == text else [{"action": "substitute", "position": 0, "before": text, "after": out,
                                           "scope": "text"}]
        return TextOpResult(out, changes)

    return OpDef(name=name, modality="text", params=params, summary=_summary(cls), apply_text=apply_text,
                 origin=origin)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: what a one-line error quotes of code augment does not own."""
    return (str(exc).strip().splitlines() or [""])[0]


class PluginOpFailed(ValueError):
    """An op's own code raised: what every caller already handles as a failed item (a run's errors.jsonl, eval
    and the service's one line), instead of whatever the author's code threw."""


@contextlib.contextmanager
def op_code(name: str, where: str) -> Iterator[None]:
    """Around a call into an op author's code: an exception other than ``ValueError`` (a ``RuntimeError``, a
    ``KeyError``, numpy's errors) becomes ``PluginOpFailed``, one line naming the op. Reached eval as a traceback."""
    try:
        yield
    except (ValueError, NotImplementedError):  # NotImplementedError: a hook the op does not have
        raise
    except Exception as exc:  # noqa: BLE001 - the author's code may raise anything
        detail = first_line(exc)[:200]
        raise PluginOpFailed(f"op {name}: {where} raised {type(exc).__name__}: {detail}") from exc


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    own = cls.__dict__.get("__doc__")
    return (own and doc.splitlines()[0]) or f"plugin op from {cls.__module__}"


def register_op(cls: type) -> str:
    """Register an ``augment.ImageOp`` or ``augment.TextOp`` subclass; returns its spec name (``pkg.name``).
    Registering the same class again does nothing; another class under the same name is an error naming both."""
    return _register(cls, None)


def _register(cls: type, origin: dict | None) -> str:
    """``register_op``; ``origin`` is the providing distribution when the caller knows it (an entry point)."""
    kind = getattr(cls, "_augment_kind", None)
    if not inspect.isclass(cls) or kind not in ("image", "text"):
        raise PluginError(f"register_op takes an augment.ImageOp or augment.TextOp subclass, got {cls!r}")
    name = full_name(cls)
    with _LOCK:
        known = _STORE.classes.get(name)
        if known is cls:
            return name
        if known is not None:
            raise PluginError(f"op {name!r} is registered twice: by {_where(known)} and by {_where(cls)}; "
                              "rename one (name = ... or namespace = ...)")
        params = getattr(cls, "Params", None)
        if not (inspect.isclass(params) and issubclass(params, OpParams)):
            raise PluginError(f"{_where(cls)}: Params must be an augment.OpParams subclass")
        if kind == "image" and not (_overrides(cls, "sample") and _overrides(cls, "apply")):
            raise PluginError(f"{_where(cls)}: an image op defines sample(params, rng, ctx) and apply(image, drawn)")
        if kind == "text" and not _overrides(cls, "apply"):
            raise PluginError(f"{_where(cls)}: a text op defines apply(text, rng)")
        if origin is None or origin["module"] != cls.__module__.split(".")[0]:
            origin = origin_of(cls.__module__)
        make = _image_def if kind == "image" else _text_def
        _STORE.ops[name] = make(cls, name, params, origin)
        _STORE.classes[name] = cls
        type.__setattr__(cls, "op_name", name)
        _STORE.generation += 1
    return name


def _ops_in(module) -> list[type]:
    """The op classes a module offers: its ``AUGMENT_OPS``, else the ImageOp / TextOp subclasses defined in it or,
    for a package, in its submodules (``--plugin mypkg`` whose ``__init__`` re-exports ``mypkg.ops``'s classes).
    A class without a ``name`` that others here derive from is their shared base, not an op."""
    listed = getattr(module, "AUGMENT_OPS", None)
    if listed is not None:
        return list(listed)
    prefix = module.__name__ + "."
    found = [obj for obj in dict.fromkeys(v for v in vars(module).values() if inspect.isclass(v))
             if (obj.__module__ == module.__name__ or obj.__module__.startswith(prefix))
             and getattr(obj, "_augment_kind", None) in ("image", "text")
             and getattr(obj, "_augment_base", None) is not obj]
    return [cls for cls in found
            if isinstance(getattr(cls, "name", None), str) and cls.name
            or not any(other is not cls and issubclass(other, cls) for other in found)]


def load_module(module_name: str) -> list[str]:
    """Import a plugin module and register the ops it defines (its ``AUGMENT_OPS`` list, else every ImageOp /
    TextOp subclass defined in it). Returns the registered names."""
    if not isinstance(module_name, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", module_name):
        raise PluginError(f"--plugin {module_name!r}: expected an importable module name such as mypkg.ops")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        detail = first_line(exc)
        raise PluginError(f"--plugin {module_name}: cannot import it ({detail}); install the package or add its "
                          "folder to PYTHONPATH") from None
    except Exception as exc:  # a plugin's own import-time failure: one line, not its traceback
        detail = first_line(exc)
        raise PluginError(f"--plugin {module_name}: importing it failed: {type(exc).__name__}: {detail}") from None
    classes = _ops_in(module)
    if not classes:
        raise PluginError(f"--plugin {module_name}: it defines no augment ops (ImageOp / TextOp subclasses, or a "
                          "list AUGMENT_OPS)")
    names = [register_op(cls) for cls in classes]
    with _LOCK:
        if module_name not in _STORE.modules:
            _STORE.modules.append(module_name)
    return names


def load_modules(modules) -> list[str]:
    return [n for m in modules for n in load_module(m)]


def load_entry_points() -> list[str]:
    """Register every op declared by installed packages under the ``augment.ops`` entry-point group."""
    names: list[str] = []
    with _LOCK:
        if _STORE.entry_points_done:
            return names
        _STORE.entry_points_done = True
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = f" ({ep.dist.name} {ep.dist.version})" if ep.dist is not None else ""
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin entry point {ep.name} = {ep.value}{dist} cannot be loaded: "
                              f"{type(exc).__name__}: {exc}; fix or uninstall that package") from None
        # the entry point names its distribution: no need to map modules to distributions (a read of every
        # installed package's RECORD)
        origin = None if ep.dist is None else {"distribution": ep.dist.name, "version": ep.dist.version,
                                               "module": ep.module.split(".")[0]}
        for cls in (obj if isinstance(obj, (list, tuple)) else _ops_in(obj) if inspect.ismodule(obj) else [obj]):
            names.append(_register(cls, origin))
    return names


def load_env() -> list[str]:
    """Register the modules named in ``$AUGMENT_PLUGINS`` (once per value of the variable)."""
    value = os.environ.get(ENV_VAR, "")
    with _LOCK:
        if _STORE.env_done == value:
            return []
        _STORE.env_done = value
    try:
        return load_modules(value.split())
    except PluginError as exc:  # say where the name came from: the user typed no --plugin
        raise PluginError(str(exc).replace("--plugin ", f"${ENV_VAR}: ", 1)) from None


def load_installed() -> list[str]:
    """Entry points and ``$AUGMENT_PLUGINS``: what every CLI command and the service load before anything else."""
    return load_entry_points() + load_env()


def resolve(name: str) -> OpDef | None:
    """A plugin op by name, loading the installed plugins first if it is not registered yet."""
    op = _STORE.ops.get(name)
    if op is None:
        load_installed()
        op = _STORE.ops.get(name)
    return op


def origins(names) -> dict[str, dict]:
    """The providers of the given op names that are plugin ops, for run.json: ``{name: origin}``."""
    return {n: dict(_STORE.ops[n].origin or {}) for n in sorted(set(names)) if n in _STORE.ops}


@contextlib.contextmanager
def scoped() -> Iterator[None]:
    """Registrations made inside the block are undone when it ends (tests; a service reloading plugins)."""
    with _LOCK:
        saved = (dict(_STORE.ops), dict(_STORE.classes), list(_STORE.modules), _STORE.entry_points_done,
                 _STORE.env_done)
    try:
        yield
    finally:
        with _LOCK:
            (_STORE.ops, _STORE.classes, _STORE.modules, _STORE.entry_points_done, _STORE.env_done) = (
                saved[0], saved[1], saved[2], saved[3], saved[4])
            _STORE.generation += 1
