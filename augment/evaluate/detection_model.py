"""A small object detector trained from scratch, and the with/without-augmentation comparison for detection.

The detector is a CenterNet-style network (Zhou et al., 2019, "Objects as Points") cut down to train on two CPU
cores in minutes: images resized to ``image_size`` squared, four stride-2 conv blocks (stride 4 overall...
see ``_Net``), and three 1x1 heads on the stride-4 grid: a per-class centre heatmap (focal loss), the box size
and the centre's sub-cell offset (L1 at the centres). Boxes are decoded from the heatmap's local maxima.
mAP@0.5 and mAP@[.5:.95] come from pycocotools' COCOeval.

An item is ``(image, boxes, labels)``: an HxWxC uint8 array, (N, 4) x_min, y_min, x_max, y_max pixels and N
class names. ``compare_detection`` trains on the items with and without ``copies`` augmented copies per item
(the pipeline moves the boxes), with the same seeds and epochs, ``repeats`` times, and returns per-arm metrics,
the paired differences and a verdict from ``augment.evaluate.verdict`` (the rule of ``augment eval``), through
the loop of every evaluation (parallel fits, time budget, journal and resume: :mod:`.items_compare`).
"""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Item = tuple  # (image HxWxC uint8, boxes (N, 4) float, labels list[str])


class DetectionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(128, ge=32, le=512, description="images are resized to this square")
    width: int = Field(24, ge=4, le=256, description="channels of the first block")
    epochs: int = Field(40, ge=1, le=1000)
    batch_size: int = Field(16, ge=1, le=512)
    lr: float = Field(3e-3, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0, le=1)
    max_detections: int = Field(20, ge=1, le=1000)
    threads: int = Field(1, ge=1, le=256)


def _resize_item(image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = image.shape[:2]
    img = image if image.ndim == 3 else image[:, :, None]
    img = np.repeat(img[:, :, :1], 3, axis=2) if img.shape[2] == 1 else img[:, :, :3]
    out = cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA)
    scaled = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * [size / w, size / h, size / w, size / h]
    return out, scaled


def _net(n_classes: int, width: int):
    import torch.nn as nn

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                             nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.b1, self.b2, self.b3, self.b4 = block(3, w, 2), block(w, 2 * w, 2), block(2 * w, 4 * w, 2), block(4 * w, 4 * w, 2)
            self.up3 = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 1), nn.Upsample(scale_factor=2, mode="nearest"))
            self.up2 = nn.Sequential(nn.Conv2d(4 * w + 2 * w, 2 * w, 3, 1, 1), nn.ReLU(inplace=True),
                                     nn.Upsample(scale_factor=2, mode="nearest"))
            self.fuse = nn.Sequential(nn.Conv2d(2 * w + 2 * w, 2 * w, 3, 1, 1), nn.ReLU(inplace=True))
            self.heat = nn.Conv2d(2 * w, n_classes, 1)
            self.size = nn.Conv2d(2 * w, 2, 1)
            self.offset = nn.Conv2d(2 * w, 2, 1)
            self.heat.bias.data.fill_(-2.19)  # prior 0.1, as CenterNet

        def forward(self, x):
            import torch

            f1 = self.b1(x)
            f2 = self.b2(f1)  # stride 4
            f3 = self.b3(f2)  # stride 8
            f4 = self.b4(f3)  # stride 16
            u3 = self.up3(f4)
            u2 = self.up2(torch.cat([f3, u3], 1))
            f = self.fuse(torch.cat([f2, u2], 1))
            return self.heat(f), self.size(f), self.offset(f)

    return Net()


def _targets(boxes: np.ndarray, labels: Sequence[int], n_classes: int, grid: int, stride: int):
    heat = np.zeros((n_classes, grid, grid), np.float32)
    size = np.zeros((2, grid, grid), np.float32)
    off = np.zeros((2, grid, grid), np.float32)
    mask = np.zeros((grid, grid), np.float32)
    ys, xs = np.mgrid[0:grid, 0:grid]
    for (x0, y0, x1, y1), c in zip(boxes, labels):
        bw, bh = (x1 - x0) / stride, (y1 - y0) / stride
        if bw <= 0 or bh <= 0:
            continue
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        ix, iy = min(grid - 1, int(cx)), min(grid - 1, int(cy))
        sigma = max(0.5, (bw + bh) / 12)
        g = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma**2)).astype(np.float32)
        heat[c] = np.maximum(heat[c], g)
        size[:, iy, ix] = (bw, bh)
        off[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1
    return heat, size, off, mask


def _focal(pred, gt):
    import torch

    p = torch.sigmoid(pred).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - gt) ** 4 * neg
    n = pos.sum().clamp(min=1)
    return -(pos_loss.sum() + neg_loss.sum()) / n


