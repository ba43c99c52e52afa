"""The per-step seed streams are frozen: the same seed draws the same values and bytes in every release.

``augment.seeding.step_rng`` computes numpy's ``SeedSequence`` algorithm itself (it is cheaper than building a
``SeedSequence`` per step); these tests hold it to ``np.random.default_rng(np.random.SeedSequence(seed,
spawn_key=key))``, the definition every manifest written so far was drawn with, and pin drawn values and a
pipeline's records from before that change.
"""

import hashlib
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment import seeding
from augment.compile import Pipeline
from augment.spec import parse_spec

MASK64 = (1 << 64) - 1


def reference_rng(seed: int, key: tuple) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed & MASK64, spawn_key=key))


# first three integers(0, 2**32) of step_rng(seed, key), recorded before step_rng stopped building SeedSequences
PINNED = [
    ((0, (0,)), [3445585646, 4049885951, 23549334]),
    ((1, (2,)), [1832170131, 1001450238, 162171870]),
    ((2**32 - 1, (0, 1)), [2713272786, 2436462701, 1597516343]),
    ((2**32, (3,)), [3221541144, 4235495219, 3079547755]),
    ((2**63 - 1, (1, 0, 2)), [3231593973, 3348898420, 3838824076]),
    ((123456789123456789, (7, 2**33)), [4059194517, 2930602706, 2019452488]),
]


@pytest.mark.parametrize(("args", "values"), PINNED)
def test_step_rng_draws_the_pinned_values(args, values):
    assert seeding.step_rng(*args).integers(0, 2**32, 3).tolist() == values


seeds = st.one_of(st.integers(0, 2**32 + 5), st.integers(0, 2**63 - 1), st.integers(-(2**70), 2**70))
keys = st.lists(st.one_of(st.integers(0, 40), st.integers(0, 2**70)), min_size=0, max_size=5).map(tuple)


@settings(max_examples=300, deadline=None)
@given(seed=seeds, key=keys)
def test_step_rng_is_numpys_seed_sequence(seed, key):
    ours, ref = seeding.step_rng(seed, key), reference_rng(seed, key)
    assert ours.bit_generator.state == ref.bit_generator.state
    assert ours.random(4).tolist() == ref.random(4).tolist()
    assert ours.integers(0, 2**63, 4).tolist() == ref.integers(0, 2**63, 4).tolist()


def reference_derive_seed(seed: int, key: str, copy_index) -> int:
    seq = np.random.SeedSequence([seed & MASK64, *seeding.stable_hash_words(key), copy_index])
    lo, hi = seq.generate_state(2, dtype=np.uint32)
    return (int(hi) << 32 | int(lo)) & ((1 << 63) - 1)


copy_indexes = st.one_of(st.integers(0, 40), st.integers(2**32 - 2, 2**32 + 2), st.integers(0, 2**200),
                         st.just(seeding._MAX_COPY_INDEX - 1), st.just(seeding._MAX_COPY_INDEX), st.just(2**900))


@settings(max_examples=400, deadline=None)
@given(seed=seeds, key=st.text(max_size=40), copy_index=copy_indexes)
def test_derive_seed_is_numpys_seed_sequence(seed, key, copy_index):
    assert seeding.derive_seed(seed, key, copy_index) == reference_derive_seed(seed, key, copy_index)
    assert seeding.derive_seed(seed, key, copy_index) == reference_derive_seed(seed, key, copy_index)  # kept pool


def test_derive_seed_refuses_what_numpy_refuses():
    with pytest.raises(ValueError):
        seeding.derive_seed(1, "a.jpg", -1)
    with pytest.raises(TypeError):
        seeding.derive_seed(1, "a.jpg", 1.5)


@settings(max_examples=200, deadline=None)
@given(seed=st.one_of(st.integers(0, 2**33), st.integers(0, 2**64 - 1), st.integers(-5, -1), st.integers(2**64, 2**66)))
def test_default_rng_is_numpys(seed):
    try:
        ref = np.random.default_rng(seed)
    except ValueError:
        with pytest.raises(ValueError):
            seeding.default_rng(seed)
        return
    ours = seeding.default_rng(seed)
    assert ours.bit_generator.state == ref.bit_generator.state
    assert pickle.dumps(ours) == pickle.dumps(ref)


def test_step_rng_generator_behaves_like_numpys():
    """What else a caller can do with the generator (spawn children, pickle it, read its seed sequence) gives what
    numpy's own gives."""
    ours, ref = seeding.step_rng(77, (1, 4)), reference_rng(77, (1, 4))
    seq, ref_seq = ours.bit_generator.seed_seq, ref.bit_generator.seed_seq
    assert (seq.entropy, seq.spawn_key, seq.pool_size) == (ref_seq.entropy, ref_seq.spawn_key, ref_seq.pool_size)
    assert seq.generate_state(3).tolist() == ref_seq.generate_state(3).tolist()
    assert pickle.dumps(ours) == pickle.dumps(ref)
    again = pickle.loads(pickle.dumps(ours))
    assert again.random(3).tolist() == ours.random(3).tolist()
    kids, ref_kids = ours.spawn(2), ref.spawn(2)
    assert [k.integers(0, 2**32) for k in kids] == [k.integers(0, 2**32) for k in ref_kids]
    assert seq.n_children_spawned == 2


