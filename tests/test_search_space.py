"""The search-space validator: every mistake names its key path, with a did-you-mean where one exists."""

import pytest
import yaml

from augment.search.space import load_space, parse_space
from augment.spec import SpecError, parse_spec
from conftest import PIPELINES


def space(**over):
    data = {"name": "s", "modality": "image", "candidates": 6,
            "ops": [{"op": "rotate", "p": [0.2, 0.8], "params": {"degrees": {"choices": [[-10, 10], [-30, 30]]}}},
                    {"op": "gaussian_noise", "params": {"sigma": {"range": [2, 20]}}},
                    {"op": "horizontal_flip", "p": 0.5}]}
    data.update(over)
    return data


def issues(data):
    with pytest.raises(SpecError) as exc:
        parse_space(data)
    return [str(i) for i in exc.value.issues]


def one(op):
    return space(ops=[op])


@pytest.mark.parametrize("data, expected", [
    (space(candidats=3), "candidats: unknown key 'candidats' (did you mean 'candidates'?)"),
    (one({"op": "rotat"}), "ops[0].op: unknown image op 'rotat' (did you mean 'rotate'?)"),
    (one({"op": "synonym_replace"}), "ops[0].op: unknown image op 'synonym_replace'"),
    (one({"op": "rotate", "p": [0.9, 0.1]}), "ops[0].p: p must satisfy 0 <= low <= high <= 1"),
    (one({"op": "rotate", "p": 1.5}), "ops[0].p: p must satisfy 0 <= low <= high <= 1"),
    (one({"op": "rotate", "p": [0.1, 0.2, 0.3]}), "ops[0].p: expected a [low, high] pair, got 3 values"),
    (one({"op": "rotate", "optinal": True}), "ops[0].optinal: unknown key 'optinal' (did you mean 'optional'?)"),
    (one({"op": "rotate", "params": {"degrees": {"choices": [[-10, 10], [30, -30]]}}}),
     "ops[0].params.degrees.choices[1]: low must not exceed high"),
    (one({"op": "rotate", "params": {"degres": {"choices": [1]}}}),
     "ops[0].params.degres: unknown key 'degres' (did you mean 'degrees'?)"),
    (one({"op": "rotate", "params": {"fill": {"range": [0, 300]}}}),
     "ops[0].params.fill.range[1]: Input should be less than or equal to 255"),
    (one({"op": "rotate", "params": {"fill": 300, "degrees": {"range": [1, 2]}}}),
     "ops[0].params.fill: Input should be less than or equal to 255 (given 300)"),
    (one({"op": "rotate", "params": {"degrees": {"range": [5, 1]}}}), "ops[0].params.degrees.range: low must not exceed high"),
    (one({"op": "rotate", "params": {"degrees": {"choices": []}}}), "ops[0].params.degrees.choices: List should have at least 1 item"),
    (one({"op": "rotate", "params": {"degrees": {"choices": [1], "extra": 2}}}), "ops[0].params.degrees.extra: unknown key 'extra'"),
    (space(structure="any_of"), "structure: Input should be 'sequence', 'one_of' or 'some_of'"),
    (space(n=2), "'n' is only allowed with structure some_of"),
    (space(structure="some_of", n=[0, 2]), "n: n must satisfy 1 <= low <= high"),
    (space(copies=[0]), "copies: copies must be integers from 1 to 100"),
    (space(candidates=10_000), "candidates: Input should be less than or equal to 500"),
    (space(ops=[], candidates=3), "random candidates need a list of 'ops'"),
    (space(backend="native"), "backend: image spaces use backend 'albumentations' or 'torchvision'"),
    (space(pipelines=[{"steps": [{"op": "blur"}]}]), "pipelines[0].steps[0].op: unknown op 'blur' (did you mean 'gaussian_blur'?)"),
    (space(pipelines=[{"name": "x"}]), "pipelines[0]: a fixed pipeline has either 'steps' or 'file'"),
    (space(pipelines=[{"file": "no/such.yaml"}]), "pipelines[0].file: no/such.yaml: cannot read spec"),
    (space(pipelines=[{"file": str(PIPELINES / "eda.yaml")}]), "pipelines[0].file:"),
    (space(presets=["trivial_augmnt"]), "presets[0].op: unknown op 'trivial_augmnt'"),
    (space(presets=[{"op": "rand_augment", "params": {"n": 0}}]), "presets[0].params.n:"),
    (space(presets=[3]), "presets[0]: a preset is an op name or a mapping"),
    ({"name": "t", "modality": "text", "ops": [{"op": "random_swap", "params": {"rate": {"range": [0.1, 2.0]}}}]},
     "ops[0].params.rate.range[1]: Input should be less than or equal to"),
    ({"name": "t", "modality": "text", "backend": "torchvision", "presets": ["eda"]}, "backend: backend 'torchvision' is for images"),
])
def test_bad_spaces_name_the_key(data, expected):
    found = issues(data)
    assert any(expected in i for i in found), found


def test_every_problem_is_reported_at_once():
    found = issues(space(ops=[{"op": "rotat"}, {"op": "zoom", "p": 2}], presets=["nope"]))
    assert [i.split(":")[0] for i in found] == ["ops[0].op", "ops[1].p", "presets[0].op"]


def test_candidates_are_valid_specs_deterministic_and_distinct():
    sp = parse_space(space(candidates=20, structure="some_of", n=[1, 2], copies=[1, 2]))
    a, b = sp.candidates(seed=3), sp.candidates(seed=3)
    assert [c.spec.to_dict() for c in a] == [c.spec.to_dict() for c in b]
    assert [c.copies for c in a] == [c.copies for c in b]
    assert [c.spec.to_dict()["steps"] for c in sp.candidates(seed=4)] != [c.spec.to_dict()["steps"] for c in a]
    keys = [(str(c.spec.to_dict()["steps"]), c.copies) for c in a]
    assert len(set(keys)) == len(keys)
    for c in a:
        assert parse_spec(c.spec.to_dict()) == c.spec  # each candidate is a normal spec
        for op in c.ops():
            assert op in {"rotate", "gaussian_noise", "horizontal_flip"}
        for step in c.spec.to_dict()["steps"]:
            for leaf in step.get("some_of", [step]):
                if leaf["op"] == "rotate":
                    assert 0.2 <= leaf["p"] <= 0.8 and leaf["params"]["degrees"] in ([-10, 10], [-30, 30])
                if leaf["op"] == "gaussian_noise":
                    lo, hi = leaf["params"]["sigma"]
                    assert lo == hi and 2 <= lo <= 20


def test_fixed_pipelines_and_presets_come_first(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space(
        candidates=2, pipelines=[{"name": "flip", "steps": [{"op": "horizontal_flip"}]},
                                 {"file": str(PIPELINES / "digits_safe.yaml")}],
        presets=["trivial_augment", {"op": "rand_augment", "params": {"n": 2, "magnitude": 0.4}}])))
    kinds = [c.kind for c in load_space(path).candidates()]
    assert kinds[:4] == ["pipeline", "pipeline", "preset", "preset"] and set(kinds[4:]) == {"drawn"}


@pytest.mark.parametrize("name", ["search_image.yaml", "search_text.yaml"])
def test_shipped_spaces_are_valid(name):
    assert load_space(PIPELINES / "spaces" / name).candidates()
