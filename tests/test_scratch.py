"""Intermediate images of one call written into reused buffers (augment.compile.scratch): the same bytes as fresh
arrays, and nothing a caller holds (its input, an earlier output) is ever a buffer or overwritten by a later call."""

import threading

import numpy as np
import pytest

from augment.compile import Pipeline, scratch
from augment.spec import parse_spec

# ops with buffered kernels (flips, warps) between and after ops without (crop changes the shape, colour ops
# return their input for identity factors)
_STEPS = [
    {"op": "horizontal_flip", "p": 0.5},
    {"op": "hsv", "params": {"hue": [-0.05, 0.05], "saturation": [0.7, 1.3], "value": [0.8, 1.2]}, "p": 0.5},
    {"op": "vertical_flip", "p": 0.5},
    {"op": "rotate", "params": {"degrees": [-20, 20]}, "p": 0.7},
    {"op": "zoom", "params": {"scale": [0.8, 1.2], "border": "reflect"}, "p": 0.5},
    {"op": "affine", "params": {"degrees": [-10, 10], "translate": [-0.1, 0.1], "scale": [0.9, 1.1]}, "p": 0.7},
    {"op": "brightness_contrast", "params": {"brightness": [1.0, 1.0], "contrast": [0.8, 1.2]}, "p": 0.5},
    {"op": "crop", "params": {"height": 250, "width": 240}, "p": 0.3},
    {"op": "color_jitter", "params": {"hue": [-0.05, 0.05]}, "p": 0.5},
    {"op": "hsv", "params": {"saturation": [0.0, 0.0]}, "p": 0.2},  # a factor of 0 writes the gray image itself
    {"op": "brightness_contrast", "params": {"brightness": [0.0, 0.0], "contrast": [0.0, 0.0]}, "p": 0.1},
    {"op": "horizontal_flip", "p": 0.5},
    {"op": "hsv", "params": {"value": [1.0, 1.0]}, "p": 0.5},
]


def _pipe(steps, seed=0) -> Pipeline:
    return Pipeline(parse_spec({"modality": "image", "seed": seed, "steps": steps}))


def _fresh(pipe: Pipeline, img: np.ndarray, seed: int) -> np.ndarray:
    """What the call gives with every intermediate a fresh array (the code before the buffers)."""
    old = scratch.MIN_BYTES
    scratch.MIN_BYTES = 1 << 62
    try:
        return pipe(img, seed=seed)
    finally:
        scratch.MIN_BYTES = old


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_buffered_calls_give_the_bytes_of_fresh_arrays_and_leave_inputs_and_outputs_alone(channels):
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 256, (320, 300, channels), dtype=np.uint8)
    if channels == 1:
        img = rng.integers(0, 256, (560, 520, 1), dtype=np.uint8)  # above scratch.MIN_BYTES too
    assert img.nbytes >= scratch.MIN_BYTES
    before = img.copy()
    pipe = _pipe(_STEPS)
    outputs, ran = [], set()
    for seed in range(40):
        res = pipe.run(img, seed=seed)
        ran.add(tuple(a["op"] for a in res.applied))
        assert np.array_equal(res.output, _fresh(pipe, img, seed)), seed
        assert np.array_equal(res.output, pipe.replay(img, res))
        assert not np.may_share_memory(res.output, img) or not res.applied
        outputs.append((res.output, res.output.copy()))
    assert np.array_equal(img, before)  # the input is never written
    for out, copy in outputs:  # no later call overwrote an earlier output
        assert np.array_equal(out, copy)
    assert len(ran) > 10


def test_an_output_left_in_a_buffer_by_an_identity_last_step_is_copied_out():
    img = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    # the flip writes into a buffer; the affine draws the identity and returns its input, the buffer itself
    pipe = _pipe([{"op": "horizontal_flip"}, {"op": "affine", "params": {"translate": [0, 0]}}])
    first = pipe(img, seed=1)
    kept = first.copy()
    second = pipe(img[::-1].copy(), seed=2)
    assert np.array_equal(first, kept) and np.array_equal(first, img[:, ::-1])
    assert not np.may_share_memory(first, second)


def test_a_nested_call_gets_no_buffer_of_the_outer_call():
    img = np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    outer = scratch.acquire(img)
    try:
        assert outer is not None
        assert scratch.acquire(img) is None
        # an op that runs another pipeline inside a call: the inner call works on fresh arrays
        inner = _pipe(_STEPS[:5])
        assert all(np.array_equal(inner(img, seed=s), _fresh(inner, img, s)) for s in range(4))
    finally:
        scratch.leave()
    assert scratch.acquire(img[:10, :10]) is None  # small images gain nothing
    assert scratch.acquire(img) is outer
    scratch.leave()


def test_a_buffer_never_shares_memory_with_the_arrays_still_in_use():
    pool = scratch.Pool()
    img = np.zeros((300, 300, 3), np.uint8)
    a = pool.like(img)
    b = pool.like(a)
    assert not np.may_share_memory(a, b) and not np.may_share_memory(a, img)
    assert pool.like(b) is a and pool.like(a[:, :]) is b
    c = pool.like(a, b, None)  # every live array is avoided
    assert not np.may_share_memory(c, a) and not np.may_share_memory(c, b)
    gray = pool.uint8((300, 300), a)
    assert gray.shape == (300, 300) and gray.dtype == np.uint8
    assert not np.may_share_memory(pool.release(a[:10]), a)  # an output in a buffer is copied out
    assert pool.release(img) is img
    for k in range(scratch._KEEP + 2):  # new shapes push the oldest buffers out; they are not handed out again
        pool.uint8((7, 7 + k, 3))
    assert pool.release(a) is a


def test_a_thread_keeps_a_bounded_amount_of_memory(monkeypatch):
    monkeypatch.setattr(scratch, "KEEP_BYTES", 3 * 300 * 300 * 3)
    pool = scratch.Pool()
    img = np.zeros((300, 300, 3), np.uint8)
    kept = [pool.like(img)]
    for _ in range(4):
        kept.append(pool.like(img, *kept))  # all five in use at once: each is new
    assert len({id(k) for k in kept}) == 5
    assert sum(b.nbytes for b in pool._buffers) <= scratch.KEEP_BYTES and len(pool._buffers) == 3
    big = pool.uint8((1000, 1000, 3))  # larger than the budget: handed out, never kept
    assert all(b is not big for b in pool._buffers)
    assert pool.release(big) is big
    # a call on an image above the budget gives the same bytes (each intermediate a fresh array)
    large = np.random.default_rng(3).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    pipe = _pipe(_STEPS[:7])
    for seed in range(3):
        assert np.array_equal(pipe(large, seed=seed), _fresh(pipe, large, seed))


def test_threads_calling_one_pipeline_get_their_own_buffers():
    img = np.random.default_rng(2).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    pipe = _pipe(_STEPS[:5])
    expected = {s: _fresh(pipe, img, s) for s in range(24)}
    got, errors = {}, []

    def work(seeds):
        try:
            for s in seeds:
                got[s] = pipe(img, seed=s)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(range(i, 24, 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(np.array_equal(got[s], expected[s]) for s in expected)
