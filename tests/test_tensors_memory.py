"""Tensor single calls (issue 23): the CHW <-> HWC conversion in ``augment.compile.tensors`` (one ``cv2.merge`` in,
one ``cv2.split`` out) gives the numpy path's pixels for every memory layout, a contiguous result, and a result
that never shares memory with the input, even when no op touches the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import augment
from augment import ops

NEUTRAL = augment.Compose([ops.BrightnessContrast(brightness=(1, 1), contrast=(1, 1))], seed=0)
MOVING = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-15, 15), translate=(-0.1, 0.1)),
                          ops.BrightnessContrast(), ops.HSV()], seed=0)


def _layouts(x: torch.Tensor) -> dict:
    """The same CxHxW (or HxW) pixels in several memory layouts."""
    out = {"contiguous": x}
    if x.ndim == 3:
        out["channels_last"] = x.permute(1, 2, 0).contiguous().permute(2, 0, 1)
        wide = torch.zeros(x.shape[:2] + (2 * x.shape[2],), dtype=x.dtype)
        wide[..., ::2] = x
        out["strided"] = wide[..., ::2]
    return out


@settings(max_examples=25, deadline=None)
@given(c=st.sampled_from([0, 1, 3, 4]), h=st.integers(1, 12), w=st.integers(1, 12),
       as_float=st.booleans(), seed=st.integers(0, 2**31))
def test_every_layout_gives_the_numpy_pixels_contiguous_and_unshared(c, h, w, as_float, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 0 else (c, h, w)
    x = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
    hwc = x.numpy()[:, :, None] if c == 0 else x.permute(1, 2, 0).numpy()
    pipe = MOVING if c in (0, 1, 3) else NEUTRAL  # hsv and the rest need gray or RGB pixels
    want = pipe(np.ascontiguousarray(hwc), seed=seed)
    for name, t in _layouts(x.float() / 255 if as_float else x).items():
        before = t.clone()
        out = pipe(t, seed=seed)
        assert out.shape == t.shape and out.dtype == t.dtype and out.is_contiguous(), name
        got = (out * 255).round().to(torch.uint8) if as_float else out
        assert np.array_equal(got.numpy(), want.reshape(got.shape) if c == 0 else want.transpose(2, 0, 1)), name
        out.fill_(0)
        assert torch.equal(t, before), name


@pytest.mark.parametrize("shape", [(1, 8, 8), (8, 8), (3, 8, 8), (4, 8, 8)])
def test_untouched_pixels_come_back_in_new_memory(shape):
    # before: a 1-channel, HxW or channels-last tensor came back as a view of the input when no op changed a pixel
    for t in _layouts(torch.full(shape, 5, dtype=torch.uint8)).values():
        out = NEUTRAL(t, seed=0)
        assert torch.equal(out, t)
        out.fill_(9)
        assert int(t.max()) == 5


@pytest.mark.parametrize("c", [2, 3, 4])
@pytest.mark.parametrize("as_float", [False, True])
def test_large_images_take_the_merge_and_split_path_with_the_same_pixels(c, as_float):
    # from 16x16 (merge) and 64x64 (split) OpenCV converts; below, numpy does: both give the same bytes
    from augment.compile.tensors import _MERGE_FROM, _SPLIT_FROM, chw_into, hwc_copy

    side = int(np.ceil(np.sqrt(max(_MERGE_FROM, _SPLIT_FROM)))) + 3
    x = torch.from_numpy(np.random.default_rng(c).integers(0, 256, (c, side, side), dtype=np.uint8))
    for name, t in _layouts(x).items():
        arr = hwc_copy(t)
        assert arr.flags.c_contiguous and np.array_equal(arr, x.permute(1, 2, 0).numpy()), name
        assert not np.shares_memory(arr, t.numpy())
        img = arr.astype(np.float32) / 255 if as_float else arr
        dst = np.empty((c, side, side), dtype=img.dtype)
        chw_into(img, dst)
        assert np.array_equal(dst, img.transpose(2, 0, 1)), name
    if c == 3:
        out = MOVING(x, seed=1)
        assert out.is_contiguous() and np.array_equal(out.numpy(),
                                                      MOVING(x.permute(1, 2, 0).numpy(), seed=1).transpose(2, 0, 1))
