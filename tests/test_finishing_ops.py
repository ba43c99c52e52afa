"""pad and to_dtype, the finishing ops of a training transform: exact pixels on both backends, records, tensor
types and batches, and the one-line refusal of float output where images are written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import augment
from augment import ops

from serve_support import REPO

BACKENDS = ["albumentations", "torchvision"]
NUMPY_MODE = {"constant": "constant", "edge": "edge", "replicate": "edge", "reflect": "reflect"}


def _image(h=10, w=12, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("border", ["constant", "edge", "replicate", "reflect"])
@pytest.mark.parametrize("padding, sides", [(3, (3, 3, 3, 3)), ([2, 5], (2, 5, 2, 5)), ([1, 2, 3, 4], (1, 2, 3, 4)),
                                            ([0, 15, 0, 0], (0, 15, 0, 0))])
def test_pad_is_numpy_pad_with_torchvisions_side_order(backend, border, padding, sides):
    img = _image()
    left, top, right, bottom = sides
    pipe = augment.Compose([ops.Pad(padding=padding, border=border, fill=9)], backend=backend)
    res = pipe.run(img, seed=0)
    kwargs = {"constant_values": 9} if border == "constant" else {}
    # numpy's reflect is OpenCV's reflect-101 (the edge pixel not repeated), torchvision's "reflect" too
    expected = np.pad(img, ((top, bottom), (left, right), (0, 0)), mode=NUMPY_MODE[border], **kwargs)
    assert np.array_equal(res.output, expected)
    assert res.applied[0]["params"] == {"top": top, "bottom": bottom, "left": left, "right": right}
    assert np.array_equal(pipe.replay(img, res), res.output)


def test_pad_moves_boxes_and_keypoints_by_its_left_and_top():
    pipe = augment.Compose([ops.Pad(padding=[4, 6, 1, 2])])
    out = pipe(_image(), seed=0, boxes=np.array([[1.0, 2.0, 5.0, 7.0]]), labels=["a"],
               keypoints=np.array([[[3.0, 4.0]]]))
    assert out["image"].shape == (18, 17, 3)
    assert np.allclose(out["boxes"], [[5.0, 8.0, 9.0, 13.0]]) and np.allclose(out["keypoints"], [[[7.0, 10.0]]])


@pytest.mark.parametrize("step", [{"op": "pad", "params": {"padding": [1, 2, 3]}},
                                  {"op": "pad", "params": {"padding": -1}},
                                  {"op": "pad", "params": {"padding": 2, "border": "wrap"}},
                                  {"op": "to_dtype", "params": {"dtype": "float16"}}])
def test_bad_params_name_their_key(step):
    with pytest.raises(ValueError) as err:
        augment.parse_spec({"modality": "image", "steps": [step]})
    assert "steps[0].params" in str(err.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_to_dtype_on_numpy_and_tensors(backend):
    img = _image()
    to_float = augment.Compose([ops.ToDtype()], backend=backend)
    out = to_float(img)
    assert out.dtype == np.float32 and np.array_equal(out, img.astype(np.float32) / np.float32(255.0))
    unscaled = augment.Compose([ops.ToDtype(scale=False)], backend=backend)(img)
    assert np.array_equal(unscaled, img.astype(np.float32))
    same = augment.Compose([ops.ToDtype(dtype="uint8")], backend=backend).run(img, seed=0)  # identity, recorded
    assert np.array_equal(same.output, img) and same.applied[0]["params"] == {"dtype": "uint8"}
    t = torch.from_numpy(img).permute(2, 0, 1)
    as_float = to_float(t)
    assert as_float.dtype == torch.float32 and torch.equal(as_float, t.float() / 255.0)
    assert torch.equal(to_float(t.float() / 255.0), t.float() / 255.0)  # not divided twice
    back = augment.Compose([ops.ToDtype(dtype="uint8")], backend=backend)(t.float() / 255.0)
    assert back.dtype == torch.uint8 and torch.equal(back, t)  # a float caller asked for uint8
    # a complete training transform: flip, pad, to float, normalise in [0, 1] units
    train = augment.Compose([ops.HorizontalFlip(), ops.Pad(padding=2), ops.ToDtype(),
                             ops.Normalize(mean=[0.5], std=[0.25], max_pixel_value=1.0)], backend=backend)
    res = train.run(t, seed=3)
    flipped = np.pad(img[:, ::-1] if res.applied[0]["op"] == "horizontal_flip" else img, ((2, 2), (2, 2), (0, 0)))
    expected = (flipped.astype(np.float32) / 255.0 - 0.5) / 0.25
    assert res.output.dtype == torch.float32 and res.output.shape == (3, 14, 16)
    np.testing.assert_allclose(res.output.permute(1, 2, 0).numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"steps\[1\]: horizontal_flip may run after steps\[0\] \(to_dtype float32\)"):
        augment.Compose([ops.ToDtype(), ops.HorizontalFlip()], backend=backend)  # refused when built


@pytest.mark.parametrize("kernels", ["batched", "per_sample"])
def test_pad_and_to_dtype_in_batches_equal_single_calls(kernels):
    pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Pad(padding=[1, 2, 3, 4], border="reflect"),
                            ops.ToDtype()], seed=1)
    x = torch.randint(0, 256, (4, 3, 10, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    seeds = [5, 6, 7, 8]
    res = pipe.run_batch(x, seeds, kernels=kernels)
    assert res.output.dtype == torch.float32 and res.output.shape == (4, 3, 16, 16)
    for i, s in enumerate(seeds):
        single = pipe.run(x[i], seed=s)
        assert res.applied[i] == single.applied and torch.equal(res.output[i], single.output)
    as_uint8 = augment.Compose([ops.Pad(padding=2), ops.ToDtype(dtype="uint8")]).batch(x.float() / 255.0,
                                                                                        kernels=kernels)
    assert as_uint8.dtype == torch.uint8 and torch.equal(as_uint8[:, :, 2:-2, 2:-2], x)


def test_augment_run_refuses_to_dtype_float32_in_one_line(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: f\nmodality: image\nsteps:\n  - op: to_dtype\n")
    src = tmp_path / "in" / "a"
    src.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(_image()).save(src / "x.png")
    out = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(tmp_path / "in"),
                          str(tmp_path / "out"), "-q"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "to_dtype gives float32" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_pad_fill_fills_every_channel_on_both_backends(channels):
    """OpenCV read a scalar fill as (fill, 0, 0, 0): pad_if_needed's fill reached the first channel only."""
    img = _image(c=channels)
    for op in (ops.Pad(padding=2, fill=77), ops.PadIfNeeded(min_height=14, min_width=16, fill=77)):
        outs = [augment.Compose([op], backend=b)(img, seed=0) for b in BACKENDS]
        assert np.array_equal(outs[0], outs[1])
        assert (outs[0][0] == 77).all() and (outs[0][:, 0] == 77).all()