class SmallDetector:
    """Fit on items, predict boxes with scores and class names (in the input image's pixels)."""

    def __init__(self, classes: Sequence[str], options: DetectionOptions | None = None, seed: int = 0) -> None:
        self.classes = list(classes)
        self.opts = options or DetectionOptions()
        self.seed = seed
        self.net = None

    def fit(self, items: Sequence[Item]) -> "SmallDetector":
        import torch

        from augment.evaluate.training import deterministic

        o = self.opts
        stride = 4
        grid = o.image_size // stride
        index = {c: i for i, c in enumerate(self.classes)}
        xs, heats, sizes, offs, masks = [], [], [], [], []
        for image, boxes, labels in items:
            img, b = _resize_item(image, boxes, o.image_size)
            xs.append(img.transpose(2, 0, 1))
            t = _targets(b, [index[str(lab)] for lab in labels], len(self.classes), grid, stride)
            for lst, v in zip((heats, sizes, offs, masks), t):
                lst.append(v)
        x = torch.from_numpy(np.stack(xs).astype(np.float32) / 127.5 - 1)
        heat, size, off, mask = (torch.from_numpy(np.stack(v)) for v in (heats, sizes, offs, masks))
        with deterministic(self.seed, o.threads):
            net = _net(len(self.classes), o.width)
            opt = torch.optim.AdamW(net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
            steps = o.epochs * max(1, -(-len(x) // o.batch_size))
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=o.lr, total_steps=steps)
            g = torch.Generator().manual_seed(self.seed)
            net.train()
            for _ in range(o.epochs):
                order = torch.randperm(len(x), generator=g)
                for i in range(0, len(x), o.batch_size):
                    idx = order[i : i + o.batch_size]
                    ph, ps, po = net(x[idx])
                    m = mask[idx].unsqueeze(1)
                    n = m.sum().clamp(min=1)
                    loss = (_focal(ph, heat[idx]) + 0.1 * (torch.abs(ps - size[idx]) * m).sum() / n
                            + (torch.abs(po - off[idx]) * m).sum() / n)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
            net.eval()
        self.net = net
        return self

    def predict(self, images: Sequence[np.ndarray]) -> list[dict]:
        import torch

        from augment.evaluate.training import deterministic

        o = self.opts
        stride = 4
        out = []
        # at the model's thread count, as training: at torch's default (every core) the calling process built an
        # OpenMP team, and the eval loop's worker processes forked after it hung in their first convolution
        with deterministic(self.seed, o.threads), torch.no_grad():
            for image in images:
                h, w = image.shape[:2]
                img, _ = _resize_item(image, np.zeros((0, 4)), o.image_size)
                x = torch.from_numpy(img.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1)
                ph, ps, po = self.net(x)
                heat = torch.sigmoid(ph)[0]
                peaks = heat * (torch.nn.functional.max_pool2d(heat[None], 3, 1, 1)[0] == heat)
                scores, flat = peaks.reshape(-1).topk(min(o.max_detections, peaks.numel()))
                grid = heat.shape[-1]
                cls = (flat // (grid * grid)).numpy()
                iy = ((flat % (grid * grid)) // grid).numpy()
                ix = (flat % grid).numpy()
                sz = ps[0].numpy()
                of = po[0].numpy()
                cx = (ix + of[0, iy, ix]) * stride
                cy = (iy + of[1, iy, ix]) * stride
                bw, bh = sz[0, iy, ix] * stride, sz[1, iy, ix] * stride
                sx, sy = w / o.image_size, h / o.image_size
                boxes = np.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx, (cy + bh / 2) * sy], 1)
                boxes = np.clip(boxes, 0, [w, h, w, h])
                out.append({"boxes": boxes, "scores": scores.numpy(), "labels": [self.classes[c] for c in cls]})
        return out


def mean_average_precision(items: Sequence[Item], predictions: Sequence[dict], classes: Sequence[str]) -> dict:
    """COCO mAP@[.5:.95] and mAP@0.5 (pycocotools) of predictions against the items' boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cat = {c: i + 1 for i, c in enumerate(classes)}
    images, anns, dets = [], [], []
    for i, ((image, boxes, labels), pred) in enumerate(zip(items, predictions), 1):
        h, w = image.shape[:2]
        images.append({"id": i, "width": w, "height": h})
        for (x0, y0, x1, y1), lab in zip(np.asarray(boxes).reshape(-1, 4), labels):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat[str(lab)], "iscrowd": 0,
                         "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                         "area": float((x1 - x0) * (y1 - y0))})
        for (x0, y0, x1, y1), s, lab in zip(pred["boxes"], pred["scores"], pred["labels"]):
            if x1 > x0 and y1 > y0:
                dets.append({"image_id": i, "category_id": cat[lab], "score": float(s),
                             "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]})
    if not anns:
        raise ValueError("the test items hold no boxes: mAP is undefined")
    if not dets:
        return {"map": 0.0, "map50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": v, "name": k} for k, v in cat.items()]}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": max(0.0, float(ev.stats[0])), "map50": max(0.0, float(ev.stats[1]))}


def train_and_score(train: Sequence[Item], test: Sequence[Item], *, seed: int, classes: Sequence[str] | None = None,
                    options: DetectionOptions | None = None) -> dict:
    classes = list(classes or sorted({str(lab) for _, _, labels in list(train) + list(test) for lab in labels}))
    model = SmallDetector(classes, options, seed).fit(train)
    return mean_average_precision(test, model.predict([it[0] for it in test]), classes)


def augment_items(pipe, items: Sequence[Item], copies: int, seed: int) -> list[Item]:
    """``copies`` augmented copies of each item, the boxes moved by the pipeline (seeded per item and copy)."""
    from augment.compile.targets import Targets
    from augment.seeding import derive_seed

    out = []
    for i, (image, boxes, labels) in enumerate(items):
        targets = Targets(boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4), labels=list(labels))
        for k in range(copies):
            img, moved, _, _ = pipe.run_targets(image, targets, seed=derive_seed(seed, f"item-{i}", k))
            out.append((img, moved.boxes, list(moved.labels)))
    return out


def compare_detection(pipe, train: Sequence[Item], test: Sequence[Item], *, copies: int = 2, repeats: int = 3,
                      seed: int = 0, options: DetectionOptions | None = None, jobs: int | None = None,
                      time_budget: float | None = None, journal=None, resume: bool = False) -> dict:
    """Baseline vs baseline + augmented copies, paired by seed; mAP@[.5:.95] and mAP@0.5 with a verdict each.
    The runs go through the loop of every evaluation (:mod:`.items_compare`): ``jobs`` processes (None: every
    core, same numbers), ``time_budget`` seconds, a ``journal`` to ``resume``, a partial result when stopped."""
    from .items_compare import compare_items

    classes = sorted({str(lab) for _, _, labels in list(train) + list(test) for lab in labels})

    def score(items, test_items, *, seed: int) -> dict:
        return train_and_score(items, test_items, seed=seed, classes=classes, options=options)

    return compare_items("detection", pipe, train, test, copies=copies, repeats=repeats, seed=seed,
                         metrics=("map", "map50"), train_and_score=score, augment_items=augment_items, jobs=jobs,
                         time_budget=time_budget, journal=journal, resume=resume)


def load_voc_items(folder) -> list[Item]:
    """The items of a Pascal VOC folder (``images/`` + ``annotations/``), read with augment's VOC reader."""
    from pathlib import Path

    from augment.io.annotations import detect, read_item, scan
    from augment.io.images import read_image

    root = Path(folder)
    layout = detect(root, "voc")
    items, problems, _ = scan(root, layout)
    out = []
    for item in items:
        image, _ = read_image(root / item.image, root=root)
        targets, _, _ = read_item(root, layout, item, image.shape[:2])
        out.append((image, targets.boxes, list(targets.labels)))
    return out


__all__ = [
    "DetectionOptions",
    "SmallDetector",
    "mean_average_precision",
    "train_and_score",
    "augment_items",
    "compare_detection",
    "load_voc_items",
]
