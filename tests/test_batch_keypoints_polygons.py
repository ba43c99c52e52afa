"""Keypoints and polygons per sample in ``pipe.batch``: a list per sample or a padded tensor with counts (as boxes
are); every sample's annotations equal its single annotated call, with objects dropped by the same rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import augment
from augment import ops

N = 4


def _batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (N, 3, 24, 32), dtype=torch.uint8, generator=g)
    return x


def _pipe():
    return augment.Compose([ops.HorizontalFlip(p=0.5), ops.Rotate(degrees=(-25, 25)),
                            ops.RandomResizedCrop(size=(20, 20), scale=(0.15, 0.3))], seed=5)  # small crops: objects drop


def _objects(rng, m):
    boxes, kps, polys = [], [], []
    for _ in range(m):
        x0, y0 = rng.uniform(0, 20), rng.uniform(0, 14)
        w, h = rng.uniform(3, 12), rng.uniform(3, 10)
        boxes.append([x0, y0, x0 + w, y0 + h])
        kps.append([[x0 + w / 2, y0 + h / 2, 2.0], [x0 + 1, y0 + 1, 1.0]])
        polys.append([np.array([[x0, y0], [x0 + w, y0], [x0 + w / 2, y0 + h]])])
    return (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            torch.tensor(kps, dtype=torch.float32).reshape(-1, 2, 3), polys)


@pytest.mark.parametrize("kernels", ["batched", "per_sample"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoints_and_polygons_per_sample_equal_single_calls(kernels, seed):
    rng = np.random.default_rng(seed)
    counts = [int(c) for c in rng.integers(0, 4, N)]
    per = [_objects(rng, m) for m in counts]
    boxes, kps, polys = [p[0] for p in per], [p[1] for p in per], [p[2] for p in per]
    labels = [torch.arange(len(b)) + 10 * i for i, b in enumerate(boxes)]
    x, seeds, pipe = _batch(), [21, 22, 23, 24], _pipe()
    out = pipe.batch(x, seeds=seeds, boxes=boxes, labels=labels, keypoints=kps, polygons=polys, kernels=kernels)
    # padded: N x M x K x 3 keypoints and N x M x 4 boxes with one count of objects per sample
    m = max(max(counts), 1)
    pad_b, pad_k = torch.zeros(N, m, 4), torch.zeros(N, m, 2, 3)
    pad_l = torch.zeros(N, m, dtype=torch.long)
    for i in range(N):
        pad_b[i, : counts[i]], pad_k[i, : counts[i]], pad_l[i, : counts[i]] = boxes[i], kps[i], labels[i]
    padded = pipe.batch(x, seeds=seeds, boxes=pad_b, keypoints=pad_k, labels=pad_l,
                        box_counts=torch.tensor(counts), kernels=kernels)
    only_kp = pipe.batch(x, seeds=seeds, keypoints=kps, kernels=kernels)
    for i in range(N):
        single = pipe(x[i], seed=seeds[i], boxes=boxes[i], labels=labels[i], keypoints=kps[i], polygons=polys[i])
        assert torch.allclose(out["boxes"][i], single["boxes"], atol=1e-4)
        assert torch.equal(out["labels"][i], single["labels"])
        assert torch.allclose(out["keypoints"][i], single["keypoints"], atol=1e-4)
        assert len(out["polygons"][i]) == len(single["polygons"])
        for a, b in zip(out["polygons"][i], single["polygons"]):
            assert all(np.allclose(pa, pb, atol=1e-6) for pa, pb in zip(a, b))
        # without polygons a box follows its corners, not its polygon: the single call to compare has none either
        no_poly = pipe(x[i], seed=seeds[i], boxes=boxes[i], labels=labels[i], keypoints=kps[i])
        k = int(padded["box_counts"][i])
        assert k == len(no_poly["boxes"])
        assert torch.allclose(padded["boxes"][i, :k], no_poly["boxes"], atol=1e-4)
        assert torch.allclose(padded["keypoints"][i, :k], no_poly["keypoints"], atol=1e-4)
        assert not padded["keypoints"][i, k:].any()
        assert torch.equal(padded["labels"][i, :k], no_poly["labels"])
        alone = pipe(x[i], seed=seeds[i], keypoints=kps[i])
        assert torch.allclose(only_kp["keypoints"][i], alone["keypoints"], atol=1e-4)


def test_batch_keypoints_errors_are_one_line():
    x, pipe = _batch(), _pipe()
    with pytest.raises(ValueError, match="need box_counts"):
        pipe.batch(x, keypoints=torch.zeros(N, 2, 1, 2))
    with pytest.raises(ValueError, match="4 images but keypoints for 2"):
        pipe.batch(x, keypoints=[torch.zeros(0, 1, 2)] * 2)
