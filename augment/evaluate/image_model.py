"""A small CNN for small images, deterministic for a fixed seed.

Every image (any size, grayscale/RGB/RGBA) is converted to RGB and resized to ``image_size`` x ``image_size``
(bilinear with antialiasing, aspect ratio not kept), scaled to [-1, 1]. Architecture (fixed)::

    [conv3x3 32 - BN - ReLU - conv3x3 32 - BN - ReLU - maxpool2]
    [conv3x3 64 - BN - ReLU - maxpool2]
    [conv3x3 128 - BN - ReLU] - global average pool - dropout - linear

Global average pooling makes the head independent of the input size. Regularisation: dropout before the
classifier, decoupled weight decay (AdamW), early stopping on the validation slice.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pydantic import Field

from .models import ModelOutput, TrainSet
from .training import TrainOptions, deterministic, predict, regularisation_summary, train_classifier

__all__ = ["CNNOptions", "preprocess_images", "build_cnn", "SmallCNNModel"]


class CNNOptions(TrainOptions):
    image_size: int = Field(32, ge=8, le=256)
    width: int = Field(32, ge=4, le=256)  # channels of the first block; later blocks use 2x and 4x


def preprocess_images(items: Sequence[Any], size: int) -> np.ndarray:
    """``N x 3 x size x size`` float32 in [-1, 1] from HxW, HxWx1, HxWx3 or HxWx4 uint8 arrays."""
    from PIL import Image

    out = np.empty((len(items), 3, size, size), dtype=np.float32)
    for i, x in enumerate(items):
        a = np.asarray(x)
        if a.dtype != np.uint8:
            a = np.clip(a, 0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=2)
        elif a.shape[2] == 4:
            a = a[:, :, :3]
        elif a.shape[2] != 3:
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
    needs_validation = True

    def __init__(self, options: CNNOptions | None = None, threads: int = 1) -> None:
        self.options = options or CNNOptions()
        self.threads = threads

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {
            "name": self.name,
            "kind": "small CNN (3 conv stages, global average pooling)",
            "input": f"RGB resized to {o.image_size}x{o.image_size} (bilinear, antialiased), scaled to [-1, 1]",
            "options": o.model_dump(),
            "optimizer": f"AdamW lr={o.lr}",
            "regularisation": regularisation_summary(o),
            "deterministic": {"torch.use_deterministic_algorithms": True, "threads": self.threads},
        }

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        import torch

        o = self.options
        x_train = torch.from_numpy(preprocess_images(train.items, o.image_size))
        x_val = torch.from_numpy(preprocess_images(train.val_items, o.image_size)) if len(train.val_items) else None
        x_test = torch.from_numpy(preprocess_images(test_items, o.image_size))
        with deterministic(seed, self.threads):
            net = build_cnn(len(train.classes), o.width, o.dropout)
            info = train_classifier(
                net, len(train.items), lambda idx: (x_train[torch.as_tensor(idx)],), train.labels,
                (x_val,) if x_val is not None else None, train.val_labels, o, seed, train.epoch_size, train.base_size,
            )
            preds = predict(net, len(test_items), lambda idx: (x_test[torch.as_tensor(idx)],))
        return ModelOutput(predictions=preds, info=info)
