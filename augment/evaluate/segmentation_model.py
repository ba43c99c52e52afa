"""A small semantic segmentation network trained from scratch, mIoU, and the with/without comparison.

The network is a two-level encoder-decoder (stride 4 at the bottom, skip connections, a 1x1 class head at full
resolution) on images resized to ``image_size`` squared, trained with cross-entropy that skips the ignore index
(255). mIoU is the mean over classes present in the test ground truth or the predictions, ignore pixels excluded.
An item is ``(image, mask)``: an HxWxC uint8 array and an HxW uint8 class-index mask. ``synthetic_shapes`` builds
the small segmentation set used to measure a pipeline (filled discs, squares and triangles on noise).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

IGNORE = 255


class SegmentationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(64, ge=16, le=512)
    width: int = Field(16, ge=4, le=256)
    epochs: int = Field(30, ge=1, le=1000)
    batch_size: int = Field(16, ge=1, le=512)
    lr: float = Field(3e-3, gt=0, le=1)
    threads: int = Field(1, ge=1, le=256)


def synthetic_shapes(n: int, seed: int, size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` images with one to three shapes (class 1 disc, 2 square, 3 triangle) on noise, and their masks.

    Each shape gets a random bright colour, so the class is in the shape, not in the colour: a model has to
    learn geometry, which is what geometric augmentation can help with."""
    import cv2

    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        img = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            cls = int(rng.integers(1, 4))
            r = int(rng.integers(size // 10, size // 4))
            cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
            layer = np.zeros((size, size), np.uint8)
            if cls == 1:
                cv2.circle(layer, (cx, cy), r, 1, -1)
            elif cls == 2:
                cv2.rectangle(layer, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
            else:
                pts = np.array([[cx, cy - r], [cx + r, cy + r], [cx - r, cy + r]], np.int32)
                cv2.fillPoly(layer, [pts], 1)
            on = layer > 0
            img[on] = rng.integers(110, 256, 3, dtype=np.uint8)
            mask[on] = cls
        items.append((img, mask))
    return items


def _net(n_classes: int, width: int):
    import torch
    import torch.nn as nn

    def conv(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.e1, self.e2, self.e3 = conv(3, w), conv(w, 2 * w), conv(2 * w, 4 * w)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.d2, self.d1 = conv(4 * w + 2 * w, 2 * w), conv(2 * w + w, w)
            self.head = nn.Conv2d(w, n_classes, 1)

        def forward(self, x):
            f1 = self.e1(x)
            f2 = self.e2(self.pool(f1))
            f3 = self.e3(self.pool(f2))
            d2 = self.d2(torch.cat([f2, self.up(f3)], 1))
            d1 = self.d1(torch.cat([f1, self.up(d2)], 1))
            return self.head(d1)

    return Net()


def _prepare(items, size: int):
    import cv2

    xs, ys = [], []
    for image, mask in items:
        img = image if image.ndim == 3 else image[:, :, None]
        img = np.repeat(img[:, :, :1], 3, axis=2) if img.shape[2] == 1 else img[:, :, :3]
        xs.append(cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1))
        if mask is not None:
            ys.append(cv2.resize(np.ascontiguousarray(mask), (size, size), interpolation=cv2.INTER_NEAREST_EXACT))
    return np.stack(xs).astype(np.float32) / 127.5 - 1, (np.stack(ys) if ys else None)


def train_and_score(train: Sequence[tuple], test: Sequence[tuple], *, seed: int, n_classes: int | None = None,
                    options: SegmentationOptions | None = None) -> dict:
    """Train on ``train`` items, return ``{"miou": ..., "pixel_accuracy": ...}`` on ``test``."""
    import cv2
    import torch

    from augment.evaluate.training import deterministic

    o = options or SegmentationOptions()
    if n_classes is None:
        n_classes = int(max(int(m[m != IGNORE].max(initial=0)) for _, m in list(train) + list(test))) + 1
    x, y = _prepare(train, o.image_size)
    x, y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    with deterministic(seed, o.threads):
        net = _net(n_classes, o.width)
        opt = torch.optim.AdamW(net.parameters(), lr=o.lr)
        steps = o.epochs * max(1, -(-len(x) // o.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=o.lr, total_steps=steps)
        g = torch.Generator().manual_seed(seed)
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
        net.train()
        for _ in range(o.epochs):
            order = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), o.batch_size):
                idx = order[i : i + o.batch_size]
                loss = loss_fn(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        tx, _ = _prepare([(im, None) for im, _ in test], o.image_size)
        with torch.no_grad():
            pred = net(torch.from_numpy(tx)).argmax(1).numpy().astype(np.uint8)
    preds = [cv2.resize(p, (m.shape[1], m.shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
             for p, (_, m) in zip(pred, test)]
    return mean_iou([m for _, m in test], preds, n_classes)


def mean_iou(truth: Sequence[np.ndarray], preds: Sequence[np.ndarray], n_classes: int) -> dict:
    inter = np.zeros(n_classes)
    union = np.zeros(n_classes)
    correct = total = 0
    for t, p in zip(truth, preds):
        valid = t != IGNORE
        tv, pv = t[valid].astype(np.int64), p[valid].astype(np.int64)
        correct += int((tv == pv).sum())
        total += int(valid.sum())
        for c in range(n_classes):
            a, b = tv == c, pv == c
            inter[c] += (a & b).sum()
            union[c] += (a | b).sum()
    present = union > 0
    return {"miou": float((inter[present] / union[present]).mean()) if present.any() else 0.0,
            "pixel_accuracy": correct / total if total else 0.0}


def augment_items(pipe, items: Sequence[tuple], copies: int, seed: int) -> list[tuple]:
    """``copies`` augmented copies per item: the mask moves with the image (nearest, ignore index outside)."""
    from augment.compile.targets import Targets
    from augment.seeding import derive_seed

    out = []
    for i, (image, mask) in enumerate(items):
        t = Targets(boxes=np.zeros((0, 4)), labels=(), semantic=mask, ignore_index=IGNORE)
        for k in range(copies):
            img, moved, _, _ = pipe.run_targets(image, t, seed=derive_seed(seed, f"item-{i}", k))
            out.append((img, moved.semantic))
    return out


def compare_segmentation(pipe, train, test, *, copies: int = 2, repeats: int = 3, seed: int = 0,
                         options: SegmentationOptions | None = None, jobs: int | None = None,
                         time_budget: float | None = None, journal=None, resume: bool = False) -> dict:
    """Baseline vs baseline + augmented copies, paired by seed; mIoU and pixel accuracy with a verdict each,
    through the loop of every evaluation (see ``compare_detection`` and :mod:`.items_compare`)."""
    from .items_compare import compare_items

    n_classes = int(max(int(m[m != IGNORE].max(initial=0)) for _, m in list(train) + list(test))) + 1

    def score(items, test_items, *, seed: int) -> dict:
        return train_and_score(items, test_items, seed=seed, n_classes=n_classes, options=options)

    return compare_items("segmentation", pipe, train, test, copies=copies, repeats=repeats, seed=seed,
                         metrics=("miou", "pixel_accuracy"), train_and_score=score, augment_items=augment_items,
                         jobs=jobs, time_budget=time_budget, journal=journal, resume=resume)


__all__ = [
    "IGNORE",
    "SegmentationOptions",
    "synthetic_shapes",
    "train_and_score",
    "mean_iou",
    "augment_items",
    "compare_segmentation",
]
