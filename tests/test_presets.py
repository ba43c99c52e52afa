"""Presets (trivial_augment, rand_augment, augmix) are ordinary ops on both backends: deterministic for a seed,
recorded sub-op by sub-op, replayed exactly (also by `augment replay` from a run's manifest), inputs untouched."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from augment.compile import Pipeline
from augment.ops.presets import SUB_OPS
from augment.spec import SpecError, parse_spec
from conftest import REPO, SAMPLES

BACKENDS = ["albumentations", "torchvision"]
PRESETS = {"trivial_augment": {}, "rand_augment": {"n": 3, "magnitude": 0.7},
           "augmix": {"width": 3, "depth": [1, 3], "severity": 0.5}}


def pipe(op, backend, params=None):
    return Pipeline(parse_spec({"name": "t", "modality": "image", "backend": backend,
                                "steps": [{"op": op, "params": params or {}}]}))


def image(seed=0, c=3):
    return (np.random.default_rng(seed).random((24, 28, c)) * 255).astype(np.uint8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", sorted(PRESETS))
def test_preset_is_deterministic_replayable_and_leaves_input_alone(op, backend):
    p = pipe(op, backend, PRESETS[op])
    outputs = set()
    for seed in range(12):
        img = image(seed)
        before = img.copy()
        a, b = p.run(img, seed=seed), p.run(img, seed=seed)
        assert np.array_equal(img, before), "input was modified"
        assert np.array_equal(a.output, b.output) and a.applied == b.applied
        assert a.output.shape == img.shape and a.output.dtype == np.uint8
        recorded = json.loads(json.dumps(a.applied))  # what a manifest holds
        assert np.array_equal(p.replay(img, recorded), a.output)
        assert np.array_equal(img, before)
        drawn = recorded[0]["params"]
        subs = drawn["ops"] if "ops" in drawn else [s for chain in drawn["chains"] for s in chain]
        assert subs and all(s["as"] in SUB_OPS for s in subs)
        if op == "rand_augment":
            assert len(drawn["ops"]) == 3
        if op == "augmix":
            assert len(drawn["chains"]) == 3 and abs(sum(drawn["weights"]) - 1) < 1e-9 and 0 <= drawn["mix"] <= 1
            assert all(1 <= len(chain) <= 3 for chain in drawn["chains"])
        outputs.add(a.output.tobytes())
    assert len(outputs) > 6, "a preset must vary with the seed"


@pytest.mark.parametrize("op", sorted(PRESETS))
def test_backends_draw_the_same_sub_ops(op):
    y, x = np.mgrid[0:24, 0:28]
    img = np.stack([x * 9, y * 10, (x + y) * 5], axis=2).astype(np.uint8)  # smooth: kernels agree closely
    a, b = pipe(op, "albumentations", PRESETS[op]).run(img, seed=7), pipe(op, "torchvision", PRESETS[op]).run(img, seed=7)
    assert a.applied == b.applied
    # same values through two libraries' kernels: close, not bit-identical (interpolation rounding)
    assert np.mean(np.abs(a.output.astype(int) - b.output.astype(int))) < 4


def test_zero_magnitude_rand_augment_is_identity_and_no_flip_is_ever_drawn():
    img = image(1)
    p = pipe("rand_augment", "albumentations", {"n": 4, "magnitude": 0.0})
    for seed in range(10):
        res = p.run(img, seed=seed)
        assert np.abs(res.output.astype(int) - img.astype(int)).max() <= 1
    assert not any("flip" in s for s in SUB_OPS)


@pytest.mark.parametrize("params, key", [({"n": 0}, "steps[0].params.n"), ({"magnitude": 2}, "steps[0].params.magnitude"),
                                         ({"m": 1}, "steps[0].params.m")])
def test_preset_params_are_validated(params, key):
    with pytest.raises(SpecError) as exc:
        pipe("rand_augment", "albumentations", params)
    assert str(exc.value.issues[0]).startswith(key)


@pytest.mark.parametrize("backend", BACKENDS)
def test_augment_replay_reproduces_a_preset_run(backend, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump({"name": "presets", "modality": "image", "backend": backend, "copies": 1,
                                    "steps": [{"one_of": [{"op": "trivial_augment"}, {"op": "rand_augment"},
                                                          {"op": "augmix"}]}]}))
    src = tmp_path / "src" / "3"
    src.mkdir(parents=True)
    for f in sorted((SAMPLES / "digits" / "3").iterdir())[:4]:
        (src / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(tmp_path / "src"), str(out),
                          "--engine", "serial"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    from augment.replay import replay_output

    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    augmented = [r for r in records if r.get("copy") is not None]
    assert augmented and {o["op"] for r in augmented for o in r["ops"]} <= set(PRESETS)
    for rec in augmented:
        assert replay_output(out, rec["output"]).identical
