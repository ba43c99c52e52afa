"""Where the finishing ops (``normalize``, ``to_dtype``) may stand, checked on the spec before any image.

Pixels start as uint8 0-255. ``to_dtype float32`` makes them float 0-1 (or float 0-255 with ``scale: false``),
``normalize`` makes them normalised floats; every other op needs uint8, ``to_dtype uint8`` needs the float range
its ``scale`` expects, and ``normalize`` after ``to_dtype float32`` needs ``max_pixel_value: 1``. Each step can
leave several states possible (a ``p`` below 1, a ``one_of``, a ``some_of``), so the check follows the set of
states every path through the spec can produce: a mistake on a path the seed takes rarely is refused when the
pipeline is built, not at the odd image of a training run where that path came up.
"""

from __future__ import annotations

import itertools
import math

from augment.spec.errors import SpecError, SpecIssue

__all__ = ["check_finishing_order"]

_U8, _F1, _F255, _NORM = "uint8", "float 0-1", "float 0-255", "normalised"
_WHAT = {_F1: "to_dtype float32", _F255: "to_dtype float32 (scale: false)", _NORM: "normalize"}


def check_finishing_order(steps: tuple, source: str | None = None) -> None:
    """Raise ``SpecError`` naming the step whose input some path leaves in a state it cannot take (``steps``: a
    parsed image spec's steps; paths as the compiled pipeline names them, ``steps[0].one_of[1]``)."""
    _through(steps, "steps", {_U8: None}, source)


def _through(steps: tuple, path: str, states: dict, source) -> dict:
    for i, step in enumerate(steps):
        states = _node(step, f"{path}[{i}]", states, source)
    return states


def _node(step, path: str, states: dict, source) -> dict:
    children = getattr(step, "steps", None)
    if children is None:
        after = _leaf(step, path, states, source)
    elif step.kind == "sequence":
        after = _through(children, f"{path}.sequence", states, source)
    elif step.kind == "one_of":
        after = {}
        weights = step.weights or [1.0] * len(children)
        for i, child in enumerate(children):
            if weights[i] > 0:  # a child of weight 0 is never drawn
                after.update(_node(child, f"{path}.one_of[{i}]", states, source))
    else:  # some_of: n children (n between its bounds), in spec order
        after = _some_of(step, path, states, source)
    return {**states, **after} if step.p < 1.0 else after


_MAX_SUBSETS = 1024


def _some_of(step, path: str, states: dict, source) -> dict:
    """Every subset of the allowed sizes, each run in spec order (exact up to ``_MAX_SUBSETS`` subsets; beyond, any
    subset, which can only refuse more)."""
    children = step.steps
    lo, hi = step.n if step.n is not None else (1, len(children))
    sizes = [k for k in range(lo, min(hi, len(children)) + 1)]
    if sum(math.comb(len(children), k) for k in sizes) > _MAX_SUBSETS:
        after = dict(states)
        for i, child in enumerate(children):
            after.update(_node(child, f"{path}.some_of[{i}]", after, source))
        return after
    after: dict = {}
    for k in sizes:
        for chosen in itertools.combinations(range(len(children)), k):
            here = dict(states)
            for i in chosen:
                here = _node(children[i], f"{path}.some_of[{i}]", here, source)
            after.update(here)
    return after


def _leaf(step, path: str, states: dict, source) -> dict:
    name, p = step.op, step.params
    out: dict = {}
    for state, made_at in states.items():
        made = _step(name, p, state)
        if made in (_U8, _F1, _F255, _NORM):
            out[made] = made_at if made == state else (None if made == _U8 else path)
            continue
        where = f"after {made_at} ({_WHAT[state]})" if made_at else "on these pixels"
        raise SpecError([SpecIssue(path, f"{name} may run {where}: {made}")], source)
    return out


def _step(name: str, p, state: str) -> str:
    """The state after the op, or why it cannot take ``state`` (a sentence, not one of the states)."""
    if name == "to_dtype":
        if p.dtype == "float32":
            return (_F1 if p.scale else _F255) if state == _U8 else state  # a float input is copied as it is
        if state == _U8 or (state == _F1 and p.scale) or (state == _F255 and not p.scale):
            return _U8
        if state == _NORM:
            return "normalised values are not pixels: to_dtype uint8 would clip them; make normalize the last op"
        return ("its pixels are 0-1, so to_dtype uint8 needs scale: true" if state == _F1
                else "its pixels are 0-255, so to_dtype uint8 needs scale: false")
    if name == "normalize":
        if state == _NORM:
            return "normalize would run twice; keep one, last"
        if state == _F1 and p.max_pixel_value != 1:
            return (f"its pixels are 0-1, so normalize needs max_pixel_value: 1 (it has {p.max_pixel_value:g}, "
                    "which divides them again)")
        return _NORM
    if state != _U8:
        return ("its output is float32, and only normalize or to_dtype may follow; put them last "
                "(to_dtype uint8 first to go on augmenting)")
    return _U8
