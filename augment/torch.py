"""PyTorch training loops: a collate for annotated samples and ``GPUAugment``, a module that augments batches on
their device after ``.to(device)``.

>>> aug = augment.torch.GPUAugment(pipe, mix="cutmix", num_classes=10)
>>> for images, labels in loader:
...     images, labels = images.to(device), labels.to(device)
...     images, soft = aug(images, labels)        # each sample its own drawn values, one batched pass
...     loss = torch.sum(-soft * model(normalise(images)).log_softmax(1), 1).mean()

``aug.last`` is the last ``BatchResult`` (``applied[i]``: sample i's ops and drawn values, ``seeds``) and
``aug.last_mix`` the partners and weights of the last mix: what a manifest records. In ``eval()`` mode the
module passes images through untouched, as dropout does.
"""

from __future__ import annotations

from typing import Any

import torch

from augment.compile.annotated import detection_collate
from augment.compile.batch import BatchResult, run_tensor_batch
from augment.compile.batch_targets import run_annotated_batch
from augment.compile.mixing import MIX_KINDS, mix_batch, soft_labels
from augment.compile.pipeline import Pipeline

__all__ = ["GPUAugment", "collate", "detection_collate", "mix_batch", "soft_labels", "BatchResult"]


def collate(samples: list, *, pad_boxes: bool = False) -> dict:
    """Batch annotated samples (dicts from ``pipe(image, boxes=..., labels=..., masks=...)`` or ``(image,
    target)`` pairs): ``image`` stacked (NxCxHxW), ``masks`` stacked when they share a size, ``boxes`` and
    ``labels`` as lists per sample, or with ``pad_boxes=True`` padded to the largest count (NxMx4 XYXY pixels,
    zeros; ``BoundingBoxes`` of other formats are converted) with ``box_counts``: the two forms ``pipe.batch`` and
    ``GPUAugment`` take."""
    if not samples:
        raise ValueError("collate got an empty batch")
    if not isinstance(samples[0], dict):
        samples = [{"image": img, **dict(target)} for img, target in samples]
    images = [torch.as_tensor(s["image"]) for s in samples]
    if len({tuple(i.shape) for i in images}) != 1:
        raise ValueError(f"images of a batch must share one size, got {sorted({tuple(i.shape) for i in images})[:3]}: "
                         "end the per-sample pipeline with a resize or crop")
    out: dict = {"image": torch.stack([i.as_subclass(torch.Tensor) for i in images])}
    keys = {k for s in samples for k in s} - {"image"}
    for key in sorted(keys):
        values = [s.get(key) for s in samples]
        same_size = all(v is not None for v in values) and len({tuple(torch.as_tensor(v).shape) for v in values}) == 1
        if key == "masks" and same_size:
            out[key] = torch.stack([torch.as_tensor(v).as_subclass(torch.Tensor) for v in values])
        elif key in ("boxes", "labels") and pad_boxes:
            # a padded tensor has no format: BoundingBoxes of another format are converted to the XYXY it means
            ts = [_xyxy(v) if key == "boxes" else torch.as_tensor(v if v is not None else []) for v in values]
            width = 4 if key == "boxes" else None
            m = max((len(t) for t in ts), default=0)
            like = next((t for t in ts if t.numel()), None)
            dtype = like.dtype if like is not None else (torch.float32 if key == "boxes" else torch.long)
            padded = torch.zeros((len(ts), m, 4) if width else (len(ts), m), dtype=dtype)
            for i, t in enumerate(ts):
                if len(t):
                    padded[i, : len(t)] = t.as_subclass(torch.Tensor).reshape(len(t), -1).squeeze(-1) if not width \
                        else t.as_subclass(torch.Tensor).reshape(-1, 4)
            out[key] = padded
            if key == "boxes":
                out["box_counts"] = torch.as_tensor([len(t) for t in ts])
        else:
            out[key] = values
    return out


def _xyxy(boxes) -> torch.Tensor:
    if boxes is None:
        return torch.as_tensor([])
    fmt = getattr(getattr(boxes, "format", None), "name", None)
    if fmt in (None, "XYXY"):
        return torch.as_tensor(boxes)
    from torchvision.transforms.v2 import functional as F
    from torchvision.tv_tensors import BoundingBoxFormat

    return F.convert_bounding_box_format(boxes, new_format=BoundingBoxFormat.XYXY)


class GPUAugment(torch.nn.Module):
    """Run an image pipeline on batches on their device (``forward(images)`` or ``forward(images, labels)``).

    ``mix`` (``"mixup"`` or ``"cutmix"``, with ``alpha`` and ``num_classes``) mixes the augmented batch and returns
    ``(images, soft_labels)``. Annotated batches: ``forward(images, boxes=..., box_counts=..., labels=...,
    masks=...)`` returns the dict of ``pipe.batch``. ``kernels`` as for ``pipe.batch`` (``auto``: batched tensor
    kernels on accelerators, the CPU backend per sample in threads for CPU tensors). Seeds come from the
    pipeline's own stream (reproducible per
    process and DataLoader worker, see ``Pipeline``) unless ``seeds=`` is given per call.
    """

    def __init__(self, pipeline: Pipeline, *, mix: str | None = None, alpha: float = 1.0,
                 num_classes: int | None = None, kernels: str = "auto") -> None:
        super().__init__()
        if not isinstance(pipeline, Pipeline) or pipeline.modality != "image":
            raise TypeError("GPUAugment takes an image pipeline (augment.Compose or load_pipeline)")
        if mix is not None and mix not in MIX_KINDS:
            raise ValueError(f"mix must be one of {', '.join(MIX_KINDS)} or None, got {mix!r}")
        if mix is not None and (num_classes is None or num_classes < 2):
            raise ValueError("mix needs num_classes (>= 2) to build soft labels")
        self.pipeline = pipeline
        self.mix, self.alpha, self.num_classes, self.kernels = mix, float(alpha), num_classes, kernels
        self.last: BatchResult | None = None
        self.last_mix: list[dict] | None = None

    def forward(self, images: torch.Tensor, labels: Any = None, *, seeds: list[int] | None = None, **annotations):
        if annotations:
            if not self.training:
                return {"image": images, **annotations, **({"labels": labels} if labels is not None else {})}
            if labels is not None:
                annotations["labels"] = labels
            out, self.last = run_annotated_batch(self.pipeline, images, seeds, annotations, kernels=self.kernels)
            return out
        if not self.training:
            if self.mix is not None and labels is not None:
                return images, soft_labels(labels, self.num_classes).to(images.device)
            return images if labels is None else (images, labels)
        self.last = run_tensor_batch(self.pipeline, images, seeds, kernels=self.kernels)
        out = self.last.output
        if self.mix is None:
            return out if labels is None else (out, labels)
        if labels is None:
            raise ValueError(f"{self.mix} needs the batch's labels: call aug(images, labels)")
        out, soft, self.last_mix = mix_batch(out, labels, kind=self.mix, alpha=self.alpha,
                                             num_classes=self.num_classes, seeds=self.last.seeds)
        return out, soft

    def extra_repr(self) -> str:
        return f"pipeline={self.pipeline.spec.name or self.pipeline.spec_hash!r}, mix={self.mix!r}"
