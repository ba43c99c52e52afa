"""The output of every image entry point is the caller's to write into: it never shares memory with the input.

When no step changes the pixels (every ``p`` missed, or ops whose draw is the identity) the output used to be the
caller's own array or a view of it, so writing into it (an in-place normalisation in a training loop) changed the
dataset the image came from, and only for the images whose draws missed. Generated: pipelines of random ops with
random probabilities (0 included), every input layout numpy takes, every entry point."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import augment

OPS = ["horizontal_flip", "vertical_flip", "rotate", "brightness_contrast", "gaussian_noise", "zoom", "channel_shuffle"]
LAYOUTS = ["hwc3", "hwc1", "hw", "rgba", "strided"]


def _image(layout: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (24, 40, 4), dtype=np.uint8)
    return {"hwc3": base[:, :, :3].copy(), "hwc1": base[:, :, :1].copy(), "hw": base[:, :, 0].copy(),
            "rgba": base, "strided": base[:, ::2, :3]}[layout]


def _entry_points(pipe, img, seed):
    yield "call", pipe(img, seed=seed)
    yield "run", pipe.run(img, seed=seed).output
    yield "replay", pipe.replay(img, pipe.run(img, seed=seed))
    if img.ndim == 3 and img.shape[2] in (1, 3):
        yield "batch", pipe.batch([img, img], seeds=[seed, seed + 1])[0]
        yield "annotated", pipe(img, seed=seed, boxes=np.array([[2.0, 2.0, 9.0, 9.0]]), labels=[1])["image"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from([0.0, 0.0, 0.5, 1.0])), min_size=1, max_size=3),
       layout=st.sampled_from(LAYOUTS), backend=st.sampled_from(["albumentations", "torchvision"]),
       seed=st.integers(0, 2**31))
def test_no_output_shares_memory_with_its_input(ops, layout, backend, seed):
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "backend": backend,
                                                "steps": [{"op": op, "p": p} for op, p in ops]}))
    img = _image(layout, seed)
    before = img.copy()
    for where, out in _entry_points(pipe, img, seed):
        assert not np.may_share_memory(out, img), f"{where}: the output is a view of the input ({ops}, {layout})"
        np.asarray(out)[...] = 0  # the caller writes into it
        assert np.array_equal(img, before), f"{where}: writing into the output changed the input"
