import json

import pytest
import yaml

from augment.spec import SpecError, dump_spec, load_spec, parse_spec, spec_hash
from conftest import PIPELINES


def base(**over):
    spec = {"name": "t", "modality": "image", "steps": [{"op": "horizontal_flip"}]}
    spec.update(over)
    return spec


def issues(data):
    with pytest.raises(SpecError) as exc:
        parse_spec(data)
    return [str(i) for i in exc.value.issues]


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_pipeline_is_valid_and_round_trips(path, tmp_path):
    spec = load_spec(path)
    again = tmp_path / "again.yaml"
    again.write_text(dump_spec(spec))
    assert load_spec(again) == spec
    assert spec_hash(load_spec(again)) == spec_hash(spec)
    as_json = tmp_path / "again.json"
    as_json.write_text(dump_spec(spec, "json"))
    assert spec_hash(load_spec(as_json)) == spec_hash(spec)


def test_defaults_are_filled_so_equivalent_files_share_a_hash():
    short = parse_spec(base())
    explicit = parse_spec(base(backend="albumentations", seed=0, copies=1, version=1,
                               steps=[{"op": "horizontal_flip", "p": 1.0, "params": {}}]))
    assert spec_hash(short) == spec_hash(explicit)
    assert spec_hash(parse_spec(base(seed=1))) != spec_hash(short)


@pytest.mark.parametrize(
    "data, expected",
    [
        (base(sed=3), "sed: unknown key 'sed' (did you mean 'seed'?)"),
        (base(steps=[{"op": "hflip"}]), "steps[0].op: unknown op 'hflip' (did you mean 'horizontal_flip'?)"),
        (base(steps=[{"op": "zoom", "params": {"scal": 2}}]), "steps[0].params.scal: unknown key 'scal' (did you mean 'scale'?)"),
        (base(steps=[{"op": "zoom", "params": {"scale": [2, 1]}}]), "steps[0].params.scale: low must not exceed high"),
        (base(steps=[{"op": "zoom", "params": {"scale": [0, 1]}}]), "steps[0].params.scale[0]: Input should be greater than 0"),
        (base(steps=[{"op": "rotate", "p": 1.5}]), "steps[0].p: Input should be less than or equal to 1 (given 1.5)"),
        (base(steps=[{"op": "rotate", "p": "often"}]), "steps[0].p: Input should be a valid number"),
        (base(steps=[{"one_of": [{"op": "zoom"}], "weights": [1, 2]}]), "steps[0]: one_of has 1 steps but 2 weights"),
        (base(steps=[{"some_of": [{"op": "zoom"}], "n": 3}]), "steps[0]: n must satisfy"),
        (base(steps=[{"sequence": [{"op": "zoom"}], "n": 1}]), "steps[0]: 'n' is only allowed in some_of"),
        (base(steps=[{"one_of": []}]), "steps[0].one_of: List should have at least 1 item"),
        (base(steps=[{"opp": "zoom"}]), "steps[0]: a step needs one of the keys op, sequence, one_of, some_of; got keys: opp (did you mean 'op'?)"),
        (base(steps=[{"op": "zoom", "one_of": []}]), "steps[0]: a step has exactly one of"),
        (base(steps=[{"one_of": [{"op": "zoom"}, {"op": "blur"}]}]), "steps[0].one_of[1].op: unknown op 'blur' (did you mean 'gaussian_blur'?)"),
        (base(steps=[{"op": "crop"}]), "steps[0].params.height: required key is missing"),
        (base(steps=[]), "steps: List should have at least 1 item"),
        (base(steps="flip"), "steps: Input should be a valid list"),
        (base(modality="audio"), "modality: Input should be 'image' or 'text'"),
        (base(backend="kornia"), "backend: Input should be 'albumentations', 'torchvision' or 'native'"),
        (base(copies=0), "copies: Input should be greater than or equal to 1"),
        (base(seed=-1), "seed: Input should be greater than or equal to 0"),
        (base(version=2), "version: Input should be 1"),
        (base(steps=[3]), "steps[0]: a step must be a mapping"),
    ],
)
def test_errors_name_the_exact_key(data, expected):
    found = issues(data)
    assert any(expected in line for line in found), found


def test_every_problem_is_reported_at_once():
    found = issues(base(sed=1, steps=[{"op": "hflip"}, {"op": "zoom", "params": {"scale": "x"}}]))
    assert len(found) == 3 and found[0].startswith("sed:") and found[2].startswith("steps[1].params.scale")


def test_nesting_and_size_limits():
    step = {"op": "horizontal_flip"}
    for _ in range(20):
        step = {"sequence": [step]}
    assert any("nested more than" in line for line in issues(base(steps=[step])))
    assert any("too many steps" in line for line in issues(base(steps=[{"op": "horizontal_flip"}] * 1500)))


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['touch pwned']\nmodality: image\nsteps: []\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(evil)
    assert not (tmp_path / "pwned").exists()
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text('a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nname: t\nmodality: image\nsteps: [*c]\n')
    with pytest.raises(SpecError, match="aliases"):
        load_spec(bomb)
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: t\n" + "# pad\n" * 2_000_000)
    with pytest.raises(SpecError, match="limit is"):
        load_spec(huge)


def test_files_that_are_not_specs(tmp_path):
    for text, message in [("- a\n- b\n", "must be a mapping"), ("name: [unclosed\n", "invalid YAML: line"),
                          ("", "must be a mapping")]:
        path = tmp_path / "x.yaml"
        path.write_text(text)
        with pytest.raises(SpecError, match=message):
            load_spec(path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(binary)
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "missing.yaml")


def test_spec_json_form_is_accepted(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(base(copies=2)))
    assert load_spec(path).copies == 2


def test_scalar_range_means_fixed_value():
    spec = parse_spec(base(steps=[{"op": "zoom", "params": {"scale": 1.2}}]))
    assert spec.steps[0].params.scale == (1.2, 1.2)
    assert yaml.safe_load(dump_spec(spec))["steps"][0]["params"]["scale"] == [1.2, 1.2]
