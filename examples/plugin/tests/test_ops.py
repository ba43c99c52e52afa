"""The example plugin's own tests: each op's pixels, its drawn values, and its annotation hooks."""

import numpy as np
import pytest

import augment

pytest.importorskip("augment_stain", reason="install the example plugin: pip install -e examples/plugin")
from augment_stain import ShoutWord, StainJitter, Translate  # noqa: E402


def _image():
    return np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)


def test_stain_jitter_at_zero_strength_is_the_identity_and_draws_json():
    image = _image()
    pipe = augment.Compose([StainJitter(scale=0.0, shift=0.0)], seed=0)
    res = pipe.run(image, seed=1)
    assert np.array_equal(res.output, image)
    assert res.applied[0]["params"] == {"scale": [0.0, 0.0, 0.0], "shift": [0.0, 0.0, 0.0]}


def test_stain_jitter_darkens_with_a_positive_shift_and_replays():
    image = _image()
    pipe = augment.Compose([StainJitter(scale=0.0, shift=0.2)], seed=0)
    res = pipe.run(image, seed=1)
    assert (res.output.astype(int) <= image.astype(int)).all() and res.output.mean() < image.mean()
    assert np.array_equal(pipe.replay(image, res), res.output)


def test_translate_moves_pixels_and_points_alike():
    image = _image()
    op = Translate(max_shift=(2, 2), fill=7)
    out = augment.Compose([op], seed=0)(image, seed=0)
    assert np.array_equal(out[2:, 2:], image[:-2, :-2]) and (out[:2] == 7).all()
    assert np.allclose(op.map_points(np.array([[1.0, 3.0]]), {"dx": 2, "dy": -1}, (20, 24)), [[3.0, 2.0]])


def test_shout_word_upper_cases_the_asked_number_of_words():
    out = augment.Compose([ShoutWord(words=1)], seed=0)("a small sentence here", seed=3)
    assert sum(w.isupper() for w in out.split()) == 1
