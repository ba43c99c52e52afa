"""``fast-conv``: softmax regression over fixed random convolution features -- the cheap image model.

A single-layer feature net in the style of Coates & Ng (2011): images at 32 x 32 RGB, 5 x 5 patches normalised
by brightness and contrast, ``filters`` random unit filters (drawn once from ``filter_seed``: part of the model,
like a frozen backbone), ReLU, average-pooled over a 4 x 4 grid, each feature standardised on the arm's training
set, then softmax regression by minibatch SGD (batch 32, ``epochs`` passes over the protocol's epoch size,
learning rate decayed linearly to zero, initial weights from the run's model seed). Numpy only, one thread.

Why it exists: a linear model on raw pixels cannot use what flips and crops teach (a shifted or mirrored object
is a different vector), but local features pooled over regions can -- it is the smallest model for which shifts
and mirror images are the same kind of evidence, as they are for the CNN. Calibrated in
``benchmarks/bench_calibration.py`` (benchmarks/results.md): on cifar10_small, flip + crop "helps" in 19 of 20
trials, identity and +-1 grey-level noise alarm in 1 of 100 and 0 of 100. A fit takes a fraction of a second
to a few seconds where the CNN takes tens of seconds on a CPU core, so many more runs fit a time budget.
Features are cached by image content: the test set and the originals are computed once per process.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import ModelOutput, TrainSet
from .image_model import as_rgb_uint8

__all__ = ["FastConvOptions", "FastConvModel"]

SIDE = 32  # input side; 5x5 valid patches give 28x28 responses, pooled 4x4 over 7x7 cells


class FastConvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(60, ge=1, le=1000)
    lr: float = Field(0.05, gt=0)
    l2: float = Field(1e-4, ge=0)
    filters: int = Field(64, ge=4, le=1024)
    filter_seed: int = Field(123, ge=0)


class FastConvModel:
    name = "fast-conv"
    needs_validation = False

    def __init__(self, options: FastConvOptions | None = None) -> None:
        self.options = options or FastConvOptions()
        rng = np.random.default_rng(self.options.filter_seed)
        filt = rng.standard_normal((75, self.options.filters)).astype(np.float32)
        self.filters = filt / np.linalg.norm(filt, axis=0)
        self._cache: dict[bytes, np.ndarray] = {}

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {"name": self.name, "kind": "softmax regression over fixed random conv features (numpy, 1 thread)",
                "options": o.model_dump(), "image_size": SIDE,
                "image_size_rule": "every image resized to 32x32 (bicubic)",
                "features": f"{o.filters} random 5x5 RGB filters (seed {o.filter_seed}), ReLU, 4x4 average pooling",
                "cost": f"{o.epochs} epochs of SGD over {16 * o.filters} features per image",
                "regularisation": {"budget": f"{o.epochs} epochs, lr {o.lr:g} decayed linearly to 0, L2 {o.l2:g}"}}

    def _conv(self, arrays: list[np.ndarray]) -> np.ndarray:
        from numpy.lib.stride_tricks import sliding_window_view

        x = np.stack(arrays).astype(np.float32) / 255.0
        patches = sliding_window_view(x, (5, 5), axis=(1, 2)).reshape(len(arrays), SIDE - 4, SIDE - 4, -1)
        patches = patches - patches.mean(-1, keepdims=True)
        patches = patches / (patches.std(-1, keepdims=True) + 0.1)
        r = np.maximum(patches @ self.filters, 0)
        f = self.filters.shape[1]
        return r.reshape(len(arrays), 4, 7, 4, 7, f).mean((2, 4)).reshape(len(arrays), -1)

    def features(self, items: Sequence[Any]) -> np.ndarray:
        from PIL import Image

        keys, todo = [], {}
        for x in items:
            a = as_rgb_uint8(x)[:, :, :3]
            if a.shape[:2] != (SIDE, SIDE):
                # PIL's default filter (bicubic), as in the calibration runs
                a = np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize((SIDE, SIDE)))
            key = hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()
            keys.append(key)
            if key not in self._cache and key not in todo:
                todo[key] = a
        pending = list(todo.items())
        for start in range(0, len(pending), 256):
            chunk = pending[start:start + 256]
            for (key, _), f in zip(chunk, self._conv([a for _, a in chunk])):
                self._cache[key] = f
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 16 * self.options.filters),
                                                                              np.float32)

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        o = self.options
        rng = np.random.default_rng(seed)
        raw = self.features(train.items)
        mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-3
        x = ((raw - mean) / std).astype(np.float32)
        y = np.asarray(train.labels)
        k = len(train.classes)
        w = (0.01 * rng.standard_normal((x.shape[1], k))).astype(np.float32)
        b = np.zeros(k, dtype=np.float32)
        n = x.shape[0]
        per_epoch = math.ceil(int(train.epoch_size or n) / 32)
        steps = o.epochs * per_epoch
        order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(steps * 32 / n) + 1)])
        for step in range(steps):
            idx = order[step * 32:(step + 1) * 32]
            xb = x[idx]
            logits = xb @ w + b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0
            lr = o.lr * (1 - step / steps)
            w -= lr * (xb.T @ p / len(idx) + o.l2 * w)
            b -= lr * p.mean(axis=0)
        xt = ((self.features(test_items) - mean) / std).astype(np.float32)
        train_acc = float(((x @ w + b).argmax(axis=1)[: int(train.base_size or n)]
                           == y[: int(train.base_size or n)]).mean()) if n else math.nan
        preds = (xt @ w + b).argmax(axis=1)
        return ModelOutput(predictions=preds.astype(np.int64),
                           info={"steps": steps, "epochs_run": o.epochs, "train_accuracy": train_acc})