STEPS = [
    {"op": "horizontal_flip", "p": 0.5},
    {"one_of": [{"op": "rotate"}, {"op": "zoom"}, {"op": "affine"}], "weights": [1, 2, 1], "p": 0.8},
    {"some_of": [{"op": "brightness_contrast"}, {"op": "hsv"}, {"op": "gaussian_noise"}, {"op": "cutout"}],
     "n": [1, 3]},
    {"sequence": [{"op": "gamma", "p": 0.7}, {"op": "crop", "params": {"height": 24, "width": 30}}], "p": 0.6},
    {"op": "albumentations.RandomBrightnessContrast", "p": 0.5},
]
IMG = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)


def _pipe() -> Pipeline:
    return Pipeline(parse_spec({"name": "pin", "modality": "image", "seed": 5, "steps": STEPS}))


def test_pipeline_records_are_pinned():
    """Groups, p decisions, native and library draws over 40 seeds: the records hash as before the change."""
    pipe = _pipe()
    digest = hashlib.sha256()
    for seed in range(40):
        digest.update(json.dumps(pipe.run(IMG, seed=seed).applied, sort_keys=True).encode())
    assert digest.hexdigest() == "4e88f9bab4f716a46fe71065492286795ec887cb21d66d9578c68febadf4f607"
    assert [pipe._next_seed() for _ in range(3)] == [7424841456459477715, 7451938487489940729, 4753039369592592095]


def test_pipeline_bytes_match_the_reference_streams(monkeypatch):
    """The same pipeline with every step generator built by numpy's SeedSequence gives the same bytes and
    records (compared in one process, so it holds whatever OpenCV build computes the pixels)."""
    pipe = _pipe()
    ours = [pipe.run(IMG, seed=s) for s in range(40)]
    monkeypatch.setattr(seeding, "step_rng", reference_rng)
    import augment.compile.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "step_rng", reference_rng, raising=False)
    ref_pipe = _pipe()
    refs = [ref_pipe.run(IMG, seed=s) for s in range(40)]
    for a, b in zip(ours, refs):
        assert a.applied == b.applied
        assert a.output.tobytes() == b.output.tobytes()


@pytest.mark.parametrize("seed", range(6))
def test_hsv_without_a_value_change_is_the_full_kernel_chain(seed):
    """hsv skips albumentations' brightness call when value is 1, which returns its input: same bytes."""
    from augment.compile import backend_albumentations as backend
    from augment.compile.backend_albumentations import fpixel

    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (int(rng.integers(1, 40)), int(rng.integers(1, 40)), 3), dtype=np.uint8)
    drawn = {"hue": float(rng.uniform(-0.1, 0.1)), "saturation": float(rng.uniform(0.5, 1.5)), "value": 1.0}
    full = fpixel.adjust_hue_torchvision(img, drawn["hue"])
    full = fpixel.adjust_saturation_torchvision(full, drawn["saturation"])
    full = fpixel.adjust_brightness_torchvision(full, np.array([1.0]))
    assert backend.apply("hsv", img, drawn, None).tobytes() == np.ascontiguousarray(full).tobytes()


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=4),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(width=32).map(np.float32), st.integers(-100, 100).map(np.int16))
drawn_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=3), inner, max_size=3)), max_leaves=12)


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)  # NaN


@settings(max_examples=300, deadline=None)
@given(value=drawn_values)
def test_library_records_round_trip_whatever_the_nesting(value):
    """encode keeps plain scalars inside containers as they are (its fast path): every value still comes back
    with its type, NaN and infinities included, through strict JSON."""
    from augment.ops.library_ops import decode, encode

    text = json.dumps(encode({"v": value}), allow_nan=False)
    assert _same(decode(json.loads(text))["v"], value)


def test_draws_after_a_size_change_are_pinned():
    """run() builds one drawing context per image size: ops after a crop draw from the cropped size, as before."""
    steps = [{"op": "crop", "params": {"height": 20, "width": 28}}, {"op": "cutout"}, {"op": "random_resized_crop"},
             {"op": "rotate", "p": 0.5}, {"op": "perspective", "p": 0.5}]
    pipe = Pipeline(parse_spec({"name": "pin2", "modality": "image", "seed": 1, "steps": steps}))
    img = np.random.default_rng(1).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    digest = hashlib.sha256()
    for seed in range(30):
        res = pipe.run(img, seed=seed)
        assert res.output.shape[:2] == (20, 28)
        digest.update(json.dumps(res.applied, sort_keys=True).encode())
    assert digest.hexdigest() == "dd6bcc535b1d5f2fd7537adb9c4b2a12f886208354f6ecb08a2b9e2ba930a576"
