"""A small CNN for small images, deterministic for a fixed seed.

Every image (any size, grayscale/RGB/RGBA) is converted to RGB and resized to ``image_size`` x ``image_size``
(bilinear with antialiasing, aspect ratio not kept), scaled to [-1, 1]. ``image_size`` is picked from the
training pool unless given (``--model-option image_size=N``): the median of the images' longer sides when that
is at most 64 px (small images are used at their native size), 64 px up to a median of 128 px, 96 px for larger
photos. The report's header states the size used. Architecture (fixed)::

    [conv3x3 32 - BN - ReLU - conv3x3 32 - BN - ReLU - maxpool2]
    [conv3x3 64 - BN - ReLU - maxpool2]
    [conv3x3 128 - BN - ReLU] - global average pool - dropout - linear

Global average pooling makes the head independent of the input size. Regularisation: dropout before the
classifier, decoupled weight decay (AdamW); a fixed budget with a cosine learning rate (early stopping optional).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from pydantic import Field

from .base import ModelOutput, TrainSet
from .training import TrainOptions, accuracy_of, deterministic, predict, regularisation_summary, train_classifier

__all__ = ["CNNOptions", "preprocess_images", "build_cnn", "SmallCNNModel"]


class CNNOptions(TrainOptions):
    image_size: int | None = Field(None, ge=8, le=256)  # None: picked from the data (see the module docstring)
    width: int = Field(32, ge=4, le=256)  # channels of the first block; later blocks use 2x and 4x


def pick_image_size(items: Sequence[Any]) -> int:
    """The input size rule of the module docstring, from the training pool's images."""
    if not len(items):
        return 32
    side = float(np.median([max(np.asarray(x).shape[:2]) for x in items]))
    if side <= 64:
        return max(8, int(math.ceil(side / 4)) * 4)  # a multiple of 4 (two 2x poolings), never smaller
    return 64 if side <= 128 else 96


def as_rgb_uint8(x: Any) -> np.ndarray:
    """An HxW, HxWx1, HxWx3 or HxWx4 image as HxWx3 uint8 (grey repeated, alpha dropped); other channel counts
    are returned as they are, for the caller to refuse or cut."""
    a = np.asarray(x)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return np.stack([a] * 3, axis=2)
    return a[:, :, :3] if a.shape[2] == 4 else a


def preprocess_images(items: Sequence[Any], size: int) -> np.ndarray:
    """``N x 3 x size x size`` float32 in [-1, 1] from HxW, HxWx1, HxWx3 or HxWx4 uint8 arrays."""
    from PIL import Image

    out = np.empty((len(items), 3, size, size), dtype=np.float32)
    for i, x in enumerate(items):
        a = as_rgb_uint8(x)
        if a.shape[2] != 3:
            raise ValueError(f"image {i}: unsupported shape {a.shape}")
        if a.shape[0] != size or a.shape[1] != size:
            a = np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize((size, size), Image.BILINEAR))
        out[i] = a.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return out


def build_cnn(n_classes: int, width: int = 32, dropout: float = 0.3):
    import torch.nn as nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    return nn.Sequential(
        *block(3, w), *block(w, w), nn.MaxPool2d(2),
        *block(w, 2 * w), nn.MaxPool2d(2),
        *block(2 * w, 4 * w),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * w, n_classes),
    )


class SmallCNNModel:
    name = "cnn"

    def __init__(self, options: CNNOptions | None = None, threads: int = 1, device: str = "cpu") -> None:
        self.options = options or CNNOptions()
        self.threads = threads
        self.device = device
        self.image_size = self.options.image_size
        self.size_rule = "given (image_size option)" if self.image_size else "not yet picked"

    @property
    def needs_validation(self) -> bool:
        return self.options.early_stopping

    def adapt(self, pool_items: Sequence[Any]) -> None:
        """Pick the input size from the training pool (both arms and every run then share it)."""
        if self.options.image_size is None:
            self.image_size = pick_image_size(pool_items)
            side = float(np.median([max(np.asarray(x).shape[:2]) for x in pool_items])) if len(pool_items) else 0
            self.size_rule = (f"picked from the data: median longer side {side:.0f} px -> "
                              f"{'native size' if side <= 64 else f'{self.image_size} px'}")

    def describe(self) -> dict[str, Any]:
        o = self.options
        size = self.image_size or 32
        return {
            "name": self.name,
            "kind": "small CNN (3 conv stages, global average pooling)",
            "input": f"RGB resized to {size}x{size} (bilinear, antialiased), scaled to [-1, 1]",
            "image_size": size,
            "image_size_rule": self.size_rule,
            "options": o.model_dump(),
            "optimizer": f"AdamW lr={o.lr}",
            "regularisation": regularisation_summary(o),
            "deterministic": {"torch.use_deterministic_algorithms": True, "threads": self.threads,
                              **({"cudnn.benchmark": False, "cudnn.deterministic": True,
                                  "CUBLAS_WORKSPACE_CONFIG": ":4096:8"} if self.device.startswith("cuda") else {})},
            "device": self.device,
            "cost": f"width {o.width} (stages {o.width}/{2 * o.width}/{4 * o.width} channels), {size}x{size} px "
                    f"input, {o.max_epochs} epochs (scaled up to at least {o.min_steps} optimiser steps on small "
                    "sets)",
        }

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        import torch

        o = self.options
        size = self.image_size or pick_image_size([x for x, c in zip(train.items, _copy_mask(train)) if not c])
        from .device import prepare_device

        prepare_device(self.device)
        dev = torch.device(self.device)  # every tensor moves to the device once per fit
        x_train = torch.from_numpy(preprocess_images(train.items, size)).to(dev)
        x_val = torch.from_numpy(preprocess_images(train.val_items, size)).to(dev) if len(train.val_items) else None
        x_test = torch.from_numpy(preprocess_images(test_items, size)).to(dev)
        test_batch = lambda idx: (x_test[torch.as_tensor(idx)],)  # noqa: E731
        curve = None
        if test_labels is not None:
            curve = lambda: accuracy_of(net, len(test_items), test_batch, test_labels)  # noqa: E731
        with deterministic(seed, self.threads):
            net = build_cnn(len(train.classes), o.width, o.dropout).to(dev)
            train_batch = lambda idx: (x_train[torch.as_tensor(idx)],)  # noqa: E731
            info = train_classifier(
                net, len(train.items), train_batch, train.labels,
                (x_val,) if x_val is not None else None, train.val_labels, o, seed, train.epoch_size, train.base_size,
                held_out_accuracy=curve,
            )
            preds = predict(net, len(test_items), test_batch)
            originals = np.flatnonzero(~_copy_mask(train))
            info["train_accuracy"] = accuracy_of(net, len(originals), lambda idx: train_batch(originals[idx]),
                                                 train.labels[originals])
        info["image_size"] = size
        return ModelOutput(predictions=preds, info=info)


def _copy_mask(train: TrainSet) -> np.ndarray:
    if train.is_copy is None:
        return np.zeros(len(train.items), dtype=bool)
    return np.asarray(train.is_copy, dtype=bool)
