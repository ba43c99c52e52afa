"""augment.hf.Transform.set_epoch reaches DataLoader workers, persistent or not (issue 23)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import augment
from augment import ops
from augment.hf import INDEX_COLUMN, Transform, row_seed

N = 4


class _Rows(torch.utils.data.Dataset):
    def __init__(self, tf: Transform) -> None:
        self.tf = tf
        self.image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int):
        out = self.tf({INDEX_COLUMN: [i], "image": [self.image]})
        return torch.from_numpy(np.ascontiguousarray(out["image"][0]))


def _pipe():
    return augment.Compose([ops.GaussianNoise(sigma=(20, 40)), ops.Rotate(degrees=(-30, 30))], seed=5)


@pytest.mark.parametrize("persistent", [True, False])
def test_set_epoch_reaches_workers(persistent):
    pipe = _pipe()
    tf = Transform(pipe, "image")
    loader = torch.utils.data.DataLoader(_Rows(tf), batch_size=2, num_workers=2, persistent_workers=persistent)
    image = _Rows(tf).image
    seen = []
    for epoch in range(2):
        tf.set_epoch(epoch)
        got = torch.cat(list(loader))
        want = torch.stack([torch.from_numpy(pipe(image, seed=row_seed(5, i, epoch))) for i in range(N)])
        assert torch.equal(got, want), f"epoch {epoch}: the workers did not draw this epoch's values"
        seen.append(got)
    assert not torch.equal(seen[0], seen[1])


def test_plain_pickle_carries_the_number():
    tf = Transform(_pipe(), "image", epoch=3)
    copy = pickle.loads(pickle.dumps(tf))
    assert copy.epoch == 3
    copy.set_epoch(4)
    assert tf.epoch == 3  # a copy made outside a worker start shares nothing
