"""Batch-level label mixing (mixup, cutmix, as in torchvision v2) with every partner and weight recorded.

Each sample ``i`` is mixed with a partner ``j`` of the same batch (a permutation drawn from the batch's seeds, so the
same seeds give the same partners) with its own weight ``lam ~ Beta(alpha, alpha)``: mixup blends the two images,
cutmix pastes a box of the partner covering ``1 - lam`` of the image (``lam`` then corrected to the box's real
area). The soft labels are ``lam * onehot(y_i) + (1 - lam) * onehot(y_j)``. ``records[i]`` holds ``kind``,
``partner``, ``weight`` (and ``box`` ``[top, left, height, width]`` for cutmix): what a manifest records.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["MIX_KINDS", "mix_batch", "soft_labels"]

MIX_KINDS = ("mixup", "cutmix")
_MASK64 = (1 << 64) - 1


def soft_labels(labels: Any, num_classes: int):
    """(N,) class indices -> (N, K) float32 one-hot; (N, K) float labels pass through (already soft)."""
    import torch

    labels = torch.as_tensor(labels)
    if labels.ndim == 2:
        if labels.shape[1] != num_classes:
            raise ValueError(f"soft labels have {labels.shape[1]} classes, not num_classes={num_classes}")
        return labels.to(torch.float32)
    if labels.ndim != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be N class indices or NxK soft labels, got shape {tuple(labels.shape)}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}] (num_classes={num_classes}), "
                         f"got [{int(labels.min())}, {int(labels.max())}]")
    return torch.nn.functional.one_hot(labels.long(), num_classes).to(torch.float32)


def mix_batch(images: Any, labels: Any, *, kind: str, alpha: float, num_classes: int, seeds: Sequence[int]):
    """Mix an NxCxHxW batch; returns ``(images, soft_labels, records)`` (images in their dtype and device)."""
    import torch

    if kind not in MIX_KINDS:
        raise ValueError(f"mix kind must be one of {', '.join(MIX_KINDS)}, got {kind!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    n, _, h, w = images.shape
    if len(seeds) != n or len(labels) != n:
        raise ValueError(f"{n} images, {len(labels)} labels and {len(seeds)} seeds: give one of each per sample")
    soft = soft_labels(labels, num_classes).to(images.device)
    rng = np.random.default_rng(np.random.SeedSequence([int(s) & _MASK64 for s in seeds], spawn_key=(0x6D6978,)))
    partners = rng.permutation(n)
    lams = rng.beta(alpha, alpha, size=n)
    records: list[dict] = []
    part = torch.as_tensor(partners, device=images.device)
    if kind == "mixup":
        lam_t = torch.as_tensor(lams, dtype=torch.float32, device=images.device).view(-1, 1, 1, 1)
        mixed = images.float() * lam_t + images.float()[part] * (1.0 - lam_t)
        out = mixed if images.is_floating_point() else mixed.round_().clamp_(0, 255).to(images.dtype)
        weights = lams
        records = [{"kind": kind, "partner": int(j), "weight": float(lam)} for j, lam in zip(partners, lams)]
    else:
        out = images.clone()
        weights = np.empty(n)
        for i, (j, lam) in enumerate(zip(partners, lams)):
            cut = float(np.sqrt(1.0 - lam))
            bh, bw = int(round(h * cut)), int(round(w * cut))
            cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
            top, bottom = max(cy - bh // 2, 0), min(cy + (bh - bh // 2), h)
            left, right = max(cx - bw // 2, 0), min(cx + (bw - bw // 2), w)
            out[i, :, top:bottom, left:right] = images[int(j), :, top:bottom, left:right]
            weights[i] = 1.0 - (bottom - top) * (right - left) / float(h * w)
            records.append({"kind": kind, "partner": int(j), "weight": float(weights[i]),
                            "box": [top, left, bottom - top, right - left]})
    wt = torch.as_tensor(weights, dtype=torch.float32, device=images.device).view(-1, 1)
    mixed_labels = soft * wt + soft[part] * (1.0 - wt)
    if type(images).__module__.startswith("torchvision"):
        out = type(images)(out)
    return out, mixed_labels, records
