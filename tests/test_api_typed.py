"""The typed Python API: op classes generated from the registry, Compose/OneOf/SomeOf/Sequence, YAML round trips,
typed drawn values, and real type checking with mypy."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import textwrap
import types
import typing

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import augment
from augment import ops
from augment.ops._typed_gen import render
from augment.ops.catalog import registry
from augment.ops.registry import ImageContext
from augment.spec import SpecError, load_spec, parse_spec
from conftest import PIPELINES, REPO
from op_requirements import REQUIRED

IMG = np.random.default_rng(1).integers(0, 256, (36, 44, 3), dtype=np.uint8)


def test_generated_module_is_what_the_registry_renders():
    """Regenerating gives the checked-in file: the typed ops cannot drift from the registry."""
    assert (REPO / "augment" / "ops" / "typed.py").read_text(encoding="utf-8") == render()
    check = subprocess.run([sys.executable, "-m", "augment.ops._typed_gen", "--check"], cwd=REPO,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("name", registry().names())
def test_every_op_has_a_class_whose_arguments_are_its_schema(name):
    opdef = registry().get(name)
    cls = ops.op_class(name)
    assert cls.op_name == name and cls.modality == opdef.modality and cls.__name__ in ops.__all__
    sig = inspect.signature(cls.__init__)
    args = {n: p for n, p in sig.parameters.items() if n != "self"}
    assert list(args) == [*opdef.params.model_fields, "p"]
    for field_name, field in opdef.params.model_fields.items():
        param = args[field_name]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY
        if field.is_required():
            assert param.default is inspect.Parameter.empty
        else:
            assert param.default == field.default
    required = {n: REQUIRED.get(name, {}).get(n, 8) for n, f in opdef.params.model_fields.items() if f.is_required()}
    made = cls(**required)
    assert made.params == opdef.params(**required)
    assert made.to_step() == {"op": name, "p": 1.0, "params": opdef.params(**required).model_dump(mode="json")}


def test_op_class_and_typed_values_work_first_thing_in_a_fresh_process():
    # the built-in classes register as augment.ops.typed is imported: op_class("affine") raised "no typed op"
    # in a process that had not touched an op class yet (this file, run alone, failed 83 of its tests)
    code = ("from augment.ops import op_class, typed_values; print(op_class('affine').__name__, "
            "type(typed_values('horizontal_flip', {})).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Affine", "HorizontalFlipDrawn"]


def test_every_registry_op_is_exported_and_nothing_else():
    typed = [n for n in ops.typed.__all__ if not n.endswith("Drawn") and n != "NoValues"]
    assert sorted(ops.op_class(n).op_name for n in registry().names()) == sorted(
        getattr(ops, n).op_name for n in typed)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(registry().names("image")), seed=st.integers(0, 2**32),
       h=st.integers(9, 300), w=st.integers(9, 300), c=st.sampled_from([1, 3, 4]))
def test_drawn_types_match_what_every_sampler_returns(name, seed, h, w, c):
    """Whatever the image size and seed, a sampler returns exactly the fields of its ...Drawn type."""
    opdef = registry().get(name)
    required = {n: REQUIRED.get(name, {}).get(n, 8) for n, f in opdef.params.model_fields.items() if f.is_required()}
    drawn = opdef.sample(opdef.params(**required), np.random.default_rng(seed), ImageContext(h, w, c))
    typed = ops.typed_values(name, drawn)
    assert type(typed) is ops.op_class(name).drawn_type
    assert typed._asdict() == drawn
    hints = typing.get_type_hints(type(typed))
    for key, value in drawn.items():
        assert _conforms(value, hints[key]), (key, value, hints[key])


def _conforms(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return isinstance(value, list) and all(_conforms(v, args[0]) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    return type(value) is hint


def test_typed_results_keep_the_manifest_form():
    pipe = augment.Compose([ops.Rotate(degrees=(-20, 20)), ops.Cutout(holes=2)], seed=5)
    res = pipe.run(IMG, seed=3)
    assert [type(o.values).__name__ for o in res.ops] == ["RotateDrawn", "CutoutDrawn"]
    assert -20 <= res.ops[0].values.angle <= 20 and len(res.ops[1].values.boxes) == 2
    assert [o.to_dict() for o in res.ops] == res.applied  # the plain form is untouched
    assert np.array_equal(pipe.replay(IMG, res), res.output)


def test_compose_is_the_same_pipeline_as_the_spec():
    typed = augment.Compose([
        ops.HorizontalFlip(p=0.5),
        ops.Zoom(scale=(0.85, 1.15), border="reflect", p=0.8),
        augment.OneOf([ops.GaussianNoise(sigma=(3, 12)), ops.SaltPepper()], weights=[3, 1], p=0.5),
        augment.SomeOf([ops.Gamma(), ops.Sharpen(), ops.Jpeg()], n=(1, 2)),
        augment.Sequence([ops.Rotate(), ops.GaussianBlur()], p=0.3),
    ], seed=2024, copies=3)
    plain = augment.Pipeline(parse_spec({"modality": "image", "seed": 2024, "copies": 3, "steps": [
        {"op": "horizontal_flip", "p": 0.5},
        {"op": "zoom", "p": 0.8, "params": {"scale": [0.85, 1.15], "border": "reflect"}},
        {"one_of": [{"op": "gaussian_noise", "params": {"sigma": [3, 12]}}, {"op": "salt_pepper"}],
         "weights": [3, 1], "p": 0.5},
        {"some_of": [{"op": "gamma"}, {"op": "sharpen"}, {"op": "jpeg"}], "n": [1, 2]},
        {"sequence": [{"op": "rotate"}, {"op": "gaussian_blur"}], "p": 0.3},
    ]}))
    assert typed.spec_hash == plain.spec_hash
    for seed in range(10):
        assert np.array_equal(typed(IMG, seed=seed), plain(IMG, seed=seed))
    again = pickle.loads(pickle.dumps(typed))
    assert isinstance(again, augment.Compose) and again.transforms == typed.transforms
    assert np.array_equal(again(IMG, seed=4), typed(IMG, seed=4))


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.yaml")), ids=lambda p: p.name)
def test_yaml_round_trip_on_every_shipped_spec(path, tmp_path):
    spec = load_spec(path)
    pipe = augment.Compose.from_yaml(path)
    assert pipe.spec == spec and pipe.spec_hash == augment.load_pipeline(path).spec_hash
    rebuilt = augment.Compose(pipe.transforms, seed=spec.seed, copies=spec.copies, modality=spec.modality,
                              backend=spec.backend, name=spec.name, description=spec.description)
    assert rebuilt.spec == spec
    text = pipe.to_yaml()
    assert augment.Compose.from_yaml(text).spec == spec
    (tmp_path / "again.yaml").write_text(text)
    assert load_spec(tmp_path / "again.yaml") == spec
    assert augment.load_pipeline(path).to_yaml() == text


def test_name_is_optional():
    assert parse_spec({"modality": "text", "steps": [{"op": "random_swap"}]}).name == ""
    assert augment.Compose([ops.RandomSwap()]).spec.name == ""


@pytest.mark.parametrize("make, message", [
    (lambda: ops.Zoom(scale=(2, 1)), "Zoom: scale: low must not exceed high"),
    (lambda: ops.Rotate(degrees=(0, 400)), "Rotate: degrees"),
    (lambda: ops.Crop(height=0, width=3), "Crop: height: Input should be greater than or equal to 1"),
    (lambda: ops.Zoom(p=1.5), "Zoom: p must be a number in [0, 1]"),
    (lambda: ops.Zoom(scal=1.0), "Zoom: scal: Unexpected keyword argument"),
])
def test_bad_arguments_raise_at_construction(make, message):
    with pytest.raises((ops.OpParamError, TypeError), match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)") if "scal:" not in message else "scal"):
        make()


def test_group_and_modality_errors_name_the_key():
    with pytest.raises(SpecError, match=r"steps\[0\]: one_of has 2 steps but 1 weights"):
        augment.Compose([augment.OneOf([ops.Gamma(), ops.Sharpen()], weights=[1])])
    with pytest.raises(ValueError, match="mixes image and text ops"):
        augment.Compose([ops.Gamma(), ops.RandomSwap()])
    with pytest.raises(TypeError, match="Compose takes ops"):
        augment.Compose(["zoom"])  # type: ignore[list-item]


def test_typed_ops_are_immutable_and_comparable():
    z = ops.Zoom(scale=1.2)
    with pytest.raises(AttributeError):
        z.scale = (1, 2)  # type: ignore[misc]
    assert z == ops.Zoom(scale=(1.2, 1.2)) and z != ops.Zoom(scale=1.3) and z.scale == (1.2, 1.2)
    assert repr(z) == "Zoom(scale=(1.2, 1.2))"


def test_mypy_checks_user_code_against_the_generated_types(tmp_path):
    pytest.importorskip("mypy")
    user = tmp_path / "user.py"
    user.write_text(textwrap.dedent("""
        import augment
        from augment import ops

        pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Zoom(scale=(0.9, 1.1)),
                                augment.OneOf([ops.Rotate(degrees=10), ops.Crop(height=5, width=5)],
                                              weights=[1, 2])], seed=1)
        scale: tuple[float, float] = ops.Zoom().scale
        bad = ops.Zoom(scal=1.0)
        bad2 = ops.Rotate(border="mirror")
    """))
    # --no-site-packages: the installed libraries (torch, numpy, ...) are read as Any instead of analysed, which
    # took ~95% of mypy's minute; augment itself is found from the repository, so the generated types are checked
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports", "--no-incremental",
         "--no-site-packages", "--cache-dir", str(tmp_path / "cache"), str(user), "augment/ops/typed.py",
         "augment/ops/_typed_base.py", "augment/compose.py"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, proc.stdout
    assert 'user.py:9: error: Unexpected keyword argument "scal" for "Zoom"' in errors[0]
    assert "user.py:10: error: Argument \"border\" to \"Rotate\"" in errors[1]
