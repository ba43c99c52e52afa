"""Library transforms by name in tensor batches: each runs per sample (listed in ``fallback``), drawing from its
own sample's pixels at that step, so every sample equals its single call and replays from its record."""

from __future__ import annotations

import json

import pytest
import torch

import augment

N = 4
STEPS = [
    {"op": "horizontal_flip", "p": 0.5},
    {"op": "albumentations.CLAHE", "p": 0.7, "params": {"clip_limit": [1, 4]}},
    {"op": "torchvision.RandomRotation", "params": {"degrees": 20}},
    {"op": "albumentations.RandomBrightnessContrast", "p": 0.6},
    {"op": "torchvision.ColorJitter", "params": {"brightness": 0.3, "hue": 0.1}},
]


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (N, 3, 24, 32), dtype=torch.uint8, generator=g)
    x[:, :, 6:14, 8:20] = 220
    return x


@pytest.mark.parametrize("kernels", ["batched", "per_sample"])
def test_library_transforms_run_per_sample_in_batches_as_single_calls(kernels):
    pipe = augment.Pipeline(augment.parse_spec({"name": "t", "modality": "image", "seed": 2, "steps": STEPS}))
    x = _batch()
    seeds = [7, 8, 9, 10]
    res = pipe.run_batch(x, seeds, kernels=kernels)
    assert {"albumentations.CLAHE", "torchvision.RandomRotation", "torchvision.ColorJitter"} <= set(res.fallback)
    for i, s in enumerate(seeds):
        single = pipe.run(x[i], seed=s)
        assert res.applied[i] == single.applied
        assert torch.equal(res.output[i], single.output)
    assert torch.equal(pipe.replay_batch(x, res, kernels=kernels), res.output)
    recorded = json.loads(json.dumps(res.applied))  # a manifest's records, read back
    assert torch.equal(pipe.replay_batch(x, recorded, kernels=kernels), res.output)
    as_float = pipe.batch(x.float() / 255.0, seeds=seeds, kernels=kernels)
    assert torch.equal((as_float * 255).round().to(torch.uint8), res.output)
