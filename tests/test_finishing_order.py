"""The finishing ops' order is checked on the spec, over every path a seed can take (p < 1, one_of, some_of), when
the pipeline is built: a mistake on a rare path used to surface at the odd image of a training run, and some
(normalize of 0-1 pixels with max_pixel_value 255, to_dtype uint8 after normalize) never raised at all."""

import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import augment
from augment.spec import SpecError, parse_spec
from conftest import REPO

OPS = {
    "flip": {"op": "horizontal_flip"},
    "f32": {"op": "to_dtype", "params": {"dtype": "float32"}},
    "f32raw": {"op": "to_dtype", "params": {"dtype": "float32", "scale": False}},
    "u8": {"op": "to_dtype", "params": {"dtype": "uint8"}},
    "u8raw": {"op": "to_dtype", "params": {"dtype": "uint8", "scale": False}},
    "norm255": {"op": "normalize"},
    "norm1": {"op": "normalize", "params": {"max_pixel_value": 1.0}},
}


def _ok(path: list[str]) -> bool:
    """The oracle for one path of ops, written out plainly: which inputs each op takes and what it gives."""
    state = "u8"
    for op in path:
        if op == "flip":
            if state != "u8":
                return False
        elif op in ("f32", "f32raw"):
            state = ({"f32": "f1", "f32raw": "f255"}[op]) if state == "u8" else state
        elif op == "u8":
            if state not in ("u8", "f1"):
                return False
            state = "u8"
        elif op == "u8raw":
            if state not in ("u8", "f255"):
                return False
            state = "u8"
        else:  # normalize
            if state == "norm" or (state == "f1" and op == "norm255"):
                return False
            state = "norm"
    return True


def _paths(node) -> list[list[str]]:
    """Every sequence of ops a seed can run through ``node`` (a leaf name, or (kind, p, children))."""
    if isinstance(node, str):
        return [[node]]
    kind, p, children = node
    if kind == "leaf":
        out = [[children]]
    elif kind == "sequence":
        out = [sum(combo, []) for combo in itertools.product(*[_paths(c) for c in children])]
    elif kind == "one_of":
        out = [path for c in children for path in _paths(c)]
    else:  # some_of, n = (0, len): any subset in order
        out = []
        for mask in itertools.product((0, 1), repeat=len(children)):
            chosen = [_paths(c) for c, m in zip(children, mask) if m]
            out += [sum(combo, []) for combo in itertools.product(*chosen)] if chosen else [[]]
    return out + [[]] if p < 1 else out


def _step(node) -> dict:
    kind, p, children = node
    if kind == "leaf":
        return {**OPS[children], "p": p}
    step = {kind: [_step(c) for c in children], "p": p}
    if kind == "some_of":
        step["n"] = [0, len(children)]
    return step


_leaf = st.builds(lambda name, p: ("leaf", p, name), st.sampled_from(sorted(OPS)), st.sampled_from([1.0, 0.5]))
_tree = st.recursive(_leaf, lambda inner: st.builds(
    lambda kind, p, children: (kind, p, children), st.sampled_from(["sequence", "one_of", "some_of"]),
    st.sampled_from([1.0, 0.5]), st.lists(inner, min_size=1, max_size=3)), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(_tree, min_size=1, max_size=4))
def test_the_check_refuses_a_spec_exactly_when_some_path_is_wrong(nodes):
    paths = _paths(("sequence", 1.0, nodes))
    expected_ok = all(_ok(path) for path in paths)
    try:
        augment.Pipeline(parse_spec({"modality": "image", "steps": [_step(n) for n in nodes]}))
    except SpecError as exc:
        assert not expected_ok, str(exc)
        assert len(exc.issues) == 1 and exc.issues[0].path.startswith("steps[")
    else:
        assert expected_ok, paths


def test_a_wrong_order_is_refused_in_one_line_by_validate(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("modality: image\nsteps:\n  - op: to_dtype\n    params: {dtype: float32}\n  - op: normalize\n")
    out = subprocess.run([sys.executable, "-m", "augment.cli", "validate", str(spec)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "steps[1]: normalize may run after steps[0] (to_dtype float32)" in out.stderr
    assert "max_pixel_value: 1" in out.stderr


def test_typed_compose_refuses_it_at_construction():
    from augment import ops

    with pytest.raises(SpecError, match=r"steps\[1\]: vertical_flip may run after steps\[0\]"):
        augment.Compose([ops.Normalize(p=0.5), ops.VerticalFlip()], seed=0)
    ok = augment.Compose([ops.HorizontalFlip(), ops.ToDtype(dtype="float32"), ops.Normalize(max_pixel_value=1.0)], seed=0)
    out = ok(np.zeros((4, 4, 3), np.uint8), seed=0)
    assert out.dtype == np.float32


@pytest.mark.parametrize("steps", [
    [{"some_of": [OPS["f32"], OPS["u8"]], "n": 2}, OPS["flip"]],  # both always run, in order
    [{"some_of": [OPS["f32"], OPS["u8"]], "n": [2, 2]}, OPS["flip"]],
    [{"one_of": [OPS["flip"], OPS["norm255"]], "weights": [1, 0]}, OPS["flip"]],  # normalize is never drawn
])
def test_paths_no_seed_can_take_are_not_refused(steps):
    pipe = augment.Pipeline(parse_spec({"modality": "image", "steps": steps}))
    for seed in range(20):
        assert pipe(np.zeros((4, 4, 3), np.uint8), seed=seed).dtype == np.uint8


def test_some_of_with_fewer_children_than_all_is_still_refused():
    with pytest.raises(SpecError, match=r"steps\[1\]: horizontal_flip may run after steps\[0\]\.some_of\[0\]"):
        parse_spec({"modality": "image", "steps": [{"some_of": [OPS["f32"], OPS["u8"]], "n": 1}, OPS["flip"]]})
